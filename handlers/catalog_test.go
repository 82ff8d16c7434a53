package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"da/auth"
	"da/engine/profile"
	"da/store"
)

// catalogEnv publishes: public "sales", private "salaries" (granted to the granted analyst),
// and an upload "mine" privately owned by the owner analyst. It returns tokens by persona.
func catalogEnv(t *testing.T) (*testEnv, map[string]string) {
	t.Helper()
	env := newTestEnv(t)
	ctx := context.Background()
	hash, _ := auth.HashPassword(testPassword)
	extra := map[string]string{}
	for _, name := range []string{"owner", "granted"} {
		u := &store.User{Email: name + "@example.com", Name: name, Role: string(auth.RoleAnalyst), PasswordHash: hash, Active: true}
		if err := env.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		tok, _, err := env.srv.issuer.Issue(u.ID, u.Email, auth.RoleAnalyst)
		if err != nil {
			t.Fatal(err)
		}
		extra[name] = tok
		if name == "granted" {
			if _, err := env.store.Grant(ctx, u.ID, "salaries", "read"); err != nil {
				t.Fatal(err)
			}
		}
	}
	env.addTables("testsrc",
		fxTable{name: "sales", public: true, query: `SELECT * FROM (VALUES ('books', 10.5), ('games', 20.0), ('toys', NULL)) AS t(category, amount)`},
		fxTable{name: "salaries", public: false, query: `SELECT 'SECRETROW-' || range AS marker, range * 1000 AS pay FROM range(5)`},
	)
	env.addTables("upload", fxTable{name: "mine", public: false, owner: "owner@example.com", query: `SELECT 'OWNEDROW' AS v`})
	for _, id := range []string{"sales", "salaries"} {
		doc := `{"table_id":"` + id + `","row_count":3,"column_count":2,"avg_completeness":83.33,"columns":[{"name":"category","type":"VARCHAR","type_category":"STRING","completeness_pct":100,"null_count":0,"unique_count":3,"unique_pct":100,"alerts":["unique"],"string_stats":{"min_length":4,"max_length":5,"avg_length":4.67,"top_values":[{"value":"books","count":1,"pct":33.33}]}},{"name":"amount","type":"DOUBLE","type_category":"NUMERIC","completeness_pct":66.67,"null_count":1,"unique_count":2,"unique_pct":100,"alerts":["high_missing"],"numeric_stats":{"min":10.5,"max":20,"mean":15.25,"median":15.25,"p5":10.9,"p25":12.9,"p75":17.6,"p95":19.5,"histogram":{"bins":["10.50-11.13","19.37-20.00"],"counts":[1,1]}}}],"alerts":[{"column":"amount","type":"high_missing","message":"amount has 33.33% missing values"}]}`
		if err := env.store.SaveProfile(ctx, id, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	tokens := map[string]string{"admin": env.tokens[auth.RoleAdmin], "owner": extra["owner"], "granted": extra["granted"],
		"ungranted": env.tokens[auth.RoleAnalyst], "viewer": env.tokens[auth.RoleViewer], "anonymous": ""}
	return env, tokens
}

type scenario struct {
	who       string
	method    string
	path      string
	body      string
	status    int
	want      []string
	forbidden []string
}

func runScenarios(t *testing.T, env *testEnv, tokens map[string]string, cases []scenario) {
	t.Helper()
	for _, tc := range cases {
		rec := env.do(request{method: tc.method, path: tc.path, body: tc.body, token: tokens[tc.who]})
		name := tc.who + " " + tc.method + " " + tc.path
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", name, rec.Code, tc.status, truncateRunes(rec.Body.String(), 300))
			continue
		}
		body := rec.Body.String()
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body lacks %q: %s", name, w, truncateRunes(body, 300))
			}
		}
		for _, f := range tc.forbidden {
			if strings.Contains(body, f) {
				t.Errorf("%s: body contains forbidden %q", name, f)
			}
		}
	}
}

