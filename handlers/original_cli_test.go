package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"da/auth"
)

// cliCall is one HTTP call as the original Python `da` CLI sends it: httpx with its default
// headers and, when signed in, "Authorization: Bearer <token>".
func (env *testEnv) cliCall(method, path, token, body string) *httptest.ResponseRecorder {
	env.t.Helper()
	h := map[string]string{"Accept": "*/*", "User-Agent": "python-httpx/0.23.3", "Accept-Encoding": "gzip, deflate"}
	return env.do(request{method: method, path: path, token: token, body: body, headers: h})
}

// cliJSON decodes an answer the way the CLI does and fails when it is not a JSON object with
// the fields the CLI reads.
func cliJSON(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, fields ...string) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: status %d, want %d: %s", what, rec.Code, status, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s: not a JSON object: %v: %s", what, err, rec.Body)
	}
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			t.Errorf("%s: field %q missing: %s", what, f, rec.Body)
		}
	}
	return m
}

// cliDetail checks an error answer carries the detail string the CLI prints.
func cliDetail(t *testing.T, what string, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	m := cliJSON(t, what, rec, status, "detail")
	if d, ok := m["detail"].(string); !ok || d == "" {
		t.Errorf("%s: detail is not a message: %s", what, rec.Body)
	}
}

// TestOriginalCLIChecks replays the calls of the original CLI's own checks (setup verify,
// status, admin, query --remote, explore --remote, sync, setup first-sync, auth and
// bootstrap) with the headers it sends, and checks each answer has the status and fields
// the CLI expects.
func TestOriginalCLIChecks(t *testing.T) {
	env, tokens := catalogEnv(t)
	admin, analyst := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst]
	if rec := env.do(request{method: "POST", path: "/api/catalog/profile/sales/refresh", token: admin}); rec.Code != http.StatusOK {
		t.Fatalf("profile sales: %d %s", rec.Code, rec.Body)
	}

	t.Run("setup verify", func(t *testing.T) {
		for _, tok := range []string{admin, analyst} {
			h := cliJSON(t, "GET /api/health", env.cliCall("GET", "/api/health", tok, ""), 200, "status", "timestamp", "services")
			switch h["status"] {
			case "healthy", "degraded", "unhealthy":
			default:
				t.Errorf("health status %v", h["status"])
			}
			for i := 0; i < 2; i++ {
				m := cliJSON(t, "GET /api/sync/manifest", env.cliCall("GET", "/api/sync/manifest", tok, ""), 200, "tables")
				if _, ok := m["tables"].(map[string]any); !ok {
					t.Errorf("manifest tables is not an object: %v", m["tables"])
				}
			}
			// 200 for an admin; 403 also counts as a pass.
			if rec := env.cliCall("GET", "/api/users", tok, ""); rec.Code != 200 && rec.Code != 403 {
				t.Errorf("GET /api/users: %d", rec.Code)
			}
			if rec := env.cliCall("GET", "/login", tok, ""); rec.Code != 200 {
				t.Errorf("GET /login with a token: %d %s", rec.Code, rec.Header().Get("Location"))
			} else if !strings.Contains(rec.Body.String(), "login-signed-in") {
				t.Errorf("GET /login with a token does not say who is signed in")
			}
			if rec := env.cliCall("GET", "/docs", tok, ""); rec.Code != 200 {
				t.Errorf("GET /docs: %d", rec.Code)
			}
		}
		if rec := env.cliCall("GET", "/login", "", ""); rec.Code != 200 {
			t.Errorf("GET /login anonymous: %d", rec.Code)
		}
	})

	t.Run("status", func(t *testing.T) {
		h := cliJSON(t, "GET /api/health", env.cliCall("GET", "/api/health", admin, ""), 200, "status", "services")
		svcs, _ := h["services"].(map[string]any)
		data, _ := svcs["data"].(map[string]any)
		for _, f := range []string{"status", "tables", "total_rows", "stale_tables"} {
			if _, ok := data[f]; !ok {
				t.Errorf("services.data.%s missing: %v", f, data)
			}
		}
		if users, _ := svcs["users"].(map[string]any); users["count"] == nil {
			t.Errorf("services.users.count missing: %v", svcs["users"])
		}
		for name, svc := range svcs {
			if m, ok := svc.(map[string]any); !ok || m["status"] == nil {
				t.Errorf("service %s has no status: %v", name, svc)
			}
		}
	})

	t.Run("admin", func(t *testing.T) {
		u := cliJSON(t, "POST /api/users", env.cliCall("POST", "/api/users", admin,
			`{"email":"cli-user@example.com","name":"cli-user","role":"analyst"}`), 201, "id", "email", "role")
		id, _ := u["id"].(string)
		cliDetail(t, "POST /api/users again", env.cliCall("POST", "/api/users", admin,
			`{"email":"cli-user@example.com","name":"cli-user","role":"analyst"}`), 409)
		rec := env.cliCall("GET", "/api/users", admin, "")
		var list []map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list) == 0 {
			t.Fatalf("GET /api/users: %d %s", rec.Code, rec.Body)
		}
		for _, f := range []string{"id", "email", "name", "role", "created_at"} {
			if _, ok := list[0][f]; !ok {
				t.Errorf("user list entry lacks %s", f)
			}
		}
		cliDetail(t, "GET /api/users as analyst", env.cliCall("GET", "/api/users", analyst, ""), 403)
		reg := `{"name":"orders","source_type":"demo","bucket":"","source_table":"orders","query_mode":"local","description":""}`
		cliJSON(t, "POST /api/admin/register-table", env.cliCall("POST", "/api/admin/register-table", admin, reg), 201)
		cliDetail(t, "POST /api/admin/register-table again", env.cliCall("POST", "/api/admin/register-table", admin, reg), 409)
		r := cliJSON(t, "GET /api/admin/registry", env.cliCall("GET", "/api/admin/registry", admin, ""), 200, "tables", "count")
		if _, ok := r["tables"].([]any); !ok {
			t.Errorf("registry tables is not a list: %v", r["tables"])
		}
		if rec := env.cliCall("DELETE", "/api/users/"+id, admin, ""); rec.Code != http.StatusNoContent {
			t.Errorf("DELETE /api/users/{id}: %d %s", rec.Code, rec.Body)
		}
		cliDetail(t, "DELETE /api/users/{id} again", env.cliCall("DELETE", "/api/users/"+id, admin, ""), 404)
	})

	t.Run("query --remote", func(t *testing.T) {
		q := cliJSON(t, "POST /api/query", env.cliCall("POST", "/api/query", analyst, `{"sql":"SELECT * FROM sales","limit":1000}`), 200,
			"columns", "rows", "truncated")
		if rows, _ := q["rows"].([]any); len(rows) != 3 {
			t.Errorf("rows %v", q["rows"])
		}
		// The CLI's --limit takes any number; the server clamps it.
		cliJSON(t, "POST /api/query with a huge limit", env.cliCall("POST", "/api/query", analyst,
			`{"sql":"SELECT * FROM sales","limit":1000000000}`), 200, "columns", "rows", "truncated")
		cliDetail(t, "POST /api/query bad SQL", env.cliCall("POST", "/api/query", analyst, `{"sql":"SELECT nope FROM sales","limit":1000}`), 400)
		cliDetail(t, "POST /api/query private table", env.cliCall("POST", "/api/query", analyst, `{"sql":"SELECT * FROM salaries","limit":1000}`), 400)
	})

	t.Run("explore --remote", func(t *testing.T) {
		cliJSON(t, "GET /api/catalog/profile/sales", env.cliCall("GET", "/api/catalog/profile/sales", analyst, ""), 200, "profiled_at")
		cliDetail(t, "GET /api/catalog/profile/nosuch", env.cliCall("GET", "/api/catalog/profile/nosuch", analyst, ""), 404)
	})

	t.Run("sync", func(t *testing.T) {
		m := cliJSON(t, "GET /api/sync/manifest", env.cliCall("GET", "/api/sync/manifest", tokens["granted"], ""), 200, "tables", "assets", "server_time")
		tables, _ := m["tables"].(map[string]any)
		if len(tables) == 0 {
			t.Fatal("manifest lists no table")
		}
		for id, v := range tables {
			e, _ := v.(map[string]any)
			for _, f := range []string{"hash", "updated", "size_bytes", "rows"} {
				if _, ok := e[f]; !ok {
					t.Errorf("manifest %s lacks %s", id, f)
				}
			}
			rec := env.cliCall("GET", "/api/data/"+id+"/download", tokens["granted"], "")
			if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "PAR1") {
				t.Errorf("download %s: %d", id, rec.Code)
			}
		}
		cliDetail(t, "download nosuch", env.cliCall("GET", "/api/data/nosuch/download", analyst, ""), 404)
	})

	t.Run("setup first-sync", func(t *testing.T) {
		s := cliJSON(t, "POST /api/sync/trigger", env.cliCall("POST", "/api/sync/trigger", admin, ""), 200, "status", "tables", "message")
		if s["status"] != "triggered" {
			t.Errorf("trigger status %v", s["status"])
		}
		cliDetail(t, "POST /api/sync/trigger as analyst", env.cliCall("POST", "/api/sync/trigger", analyst, ""), 403)
	})

	t.Run("auth and bootstrap", func(t *testing.T) {
		// The original CLI sends no password; this server refuses that with a message.
		cliDetail(t, "POST /auth/token without a password", env.cliCall("POST", "/auth/token", "", `{"email":"admin@example.com"}`), 401)
		tok := cliJSON(t, "POST /auth/token", env.cliCall("POST", "/auth/token", "",
			`{"email":"admin@example.com","password":"`+testPassword+`"}`), 200, "access_token", "token_type", "user_id", "email", "role")
		claims, err := env.srv.issuer.Parse(tok["access_token"].(string))
		if err != nil || claims.Email != "admin@example.com" || claims.Role != "admin" {
			t.Errorf("token claims %+v %v", claims, err)
		}
		cliDetail(t, "POST /auth/bootstrap", env.cliCall("POST", "/auth/bootstrap", "",
			`{"email":"x@example.com","name":"x","password":"long-enough-pw"}`), 403)
	})
}

// TestLoginPageWhenSignedIn: a signed-in browser opening /login gets the page (200), which
// says who is signed in and links on (to next) and to signing out.
func TestLoginPageWhenSignedIn(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	if rec := b.login("viewer@example.com", testPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	rec := b.do("GET", "/login?next=/catalog", nil)
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /login signed in: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	for _, want := range []string{`data-testid="login-signed-in"`, "viewer@example.com", `href="/catalog"`, `action="/logout"`} {
		if !strings.Contains(body, want) {
			t.Errorf("signed-in login page lacks %s", want)
		}
	}
	if strings.Contains(body, `data-testid="login-form"`) {
		t.Error("signed-in login page still shows the sign-in form")
	}
	if rec := b.do("GET", "/login?next=//evil.example", nil); !strings.Contains(rec.Body.String(), `href="/dashboard"`) {
		t.Error("an unsafe next is not replaced by the dashboard")
	}
	if rec := b.do("POST", "/logout", url.Values{"_csrf": {b.csrf}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("sign out from the page: %d", rec.Code)
	}
	if rec := b.do("GET", "/login", nil); !strings.Contains(rec.Body.String(), `data-testid="login-form"`) {
		t.Error("after signing out, /login does not show the form")
	}
}
