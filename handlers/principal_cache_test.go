package handlers

import (
	"testing"

	"da/auth"
	"da/store"
)

// TestCachedPrincipalNeverOutlivesAChange warms the principal cache with a request, makes one
// change that withdraws rights through the API, and expects the very next request to be
// refused: a cached caller never outlives a demotion, a deactivation, a deletion, a token
// revocation, a password change or a revoked grant.
func TestCachedPrincipalNeverOutlivesAChange(t *testing.T) {
	t.Parallel()
	salaries := sqlBody("SELECT marker FROM salaries ORDER BY marker")
	cases := []struct {
		name   string
		before func(env *testEnv) // optional set-up
		probe  func(env *testEnv, cred string) request
		change func(t *testing.T, env *testEnv, analyst *store.User, patID string)
		want   int
	}{
		{
			name: "demotion",
			probe: func(_ *testEnv, cred string) request {
				return request{method: "POST", path: "/api/query", token: cred, body: sqlBody("SELECT 1")}
			},
			change: func(t *testing.T, env *testEnv, u *store.User, _ string) {
				expectCode(t, env.do(request{method: "PATCH", path: "/api/users/" + u.ID, token: env.tokens[auth.RoleAdmin], body: `{"role":"viewer"}`}).Code, 200)
			},
			want: 403,
		},
		{
			name:  "deactivation",
			probe: meProbe,
			change: func(t *testing.T, env *testEnv, u *store.User, _ string) {
				expectCode(t, env.do(request{method: "PATCH", path: "/api/users/" + u.ID, token: env.tokens[auth.RoleAdmin], body: `{"active":false}`}).Code, 200)
			},
			want: 401,
		},
		{
			name:  "deletion",
			probe: meProbe,
			change: func(t *testing.T, env *testEnv, u *store.User, _ string) {
				expectCode(t, env.do(request{method: "DELETE", path: "/api/users/" + u.ID, token: env.tokens[auth.RoleAdmin]}).Code, 204)
			},
			want: 401,
		},
		{
			name:  "token revocation",
			probe: meProbe,
			change: func(t *testing.T, env *testEnv, _ *store.User, patID string) {
				expectCode(t, env.do(request{method: "DELETE", path: "/api/tokens/" + patID, token: env.tokens[auth.RoleAnalyst]}).Code, 204)
			},
			want: 401,
		},
		{
			name:  "password change",
			probe: meProbe,
			change: func(t *testing.T, env *testEnv, u *store.User, _ string) {
				hash, err := auth.HashPassword("new-password-1")
				if err != nil {
					t.Fatal(err)
				}
				if err := env.store.SetUserPassword(t.Context(), u.ID, hash); err != nil {
					t.Fatal(err)
				}
			},
			want: 401,
		},
		{
			name: "revoked grant",
			before: func(env *testEnv) {
				env.queryFixtures()
				if _, err := env.store.Grant(env.t.Context(), env.users[auth.RoleAnalyst].ID, "salaries", store.AccessRead); err != nil {
					env.t.Fatal(err)
				}
			},
			probe: func(_ *testEnv, cred string) request {
				return request{method: "POST", path: "/api/query", token: cred, body: salaries}
			},
			change: func(t *testing.T, env *testEnv, u *store.User, _ string) {
				expectCode(t, env.do(request{method: "DELETE", path: "/api/admin/permissions", token: env.tokens[auth.RoleAdmin],
					body: `{"user_id":"` + u.ID + `","dataset":"salaries"}`}).Code, 200)
			},
			want: 400,
		},
	}
	for _, tc := range cases {
		for _, kind := range []string{"jwt", "pat"} {
			if tc.name == "token revocation" && kind == "jwt" {
				continue // revoking a personal access token leaves JWTs alone
			}
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				env := newTestEnv(t)
				if tc.before != nil {
					tc.before(env)
				}
				u := env.users[auth.RoleAnalyst]
				pat, plain, err := env.store.CreatePersonalToken(t.Context(), u.ID, "cli", store.ScopeFull, nil)
				if err != nil {
					t.Fatal(err)
				}
				cred := env.tokens[auth.RoleAnalyst]
				if kind == "pat" {
					cred = plain
				}
				for i := 0; i < 2; i++ { // the second request is served from the cache
					if rec := env.do(tc.probe(env, cred)); rec.Code != 200 {
						t.Fatalf("before the change: %d %s", rec.Code, rec.Body)
					}
				}
				tc.change(t, env, u, pat.ID)
				if rec := env.do(tc.probe(env, cred)); rec.Code != tc.want {
					t.Errorf("after the change: %d, want %d: %s", rec.Code, tc.want, rec.Body)
				}
			})
		}
	}
}

func meProbe(_ *testEnv, cred string) request {
	return request{method: "GET", path: "/api/me", token: cred}
}

func expectCode(t *testing.T, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("status %d, want %d", got, want)
	}
}
