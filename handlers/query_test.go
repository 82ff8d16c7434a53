package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"da/auth"
	"da/engine/query"
	"da/store"
)

// qcase is one HTTP scenario: request, expected status, required and forbidden body content.
type qcase struct {
	name   string
	req    request
	status int
	want   []string
	forbid []string
}

func runQCases(t *testing.T, env *testEnv, cases []qcase) {
	t.Helper()
	for _, tc := range cases {
		rec := env.do(tc.req)
		body := rec.Body.String()
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, rec.Code, tc.status, truncate(body))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body lacks %q: %s", tc.name, w, truncate(body))
			}
		}
		for _, f := range tc.forbid {
			if strings.Contains(body, f) {
				t.Errorf("%s: body contains forbidden %q: %s", tc.name, f, truncate(body))
			}
		}
	}
}

func sqlBody(sql string) string {
	b, _ := json.Marshal(map[string]string{"sql": sql})
	return string(b)
}

// newUser creates an extra active user of role r and returns it with a token.
func (env *testEnv) newUser(email string, r auth.Role) (*store.User, string) {
	env.t.Helper()
	u := &store.User{Email: email, Name: strings.Split(email, "@")[0], Role: string(r), Active: true}
	if err := env.store.CreateUser(context.Background(), u); err != nil {
		env.t.Fatal(err)
	}
	tok, _, err := env.srv.issuer.Issue(u.ID, u.Email, r)
	if err != nil {
		env.t.Fatal(err)
	}
	return u, tok
}

