package handlers

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"da/auth"
)

// forgeToken signs valid-looking claims with a key the server does not know.
func forgeToken(t *testing.T, sub string) string {
	t.Helper()
	tok, _, err := auth.NewIssuer("some-other-secret-some-other-secret-1").Issue(sub, "admin@example.com", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func noneToken(sub string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	exp := time.Now().Add(time.Hour).Unix()
	body := enc.EncodeToString([]byte(`{"sub":"` + sub + `","email":"admin@example.com","role":"admin","exp":` + itoa(exp) + `}`))
	return head + "." + body + "."
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func expiredToken(t *testing.T, env *testEnv, sub string) string {
	t.Helper()
	claims := auth.Claims{Email: "admin@example.com", Role: "admin", RegisteredClaims: jwt.RegisteredClaims{
		Subject: sub, IssuedAt: jwt.NewNumericDate(time.Now().Add(-48 * time.Hour)),
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(-24 * time.Hour)), ID: "0123456789abcdef0123456789abcdef"}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(env.srv.cfg.JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthScenarios runs the token API through the full echo stack.
func TestAuthScenarios(t *testing.T) {
	env := newTestEnv(t)
	adminID := env.users[auth.RoleAdmin].ID
	cases := []struct {
		name      string
		req       request
		status    int
		contains  []string
		forbidden []string
	}{
		{"token with password", request{method: "POST", path: "/auth/token", body: `{"email":"analyst@example.com","password":"` + testPassword + `"}`},
			200, []string{`"access_token"`, `"token_type":"bearer"`, `"role":"analyst"`, `"user_id"`}, []string{"password_hash"}},
		{"token email case-insensitive", request{method: "POST", path: "/auth/token", body: `{"email":"Analyst@Example.com","password":"` + testPassword + `"}`},
			200, []string{`"email":"analyst@example.com"`}, nil},
		{"password/login same shape", request{method: "POST", path: "/auth/password/login", body: `{"email":"viewer@example.com","password":"` + testPassword + `"}`},
			200, []string{`"access_token"`, `"user_id"`, `"role":"viewer"`}, nil},
		{"email alone is refused", request{method: "POST", path: "/auth/token", body: `{"email":"admin@example.com"}`},
			401, []string{"Password required"}, []string{"access_token"}},
		{"empty password is refused", request{method: "POST", path: "/auth/token", body: `{"email":"admin@example.com","password":""}`},
			401, []string{"Password required"}, []string{"access_token"}},
		{"wrong password", request{method: "POST", path: "/auth/token", body: `{"email":"admin@example.com","password":"wrong-password"}`},
			401, []string{"Invalid email or password"}, []string{"access_token"}},
		{"unknown user looks like wrong password", request{method: "POST", path: "/auth/token", body: `{"email":"nobody@example.com","password":"whatever-123"}`},
			401, []string{"Invalid email or password"}, []string{"not found"}},
		{"malformed JSON", request{method: "POST", path: "/auth/token", body: `{"email":`},
			422, []string{`"detail"`, "json_invalid"}, nil},
		{"not an object", request{method: "POST", path: "/auth/token", body: `["a"]`},
			422, []string{"JSON object"}, nil},
		{"missing email", request{method: "POST", path: "/auth/token", body: `{"password":"x"}`},
			422, []string{`"loc":["body","email"]`, "Field required"}, nil},
		{"wrong type names the field", request{method: "POST", path: "/auth/token", body: `{"email":42,"password":"x"}`},
			422, []string{`"loc":["body","email"]`, "valid string"}, nil},
		{"password wrong type", request{method: "POST", path: "/auth/password/login", body: `{"email":"a@b.c","password":{"x":1}}`},
			422, []string{`"loc":["body","password"]`}, nil},
		{"deeply nested input", request{method: "POST", path: "/auth/token", body: `{"email":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`},
			0, []string{`"detail"`}, nil},
		{"oversized body", request{method: "POST", path: "/auth/token", body: `{"email":"` + strings.Repeat("a", 2<<20) + `"}`},
			413, []string{"too large"}, nil},
		{"empty body", request{method: "POST", path: "/auth/token", body: ` `},
			422, []string{"empty"}, nil},
		{"bootstrap refused once users exist", request{method: "POST", path: "/auth/bootstrap", body: `{"email":"new@example.com","password":"long-enough-pw"}`},
			403, []string{"Bootstrap disabled", "4 users already exist"}, []string{"access_token"}},
		{"me with token", request{method: "GET", path: "/api/me", token: env.tokens[auth.RoleKMAdmin]},
			200, []string{`"role":"km_admin"`, `"email":"km_admin@example.com"`}, []string{"password"}},
		{"forged token", request{method: "GET", path: "/api/me", token: forgeToken(t, adminID)}, 401, []string{"Invalid or expired token"}, nil},
		{"alg none", request{method: "GET", path: "/api/me", token: noneToken(adminID)}, 401, []string{"Invalid or expired token"}, nil},
		{"expired", request{method: "GET", path: "/api/me", token: expiredToken(t, env, adminID)}, 401, []string{"Invalid or expired token"}, nil},
		{"garbage token", request{method: "GET", path: "/api/me", token: "not.a.jwt"}, 401, nil, nil},
		{"basic auth is not bearer", request{method: "GET", path: "/api/me", headers: map[string]string{"Authorization": "Basic YTpi"}}, 401, []string{"Authorization header"}, nil},
		{"no token", request{method: "GET", path: "/api/me"}, 401, []string{"Not authenticated"}, nil},
		{"users list needs admin", request{method: "GET", path: "/api/users", token: env.tokens[auth.RoleKMAdmin]}, 403, []string{"Requires role admin or higher"}, nil},
		{"users list for admin", request{method: "GET", path: "/api/users", token: env.tokens[auth.RoleAdmin]}, 200, []string{"viewer@example.com", `"created_at"`}, []string{"password_hash", "$argon2id"}},
		{"unknown api path is JSON 404", request{method: "GET", path: "/api/nope", token: env.tokens[auth.RoleAdmin]}, 404, []string{`"detail":"Not Found"`}, nil},
		{"wrong method is JSON 405", request{method: "DELETE", path: "/api/health"}, 405, []string{`"detail"`}, nil},
		{"traversal is refused", request{method: "GET", path: "/api/users/..%2f..%2fetc"}, 400, []string{"Invalid path"}, nil},
		{"dot-dot segment is refused", request{method: "GET", path: "/static/../main.go"}, 400, []string{"Invalid path"}, nil},
		{"health is public but brief", request{method: "GET", path: "/api/health"}, 200, []string{`"status":"healthy"`, `"services"`, `"users":{"status":"ok"}`}, []string{`"count"`, `"version"`, `"total_rows"`, `"backend"`}},
		{"health details for admins", request{method: "GET", path: "/api/health", token: env.tokens[auth.RoleAdmin]}, 200, []string{`"status":"healthy"`, `"users":{`, `"count":4`, `"version":"test"`, `"stale_tables":[]`, `"state_backend":"` + env.store.Backend() + `"`}, nil},
		{"health ignores a bad token", request{method: "GET", path: "/api/health", token: "junk"}, 200, nil, nil},
		{"readyz", request{method: "GET", path: "/readyz"}, 200, []string{"ready"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(tc.req)
			if tc.status != 0 && rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, truncate(rec.Body.String()))
			}
			if tc.status == 0 && (rec.Code < 400 || rec.Code >= 500) {
				t.Fatalf("status %d, want a 4xx: %s", rec.Code, truncate(rec.Body.String()))
			}
			if strings.HasPrefix(tc.req.path, "/api") || strings.HasPrefix(tc.req.path, "/auth") {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("content type %q, want JSON", ct)
				}
			}
			for _, s := range tc.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body lacks %q: %s", s, truncate(rec.Body.String()))
				}
			}
			for _, s := range tc.forbidden {
				if strings.Contains(rec.Body.String(), s) {
					t.Errorf("body must not contain %q: %s", s, truncate(rec.Body.String()))
				}
			}
		})
	}
}

