package handlers

import (
	"net/url"
	"testing"

	"da/auth"
	"da/store"
)

// credentialSet is every kind of credential one user can hold at once.
type credentialSet struct {
	jwt, pat string
	browser  *browser
}

// issueCredentials signs the user in every way: a JWT from /auth/token, a personal access
// token and a browser session; each is checked to work before the test goes on.
func issueCredentials(t *testing.T, env *testEnv, email, password string) credentialSet {
	t.Helper()
	rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"` + email + `","password":"` + password + `"}`})
	if rec.Code != 200 {
		t.Fatalf("sign in %s: %d %s", email, rec.Code, rec.Body)
	}
	cs := credentialSet{jwt: decodeJSON(t, rec)["access_token"].(string)}
	u, err := env.store.GetUserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	if _, cs.pat, err = env.store.CreatePersonalToken(t.Context(), u.ID, "cli", store.ScopeFull, nil); err != nil {
		t.Fatal(err)
	}
	cs.browser = env.browser()
	if rec := cs.browser.login(email, password); rec.Code != 303 {
		t.Fatalf("browser sign in %s: %d", email, rec.Code)
	}
	for name, code := range cs.status(env) {
		if code != 200 {
			t.Fatalf("fresh %s: %d", name, code)
		}
	}
	return cs
}

// status is what GET /api/me answers to each credential.
func (cs credentialSet) status(env *testEnv) map[string]int {
	m := cs.tokenStatus(env)
	m["session"] = cs.browser.do("GET", "/api/me", nil).Code
	return m
}

// tokenStatus is status without the browser session.
func (cs credentialSet) tokenStatus(env *testEnv) map[string]int {
	return map[string]int{
		"jwt": env.do(request{method: "GET", path: "/api/me", token: cs.jwt}).Code,
		"pat": env.do(request{method: "GET", path: "/api/me", token: cs.pat}).Code,
	}
}

func expectAll(t *testing.T, when string, got map[string]int, want int) {
	t.Helper()
	for name, code := range got {
		if code != want {
			t.Errorf("%s: %s answered %d, want %d", when, name, code, want)
		}
	}
}

// TestPasswordChangeEndsOtherCredentials changes a password in one browser: that browser
// stays signed in; the user's other sessions, JWTs and personal access tokens stop working,
// and credentials issued afterwards work.
func TestPasswordChangeEndsOtherCredentials(t *testing.T) {
	env := newTestEnv(t)
	old := issueCredentials(t, env, "analyst@example.com", testPassword)
	other := env.browser()
	if rec := other.login("analyst@example.com", testPassword); rec.Code != 303 {
		t.Fatalf("second browser: %d", rec.Code)
	}
	// Another user's credentials are not touched.
	bystander := issueCredentials(t, env, "viewer@example.com", testPassword)

	b := old.browser
	b.do("GET", "/settings", nil)
	rec := b.do("POST", "/settings/password", url.Values{"_csrf": {b.csrf}, "current_password": {testPassword},
		"new_password": {"new-password-1"}, "confirm_password": {"new-password-1"}})
	if rec.Code != 303 {
		t.Fatalf("password change: %d %s", rec.Code, rec.Body)
	}
	if code := b.do("GET", "/api/me", nil).Code; code != 200 {
		t.Errorf("the browser that changed the password was signed out: %d", code)
	}
	if code := other.do("GET", "/api/me", nil).Code; code != 401 {
		t.Errorf("another browser session survived the password change: %d", code)
	}
	expectAll(t, "after the password change", old.tokenStatus(env), 401)
	expectAll(t, "bystander", bystander.status(env), 200)

	if rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"analyst@example.com","password":"` + testPassword + `"}`}); rec.Code != 401 {
		t.Errorf("old password still signs in: %d", rec.Code)
	}
	fresh := issueCredentials(t, env, "analyst@example.com", "new-password-1")
	expectAll(t, "new credentials", fresh.status(env), 200)
}

// TestPasswordResetEndsCredentials resets a password through a one-time link: every earlier
// credential of the user stops working.
func TestPasswordResetEndsCredentials(t *testing.T) {
	env := newTestEnv(t)
	ctx := t.Context()
	old := issueCredentials(t, env, "analyst@example.com", testPassword)
	u := env.users[auth.RoleAnalyst]
	_, hash, err := auth.NewLinkToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.SetLinkToken(ctx, u.ID, store.LinkReset, hash); err != nil {
		t.Fatal(err)
	}
	pw, err := auth.HashPassword("new-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.ConsumeLinkToken(ctx, store.LinkReset, hash, auth.ResetLinkTTL, pw); err != nil {
		t.Fatal(err)
	}
	expectAll(t, "after the reset", old.status(env), 401)
	expectAll(t, "new credentials", issueCredentials(t, env, "analyst@example.com", "new-password-1").status(env), 200)
}

// TestReactivationDoesNotReviveCredentials deactivates and reactivates a user through the
// API: the credentials from before stay dead, new ones work.
func TestReactivationDoesNotReviveCredentials(t *testing.T) {
	env := newTestEnv(t)
	old := issueCredentials(t, env, "analyst@example.com", testPassword)
	id := env.users[auth.RoleAnalyst].ID
	admin := env.tokens[auth.RoleAdmin]
	if rec := env.do(request{method: "PATCH", path: "/api/users/" + id, token: admin, body: `{"active": false}`}); rec.Code != 200 {
		t.Fatalf("deactivate: %d %s", rec.Code, rec.Body)
	}
	// The session is not used while deactivated (that would end it for good): only the
	// valid-after time can keep it from coming back.
	expectAll(t, "deactivated", old.tokenStatus(env), 401)
	if rec := env.do(request{method: "PATCH", path: "/api/users/" + id, token: admin, body: `{"active": true}`}); rec.Code != 200 {
		t.Fatalf("reactivate: %d %s", rec.Code, rec.Body)
	}
	expectAll(t, "reactivated", old.status(env), 401)
	expectAll(t, "new credentials", issueCredentials(t, env, "analyst@example.com", testPassword).status(env), 200)
}