// setQueryTimeout replaces the server's runner with one whose timeout is d.
func (env *testEnv) setQueryTimeout(d time.Duration) {
	env.t.Helper()
	cfg := env.srv.cfg
	cfg.Query.Timeout = d
	r := query.NewRunner(query.Options{Timeout: d, MemoryLimit: cfg.Query.MemoryLimit, Threads: cfg.Query.Threads,
		MaxRows: cfg.Query.APIMaxRows, ExportMaxRows: cfg.Query.ExportMaxRows,
		TempDir: filepath.Join(env.srv.engine.DataDir(), "tmp")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	env.t.Cleanup(func() { _ = r.Close() })
	env.srv.query = r
}

func TestQueryAPIScenarios(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	admin, analyst, viewer := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer]
	gone, _ := env.deactivatedToken()
	q := func(tok, body string) request {
		return request{method: "POST", path: "/api/query", token: tok, body: body}
	}
	salesSQL := sqlBody("SELECT category, sum(units) AS units FROM sales GROUP BY category ORDER BY category")
	secretSQL := sqlBody("SELECT * FROM salaries")
	runQCases(t, env, []qcase{
		{"anonymous", q("", salesSQL), 401, []string{`"detail"`}, []string{"books"}},
		{"deactivated", q(gone, salesSQL), 401, nil, []string{"books"}},
		{"viewer", q(viewer, salesSQL), 403, nil, []string{"books"}},
		{"analyst public table", q(analyst, salesSQL), 200,
			[]string{`"columns":["category","units"]`, `"column_types":["VARCHAR",`, `["books",5]`, `"row_count":4`, `"truncated":false`, `"query_id":"`, `"elapsed_ms":`}, nil},
		{"analyst private table", q(analyst, secretSQL), 400, []string{"Query error:", "salaries", "access"}, []string{"SECRETROW"}},
		{"analyst private table in a join", q(analyst, sqlBody("SELECT * FROM sales, salaries")), 400, []string{"Query error:"}, []string{"SECRETROW"}},
		{"analyst catalog shows only readable tables", q(analyst, sqlBody("SELECT table_name FROM information_schema.tables ORDER BY 1")), 200,
			[]string{"sales", "big"}, []string{"salaries"}},
		{"admin private table", q(admin, secretSQL), 200, []string{"SECRETROW-0", `"row_count":5`}, nil},
		{"dates as ISO strings, NULL as null", q(analyst, sqlBody("SELECT day, amount FROM sales WHERE category = 'music'")), 200,
			[]string{`["2026-01-03",null]`}, nil},
		{"default limit 1000", q(analyst, sqlBody("SELECT * FROM big")), 200, []string{`"row_count":1000`, `"truncated":true`}, nil},
		{"explicit limit", q(analyst, `{"sql":"SELECT * FROM big ORDER BY id","limit":5}`), 200, []string{`"row_count":5`, `"truncated":true`, `[4,"row 4"]`}, []string{`[5,"row 5"]`}},
		{"limit above the result", q(analyst, `{"sql":"SELECT * FROM sales","limit":50}`), 200, []string{`"row_count":6`, `"truncated":false`}, nil},
		{"limit clamped to the API maximum", q(analyst, `{"sql":"SELECT * FROM big","limit":50000}`), 200, []string{`"row_count":10000`, `"truncated":true`}, nil},
		{"client query id", q(analyst, `{"sql":"SELECT 1","query_id":"my-query-1"}`), 200, []string{`"query_id":"my-query-1"`}, nil},
		{"bad query id", q(analyst, `{"sql":"SELECT 1","query_id":"../etc"}`), 400, []string{"query_id"}, nil},
		{"empty sql", q(analyst, `{"sql":"   "}`), 400, []string{"Query error:", "empty"}, nil},
		{"comment-only sql", q(analyst, `{"sql":"-- nothing\n;"}`), 400, []string{"empty"}, nil},
		{"missing sql", q(analyst, `{"limit":5}`), 422, []string{`"loc":["body","sql"]`}, nil},
		{"sql wrong type", q(analyst, `{"sql":5}`), 422, []string{`"loc":["body","sql"]`}, nil},
		{"limit wrong type", q(analyst, `{"sql":"SELECT 1","limit":"ten"}`), 422, []string{`"loc":["body","limit"]`}, nil},
		{"limit zero", q(analyst, `{"sql":"SELECT 1","limit":0}`), 422, []string{`"loc":["body","limit"]`}, nil},
		{"negative limit", q(analyst, `{"sql":"SELECT 1","limit":-1}`), 422, []string{`"loc":["body","limit"]`}, nil},
		{"not JSON", q(analyst, `sql=SELECT 1`), 422, []string{"JSON"}, nil},
		{"JSON array", q(analyst, `[1]`), 422, []string{"JSON object"}, nil},
		{"syntax error", q(analyst, sqlBody("SELEC 1")), 400, []string{"Query error:", "syntax error"}, nil},
		{"binder error", q(analyst, sqlBody("SELECT nope FROM sales")), 400, []string{"Query error:", "nope"}, nil},
		{"conversion error", q(analyst, sqlBody("SELECT 'abc'::INTEGER")), 400, []string{"Query error:"}, nil},
		{"DDL refused", q(admin, sqlBody("DROP TABLE sales")), 400, []string{"Query error:"}, nil},
		{"two statements refused", q(admin, sqlBody("SELECT 1; SELECT 2")), 400, []string{"Query error:"}, nil},
		{"wrong method", request{method: "GET", path: "/api/query", token: analyst}, 405, nil, nil},
	})
	// The table is still there for the admin after all of that.
	runQCases(t, env, []qcase{{"sales intact", q(admin, sqlBody("SELECT count(*) AS n FROM sales")), 200, []string{`[6]`}, nil}})
}

// TestQueryGrantTakesEffect: permission changes take effect on the next query.
func TestQueryGrantTakesEffect(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	ctx := context.Background()
	u, tok := env.users[auth.RoleAnalyst], env.tokens[auth.RoleAnalyst]
	req := request{method: "POST", path: "/api/query", token: tok, body: sqlBody("SELECT marker FROM salaries ORDER BY marker")}
	runQCases(t, env, []qcase{{"before grant", req, 400, []string{"have access"}, []string{"SECRETROW"}}})
	if _, err := env.store.Grant(ctx, u.ID, "salaries", "read"); err != nil {
		t.Fatal(err)
	}
	runQCases(t, env, []qcase{{"after grant", req, 200, []string{"SECRETROW-0", "SECRETROW-4"}, nil}})
	if err := env.store.Revoke(ctx, u.ID, "salaries"); err != nil {
		t.Fatal(err)
	}
	runQCases(t, env, []qcase{{"after revoke", req, 400, []string{"have access"}, []string{"SECRETROW"}}})
	// A table made public becomes readable to everyone on the next query.
	tb, err := env.store.GetTable(ctx, "salaries")
	if err != nil {
		t.Fatal(err)
	}
	tb.IsPublic = true
	if err := env.store.RegisterTable(ctx, tb); err != nil {
		t.Fatal(err)
	}
	runQCases(t, env, []qcase{{"after making it public", req, 200, []string{"SECRETROW-0"}, nil}})
}

const heavySQL = "SELECT count(*) FROM range(10000000000) a"

// waitRunning waits until id shows in the runner's running list.
func waitRunning(t *testing.T, env *testEnv, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range env.srv.query.Running() {
			if r.QueryID == id {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("query %s never showed as running", id)
}

func TestQueryCancel(t *testing.T) {
	env := newTestEnv(t)
	analyst, admin := env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleAdmin]
	_, other := env.newUser("other@example.com", auth.RoleAnalyst)

	var wg sync.WaitGroup
	var rec *http.Response
	var body string
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := env.do(request{method: "POST", path: "/api/query", token: analyst, body: `{"sql":"` + heavySQL + `","query_id":"slow-1"}`})
		rec, body = r.Result(), r.Body.String()
	}()
	waitRunning(t, env, "slow-1")
	runQCases(t, env, []qcase{
		{"admin sees it", request{method: "GET", path: "/api/admin/queries", token: admin}, 200,
			[]string{`"query_id":"slow-1"`, `"user":"analyst@example.com"`, `"sql":"SELECT count(*)`, `"started_at":"`, `"elapsed_ms":`}, nil},
		{"analyst cannot list", request{method: "GET", path: "/api/admin/queries", token: analyst}, 403, nil, []string{"slow-1"}},
		{"other analyst cannot cancel", request{method: "POST", path: "/api/query/slow-1/cancel", token: other}, 200, []string{`"cancelled":false`}, nil},
		{"unknown id", request{method: "POST", path: "/api/query/nope/cancel", token: analyst}, 200, []string{`"cancelled":false`}, nil},
		{"anonymous cancel", request{method: "POST", path: "/api/query/slow-1/cancel"}, 401, nil, nil},
		{"owner cancels", request{method: "POST", path: "/api/query/slow-1/cancel", token: analyst}, 200, []string{`"cancelled":true`}, nil},
	})
	wg.Wait()
	if rec.StatusCode != http.StatusConflict || !strings.Contains(body, "Query error: cancelled") {
		t.Fatalf("cancelled query answered %d %s, want 409", rec.StatusCode, body)
	}

	// Admin kill through the admin endpoint.
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := env.do(request{method: "POST", path: "/api/query", token: analyst, body: `{"sql":"` + heavySQL + `","query_id":"slow-2"}`})
		rec, body = r.Result(), r.Body.String()
	}()
	waitRunning(t, env, "slow-2")
	runQCases(t, env, []qcase{
		{"analyst cannot kill", request{method: "POST", path: "/api/admin/queries/slow-2/cancel", token: analyst}, 403, nil, nil},
		{"admin kills", request{method: "POST", path: "/api/admin/queries/slow-2/cancel", token: admin}, 200, []string{`"cancelled":true`}, nil},
	})
	wg.Wait()
	if rec.StatusCode != http.StatusConflict {
		t.Fatalf("killed query answered %d %s, want 409", rec.StatusCode, body)
	}
	runs, err := env.store.ListQueryRuns(context.Background(), env.users[auth.RoleAnalyst].ID, 10)
	if err != nil || len(runs) != 2 || runs[0].Status != store.QueryCancelled {
		t.Fatalf("history after cancels = %+v, %v", runs, err)
	}
}

