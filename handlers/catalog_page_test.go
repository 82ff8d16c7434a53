package handlers

import (
	"strings"
	"testing"
)

func TestCatalogPages(t *testing.T) {
	t.Parallel()
	env, tokens := catalogEnv(t)
	cases := []scenario{
		{who: "ungranted", method: "GET", path: "/catalog", status: 200, want: []string{`data-table="salaries" data-locked="true"`, `data-testid="action-request-access"`, `/access-requests/new?table=salaries`, `data-table="sales" data-locked="false"`, "Download"}, forbidden: []string{"SECRETROW", `data-table="mine"` + " data-locked=\"false\""}},
		{who: "viewer", method: "GET", path: "/catalog", status: 200, want: []string{`data-testid="catalog-search"`, "Public", "Locked"}, forbidden: []string{`data-testid="action-download"`}},
		{who: "admin", method: "GET", path: "/catalog?q=sal&access=readable", status: 200, want: []string{`data-table="sales"`, `data-table="salaries" data-locked="false"`}, forbidden: []string{`data-table="mine"`}},
		{who: "admin", method: "GET", path: "/catalog?q=zzz", status: 200, want: []string{"No table matches"}},
		{who: "granted", method: "GET", path: "/catalog/salaries", status: 200, want: []string{`data-testid="table-name"`, `data-testid="chart-histogram"`, `data-testid="chart-top-values"`, `data-testid="chart-null-share"`, "da sync --table salaries", "/query?table=salaries", "/api/data/salaries/download", "amount has 33.33% missing values"}},
		{who: "ungranted", method: "GET", path: "/catalog/salaries", status: 403, forbidden: []string{"SECRETROW", "chart-histogram"}},
		{who: "viewer", method: "GET", path: "/catalog/sales", status: 200, want: []string{"chart-histogram"}, forbidden: []string{"download-parquet", "open-query"}},
		{who: "viewer", method: "GET", path: "/catalog/nosuch", status: 404},
		{who: "granted", method: "GET", path: "/catalog/salaries/sample", status: 200, want: []string{"SECRETROW-0", `data-testid="sample-rows"`}},
		{who: "ungranted", method: "GET", path: "/catalog/salaries/sample", status: 403, forbidden: []string{"SECRETROW"}},
		{who: "owner", method: "GET", path: "/catalog/mine", status: 200, want: []string{"No profile yet"}},
		{who: "ungranted", method: "GET", path: "/dashboard", status: 200, want: []string{`data-testid="dashboard-datasets"`, `data-table="sales"`, "da auth login --server", `data-testid="subscription-toggle"`}, forbidden: []string{"salaries", `data-table="mine"`}},
		{who: "admin", method: "GET", path: "/dashboard", status: 200, want: []string{`data-table="salaries"`, `data-table="mine"`, "dashboard-syncs"}},
		{who: "viewer", method: "GET", path: "/settings/subscriptions", status: 200, want: []string{`data-testid="subscriptions"`, `data-table="sales"`}, forbidden: []string{"salaries"}},
	}
	runScenarios(t, env, tokens, cases)
	for _, who := range []string{"anonymous"} {
		for _, p := range []string{"/catalog", "/catalog/sales", "/dashboard"} {
			rec := env.do(request{method: "GET", path: p, token: tokens[who]})
			if rec.Code != 303 || !strings.Contains(rec.Header().Get("Location"), "/login") {
				t.Errorf("%s %s: %d %s", who, p, rec.Code, rec.Header().Get("Location"))
			}
		}
	}
	// htmx search returns the list fragment only.
	rec := env.do(request{method: "GET", path: "/catalog?q=sales", token: tokens["viewer"], headers: map[string]string{"HX-Request": "true", "HX-Target": "catalog-list"}})
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(strings.TrimSpace(body), `<div id="catalog-list"`) || strings.Contains(body, "<html") {
		t.Errorf("fragment: %d %.200s", rec.Code, body)
	}
}

func TestSubscriptionToggle(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.addTables("testsrc", fxTable{name: "sales", public: true, query: `SELECT 1 AS a`}, fxTable{name: "hidden", query: `SELECT 1 AS a`})
	b := env.browser()
	if rec := b.login("viewer@example.com", testPassword); rec.Code != 303 {
		t.Fatalf("login: %d", rec.Code)
	}
	b.do("GET", "/dashboard", nil)
	cases := []struct {
		dataset, enabled string
		status           int
		want             string
	}{
		{"sales", "true", 200, `data-on="true"`},
		{"sales", "false", 200, `data-on="false"`},
		{"hidden", "true", 403, ""},
		{"", "true", 422, ""},
	}
	for _, c := range cases {
		rec := b.do("POST", "/settings/subscriptions", map[string][]string{"dataset": {c.dataset}, "enabled": {c.enabled}, "_csrf": {b.csrf}})
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s=%s: %d %.200s", c.dataset, c.enabled, rec.Code, rec.Body.String())
		}
	}
	// Without the CSRF token nothing changes.
	rec := b.do("POST", "/settings/subscriptions", map[string][]string{"dataset": {"sales"}, "enabled": {"true"}})
	if rec.Code != 403 {
		t.Errorf("no csrf: %d", rec.Code)
	}
}
