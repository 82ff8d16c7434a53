package handlers

import (
	"encoding/json"
	"strings"
	"testing"

	"da/auth"
)

// TestAuditTrail performs each audited action and then reads the log through the API.
func TestAuditTrail(t *testing.T) {
	env := newTestEnv(t)
	admin, analyst, viewer := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer]
	gone, _ := env.deactivatedToken()
	adminID, viewerID := env.users[auth.RoleAdmin].ID, env.users[auth.RoleViewer].ID
	registerTablesPrivate(t, env, "ledger", "orders")
	steps := []request{
		{method: "POST", path: "/auth/token", body: `{"email":"analyst@example.com","password":"` + testPassword + `"}`},
		{method: "POST", path: "/auth/token", body: `{"email":"analyst@example.com","password":"wrong-password-9"}`},
		{method: "POST", path: "/auth/token", body: `{"email":"ghost@example.com","password":"wrong-password-9"}`},
		{method: "POST", path: "/api/users", token: admin, body: `{"email":"n@example.com","password":"long-enough-1"}`},
		{method: "PATCH", path: "/api/users/" + viewerID, token: admin, body: `{"name":"V"}`},
		{method: "POST", path: "/api/admin/permissions", token: admin, body: `{"user_id":"` + viewerID + `","dataset":"orders"}`},
		{method: "DELETE", path: "/api/admin/permissions", token: admin, body: `{"user_id":"` + viewerID + `","dataset":"orders"}`},
		{method: "POST", path: "/api/access-requests", token: viewer, body: `{"table_id":"ledger"}`},
		{method: "POST", path: "/api/tokens", token: analyst, body: `{"name":"ci"}`},
	}
	for _, r := range steps {
		if rec := env.do(r); rec.Code >= 500 {
			t.Fatalf("%s %s: %d", r.method, r.path, rec.Code)
		}
	}
	runGovCases(t, env, []govCase{
		{"anonymous", request{method: "GET", path: "/api/audit"}, 401, nil, nil},
		{"deactivated", request{method: "GET", path: "/api/audit", token: gone}, 401, nil, nil},
		{"analyst", request{method: "GET", path: "/api/audit", token: analyst}, 403, nil, []string{"login_"}},
		{"viewer", request{method: "GET", path: "/api/audit", token: viewer}, 403, nil, nil},
		{"admin sees every action", request{method: "GET", path: "/api/audit", token: admin}, 200,
			[]string{`"entries":[`, `"total":9`, "login_success", "login_failure", "user_create", "user_update",
				"permission_grant", "permission_revoke", "access_request_create", "token_create", `"ip":`},
			[]string{testPassword, "wrong-password-9", "long-enough-1", `"token":`}},
		{"filter by action", request{method: "GET", path: "/api/audit?action=login_failure", token: admin}, 200,
			[]string{`"total":2`, "ghost@example.com", "Invalid email or password"}, []string{"login_success"}},
		{"filter by user", request{method: "GET", path: "/api/audit?user_id=" + adminID + "&limit=2", token: admin}, 200,
			[]string{`"total":4`, `"limit":2`}, []string{"login_"}},
		{"filter by resource", request{method: "GET", path: "/api/audit?resource=orders", token: admin}, 200,
			[]string{`"total":2`, "permission_grant", "permission_revoke"}, nil},
		{"since in the future", request{method: "GET", path: "/api/audit?since=2999-01-01", token: admin}, 200,
			[]string{`"total":0`, `"entries":[]`}, nil},
		{"since as timestamp", request{method: "GET", path: "/api/audit?since=2000-01-01T00:00:00Z", token: admin}, 200,
			[]string{`"total":9`}, nil},
		{"limit capped at 500", request{method: "GET", path: "/api/audit?limit=100000", token: admin}, 200, []string{`"limit":500`}, nil},
		{"bad since", request{method: "GET", path: "/api/audit?since=yesterday", token: admin}, 422, []string{`"loc":["query","since"]`}, nil},
		{"bad limit", request{method: "GET", path: "/api/audit?limit=ten", token: admin}, 422, []string{`"loc":["query","limit"]`}, nil},
		{"negative offset", request{method: "GET", path: "/api/audit?offset=-1", token: admin}, 422, []string{`"loc":["query","offset"]`}, nil},
	})
	// Paging walks the whole log newest first without repeats.
	seen := map[string]bool{}
	for off := 0; off < 9; off += 2 {
		rec := env.do(request{method: "GET", path: "/api/audit?limit=2&offset=" + itoa(int64(off)), token: admin})
		var page struct {
			Entries []struct {
				ID        string `json:"id"`
				Timestamp string `json:"timestamp"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		for i, e := range page.Entries {
			if seen[e.ID] {
				t.Errorf("entry %s seen twice", e.ID)
			}
			seen[e.ID] = true
			if i > 0 && e.Timestamp > page.Entries[i-1].Timestamp {
				t.Errorf("not newest first: %s after %s", e.Timestamp, page.Entries[i-1].Timestamp)
			}
		}
	}
	if len(seen) != 9 {
		t.Errorf("paged through %d entries, want 9", len(seen))
	}
	// The audit API itself is not audited, and reading does not change the count.
	rec := env.do(request{method: "GET", path: "/api/audit", token: admin})
	if !strings.Contains(rec.Body.String(), `"total":9`) {
		t.Errorf("reading the log changed it: %s", truncate(rec.Body.String()))
	}
}
