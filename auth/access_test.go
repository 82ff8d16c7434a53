package auth

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"da/store"
)

// accessFixture is a store with users and tables covering every branch of the rule.
type accessFixture struct {
	st    *store.Store
	users map[string]*store.User
}

func newAccessFixture(t *testing.T) *accessFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &accessFixture{st: st, users: map[string]*store.User{}}
	for _, u := range []struct{ key, role string }{
		{"admin", "admin"}, {"owner", "analyst"}, {"granted", "viewer"}, {"bucket", "analyst"},
		{"none", "analyst"}, {"nobody", "analyst"}, {"inactive", "analyst"}, {"inactiveadmin", "admin"}, {"km", "km_admin"},
	} {
		usr := &store.User{Email: u.key + "@Example.com", Role: u.role}
		if err := st.CreateUser(ctx, usr); err != nil {
			t.Fatal(err)
		}
		f.users[u.key] = usr
	}
	for _, key := range []string{"inactive", "inactiveadmin"} {
		u := f.users[key]
		u.Active = false
		if err := st.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tables := []store.Table{
		{ID: "public_t", Name: "public_t", SourceType: "keboola", IsPublic: true},
		{ID: "private_t", Name: "private_t", SourceType: "keboola", Bucket: "in.c-finance", IsPublic: false},
		{ID: "other_bucket", Name: "other_bucket", SourceType: "keboola", Bucket: "in.c-sales", IsPublic: false},
		{ID: "no_bucket", Name: "no_bucket", SourceType: "keboola", IsPublic: false},
		// RegisteredBy is stored as written; the rule compares it ignoring case.
		{ID: "my_upload", Name: "my_upload", SourceType: "upload", RegisteredBy: "OWNER@example.com", IsPublic: false},
		// Registered by the owner but not an upload: registration alone gives nothing.
		{ID: "registered_by_owner", Name: "registered_by_owner", SourceType: "keboola", RegisteredBy: "owner@example.com", IsPublic: false},
	}
	for i := range tables {
		if err := st.RegisterTable(ctx, &tables[i]); err != nil {
			t.Fatal(err)
		}
	}
	grants := []struct{ user, dataset, access string }{
		{"granted", "PRIVATE_T", "read"},
		{"bucket", "In.C-Finance.*", "read"},
		{"none", "private_t", "none"},
		{"none", "in.c-finance.*", "none"},
		{"inactive", "private_t", "read"},
		{"granted", "ghost_table", "read"}, // no registry row
		{"bucket", "*", "read"},            // not a wildcard over everything
		{"nobody", ".*", "read"},           // does not match tables without a bucket
	}
	for _, g := range grants {
		if _, err := st.Grant(ctx, f.users[g.user].ID, g.dataset, g.access); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestCanAccessTableTruthTable checks every branch of the table-access rule, and that
// ReadableTables agrees with CanAccessTable everywhere.
func TestCanAccessTableTruthTable(t *testing.T) {
	t.Parallel()
	f := newAccessFixture(t)
	ctx := context.Background()
	cases := []struct {
		user  string
		table string
		want  bool
	}{
		{"admin", "private_t", true},
		{"admin", "ghost_table", true}, // admins read even unregistered tables
		{"admin", "PRIVATE_T", true},
		{"km", "private_t", false},   // km_admin is not admin
		{"km", "public_t", true},     // public
		{"nobody", "public_t", true}, // public
		{"nobody", "Public_T", true}, // case
		{"nobody", "private_t", false},
		{"nobody", "no_bucket", false}, // ".*" is not a grant on bucket-less tables
		{"owner", "my_upload", true},   // owner of an upload, e-mail case ignored
		{"owner", "MY_UPLOAD", true},
		{"owner", "registered_by_owner", false},
		{"nobody", "my_upload", false},
		{"granted", "private_t", true}, // explicit grant, stored lower-case
		{"granted", "Private_T", true},
		{"granted", "other_bucket", false},
		{"granted", "ghost_table", false}, // missing registry row: only admins
		{"bucket", "private_t", true},     // bucket wildcard
		{"bucket", "other_bucket", false}, // other bucket
		{"bucket", "no_bucket", false},    // "*" grants nothing
		{"none", "private_t", false},      // access none
		{"none", "public_t", true},        // none does not take public access away
		{"inactive", "private_t", false},  // deactivated
		{"inactive", "public_t", false},   // deactivated: nothing at all
		{"inactiveadmin", "public_t", false},
		{"nobody", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.user+"/"+tc.table, func(t *testing.T) {
			u := f.users[tc.user]
			got, err := CanAccessTable(ctx, f.st, u, tc.table)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("CanAccessTable(%s, %q) = %v, want %v", tc.user, tc.table, got, tc.want)
			}
			r, err := ReadableTables(ctx, f.st, u)
			if err != nil {
				t.Fatal(err)
			}
			if r.Has(tc.table) != tc.want {
				t.Errorf("ReadableTables(%s).Has(%q) = %v, want %v", tc.user, tc.table, r.Has(tc.table), tc.want)
			}
		})
	}
	if ok, err := CanAccessTable(ctx, f.st, nil, "public_t"); ok || err != nil {
		t.Errorf("anonymous: %v, %v", ok, err)
	}
	var nilSet *Readable
	if nilSet.Has("public_t") {
		t.Error("nil Readable must read nothing")
	}
}

// TestReadableTablesSets checks the whole readable set per user, not just single lookups.
func TestReadableTablesSets(t *testing.T) {
	t.Parallel()
	f := newAccessFixture(t)
	ctx := context.Background()
	cases := []struct {
		user string
		all  bool
		ids  []string
	}{
		{"admin", true, nil},
		{"nobody", false, []string{"public_t"}},
		{"owner", false, []string{"my_upload", "public_t"}},
		{"granted", false, []string{"private_t", "public_t"}},
		{"bucket", false, []string{"private_t", "public_t"}},
		{"none", false, []string{"public_t"}},
		{"inactive", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			r, err := ReadableTables(ctx, f.st, f.users[tc.user])
			if err != nil {
				t.Fatal(err)
			}
			if r.All != tc.all || len(r.IDs) != len(tc.ids) {
				t.Fatalf("got All=%v IDs=%v, want All=%v IDs=%v", r.All, r.IDs, tc.all, tc.ids)
			}
			for _, id := range tc.ids {
				if !r.IDs[id] {
					t.Errorf("missing %q in %v", id, r.IDs)
				}
			}
		})
	}
}