func truncate(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// TestTokenClaims checks the JWT the server issues.
func TestTokenClaims(t *testing.T) {
	env := newTestEnv(t)
	rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"admin@example.com","password":"` + testPassword + `"}`})
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	tok := decodeJSON(t, rec)["access_token"].(string)
	c, err := env.srv.issuer.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != env.users[auth.RoleAdmin].ID || c.Email != "admin@example.com" || c.Role != "admin" {
		t.Errorf("claims %+v", c)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 24*time.Hour {
		t.Errorf("exp - iat = %v, want 24h", got)
	}
	if len(c.ID) < 16 {
		t.Errorf("jti %q is shorter than 16 characters", c.ID)
	}
}

// TestDeletedOrDeactivatedUserTokenIs401 checks that the database, not the token, decides.
func TestDeletedOrDeactivatedUserTokenIs401(t *testing.T) {
	env := newTestEnv(t)
	ctx := t.Context()
	u := env.users[auth.RoleAnalyst]
	u.Active = false
	if err := env.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if rec := env.do(request{method: "GET", path: "/api/me", token: env.tokens[auth.RoleAnalyst]}); rec.Code != 401 {
		t.Errorf("deactivated: %d", rec.Code)
	}
	if rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"analyst@example.com","password":"` + testPassword + `"}`}); rec.Code != 401 {
		t.Errorf("deactivated login: %d", rec.Code)
	}
	if err := env.store.DeleteUser(ctx, env.users[auth.RoleViewer].ID); err != nil {
		t.Fatal(err)
	}
	if rec := env.do(request{method: "GET", path: "/api/me", token: env.tokens[auth.RoleViewer]}); rec.Code != 401 {
		t.Errorf("deleted: %d", rec.Code)
	}
	// The role comes from the database: a demoted admin's token loses admin rights at once.
	a := env.users[auth.RoleAdmin]
	a.Role = string(auth.RoleViewer)
	if err := env.store.UpdateUser(ctx, a); err != nil {
		t.Fatal(err)
	}
	if rec := env.do(request{method: "GET", path: "/api/users", token: env.tokens[auth.RoleAdmin]}); rec.Code != 403 {
		t.Errorf("demoted admin: %d", rec.Code)
	}
}

