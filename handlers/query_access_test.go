package handlers

import (
	"context"
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

// TestConsoleExportCheck: the console checks a statement before an export starts: a valid
// one answers 204 (the download may start), an invalid one the inline error fragment; a
// check is not a run, so the history does not grow.
func TestConsoleExportCheck(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	b := env.browser()
	b.login("analyst@example.com", testPassword)
	b.do("GET", "/query", nil)
	check := func(sql string) (int, string) {
		rec := b.do("POST", "/query/run", url.Values{"sql": {sql}, "check": {"1"}, "_csrf": {b.csrf}})
		return rec.Code, rec.Body.String()
	}
	if code, body := check("SELECT category FROM sales"); code != 204 || body != "" {
		t.Errorf("valid: %d %q", code, body)
	}
	code, body := check("SELECT nope FROM sales")
	if code != 200 || !strings.Contains(body, `data-testid="query-error"`) || !strings.Contains(body, "nope") {
		t.Errorf("invalid: %d %s", code, truncate(body))
	}
	if _, body := check("SELECT * FROM salaries"); !strings.Contains(body, `data-kind="denied"`) || strings.Contains(body, "SECRETROW") {
		t.Errorf("locked: %s", truncate(body))
	}
	if rec := b.do("POST", "/query/run", url.Values{"sql": {"SELECT 1"}, "check": {"1"}}); rec.Code != 403 {
		t.Errorf("check without CSRF: %d", rec.Code)
	}
	env.store.QueryLog().Sync()
	runs, err := env.store.ListQueryRuns(context.Background(), env.users[auth.RoleAnalyst].ID, 10)
	if err != nil || len(runs) != 0 {
		t.Errorf("checks were recorded as runs: %d %v", len(runs), err)
	}
	// An export is audited but is not a run of the history either.
	rec := env.do(request{method: "POST", path: "/api/query/export", token: env.tokens[auth.RoleAnalyst], body: `{"sql":"SELECT * FROM sales","format":"csv"}`})
	if rec.Code != 200 {
		t.Fatalf("export: %d", rec.Code)
	}
	env.store.QueryLog().Sync()
	if runs, _ := env.store.ListQueryRuns(context.Background(), env.users[auth.RoleAnalyst].ID, 10); len(runs) != 0 {
		t.Errorf("the export is listed as a run: %+v", runs)
	}
}