// BenchmarkTableAccess times, over 200 registered tables, one CanAccessTable call and one
// ReadableTables call, each reported as a ratio to a plain registry lookup (store.GetTable),
// the engine's own cost of touching the system database once.
func BenchmarkTableAccess(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(b.TempDir(), "state", "system.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Email: "u@example.com", Role: "analyst"}
	if err := st.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	const n = 200
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("t%03d", i)
		tb := &store.Table{ID: ids[i], Name: ids[i], Bucket: fmt.Sprintf("b%d", i%5), IsPublic: i%3 == 0}
		if err := st.RegisterTable(ctx, tb); err != nil {
			b.Fatal(err)
		}
	}
	for _, d := range []string{"b1.*", "t002", "t004"} {
		if _, err := st.Grant(ctx, u.ID, d, "read"); err != nil {
			b.Fatal(err)
		}
	}
	var base, one, all time.Duration
	i := 0
	for b.Loop() {
		id := ids[i%n]
		i++
		t0 := time.Now()
		if _, err := st.GetTable(ctx, id); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := CanAccessTable(ctx, st, u, id); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		r, err := ReadableTables(ctx, st, u)
		if err != nil || len(r.IDs) == 0 {
			b.Fatal(err)
		}
		t3 := time.Now()
		base, one, all = base+t1.Sub(t0), one+t2.Sub(t1), all+t3.Sub(t2)
	}
	b.ReportMetric(float64(one)/float64(base), "can_access/get_table")
	b.ReportMetric(float64(all)/float64(base), "readable_200/get_table")
	b.ReportMetric(float64(one.Microseconds())/float64(i), "can_access_µs")
	b.ReportMetric(float64(all.Microseconds())/float64(i), "readable_200_µs")
}
