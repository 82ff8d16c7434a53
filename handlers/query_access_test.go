package handlers

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"regexp"
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

// TestConsoleChartControls: the chart controls re-draw a result with another type, x column,
// series and scale without running the query; a "-- da-chart:" line in the SQL draws the
// chart a run shows; bad data is a 422 and a viewer may not use the route.
func TestConsoleChartControls(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	b := env.browser()
	b.login("analyst@example.com", testPassword)
	b.do("GET", "/query", nil)
	run := func(sql string) string {
		return b.do("POST", "/query/run", url.Values{"sql": {sql}, "query_id": {fmt.Sprint("c-", time.Now().UnixNano())}, "_csrf": {b.csrf}}).Body.String()
	}
	frag := run("SELECT day, units, amount * 1000 AS revenue FROM sales ORDER BY day")
	for _, w := range []string{`data-testid="chart-controls"`, `data-kind="line"`, `data-axis="dual"`, `name="data"`, `data-testid="chart-right-axis"`, ">Jan 1<"} {
		if !strings.Contains(frag, w) {
			t.Errorf("run fragment lacks %q", w)
		}
	}
	m := regexp.MustCompile(`name="data" value="([^"]+)"`).FindStringSubmatch(frag)
	if m == nil {
		t.Fatal("no chart data in the fragment")
	}
	data := html.UnescapeString(m[1])
	env.store.QueryLog().Sync()
	before, _ := env.store.ListQueryRuns(context.Background(), env.users[auth.RoleAnalyst].ID, 50)

	rec := b.do("POST", "/query/chart", url.Values{"data": {data}, "type": {"bar"}, "x": {"day"}, "series": {"units"}, "axis": {"shared"}, "_csrf": {b.csrf}})
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `data-kind="bar"`) || strings.Count(body, `data-testid="chart-bar"`) != 6 || strings.Contains(body, `data-series="revenue"`) {
		t.Errorf("re-drawn chart: %d %s", rec.Code, truncate(body))
	}
	if !strings.Contains(body, `data-chart-chosen`) || !strings.Contains(body, `da-chart: {&#34;type&#34;:&#34;bar&#34;`) {
		t.Errorf("the choice is not offered for the editor: %s", truncate(body))
	}
	env.store.QueryLog().Sync()
	if after, _ := env.store.ListQueryRuns(context.Background(), env.users[auth.RoleAnalyst].ID, 50); len(after) != len(before) {
		t.Errorf("re-drawing the chart ran the query")
	}
	// The chart a saved query remembers: the comment line decides the run's chart.
	frag = run("SELECT day, units FROM sales ORDER BY day\n-- da-chart: {\"type\":\"area\",\"x\":\"day\",\"series\":[\"units\"]}")
	if !strings.Contains(frag, `data-kind="area"`) || !strings.Contains(frag, `data-testid="chart-area"`) {
		t.Errorf("the da-chart line is ignored: %s", truncate(frag))
	}
	for _, bad := range []url.Values{{"data": {"nope"}}, {"data": {`{"columns":["a"],"types":[],"rows":[]}`}}, {"data": {`{"columns":["a"],"types":["INTEGER"],"rows":[[1,2]]}`}}} {
		bad.Set("_csrf", b.csrf)
		if rec := b.do("POST", "/query/chart", bad); rec.Code != 422 || !strings.Contains(rec.Body.String(), "data") {
			t.Errorf("bad data %v: %d %s", bad, rec.Code, rec.Body.String())
		}
	}
	v := env.browser()
	v.login("viewer@example.com", testPassword)
	v.do("GET", "/catalog", nil)
	if rec := v.do("POST", "/query/chart", url.Values{"data": {data}, "_csrf": {v.csrf}}); rec.Code != 403 {
		t.Errorf("viewer: %d", rec.Code)
	}
}