// TestLoginRateLimit refuses an address after ten wrong passwords for one account.
func TestLoginRateLimit(t *testing.T) {
	env := newTestEnv(t)
	body := `{"email":"viewer@example.com","password":"wrong-password"}`
	for i := 0; i < 10; i++ {
		if rec := env.do(request{method: "POST", path: "/auth/token", body: body}); rec.Code != 401 {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"viewer@example.com","password":"` + testPassword + `"}`})
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Another account from the same address is not affected.
	if rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"analyst@example.com","password":"` + testPassword + `"}`}); rec.Code != 200 {
		t.Errorf("other account: %d", rec.Code)
	}
	// The guesses locked out their own address only: the owner signs in from another one.
	if rec := env.do(request{method: "POST", path: "/auth/token", addr: "203.0.113.5:4000",
		body: `{"email":"viewer@example.com","password":"` + testPassword + `"}`}); rec.Code != 200 {
		t.Errorf("the owner, from another address, is locked out by someone else's guesses: %d", rec.Code)
	}
}

// TestBootstrap creates the first admin only while there are no users.
func TestBootstrap(t *testing.T) {
	env := newTestEnv(t)
	ctx := t.Context()
	users, _ := env.store.ListUsers(ctx)
	for _, u := range users {
		if err := env.store.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"email":"boss@example.com"}`, 422, `"loc":["body","password"]`},
		{`{"email":"boss@example.com","password":"short"}`, 422, "at least 8"},
		{`{"email":"not-an-email","password":"long-enough-pw"}`, 422, `"loc":["body","email"]`},
		{`{"email":"boss@example.com","password":"long-enough-pw","name":"Boss"}`, 200, `"role":"admin"`},
		{`{"email":"second@example.com","password":"long-enough-pw"}`, 403, "Bootstrap disabled"},
	} {
		rec := env.do(request{method: "POST", path: "/auth/bootstrap", body: tc.body})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.body, rec.Code, rec.Body, tc.status, tc.want)
		}
	}
	if rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"boss@example.com","password":"long-enough-pw"}`}); rec.Code != 200 {
		t.Errorf("new admin cannot sign in: %d", rec.Code)
	}
}

