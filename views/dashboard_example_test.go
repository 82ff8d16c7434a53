package views

import "testing"

func TestExampleTableNamesAReadableTable(t *testing.T) {
	cases := []struct {
		ds   []DashboardDataset
		want string
	}{
		{nil, "my_table"},
		{[]DashboardDataset{{ID: "orders"}}, "orders"},
		{[]DashboardDataset{{ID: "in.c-crm.accounts"}, {ID: "customers"}}, "customers"},
		{[]DashboardDataset{{ID: "in.c-crm.accounts"}}, "my_table"},
	}
	for _, c := range cases {
		if got := exampleTable(c.ds); got != c.want {
			t.Errorf("exampleTable(%v) = %q, want %q", c.ds, got, c.want)
		}
	}
}
