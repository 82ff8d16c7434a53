package store

import (
	"context"
	"errors"
	"testing"
)

func TestSyncSettings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		ctx := context.Background()
		st := open(t)
		if got, err := st.ListSyncSettings(ctx, "u1"); err != nil || len(got) != 0 {
			t.Fatalf("empty list = %v, %v", got, err)
		}
		steps := []struct {
			name    string
			user    string
			set     map[string]bool
			wantErr bool
			want    map[string]bool // u1's rows after the step
		}{
			{"insert two", "u1", map[string]bool{"Orders": true, " customers ": false}, false, map[string]bool{"orders": true, "customers": false}},
			{"update one", "u1", map[string]bool{"customers": true}, false, map[string]bool{"orders": true, "customers": true}},
			{"other user untouched", "u2", map[string]bool{"orders": false}, false, map[string]bool{"orders": true, "customers": true}},
			{"empty name refused, nothing written", "u1", map[string]bool{"  ": true, "zeta": true}, true, map[string]bool{"orders": true, "customers": true}},
			{"nothing to do", "u1", map[string]bool{}, false, map[string]bool{"orders": true, "customers": true}},
		}
		for _, s := range steps {
			err := st.SetSyncSettings(ctx, s.user, s.set)
			if (err != nil) != s.wantErr {
				t.Fatalf("%s: err = %v", s.name, err)
			}
			rows, err := st.ListSyncSettings(ctx, "u1")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for i, r := range rows {
				got[r.Dataset] = r.Enabled
				if r.TableMode != "all" || r.UpdatedAt.IsZero() || r.UserID != "u1" {
					t.Errorf("%s: row %+v", s.name, r)
				}
				if i > 0 && rows[i-1].Dataset >= r.Dataset {
					t.Errorf("%s: not ordered by dataset: %v", s.name, rows)
				}
			}
			if len(got) != len(s.want) {
				t.Fatalf("%s: rows = %v, want %v", s.name, got, s.want)
			}
			for k, v := range s.want {
				if got[k] != v {
					t.Errorf("%s: %s = %v, want %v", s.name, k, got[k], v)
				}
			}
		}
		if err := st.SetSyncSettings(ctx, "", map[string]bool{"x": true}); err == nil {
			t.Error("empty user id accepted")
		}
		if s, err := st.GetSyncSetting(ctx, "u1", "ORDERS"); err != nil || !s.Enabled {
			t.Errorf("GetSyncSetting = %+v, %v", s, err)
		}
		if _, err := st.GetSyncSetting(ctx, "u1", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing row: %v", err)
		}
	})
}

func TestListProfileTimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		ctx := context.Background()
		st := open(t)
		got, err := st.ListProfileTimes(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("empty = %v, %v", got, err)
		}
		for _, id := range []string{"a", "b"} {
			if err := st.SaveProfile(ctx, id, []byte(`{"table_id":"`+id+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
		got, err = st.ListProfileTimes(ctx)
		if err != nil || len(got) != 2 || got["a"].IsZero() || got["b"].IsZero() {
			t.Fatalf("times = %v, %v", got, err)
		}
	})
}
