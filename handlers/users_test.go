package handlers

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/store"
)

// govCase is one HTTP scenario of the governance API: the request, the expected status, and
// text the body must and must not contain.
type govCase struct {
	name      string
	req       request
	status    int
	contains  []string
	forbidden []string
}

// secretMarkers must never appear in an API response body.
var secretMarkers = []string{"$argon2", "password_hash", "token_hash", "PasswordHash", "SetupToken"}

// runGovCases runs the cases in order (later cases may depend on earlier ones).
func runGovCases(t *testing.T, env *testEnv, cases []govCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(tc.req)
			checkGovResponse(t, rec, tc)
		})
	}
}

func checkGovResponse(t *testing.T, rec *httptest.ResponseRecorder, tc govCase) {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != tc.status {
		t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, truncate(body))
	}
	if rec.Code != 204 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("content type %q, want JSON", rec.Header().Get("Content-Type"))
	}
	for _, s := range tc.contains {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q: %s", s, truncate(body))
		}
	}
	for _, s := range append(tc.forbidden, secretMarkers...) {
		if strings.Contains(body, s) {
			t.Errorf("body must not contain %q: %s", s, truncate(body))
		}
	}
}

// deactivatedToken creates a deactivated admin and returns a JWT issued before deactivation.
func (env *testEnv) deactivatedToken() (string, *store.User) {
	env.t.Helper()
	u := &store.User{Email: "gone@example.com", Name: "Gone", Role: string(auth.RoleAdmin)}
	if err := env.store.CreateUser(context.Background(), u); err != nil {
		env.t.Fatal(err)
	}
	tok, _, err := env.srv.issuer.Issue(u.ID, u.Email, auth.RoleAdmin)
	if err != nil {
		env.t.Fatal(err)
	}
	u.Active = false
	if err := env.store.UpdateUser(context.Background(), u); err != nil {
		env.t.Fatal(err)
	}
	return tok, u
}

