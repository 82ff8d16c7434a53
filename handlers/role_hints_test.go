package handlers

import (
	"strings"
	"testing"

	"da/auth"
)

// TestRoleHintsOnPages: what a page offers matches the role and the cause of a refusal.
func TestRoleHintsOnPages(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.addTables("testsrc", fxTable{name: "sales", public: true, query: `SELECT 1 AS a`}, fxTable{name: "hidden", query: `SELECT 1 AS a`})
	pages := map[string]*browser{}
	for _, who := range []string{"viewer", "analyst"} {
		b := env.browser()
		if rec := b.login(who+"@example.com", testPassword); rec.Code != 303 {
			t.Fatalf("login %s: %d", who, rec.Code)
		}
		pages[who] = b
	}
	cases := []struct {
		name, who, path string
		status          int
		want, forbid    []string
	}{
		{"viewer dashboard: role card, no agent card", "viewer", "/dashboard", 200,
			[]string{`data-testid="role-card"`, "need the analyst role", "admin@example.com", "browse the catalog"},
			[]string{`data-testid="agent-card"`, `data-testid="subscription-toggle"`}},
		{"analyst dashboard: agent card, sync note", "analyst", "/dashboard", 200,
			[]string{`data-testid="agent-card"`, `data-testid="subscription-toggle"`, "No subscriptions yet", "downloads every table you can read"},
			[]string{`data-testid="role-card"`}},
		{"viewer table page: no da sync hint", "viewer", "/catalog/sales", 200,
			[]string{`data-testid="role-download-hint"`},
			[]string{`data-testid="sync-command"`, "da sync --table", `data-testid="subscription-control"`}},
		{"analyst table page: sync hint and control", "analyst", "/catalog/sales", 200,
			[]string{`data-testid="sync-command"`, `data-testid="subscription-control"`, `data-testid="sync-mode-note"`}, nil},
		{"analyst catalog: subscribe control", "analyst", "/catalog", 200,
			[]string{`data-testid="subscription-control"`, `data-testid="sync-mode-note"`}, nil},
		{"viewer catalog: no subscribe control", "viewer", "/catalog", 200, nil,
			[]string{`data-testid="subscription-control"`, `data-testid="sync-mode-note"`}},
		{"locked table: request access for that table", "analyst", "/catalog/hidden", 403,
			[]string{`data-testid="error-request-access"`, "/access-requests?table=hidden"}, nil},
		{"admin page: no request access", "analyst", "/admin/users", 403,
			[]string{"Requires role admin or higher", "Ask an admin"}, []string{`data-testid="error-request-access"`}},
		{"settings: subscriptions mean da sync", "analyst", "/settings", 200,
			[]string{"choose which tables <code class=\"font-mono\">da sync</code> downloads", `hx-get="/settings/subscriptions"`},
			[]string{"hear when they change"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := pages[tc.who].do("GET", tc.path, nil)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("%s: %d, want %d", tc.path, rec.Code, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q", tc.path, w)
				}
			}
			for _, f := range tc.forbid {
				if strings.Contains(body, f) {
					t.Errorf("%s must not contain %q", tc.path, f)
				}
			}
		})
	}

	// A toggle answers with the switch and the note's new count, out of band.
	b := pages["analyst"]
	b.do("GET", "/dashboard", nil)
	rec := b.do("POST", "/settings/subscriptions", map[string][]string{"dataset": {"sales"}, "enabled": {"true"}, "_csrf": {b.csrf}})
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `hx-swap-oob="outerHTML:#sync-mode-note"`) ||
		!strings.Contains(body, `data-subscribed="1"`) || !strings.Contains(body, "downloads only the 1 table you subscribe to") {
		t.Fatalf("toggle answer: %d %s", rec.Code, body)
	}
	if body := b.do("GET", "/catalog", nil).Body.String(); !strings.Contains(body, `data-table="sales" data-on="true"`) {
		t.Errorf("catalog does not show the subscription")
	}
}

// TestMeSaysWhatTheRoleAllows: GET /api/me lists what the role may do and whom to ask.
func TestMeSaysWhatTheRoleAllows(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	viewer := decodeJSON(t, env.do(request{method: "GET", path: "/api/me", token: env.tokens[auth.RoleViewer]}))
	analyst := decodeJSON(t, env.do(request{method: "GET", path: "/api/me", token: env.tokens[auth.RoleAnalyst]}))
	has := func(m map[string]any, key, want string) bool {
		list, _ := m[key].([]any)
		for _, v := range list {
			if v == want {
				return true
			}
		}
		return false
	}
	if !has(viewer, "admins", "admin@example.com") || !has(viewer, "allows", "browse the catalog and table profiles") || has(viewer, "allows", "download tables (da sync)") {
		t.Errorf("viewer /api/me: %v", viewer)
	}
	if !has(analyst, "allows", "download tables (da sync)") || has(analyst, "allows", "manage users, roles, tables, grants and access requests") {
		t.Errorf("analyst /api/me: %v", analyst)
	}
	// A role refusal names the role and says to ask an admin, not to request access.
	rec := env.do(request{method: "POST", path: "/api/query", body: `{"sql":"SELECT 1"}`, ctype: "application/json", token: env.tokens[auth.RoleViewer]})
	if body := rec.Body.String(); rec.Code != 403 || !strings.Contains(body, "your role is viewer") || strings.Contains(body, "request") {
		t.Errorf("viewer query: %d %s", rec.Code, body)
	}
}
