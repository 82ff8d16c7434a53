package handlers

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"da/auth"
)

// TestQueryLockedTableSaysNoAccess: a table the catalog lists but the caller may not read is
// reported as "you don't have access", with the way to ask for it, in the API (what the CLI
// prints) and in the console; an unknown name never gets an internal table suggested.
func TestQueryLockedTableSaysNoAccess(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	analyst := env.tokens[auth.RoleAnalyst]
	q := func(sql string) request {
		return request{method: "POST", path: "/api/query", token: analyst, body: sqlBody(sql)}
	}
	internal := []string{"sqlite_", "pg_", "duckdb_", "information_schema"}
	runQCases(t, env, []qcase{
		{"locked table", q("SELECT * FROM salaries"), 400,
			[]string{"Query error: you don't have access to salaries", "/access-requests?table=salaries", "da request-access salaries"},
			append([]string{"SECRETROW", "does not exist", "Did you mean"}, internal...)},
		{"locked table, other case", q("SELECT * FROM SALARIES"), 400, []string{"you don't have access to salaries"}, []string{"SECRETROW"}},
		{"locked table in a join", q("SELECT * FROM sales JOIN salaries ON true"), 400, []string{"you don't have access to salaries"}, []string{"SECRETROW"}},
		{"unknown table", q("SELECT * FROM no_such_thing"), 400, []string{"Table with name no_such_thing does not exist"},
			append([]string{"Did you mean", "access"}, internal...)},
		{"near a system table", q("SELECT * FROM pg_dep"), 400, []string{"pg_dep does not exist"}, []string{"pg_depend", "Did you mean"}},
		{"typo of a readable table", q("SELECT * FROM sale"), 400, []string{`Did you mean \"sales\"?`}, internal},
	})

	// The console shows the same, with a Request access link.
	b := env.browser()
	b.login("analyst@example.com", testPassword)
	b.do("GET", "/query", nil)
	form := url.Values{"sql": {"SELECT * FROM salaries"}, "query_id": {fmt.Sprint("locked-", time.Now().UnixNano())}, "_csrf": {b.csrf}}
	rec := b.do("POST", "/query/run", form)
	body := rec.Body.String()
	for _, w := range []string{`data-kind="denied"`, `data-testid="denied-table">salaries`, `href="/access-requests?table=salaries"`, "da request-access salaries"} {
		if !strings.Contains(body, w) {
			t.Errorf("console fragment lacks %q: %s", w, truncate(body))
		}
	}
	result, _, _ := strings.Cut(body, "hx-swap-oob") // the history list after it holds earlier runs
	for _, f := range []string{"SECRETROW", "sqlite_", "does not exist"} {
		if strings.Contains(result, f) {
			t.Errorf("console fragment shows %q", f)
		}
	}
}