func TestUsersAPI(t *testing.T) {
	env := newTestEnv(t)
	admin, analyst, viewer := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer]
	gone, _ := env.deactivatedToken()
	viewerID := env.users[auth.RoleViewer].ID
	adminID := env.users[auth.RoleAdmin].ID
	cases := []govCase{
		// Who may call.
		{"list: anonymous", request{method: "GET", path: "/api/users"}, 401, []string{"Not authenticated"}, nil},
		{"list: deactivated", request{method: "GET", path: "/api/users", token: gone}, 401, []string{"deactivated"}, nil},
		{"list: analyst", request{method: "GET", path: "/api/users", token: analyst}, 403, []string{"Requires role admin"}, []string{"@example.com"}},
		{"list: viewer", request{method: "GET", path: "/api/users", token: viewer}, 403, nil, []string{"@example.com"}},
		{"create: analyst", request{method: "POST", path: "/api/users", token: analyst, body: `{"email":"x@example.com"}`}, 403, nil, nil},
		{"create: anonymous", request{method: "POST", path: "/api/users", body: `{"email":"x@example.com"}`}, 401, nil, nil},
		{"create: deactivated admin", request{method: "POST", path: "/api/users", token: gone, body: `{"email":"x@example.com"}`}, 401, nil, nil},
		{"get: viewer", request{method: "GET", path: "/api/users/" + viewerID, token: viewer}, 403, nil, []string{`"has_password"`}},
		{"patch: analyst", request{method: "PATCH", path: "/api/users/" + viewerID, token: analyst, body: `{"role":"admin"}`}, 403, nil, nil},
		{"delete: viewer", request{method: "DELETE", path: "/api/users/" + viewerID, token: viewer}, 403, nil, nil},

		// Create.
		{"create with password", request{method: "POST", path: "/api/users", token: admin,
			body: `{"email":" New.Person@Example.com ","name":"New Person","role":"viewer","password":"long-enough-1"}`},
			201, []string{`"email":"new.person@example.com"`, `"role":"viewer"`, `"active":true`, `"has_password":true`, `"created_at":"20`},
			[]string{"setup_token", "setup_url", "long-enough-1"}},
		{"create without password gives a setup link", request{method: "POST", path: "/api/users", token: admin,
			body: `{"email":"invitee@example.com","name":"Invitee"}`},
			201, []string{`"role":"analyst"`, `"setup_token":"`, `"setup_url":"http://localhost:8000/auth/password/setup?token=`, `"has_password":false`}, nil},
		{"duplicate e-mail any case", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"INVITEE@example.com"}`},
			409, []string{"already exists"}, nil},
		{"unknown role", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"r@example.com","role":"superuser"}`},
			422, []string{`"loc":["body","role"]`, "role must be one of"}, nil},
		{"short password", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"p@example.com","password":"short"}`},
			422, []string{`"loc":["body","password"]`, "at least 8"}, []string{"short\""}},
		{"missing email", request{method: "POST", path: "/api/users", token: admin, body: `{"name":"x"}`},
			422, []string{`"loc":["body","email"]`, "Field required"}, nil},
		{"invalid email", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"not-an-email"}`},
			422, []string{`"loc":["body","email"]`, "valid email"}, nil},
		{"wrong type", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"a@b.co","role":7}`},
			422, []string{`"loc":["body","role"]`, "valid string"}, nil},
		{"malformed JSON", request{method: "POST", path: "/api/users", token: admin, body: `{"email":`},
			422, []string{"json_invalid"}, nil},
		{"name too long", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"long@example.com","name":"` + strings.Repeat("n", 201) + `"}`},
			422, []string{`"loc":["body","name"]`}, nil},

		// Read.
		{"get one", request{method: "GET", path: "/api/users/" + viewerID, token: admin}, 200,
			[]string{`"email":"viewer@example.com"`, `"role":"viewer"`, `"has_password":true`}, nil},
		{"get unknown", request{method: "GET", path: "/api/users/nope", token: admin}, 404, []string{"User not found"}, nil},
		{"list has the new users", request{method: "GET", path: "/api/users", token: admin}, 200,
			[]string{"invitee@example.com", "new.person@example.com"}, []string{"setup"}},

		// Update.
		{"promote viewer", request{method: "PATCH", path: "/api/users/" + viewerID, token: admin, body: `{"role":"KM_ADMIN","name":" Vee "}`},
			200, []string{`"role":"km_admin"`, `"name":"Vee"`}, nil},
		{"patch unknown role", request{method: "PATCH", path: "/api/users/" + viewerID, token: admin, body: `{"role":"root"}`},
			422, []string{`"loc":["body","role"]`}, nil},
		{"patch active wrong type", request{method: "PATCH", path: "/api/users/" + viewerID, token: admin, body: `{"active":"no"}`},
			422, []string{`"loc":["body","active"]`, "valid boolean"}, nil},
		{"patch unknown user", request{method: "PATCH", path: "/api/users/nope", token: admin, body: `{"name":"x"}`}, 404, []string{"User not found"}, nil},
		{"demote last admin", request{method: "PATCH", path: "/api/users/" + adminID, token: admin, body: `{"role":"analyst"}`},
			409, []string{"last active admin"}, nil},
		{"deactivate yourself", request{method: "PATCH", path: "/api/users/" + adminID, token: admin, body: `{"active":false}`},
			409, []string{"your own account"}, nil},
		{"deactivate viewer", request{method: "PATCH", path: "/api/users/" + viewerID, token: admin, body: `{"active":false}`},
			200, []string{`"active":false`}, nil},
		{"deactivated user's token stops working", request{method: "GET", path: "/api/me", token: viewer}, 401, nil, nil},

		// Delete.
		{"delete yourself", request{method: "DELETE", path: "/api/users/" + adminID, token: admin}, 409, []string{"your own account"}, nil},
		{"delete unknown", request{method: "DELETE", path: "/api/users/nope", token: admin}, 404, []string{"User not found"}, nil},
		{"delete viewer", request{method: "DELETE", path: "/api/users/" + viewerID, token: admin}, 204, nil, nil},
		{"deleted is gone", request{method: "GET", path: "/api/users/" + viewerID, token: admin}, 404, nil, nil},
	}
	runGovCases(t, env, cases)
}

// TestLastAdminProtection: with one active admin left, no path removes it; with two, one may go.
func TestLastAdminProtection(t *testing.T) {
	env := newTestEnv(t)
	admin := env.tokens[auth.RoleAdmin]
	adminID := env.users[auth.RoleAdmin].ID
	// A second admin who will try to remove the first.
	rec := env.do(request{method: "POST", path: "/api/users", token: admin, body: `{"email":"second@example.com","role":"admin","password":"long-enough-2"}`})
	if rec.Code != 201 {
		t.Fatalf("create second admin: %d %s", rec.Code, rec.Body)
	}
	secondID := decodeJSON(t, rec)["id"].(string)
	second, _, _ := env.srv.issuer.Issue(secondID, "second@example.com", auth.RoleAdmin)
	runGovCases(t, env, []govCase{
		{"second admin demotes the first", request{method: "PATCH", path: "/api/users/" + adminID, token: second, body: `{"role":"analyst"}`}, 200, nil, nil},
		{"first can no longer manage users", request{method: "GET", path: "/api/users", token: admin}, 403, nil, nil},
		{"the last admin cannot demote themselves", request{method: "PATCH", path: "/api/users/" + secondID, token: second, body: `{"role":"viewer"}`},
			409, []string{"last active admin"}, nil},
		{"deactivated admins do not count", request{method: "DELETE", path: "/api/users/" + adminID, token: second}, 204, nil, nil},
	})
	u, err := env.store.GetUserByID(context.Background(), secondID)
	if err != nil || u.Role != "admin" || !u.Active {
		t.Errorf("the last admin changed: %+v %v", u, err)
	}
}

