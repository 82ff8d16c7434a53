package handlers

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/store"
)

// createPAT makes a full-scope personal access token for userID.
func createPAT(env *testEnv, userID string, expires *time.Time) (*store.PersonalToken, string, error) {
	return env.store.CreatePersonalToken(context.Background(), userID, "sweep", store.ScopeFull, expires)
}

// publicRoutes are the only routes anyone may call without signing in. A new public route
// must be added here on purpose; everything else is denied by default.
var publicRoutes = map[string]bool{
	"GET /api/health":   true,
	"GET /readyz":       true,
	"GET /openapi.json": true,
	"GET /docs":         true,
	// Jira webhooks authenticate by their HMAC signature (jira.go).
	"POST /webhooks/jira":       true,
	"POST /api/jira/webhook":    true,
	"GET /webhooks/jira/health": true,
	"POST /auth/token":          true,
	"POST /auth/password/login": true,
	"POST /auth/bootstrap":      true,
	"GET /":                     true,
	"GET /login":                true,
	"POST /login":               true,
	"POST /logout":              true,
	// Sign-in providers (auth_magic.go, auth_password.go, auth_google.go).
	"POST /auth/email/request":   true,
	"POST /auth/email/send-link": true,
	"GET /auth/email/verify":     true,
	"POST /auth/email/verify":    true,
	"GET /password/forgot":       true,
	"POST /password/forgot":      true,
	"GET /password/reset":        true,
	"POST /password/reset":       true,
	"GET /password/setup":        true,
	"POST /password/setup":       true,
	"GET /auth/google/login":     true,
	"GET /auth/google/callback":  true,
	"POST /auth/password/setup":  true,
	"GET /auth/password/setup":   true,
}

var pathParam = regexp.MustCompile(`:[a-zA-Z_]+`)

// TestRouteTableMatchesRouter fails when a route is registered outside the route table,
// so that every route passes through the sweep below.
func TestRouteTableMatchesRouter(t *testing.T) {
	env := newTestEnv(t)
	table := map[string]bool{}
	for _, r := range env.srv.routes() {
		key := r.Method + " " + r.Path
		if table[key] {
			t.Errorf("route %s is listed twice", key)
		}
		table[key] = true
	}
	for _, r := range env.e.Routes() {
		if strings.HasPrefix(r.Path, "/static/") || r.Method == "echo_route_not_found" || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		if !table[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is registered but not in the route table (and so not in the sweep)", r.Method, r.Path)
		}
	}
}

// TestDenyByDefaultSweep calls every protected route anonymously, with a forged token and
// with the role just below its requirement, and expects 401/403 (or the login redirect).
func TestDenyByDefaultSweep(t *testing.T) {
	env := newTestEnv(t)
	forged := forgeToken(t, env.users[auth.RoleAdmin].ID)
	// Credentials that once worked: a revoked and an expired personal token of an admin, and
	// a JWT of a deactivated admin.
	ctx := context.Background()
	admin := env.users[auth.RoleAdmin]
	revokedTok, revoked, err := createPAT(env, admin.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.RevokePersonalToken(ctx, admin.ID, revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	past := time.Now().UTC().Add(-time.Hour)
	_, expired, err := createPAT(env, admin.ID, &past)
	if err != nil {
		t.Fatal(err)
	}
	gone := &store.User{Email: "gone-admin@example.com", Name: "Gone", Role: string(auth.RoleAdmin), Active: true}
	if err := env.store.CreateUser(ctx, gone); err != nil {
		t.Fatal(err)
	}
	goneJWT, _, err := env.srv.issuer.Issue(gone.ID, gone.Email, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	_, goneTok, err := createPAT(env, gone.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := env.store.PatchUser(ctx, gone.ID, store.UserPatch{Active: &off}); err != nil {
		t.Fatal(err)
	}
	stale := map[string]string{"revoked token": revoked, "expired token": expired, "deactivated user's JWT": goneJWT,
		"deactivated user's token": goneTok}
	for _, r := range env.srv.routes() {
		key := r.Method + " " + r.Path
		path := pathParam.ReplaceAllString(r.Path, "x")
		if r.Min == "" {
			if !publicRoutes[key] {
				t.Errorf("%s is public but not in the public allow-list", key)
			}
			continue
		}
		if publicRoutes[key] {
			t.Errorf("%s requires %s but is in the public allow-list", key, r.Min)
		}
		t.Run(key, func(t *testing.T) {
			body := ""
			if r.Method != http.MethodGet {
				body = "{}"
			}
			anon := env.do(request{method: r.Method, path: path, body: body})
			if isAPIPath(r.Path) {
				if anon.Code != http.StatusUnauthorized {
					t.Errorf("anonymous: got %d, want 401: %s", anon.Code, anon.Body)
				}
			} else if r.Method != http.MethodGet && anon.Code == http.StatusForbidden {
				// A state-changing page request without a session fails the CSRF check first.
			} else if anon.Code != http.StatusSeeOther || !strings.HasPrefix(anon.Header().Get("Location"), "/login?next=") {
				t.Errorf("anonymous page: got %d %q, want 303 to /login?next=", anon.Code, anon.Header().Get("Location"))
			}
			bad := env.do(request{method: r.Method, path: path, body: body, token: forged})
			if bad.Code != http.StatusUnauthorized {
				t.Errorf("forged token: got %d, want 401", bad.Code)
			}
			for name, tok := range stale {
				rec := env.do(request{method: r.Method, path: path, body: body, token: tok})
				if rec.Code != http.StatusUnauthorized {
					t.Errorf("%s: got %d, want 401", name, rec.Code)
				}
			}
			if rank := r.Min.Rank(); rank > 0 {
				below := auth.Roles[rank-1]
				rec := env.do(request{method: r.Method, path: path, body: body, token: env.tokens[below]})
				if rec.Code != http.StatusForbidden {
					t.Errorf("role %s: got %d, want 403: %s", below, rec.Code, rec.Body)
				}
			}
			ok := env.do(request{method: r.Method, path: path, body: body, token: env.tokens[r.Min]})
			if ok.Code == http.StatusUnauthorized || ok.Code == http.StatusForbidden {
				t.Errorf("role %s (the minimum): got %d, want access", r.Min, ok.Code)
			}
		})
	}
}
