package store

import (
	"context"
	"errors"
	"testing"
)

func TestUnregisterTableCascades(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		ctx := context.Background()
		st := open(t)
		for _, id := range []string{"orders", "customers"} {
			if err := st.RegisterTable(ctx, &Table{ID: id, Name: id, SourceType: "demo"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Grant(ctx, "u1", id, "read"); err != nil {
				t.Fatal(err)
			}
			if err := st.SetSyncSettings(ctx, "u1", map[string]bool{id: true}); err != nil {
				t.Fatal(err)
			}
			if err := st.SaveProfile(ctx, id, []byte(`{"row_count": 1}`)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Grant(ctx, "u2", "ORDERS", "read"); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			id      string
			wantErr error
			want    Unregistered
		}{
			{id: "Orders", want: Unregistered{Permissions: 2, Subscriptions: 1, Profiles: 1}},
			{id: "orders", wantErr: ErrNotFound},
			{id: "nope", wantErr: ErrNotFound},
		}
		for _, tc := range tests {
			got, err := st.UnregisterTable(ctx, tc.id)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("UnregisterTable(%q) = %v, want %v", tc.id, err, tc.wantErr)
				}
				continue
			}
			if err != nil || *got != tc.want {
				t.Fatalf("UnregisterTable(%q) = %+v, %v; want %+v", tc.id, got, err, tc.want)
			}
		}
		if _, err := st.GetTable(ctx, "orders"); !errors.Is(err, ErrNotFound) {
			t.Errorf("registry row still there: %v", err)
		}
		if _, _, err := st.GetProfile(ctx, "orders"); !errors.Is(err, ErrNotFound) {
			t.Errorf("profile still there: %v", err)
		}
		perms, err := st.ListPermissions(ctx, "")
		if err != nil || len(perms) != 1 || perms[0].Dataset != "customers" {
			t.Errorf("permissions after delete = %+v, %v; want only customers", perms, err)
		}
		subs, err := st.ListSyncSettings(ctx, "u1")
		if err != nil || len(subs) != 1 || subs[0].Dataset != "customers" {
			t.Errorf("subscriptions after delete = %+v, %v; want only customers", subs, err)
		}
		if _, _, err := st.GetProfile(ctx, "customers"); err != nil {
			t.Errorf("the other table's profile went too: %v", err)
		}
	})
}
