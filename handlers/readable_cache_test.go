package handlers

import (
	"testing"

	"da/auth"
	"da/store"
)

// TestCachedReadableSetNeverOutlivesAChange warms the per-user readable-table cache with
// requests, makes one change to who may read what, and expects the very next query and
// download to see it: a revoked grant, a demotion, a deactivation, a table made private, and
// (the other way) a new grant and a table made public.
func TestCachedReadableSetNeverOutlivesAChange(t *testing.T) {
	t.Parallel()
	admin := func(env *testEnv) string { return env.tokens[auth.RoleAdmin] }
	grant := func(env *testEnv, table string) {
		if _, err := env.store.Grant(env.t.Context(), env.users[auth.RoleAnalyst].ID, table, store.AccessRead); err != nil {
			env.t.Fatal(err)
		}
	}
	cases := []struct {
		name         string
		table        string
		before       func(env *testEnv)
		change       func(t *testing.T, env *testEnv, u *store.User)
		query, fetch int // expected codes after the change
		readBefore   bool
	}{
		{
			name: "revoked grant", table: "salaries", readBefore: true,
			before: func(env *testEnv) { grant(env, "salaries") },
			change: func(t *testing.T, env *testEnv, u *store.User) {
				expectCode(t, env.do(request{method: "DELETE", path: "/api/admin/permissions", token: admin(env),
					body: `{"user_id":"` + u.ID + `","dataset":"salaries"}`}).Code, 200)
			},
			query: 400, fetch: 403,
		},
		{
			name: "table made private", table: "sales", readBefore: true,
			change: func(t *testing.T, env *testEnv, _ *store.User) {
				expectCode(t, env.do(request{method: "PUT", path: "/api/admin/registry/sales", token: admin(env),
					body: `{"is_public":false}`}).Code, 200)
			},
			query: 400, fetch: 403,
		},
		{
			name: "deactivation", table: "sales", readBefore: true,
			change: func(t *testing.T, env *testEnv, u *store.User) {
				expectCode(t, env.do(request{method: "PATCH", path: "/api/users/" + u.ID, token: admin(env), body: `{"active":false}`}).Code, 200)
			},
			query: 401, fetch: 401,
		},
		{
			name: "new grant", table: "salaries",
			change: func(t *testing.T, env *testEnv, u *store.User) {
				expectCode(t, env.do(request{method: "POST", path: "/api/admin/permissions", token: admin(env),
					body: `{"user_id":"` + u.ID + `","dataset":"salaries","access":"read"}`}).Code, 201)
			},
			query: 200, fetch: 200,
		},
		{
			name: "table made public", table: "salaries",
			change: func(t *testing.T, env *testEnv, _ *store.User) {
				expectCode(t, env.do(request{method: "PUT", path: "/api/admin/registry/salaries", token: admin(env),
					body: `{"is_public":true}`}).Code, 200)
			},
			query: 200, fetch: 200,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t)
			env.queryFixtures()
			if tc.before != nil {
				tc.before(env)
			}
			u := env.users[auth.RoleAnalyst]
			cred := env.tokens[auth.RoleAnalyst]
			q := request{method: "POST", path: "/api/query", token: cred, body: sqlBody("SELECT count(*) FROM " + tc.table)}
			dl := request{method: "GET", path: "/api/data/" + tc.table + "/download", token: cred}
			wantQ, wantDL := 400, 403
			if tc.readBefore {
				wantQ, wantDL = 200, 200
			}
			for i := 0; i < 2; i++ { // the second round is served from the cache
				if rec := env.do(q); rec.Code != wantQ {
					t.Fatalf("query before the change: %d, want %d: %s", rec.Code, wantQ, rec.Body)
				}
				if rec := env.do(dl); rec.Code != wantDL {
					t.Fatalf("download before the change: %d, want %d", rec.Code, wantDL)
				}
			}
			tc.change(t, env, u)
			if rec := env.do(q); rec.Code != tc.query {
				t.Errorf("query after the change: %d, want %d: %s", rec.Code, tc.query, rec.Body)
			}
			if rec := env.do(dl); rec.Code != tc.fetch {
				t.Errorf("download after the change: %d, want %d", rec.Code, tc.fetch)
			}
		})
	}
}

// TestCachedReadableSetFollowsDemotion promotes an analyst whose readable set is cached to
// admin, then demotes them again: the private table is readable exactly while they are admin.
func TestCachedReadableSetFollowsDemotion(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.queryFixtures()
	u := env.users[auth.RoleAnalyst]
	cred := env.tokens[auth.RoleAnalyst]
	role := func(r string) {
		expectCode(t, env.do(request{method: "PATCH", path: "/api/users/" + u.ID, token: env.tokens[auth.RoleAdmin],
			body: `{"role":"` + r + `"}`}).Code, 200)
	}
	probe := func(table string, want int) {
		t.Helper()
		rec := env.do(request{method: "POST", path: "/api/query", token: cred, body: sqlBody("SELECT count(*) FROM " + table)})
		if rec.Code != want {
			t.Fatalf("query of %s: %d, want %d: %s", table, rec.Code, want, rec.Body)
		}
	}
	probe("sales", 200) // warms the analyst's readable set
	probe("salaries", 400)
	role("admin")
	probe("salaries", 200)
	probe("salaries", 200)
	role("analyst")
	probe("salaries", 400)
}