func TestQueryTimeout(t *testing.T) {
	env := newTestEnv(t)
	env.setQueryTimeout(400 * time.Millisecond)
	var wg sync.WaitGroup
	var code int
	var body string
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := env.do(request{method: "POST", path: "/api/query", token: env.tokens[auth.RoleAnalyst], body: `{"sql":"` + heavySQL + `","query_id":"heavy"}`})
		code, body = r.Code, r.Body.String()
	}()
	waitRunning(t, env, "heavy")
	// The server keeps answering while the heavy query runs.
	start := time.Now()
	if rec := env.do(request{method: "GET", path: "/api/health"}); rec.Code != 200 {
		t.Errorf("health during heavy query: %d", rec.Code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("health took %v during a heavy query", d)
	}
	wg.Wait()
	if code != http.StatusRequestTimeout || !strings.Contains(body, "Query error: timed out after") {
		t.Fatalf("heavy query: %d %s, want 408", code, body)
	}
	runs, _ := env.store.ListQueryRuns(context.Background(), env.users[auth.RoleAnalyst].ID, 1)
	if len(runs) != 1 || runs[0].Status != store.QueryTimeout {
		t.Fatalf("history = %+v, want a timeout run", runs)
	}
}

func TestQueryExport(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	analyst := env.tokens[auth.RoleAnalyst]
	exp := func(tok, body string) request {
		return request{method: "POST", path: "/api/query/export", token: tok, body: body}
	}
	for _, tc := range []struct {
		format, ctype, want string
	}{
		{"csv", "text/csv", "category,units\nbooks,3\n"},
		{"json", "application/json", `{"category":"books","units":3}`},
		{"parquet", "application/vnd.apache.parquet", "PAR1"},
	} {
		rec := env.do(exp(analyst, `{"sql":"SELECT category, units FROM sales ORDER BY day","format":"`+tc.format+`"}`))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", tc.format, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
			t.Errorf("%s: Content-Type %q", tc.format, ct)
		}
		cd := rec.Header().Get("Content-Disposition")
		if !strings.HasPrefix(cd, `attachment; filename="query-`) || !strings.HasSuffix(cd, "."+tc.format+`"`) {
			t.Errorf("%s: Content-Disposition %q", tc.format, cd)
		}
		if !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: body lacks %q: %s", tc.format, tc.want, truncate(rec.Body.String()))
		}
	}
	// Every row of a table larger than the API limit.
	rec := env.do(exp(analyst, `{"sql":"SELECT id FROM big","format":"csv"}`))
	if n := strings.Count(rec.Body.String(), "\n"); rec.Code != 200 || n != 25001 {
		t.Errorf("big export: %d with %d lines, want 25001", rec.Code, n)
	}
	runQCases(t, env, []qcase{
		{"bad format", exp(analyst, `{"sql":"SELECT 1","format":"xlsx"}`), 422, []string{`"loc":["body","format"]`}, nil},
		{"missing format", exp(analyst, `{"sql":"SELECT 1"}`), 422, []string{`"loc":["body","format"]`}, nil},
		{"missing sql", exp(analyst, `{"format":"csv"}`), 422, []string{`"loc":["body","sql"]`}, nil},
		{"engine error", exp(analyst, `{"sql":"SELECT nope","format":"csv"}`), 400, []string{"Query error:"}, nil},
		{"private table", exp(analyst, `{"sql":"SELECT * FROM salaries","format":"csv"}`), 400, []string{"Query error:"}, []string{"SECRETROW"}},
		{"viewer", exp(env.tokens[auth.RoleViewer], `{"sql":"SELECT 1","format":"csv"}`), 403, nil, nil},
		{"anonymous", exp("", `{"sql":"SELECT 1","format":"csv"}`), 401, nil, nil},
	})

	// The console's form post, with the session cookie and CSRF field.
	b := env.browser()
	b.login("analyst@example.com", testPassword)
	b.do("GET", "/query", nil)
	rec = b.do("POST", "/api/query/export", url.Values{"sql": {"SELECT category FROM sales ORDER BY day LIMIT 2"}, "format": {"csv"}, "_csrf": {b.csrf}})
	if rec.Code != 200 || rec.Body.String() != "category\nbooks\ngames\n" {
		t.Errorf("form export: %d %q", rec.Code, rec.Body.String())
	}
	rec = b.do("POST", "/api/query/export", url.Values{"sql": {"SELECT 1"}, "format": {"csv"}})
	if rec.Code != 403 {
		t.Errorf("form export without CSRF: %d", rec.Code)
	}
}