// TestBrowserLoginFlow signs in through the form, uses a page, and signs out.
func TestBrowserLoginFlow(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	rec := b.do("GET", "/catalog", nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next=%2Fcatalog" {
		t.Fatalf("anonymous /catalog: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := b.do("GET", "/", nil); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/login" {
		t.Fatalf("anonymous /: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	b.do("GET", "/login?next=%2Fcatalog", nil)
	if b.csrf == "" {
		t.Fatal("login page has no CSRF token")
	}
	// Without the CSRF token the form is refused and nothing happens.
	rec = b.do("POST", "/login", url.Values{"email": {"analyst@example.com"}, "password": {testPassword}})
	if rec.Code != http.StatusForbidden {
		t.Fatalf("login without CSRF: %d", rec.Code)
	}
	b.do("GET", "/login", nil)
	rec = b.do("POST", "/login", url.Values{"email": {"analyst@example.com"}, "password": {"nope-nope-nope"}, "_csrf": {b.csrf}, "next": {"/catalog"}})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Invalid email or password") {
		t.Fatalf("wrong password: %d", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), `value="analyst@example.com"`) {
		t.Errorf("the e-mail is not kept after a failed attempt")
	}
	rec = b.do("POST", "/login", url.Values{"email": {""}, "password": {""}, "_csrf": {b.csrf}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Enter your e-mail address.") {
		t.Fatalf("empty form: %d", rec.Code)
	}
	rec = b.do("POST", "/login", url.Values{"email": {"analyst@example.com"}, "password": {testPassword}, "_csrf": {b.csrf}, "next": {"/catalog"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/catalog" {
		t.Fatalf("login: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = b.do("GET", "/dashboard", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "analyst@example.com") {
		t.Fatalf("dashboard after login: %d", rec.Code)
	}
	// The analyst may not open admin pages: a 403 page, not JSON.
	rec = b.do("GET", "/admin/users", nil)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("admin page as analyst: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	// Unknown pages get the HTML 404 page.
	if rec := b.do("GET", "/no-such-page", nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), "error-status") {
		t.Errorf("unknown page: %d", rec.Code)
	}
	// Logout needs the CSRF token too.
	if rec := b.do("POST", "/logout", url.Values{}); rec.Code != http.StatusForbidden {
		t.Errorf("logout without CSRF: %d", rec.Code)
	}
	b.do("GET", "/dashboard", nil)
	rec = b.do("POST", "/logout", url.Values{"_csrf": {b.csrf}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", rec.Code)
	}
	if rec := b.do("GET", "/dashboard", nil); rec.Code != http.StatusSeeOther {
		t.Errorf("dashboard after logout: %d", rec.Code)
	}
}

// TestOpenRedirectRefused keeps redirects after login on this site.
func TestOpenRedirectRefused(t *testing.T) {
	for in, want := range map[string]string{
		"/catalog":             "/catalog",
		"/query?x=1":           "/query?x=1",
		"//evil.example":       "",
		"/\\evil.example":      "",
		"https://evil.example": "",
		"javascript:alert(1)":  "",
		"/login":               "",
		"":                     "",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
