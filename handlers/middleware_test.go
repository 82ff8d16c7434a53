package handlers

import (
	"net/http"
	"strings"
	"testing"

	"da/auth"
)

// TestInvalidUTF8PathParams sends a path whose parameter is not valid UTF-8 to every route
// of the route table that has one, as an admin, and expects a 400 {"detail"}: never a 500,
// never a handler that runs on the garbled id.
func TestInvalidUTF8PathParams(t *testing.T) {
	env := newTestEnv(t)
	n := 0
	for _, r := range env.srv.routes() {
		if !strings.Contains(r.Path, ":") && !strings.HasSuffix(r.Path, "*") {
			continue
		}
		for _, bad := range []string{"%ff", "ok%c3%28", "%ed%a0%80"} {
			path := pathParam.ReplaceAllString(r.Path, bad)
			if strings.HasSuffix(path, "*") {
				path = strings.TrimSuffix(path, "*") + bad
			}
			rec := env.do(request{method: r.Method, path: path, token: env.tokens[auth.RoleAdmin],
				body: `{}`, headers: map[string]string{"Accept": "application/json"}})
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s %s: status %d, want 400: %s", r.Method, path, rec.Code, rec.Body.String())
				continue
			}
			if d, _ := decodeJSON(t, rec)["detail"].(string); !strings.Contains(d, "UTF-8") {
				t.Errorf("%s %s: detail %q does not say what is wrong", r.Method, path, d)
			}
			n++
		}
	}
	if n < 30 {
		t.Fatalf("only %d routes with path parameters were tried", n)
	}
	// A browser gets the error page, with the same status.
	rec := env.do(request{method: "GET", path: "/catalog/%ff", token: env.tokens[auth.RoleAdmin],
		headers: map[string]string{"Accept": "text/html"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("page with a bad path: status %d: %.200s", rec.Code, rec.Body.String())
	}
}

// TestSecretBodiesAreNotStored checks that every answer that carries a credential tells
// caches not to keep it, and that downloads keep their own revalidating policy.
func TestSecretBodiesAreNotStored(t *testing.T) {
	env := newTestEnv(t)
	admin, viewer := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleViewer]
	login := `{"email":"analyst@example.com","password":"` + testPassword + `"}`
	for _, tc := range []struct {
		name   string
		req    request
		status int
		secret string // a field of the body that carries the secret
	}{
		{"token", request{method: "POST", path: "/auth/token", body: login}, 200, "access_token"},
		{"password login", request{method: "POST", path: "/auth/password/login", body: login}, 200, "access_token"},
		{"personal token", request{method: "POST", path: "/api/tokens", token: viewer, body: `{"name":"ci"}`}, 201, "token"},
		{"invited user", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"new@example.com"}`}, 201, "setup_url"},
		{"bootstrap refused", request{method: "POST", path: "/auth/bootstrap", body: `{"email":"x@example.com","password":"long-enough-pw"}`}, 403, ""},
		{"me", request{method: "GET", path: "/api/me", token: viewer}, 200, ""},
	} {
		rec := env.do(tc.req)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, rec.Code, tc.status, rec.Body.String())
			continue
		}
		if tc.secret != "" {
			if v, _ := decodeJSON(t, rec)[tc.secret].(string); v == "" {
				t.Errorf("%s: no %s in %s", tc.name, tc.secret, rec.Body.String())
			}
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", tc.name, got)
		}
	}
}

// TestHSTSBehindTLSProxy: a server whose public URL is https:// sits behind a TLS proxy and
// sends HSTS although the request reaching it is plain HTTP; an http:// one does not.
func TestHSTSBehindTLSProxy(t *testing.T) {
	env := newTestEnv(t)
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"http://localhost:8000", ""},
		{"https://data.example.com", "max-age=31536000"},
	} {
		env.srv.cfg.ServerURL = tc.url
		for _, path := range []string{"/login", "/api/health", "/static/app.css", "/nope"} {
			rec := env.do(request{method: "GET", path: path})
			if got := rec.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("SERVER_URL=%s GET %s: Strict-Transport-Security %q, want %q", tc.url, path, got, tc.want)
			}
		}
	}
}

// TestInvalidUTF8QueryParams: a query string whose values are not valid UTF-8 is a 400 on
// every GET route, never a 500.
func TestInvalidUTF8QueryParams(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	q := "?q=%ff&search=%ff&table=%ff&user_id=%ff&next=%ff&source=%ff&status=%ff&id=%ff&category=%ff&type=%ff&limit=%ff"
	n := 0
	for _, r := range env.srv.routes() {
		if r.Method != "GET" {
			continue
		}
		path := strings.TrimSuffix(pathParam.ReplaceAllString(r.Path, "sales"), "*")
		rec := env.do(request{method: r.Method, path: path + q, token: env.tokens[auth.RoleAdmin],
			headers: map[string]string{"Accept": "application/json"}})
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "UTF-8") {
			t.Errorf("GET %s%s: %d %.200s, want 400", path, q, rec.Code, rec.Body.String())
		}
		n++
	}
	if n < 40 {
		t.Fatalf("only %d GET routes tried", n)
	}
	// Valid UTF-8 passes.
	if rec := env.do(request{method: "GET", path: "/api/memory?q=%C3%A9t%C3%A9", token: env.tokens[auth.RoleAdmin]}); rec.Code != http.StatusOK {
		t.Fatalf("GET /api/memory?q=été: %d %s", rec.Code, rec.Body.String())
	}
}