func TestQueryHistoryAndAudit(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	analyst, admin := env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleAdmin]
	for _, sql := range []string{"SELECT 1 AS first", "SELECT nope", "SELECT 3 AS third"} {
		env.do(request{method: "POST", path: "/api/query", token: analyst, body: sqlBody(sql)})
	}
	env.do(request{method: "POST", path: "/api/query", token: admin, body: `{"sql":"SELECT 'admin-only' AS x","query_id":"admin-q"}`})
	rec := env.do(request{method: "GET", path: "/api/query/history", token: analyst})
	var hist []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &hist); err != nil || rec.Code != 200 {
		t.Fatalf("history: %d %s", rec.Code, rec.Body)
	}
	if len(hist) != 3 || hist[0]["sql"] != "SELECT 3 AS third" || hist[1]["status"] != "error" || hist[2]["status"] != "ok" {
		t.Fatalf("history = %v", hist)
	}
	if !strings.Contains(fmt.Sprint(hist[1]["error"]), "nope") {
		t.Errorf("error run lacks its message: %v", hist[1])
	}
	runQCases(t, env, []qcase{
		{"history limit", request{method: "GET", path: "/api/query/history?limit=1", token: analyst}, 200, []string{"third"}, []string{"first"}},
		{"history limit clamped", request{method: "GET", path: "/api/query/history?limit=500", token: analyst}, 200, []string{"first", "third"}, nil},
		{"history bad limit", request{method: "GET", path: "/api/query/history?limit=0", token: analyst}, 422, []string{"limit"}, nil},
		{"history is own", request{method: "GET", path: "/api/query/history", token: analyst}, 200, nil, []string{"admin-only"}},
		{"viewer", request{method: "GET", path: "/api/query/history", token: env.tokens[auth.RoleViewer]}, 403, nil, nil},
	})
	entries, err := env.store.QueryAudit(context.Background(), store.AuditFilter{Action: "query", Resource: "admin-q"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit for admin-q: %v %v", entries, err)
	}
	e := entries[0]
	if e.UserID != env.users[auth.RoleAdmin].ID || e.Params["sql"] != "SELECT 'admin-only' AS x" || e.Params["status"] != "ok" || fmt.Sprint(e.Params["rows"]) != "1" {
		t.Errorf("audit entry = %+v", e)
	}
	all, _ := env.store.QueryAudit(context.Background(), store.AuditFilter{Action: "query", Limit: 100})
	if len(all) != 4 {
		t.Errorf("audit has %d query entries, want 4", len(all))
	}
	// Long SQL is cut to 2,000 characters in the audit log.
	long := "SELECT 1 AS x -- " + strings.Repeat("é", 3000)
	env.do(request{method: "POST", path: "/api/query", token: analyst, body: `{"sql":` + mustJSON(long) + `,"query_id":"long-q"}`})
	entries, _ = env.store.QueryAudit(context.Background(), store.AuditFilter{Action: "query", Resource: "long-q"})
	if len(entries) != 1 || len([]rune(fmt.Sprint(entries[0].Params["sql"]))) != 2000 {
		t.Errorf("long SQL audit entry not cut to 2000 characters")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestSavedQueriesAPI(t *testing.T) {
	env := newTestEnv(t)
	analyst := env.tokens[auth.RoleAnalyst]
	_, other := env.newUser("bob@example.com", auth.RoleAnalyst)
	create := func(tok, body string) map[string]any {
		rec := env.do(request{method: "POST", path: "/api/queries/saved", token: tok, body: body})
		if rec.Code != 201 {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		return decodeJSON(t, rec)
	}
	mine := create(analyst, `{"name":"Private one","sql":"SELECT 1"}`)
	shared := create(analyst, `{"name":"Team revenue","sql":"SELECT 2","shared":true}`)
	bobs := create(other, `{"name":"Bob's","sql":"SELECT 3"}`)
	mid, sid, bid := mine["id"].(string), shared["id"].(string), bobs["id"].(string)
	long := strings.Repeat("n", 201)
	runQCases(t, env, []qcase{
		{"own list", request{method: "GET", path: "/api/queries/saved", token: analyst}, 200,
			[]string{"Private one", "Team revenue", `"is_owner":true`}, []string{"Bob's"}},
		{"other sees shared only", request{method: "GET", path: "/api/queries/saved", token: other}, 200,
			[]string{"Team revenue", "Bob's", `"owner":"Analyst"`}, []string{"Private one"}},
		{"other cannot update", request{method: "PUT", path: "/api/queries/saved/" + sid, token: other, body: `{"name":"hijack"}`}, 404, nil, nil},
		{"other cannot delete", request{method: "DELETE", path: "/api/queries/saved/" + sid, token: other}, 404, nil, nil},
		{"other cannot update private", request{method: "PUT", path: "/api/queries/saved/" + mid, token: other, body: `{"name":"x"}`}, 404, nil, nil},
		{"owner renames", request{method: "PUT", path: "/api/queries/saved/" + sid, token: analyst, body: `{"name":"Team revenue v2"}`}, 200,
			[]string{`"name":"Team revenue v2"`, `"sql":"SELECT 2"`, `"shared":true`}, nil},
		{"owner unshares", request{method: "PUT", path: "/api/queries/saved/" + sid, token: analyst, body: `{"shared":false}`}, 200, []string{`"shared":false`}, nil},
		{"no longer visible", request{method: "GET", path: "/api/queries/saved", token: other}, 200, nil, []string{"Team revenue"}},
		{"name required", request{method: "POST", path: "/api/queries/saved", token: analyst, body: `{"name":"  ","sql":"SELECT 1"}`}, 422, []string{`"loc":["body","name"]`}, nil},
		{"name too long", request{method: "POST", path: "/api/queries/saved", token: analyst, body: `{"name":"` + long + `","sql":"SELECT 1"}`}, 422, []string{`"loc":["body","name"]`, "200"}, nil},
		{"sql required", request{method: "POST", path: "/api/queries/saved", token: analyst, body: `{"name":"x"}`}, 422, []string{`"loc":["body","sql"]`}, nil},
		{"shared wrong type", request{method: "POST", path: "/api/queries/saved", token: analyst, body: `{"name":"x","sql":"SELECT 1","shared":"yes"}`}, 422, []string{`"loc":["body","shared"]`}, nil},
		{"update validation", request{method: "PUT", path: "/api/queries/saved/" + mid, token: analyst, body: `{"sql":""}`}, 422, []string{`"loc":["body","sql"]`}, nil},
		{"viewer", request{method: "GET", path: "/api/queries/saved", token: env.tokens[auth.RoleViewer]}, 403, nil, nil},
		{"owner deletes", request{method: "DELETE", path: "/api/queries/saved/" + bid, token: other}, 204, nil, nil},
		{"deleted twice", request{method: "DELETE", path: "/api/queries/saved/" + bid, token: other}, 404, nil, nil},
		{"update unknown", request{method: "PUT", path: "/api/queries/saved/nope", token: analyst, body: `{"name":"x"}`}, 404, nil, nil},
	})
}

// TestQueryRedTeam sends escape attempts through POST /api/query as an analyst: each must be
// refused with 4xx (never 5xx) and leak no private row, file content, environment value or
// setting.
func TestQueryRedTeam(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	t.Setenv("DA_REDTEAM_SECRET", "ENVSECRET-42")
	dataDir := env.srv.engine.DataDir()
	secretFile := filepath.Join(dataDir, "extracts", "testsrc", "data", "salaries.parquet")
	system := filepath.Join(dataDir, "state", "system.duckdb")
	forbid := []string{"SECRETROW", "ENVSECRET", "root:x:0", "test-secret-test-secret", "password_hash", "$argon2"}
	attacks := []string{
		"SELECT * FROM salaries",
		"SELECT * FROM main.salaries",
		`SELECT * FROM "SALARIES"`,
		"SELECT * FROM read_parquet('" + secretFile + "')",
		"SELECT * FROM '" + secretFile + "'",
		"SELECT * FROM parquet_scan('" + secretFile + "')",
		"SELECT * FROM read_parquet('" + filepath.Join(dataDir, "extracts", "*", "data", "*.parquet") + "')",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_text('/etc/passwd')",
		"SELECT * FROM read_blob('/etc/passwd')",
		"SELECT * FROM read_json('/etc/passwd')",
		"SELECT * FROM '/etc/passwd'",
		"SELECT * FROM glob('/*')",
		"SELECT * FROM glob('" + dataDir + "/**')",
		"SELECT getenv('DA_REDTEAM_SECRET')",
		"SELECT current_setting('enable_external_access')",
		"SELECT * FROM duckdb_settings()",
		"SELECT * FROM duckdb_secrets()",
		"SELECT * FROM duckdb_extensions()",
		"SELECT * FROM read_parquet('" + system + "')",
		"ATTACH '" + system + "' AS sys",
		"ATTACH '" + system + "' AS sys (READ_ONLY); SELECT * FROM sys.users",
		"SELECT * FROM sys.users",
		"COPY salaries TO '/tmp/x.csv'",
		"COPY (SELECT 1) TO '" + secretFile + "' (FORMAT parquet)",
		"EXPORT DATABASE '/tmp/dump'",
		"IMPORT DATABASE '/tmp/dump'",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"RESET enable_external_access",
		"PRAGMA database_list",
		"CALL pragma_database_list()",
		"CREATE TABLE t AS SELECT 1",
		"CREATE VIEW v AS SELECT * FROM read_parquet('" + secretFile + "')",
		"INSERT INTO sales VALUES ('x', DATE '2026-01-01', 1, 1)",
		"DELETE FROM sales",
		"UPDATE sales SET units = 0",
		"DROP VIEW sales",
		"SELECT 1; SELECT * FROM salaries",
		"SELECT 1; DROP VIEW sales",
		"WITH x AS (SELECT * FROM salaries) SELECT * FROM x",
		"SELECT * FROM sales WHERE category IN (SELECT marker FROM salaries)",
		"SELECT * FROM query('SELECT * FROM salaries')",
		"SELECT * FROM query_table('salaries')",
		"DETACH memory",
		"USE sys",
		"CHECKPOINT",
		"VACUUM",
		"SELECT * FROM sniff_csv('/etc/passwd')",
		"SELECT * FROM read_parquet(['" + secretFile + "', '" + secretFile + "'])",
		"SELECT * FROM parquet_metadata('" + secretFile + "')",
		"SELECT * FROM iceberg_scan('/tmp')",
		"SELECT * FROM sqlite_scan('" + system + "', 'users')",
	}
	if len(attacks) < 40 {
		t.Fatalf("only %d red-team cases", len(attacks))
	}
	for _, sql := range attacks {
		rec := env.do(request{method: "POST", path: "/api/query", token: env.tokens[auth.RoleAnalyst], body: sqlBody(sql)})
		body := rec.Body.String()
		if rec.Code < 400 || rec.Code >= 500 {
			t.Errorf("%q: status %d, want 4xx: %s", sql, rec.Code, truncate(body))
		}
		for _, f := range forbid {
			if strings.Contains(body, f) {
				t.Errorf("%q: response leaks %q: %s", sql, f, truncate(body))
			}
		}
	}
	// Nothing was damaged: the public table still answers in full.
	rec := env.do(request{method: "POST", path: "/api/query", token: env.tokens[auth.RoleAnalyst], body: sqlBody("SELECT count(*) AS n FROM sales")})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "[6]") {
		t.Fatalf("sales after the attacks: %d %s", rec.Code, rec.Body)
	}
}

func TestQueryConsolePage(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	b := env.browser()
	b.login("analyst@example.com", testPassword)
	page := b.do("GET", "/query", nil)
	body := page.Body.String()
	if page.Code != 200 {
		t.Fatalf("GET /query: %d", page.Code)
	}
	for _, w := range []string{`data-testid="query-console"`, `data-insert="sales"`, `data-insert="category"`, `data-testid="sql-editor"`,
		`data-testid="history-empty"`, `data-testid="saved-empty"`, `/static/console.js`} {
		if !strings.Contains(body, w) {
			t.Errorf("console lacks %q", w)
		}
	}
	for _, f := range []string{"salaries", "SECRETROW", `data-testid="running-panel"`} {
		if strings.Contains(body, f) {
			t.Errorf("console shows %q to an analyst without access", f)
		}
	}
	if rec := b.do("GET", "/query?table=sales", nil); !strings.Contains(rec.Body.String(), `data-initial-sql="SELECT * FROM sales LIMIT 100"`) {
		t.Errorf("?table= does not prefill the editor")
	}
	if rec := b.do("GET", "/query?table=salaries", nil); !strings.Contains(rec.Body.String(), `data-testid="query-notice"`) || strings.Contains(rec.Body.String(), "FROM salaries") {
		t.Errorf("?table= of a private table is not refused")
	}

	run := func(sql string, withCSRF bool) *http.Response {
		form := url.Values{"sql": {sql}, "query_id": {"page-q-" + fmt.Sprint(time.Now().UnixNano())}}
		if withCSRF {
			form.Set("_csrf", b.csrf)
		}
		rec := b.do("POST", "/query/run", form)
		res := rec.Result()
		res.Body = io.NopCloser(strings.NewReader(rec.Body.String()))
		return res
	}
	read := func(r *http.Response) string { s, _ := io.ReadAll(r.Body); return string(s) }

	res := run("SELECT category, sum(amount) AS amount FROM sales GROUP BY category ORDER BY category", true)
	frag := read(res)
	if res.StatusCode != 200 {
		t.Fatalf("run: %d %s", res.StatusCode, frag)
	}
	for _, w := range []string{`data-testid="result-grid"`, `data-testid="row-count">4 rows`, `data-testid="chart"`, `data-kind="bar"`,
		`data-testid="chart-bar"`, `hx-swap-oob="true"`, `data-testid="history-item"`, "15.75"} {
		if !strings.Contains(frag, w) {
			t.Errorf("result fragment lacks %q", w)
		}
	}
	if strings.Contains(frag, "truncation-banner") {
		t.Errorf("small result shows the truncation banner")
	}
	frag = read(run("SELECT * FROM big", true))
	if !strings.Contains(frag, `data-testid="truncation-banner"`) || !strings.Contains(frag, "first 1000 rows") || !strings.Contains(frag, `data-testid="chart-empty"`) {
		t.Errorf("big result lacks the truncation banner or the no-chart state")
	}
	frag = read(run("SELECT day, units FROM sales", true))
	if !strings.Contains(frag, `data-kind="line"`) || !strings.Contains(frag, `data-testid="chart-point"`) {
		t.Errorf("date result lacks a line chart")
	}
	res = run("SELECT * FROM salaries", true)
	frag = read(res)
	if res.StatusCode != 200 || !strings.Contains(frag, `data-testid="query-error"`) || strings.Contains(frag, "SECRETROW") {
		t.Errorf("private table on the page: %d %s", res.StatusCode, truncate(frag))
	}
	if res := run("SELECT 1", false); res.StatusCode != 403 {
		t.Errorf("run without CSRF: %d", res.StatusCode)
	}

	// Saved queries through the page's forms.
	rec := b.do("POST", "/query/saved", url.Values{"name": {""}, "sql": {"SELECT 1"}, "_csrf": {b.csrf}})
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), `data-testid="field-error-name"`) {
		t.Errorf("save without name: %d", rec.Code)
	}
	rec = b.do("POST", "/query/saved", url.Values{"name": {"Sales by category"}, "sql": {"SELECT * FROM sales"}, "shared": {"true"}, "_csrf": {b.csrf}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Sales by category") || !strings.Contains(rec.Body.String(), `data-testid="saved-shared"`) {
		t.Fatalf("save: %d %s", rec.Code, truncate(rec.Body.String()))
	}
	saved, _ := env.store.ListSavedQueries(context.Background(), env.users[auth.RoleAnalyst].ID)
	if len(saved) != 1 {
		t.Fatalf("saved = %v", saved)
	}
	if rec := b.do("GET", "/query?saved="+saved[0].ID, nil); !strings.Contains(rec.Body.String(), `data-initial-sql="SELECT * FROM sales"`) {
		t.Errorf("?saved= does not load the query")
	}
	rec = b.do("POST", "/query/saved/"+saved[0].ID, url.Values{"name": {"Renamed"}, "sql": {"SELECT 2"}, "_csrf": {b.csrf}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Renamed") {
		t.Errorf("rename: %d", rec.Code)
	}
	rec = b.do("POST", "/query/saved/"+saved[0].ID+"/delete", url.Values{"_csrf": {b.csrf}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="saved-empty"`) {
		t.Errorf("delete: %d", rec.Code)
	}
	// Page history now lists the runs.
	if rec := b.do("GET", "/query", nil); strings.Count(rec.Body.String(), `data-testid="history-item"`) != 4 {
		t.Errorf("console history shows %d runs, want 4", strings.Count(rec.Body.String(), `data-testid="history-item"`))
	}

	// Roles: a viewer gets the 403 page, an admin gets the running-queries panel.
	v := env.browser()
	v.login("viewer@example.com", testPassword)
	if rec := v.do("GET", "/query", nil); rec.Code != 403 {
		t.Errorf("viewer GET /query: %d", rec.Code)
	}
	a := env.browser()
	a.login("admin@example.com", testPassword)
	if rec := a.do("GET", "/query", nil); !strings.Contains(rec.Body.String(), `data-testid="running-panel"`) || !strings.Contains(rec.Body.String(), `data-insert="salaries"`) {
		t.Errorf("admin console lacks the running panel or the private table")
	}
	if rec := a.do("GET", "/query/running", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="running-empty"`) {
		t.Errorf("running list: %d", rec.Code)
	}
	if rec := b.do("GET", "/query/running", nil); rec.Code != 403 {
		t.Errorf("analyst running list: %d", rec.Code)
	}
}

func TestQueryConsoleNoTables(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.login("analyst@example.com", testPassword)
	rec := b.do("GET", "/query", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="schema-empty"`) || !strings.Contains(rec.Body.String(), "Upload a file or ask for access") {
		t.Errorf("empty console: %d", rec.Code)
	}
}