func TestPasswordSetupFlow(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	admin := env.tokens[auth.RoleAdmin]
	invite := func(email string) (token, setupURL string) {
		t.Helper()
		rec := env.do(request{method: "POST", path: "/api/users", token: admin, body: `{"email":"` + email + `","role":"viewer"}`})
		if rec.Code != 201 {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		m := decodeJSON(t, rec)
		return m["setup_token"].(string), m["setup_url"].(string)
	}
	setup, setupURL := invite("invitee@example.com")
	stored, _ := env.store.GetUserByEmail(ctx, "invitee@example.com")
	if strings.Contains(stored.SetupToken, setup) || !strings.HasSuffix(stored.SetupToken, auth.HashLinkToken(setup)) {
		t.Fatalf("the setup token must be stored hashed, got %q", stored.SetupToken)
	}
	// The setup_url leads to the set-up page, which accepts the token.
	link := strings.TrimPrefix(setupURL, env.srv.cfg.ServerURL)
	rec := env.do(request{method: "GET", path: link})
	if rec.Code != 303 || rec.Header().Get("Location") != "/password/setup?token="+setup {
		t.Fatalf("setup_url: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if page := env.do(request{method: "GET", path: rec.Header().Get("Location")}); page.Code != 200 || !strings.Contains(page.Body.String(), "invitee@example.com") {
		t.Fatalf("set-up page: %d %s", page.Code, truncate(page.Body.String()))
	}
	storedHash := auth.HashLinkToken(setup)
	runGovCases(t, env, []govCase{
		{"no password yet: cannot sign in", request{method: "POST", path: "/auth/token", body: `{"email":"invitee@example.com","password":"whatever-123"}`},
			401, []string{"No password is set"}, []string{"access_token"}},
		{"missing token", request{method: "POST", path: "/auth/password/setup", body: `{"password":"new-password-1"}`},
			422, []string{`"loc":["body","token"]`}, nil},
		{"token wrong type", request{method: "POST", path: "/auth/password/setup", body: `{"token":1,"password":"new-password-1"}`},
			422, []string{`"loc":["body","token"]`}, nil},
		{"short password", request{method: "POST", path: "/auth/password/setup", body: `{"token":"` + setup + `","password":"short"}`},
			422, []string{`"loc":["body","password"]`}, nil},
		{"wrong token", request{method: "POST", path: "/auth/password/setup", body: `{"token":"nope","password":"new-password-1"}`},
			400, []string{"Invalid setup token"}, []string{"access_token"}},
		{"the stored hash is not a token", request{method: "POST", path: "/auth/password/setup", body: `{"token":"` + storedHash + `","password":"new-password-1"}`},
			400, []string{"Invalid setup token"}, nil},
		{"email of another user", request{method: "POST", path: "/auth/password/setup", body: `{"token":"` + setup + `","email":"admin@example.com","password":"new-password-1"}`},
			400, []string{"Invalid setup token"}, nil},
		{"valid token", request{method: "POST", path: "/auth/password/setup", body: `{"token":"` + setup + `","email":"Invitee@example.com","password":"new-password-1"}`},
			200, []string{`"access_token"`, `"token_type":"bearer"`, "Password set successfully", `"role":"viewer"`}, []string{"new-password-1"}},
		{"single use", request{method: "POST", path: "/auth/password/setup", body: `{"token":"` + setup + `","password":"other-password-2"}`},
			400, []string{"Invalid setup token"}, nil},
		{"now the password signs in", request{method: "POST", path: "/auth/token", body: `{"email":"invitee@example.com","password":"new-password-1"}`},
			200, []string{`"access_token"`}, nil},
	})

	// An expired link: age the stored token past its lifetime.
	old, _ := invite("late@example.com")
	if _, err := env.store.DB.Exec(`UPDATE users SET setup_token_created = ? WHERE email = 'late@example.com'`,
		time.Now().UTC().Add(-auth.SetupLinkTTL-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A deactivated invitee's link does nothing and stays unused.
	off, _ := invite("off@example.com")
	offUser, _ := env.store.GetUserByEmail(ctx, "off@example.com")
	if rec := env.do(request{method: "PATCH", path: "/api/users/" + offUser.ID, token: admin, body: `{"active":false}`}); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	runGovCases(t, env, []govCase{
		{"expired token", request{method: "POST", path: "/auth/password/setup", body: `{"token":"` + old + `","password":"new-password-3"}`},
			400, []string{"expired"}, []string{"access_token"}},
		{"deactivated invitee", request{method: "POST", path: "/auth/password/setup", body: `{"token":"` + off + `","password":"new-password-3"}`},
			401, []string{"deactivated"}, []string{"access_token"}},
	})
	if u, _ := env.store.GetUserByEmail(ctx, "off@example.com"); u.PasswordHash != "" {
		t.Error("a deactivated invitee got a password")
	}
}
