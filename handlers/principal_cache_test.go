package handlers

import (
	"net/http"
	"strings"
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

// TestBearerAPIRequestsLeaveTheSessionAlone signs a browser in, then sends an API request
// with another user's bearer token and the browser's session cookie: the token alone decides
// who calls, the session is neither read nor renewed (no Set-Cookie), and the browser's
// session still works afterwards.
func TestBearerAPIRequestsLeaveTheSessionAlone(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser()
	if rec := b.login("viewer@example.com", testPassword); rec.Code != 303 {
		t.Fatalf("login: %d", rec.Code)
	}
	var cookies []*http.Cookie
	for _, c := range b.jar {
		cookies = append(cookies, c)
	}
	rec := env.do(request{method: "GET", path: "/api/me", token: env.tokens[auth.RoleAnalyst], cookies: cookies})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "analyst@example.com") {
		t.Fatalf("bearer request: %d %s", rec.Code, rec.Body)
	}
	if sc := rec.Header().Values("Set-Cookie"); len(sc) > 0 {
		t.Fatalf("a bearer API request touched the session: %v", sc)
	}
	if rec := b.do("GET", "/api/me", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "viewer@example.com") {
		t.Fatalf("the session after the bearer request: %d %s", rec.Code, rec.Body)
	}
	// Without a token the same request is the session's again.
	rec = env.do(request{method: "GET", path: "/api/me", cookies: cookies})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "viewer@example.com") {
		t.Fatalf("cookie-only request: %d %s", rec.Code, rec.Body)
	}
}