func TestCatalogAPIScenarios(t *testing.T) {
	t.Parallel()
	env, tokens := catalogEnv(t)
	metrics := filepath.Join(env.srv.engine.DataDir(), "docs", "metrics", "revenue")
	if err := os.MkdirAll(metrics, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(metrics, "total_revenue_2.yml"), []byte("- name: total_revenue\n  table: sales\n  sql: SELECT sum(amount) FROM sales\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(metrics, "broken.yml"), []byte("a: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []scenario{
		{who: "admin", method: "GET", path: "/api/catalog/tables", status: 200, want: []string{`"sales"`, `"salaries"`, `"mine"`, `"count":3`}},
		{who: "owner", method: "GET", path: "/api/catalog/tables", status: 200, want: []string{`"sales"`, `"mine"`, `"count":2`}, forbidden: []string{`"salaries"`}},
		{who: "granted", method: "GET", path: "/api/catalog/tables", status: 200, want: []string{`"sales"`, `"salaries"`}, forbidden: []string{`"mine"`}},
		{who: "ungranted", method: "GET", path: "/api/catalog/tables", status: 200, want: []string{`"sales"`, `"rows":3`, `"downloadable":true`}, forbidden: []string{`"salaries"`, `"mine"`}},
		{who: "viewer", method: "GET", path: "/api/catalog/tables", status: 200, want: []string{`"sales"`}, forbidden: []string{`"salaries"`, `"mine"`}},
		{who: "anonymous", method: "GET", path: "/api/catalog/tables", status: 401, forbidden: []string{"sales"}},

		{who: "admin", method: "GET", path: "/api/catalog/profile/salaries", status: 200, want: []string{`"row_count":3`, `"profiled_at"`, `"columns"`}},
		{who: "granted", method: "GET", path: "/api/catalog/profile/salaries", status: 200, want: []string{`"table_id":"salaries"`}},
		{who: "ungranted", method: "GET", path: "/api/catalog/profile/salaries", status: 403, want: []string{"Access denied"}, forbidden: []string{"row_count"}},
		{who: "viewer", method: "GET", path: "/api/catalog/profile/salaries", status: 403, forbidden: []string{"row_count"}},
		{who: "viewer", method: "GET", path: "/api/catalog/profile/sales", status: 200, want: []string{`"row_count":3`}},
		{who: "ungranted", method: "GET", path: "/api/catalog/profile/nosuch", status: 404},
		{who: "owner", method: "GET", path: "/api/catalog/profile/mine", status: 404, want: []string{"Profile not found for 'mine'"}},
		{who: "ungranted", method: "GET", path: "/api/catalog/profile/bad-name", status: 400},
		{who: "anonymous", method: "GET", path: "/api/catalog/profile/sales", status: 401},

		{who: "ungranted", method: "POST", path: "/api/catalog/profile/salaries/refresh", status: 403},
		{who: "viewer", method: "POST", path: "/api/catalog/profile/nosuch/refresh", status: 404},
		{who: "anonymous", method: "POST", path: "/api/catalog/profile/sales/refresh", status: 401},

		{who: "viewer", method: "GET", path: "/api/catalog/metrics/revenue/total_revenue_2.yml", status: 200, want: []string{`"name":"total_revenue"`, `"table":"sales"`}},
		{who: "viewer", method: "GET", path: "/api/catalog/metrics/revenue/nope.yml", status: 404, want: []string{"Metric file not found"}},
		{who: "viewer", method: "GET", path: "/api/catalog/metrics/revenue/broken.yml", status: 422, want: []string{"Error parsing metric"}},
		{who: "viewer", method: "GET", path: "/api/catalog/metrics/Revenue/x.txt", status: 400, want: []string{"Invalid metric path"}},
		{who: "viewer", method: "GET", path: "/api/catalog/metrics/revenue/../../state/x.yml", status: 400},
		{who: "anonymous", method: "GET", path: "/api/catalog/metrics/revenue/total_revenue_2.yml", status: 401},
	}
	runScenarios(t, env, tokens, cases)
}

// fakeProfiler stores a small profile, as the engine's publisher would.
type fakeProfiler struct {
	st    *store.Store
	calls []string
	err   error
}

func (f *fakeProfiler) ProfileTable(ctx context.Context, id string) (*profile.Profile, error) {
	f.calls = append(f.calls, id)
	if f.err != nil {
		return nil, f.err
	}
	return &profile.Profile{}, f.st.SaveProfile(ctx, id, []byte(`{"table_id":"`+id+`","row_count":3,"column_count":2,"columns":[{"name":"a"},{"name":"b"}]}`))
}

func TestRefreshProfile(t *testing.T) {
	t.Parallel()
	env, tokens := catalogEnv(t)
	// The real profiler (the engine's publisher) replaces the hand-written fixture profile.
	rec := env.do(request{method: "POST", path: "/api/catalog/profile/sales/refresh", token: tokens["viewer"]})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"columns":2`) {
		t.Fatalf("real refresh: %d %s", rec.Code, rec.Body)
	}
	rec = env.do(request{method: "GET", path: "/api/catalog/profile/sales", token: tokens["viewer"]})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"row_count":3`) || !strings.Contains(rec.Body.String(), `"sample_rows"`) {
		t.Fatalf("profile after real refresh: %d %.300s", rec.Code, rec.Body)
	}
	env.srv.profiler = nil
	if rec := env.do(request{method: "POST", path: "/api/catalog/profile/sales/refresh", token: tokens["viewer"]}); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("without a profiler: %d %s", rec.Code, rec.Body)
	}
	fp := &fakeProfiler{st: env.store}
	env.srv.profiler = fp
	rec = env.do(request{method: "POST", path: "/api/catalog/profile/mine/refresh", token: tokens["owner"]})
	if rec.Code != 200 {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	var got map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if got["status"] != "ok" || got["table"] != "mine" || got["columns"] != float64(2) {
		t.Errorf("refresh answer = %v", got)
	}
	if rec := env.do(request{method: "GET", path: "/api/catalog/profile/mine", token: tokens["owner"]}); rec.Code != 200 {
		t.Errorf("profile after refresh: %d", rec.Code)
	}
	if rec := env.do(request{method: "POST", path: "/api/catalog/profile/mine/refresh", token: tokens["ungranted"]}); rec.Code != 403 {
		t.Errorf("other analyst refresh: %d", rec.Code)
	}
	if len(fp.calls) != 1 {
		t.Errorf("profiler calls = %v", fp.calls)
	}
	fp.err = os.ErrPermission
	if rec := env.do(request{method: "POST", path: "/api/catalog/profile/sales/refresh", token: tokens["admin"]}); rec.Code != 500 || !strings.Contains(rec.Body.String(), "Profile failed") {
		t.Errorf("failing profiler: %d %s", rec.Code, rec.Body)
	}
}
