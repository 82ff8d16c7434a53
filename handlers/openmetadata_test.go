package handlers

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/engine"
	"da/engine/openmetadata"
	"da/engine/openmetadata/omtest"
)

// withOpenMetadata points env's server at fake, as OPENMETADATA_URL and _TOKEN would.
func withOpenMetadata(t *testing.T, env *testEnv, fake *omtest.Fake, token string) *openmetadata.Enricher {
	t.Helper()
	en := openmetadata.New(openmetadata.Options{URL: fake.URL, Token: token, Timeout: 2 * time.Second, TTL: time.Hour},
		env.srv.cfg.DataDir, nil)
	env.srv.enricher = en
	return en
}

func TestOpenMetadataInTheCatalog(t *testing.T) {
	env := newTestEnv(t)
	if rec := env.upload(env.tokens["analyst"], "sales", "sales.csv", []byte(salesCSV)); rec.Code != 201 {
		t.Fatalf("upload = %d %s", rec.Code, rec.Body.String())
	}
	admin, analyst := env.tokens["admin"], env.tokens["analyst"]

	// Not configured: the catalog has no enrichment and the actions say what to set.
	for _, p := range []string{"/api/admin/openmetadata/refresh", "/api/admin/catalog-export"} {
		rec := env.do(request{method: "POST", path: p, token: admin})
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), "OPENMETADATA_URL") {
			t.Errorf("%s unconfigured = %d %s", p, rec.Code, rec.Body.String())
		}
	}
	if body := env.do(request{method: "GET", path: "/api/catalog/tables", token: analyst}).Body.String(); strings.Contains(body, "openmetadata") {
		t.Errorf("enrichment without OpenMetadata: %s", body)
	}

	fake := omtest.New("om-token")
	defer fake.Close()
	fake.AddTable(omtest.OrdersTable("bigquery.sales", "<p>Sales from the <b>ERP</b>, one row per order line.</p>"))
	en := withOpenMetadata(t, env, fake, "om-token")

	tokens := map[string]string{}
	for r, tok := range env.tokens {
		tokens[string(r)] = tok
	}
	runScenarios(t, env, tokens, []scenario{
		{who: "analyst", method: "POST", path: "/api/admin/openmetadata/refresh", status: 403},
		{who: "admin", method: "POST", path: "/api/admin/openmetadata/refresh", body: `{"tables": ["nosuch"]}`, status: 422, want: []string{"unknown table"}},
		{who: "admin", method: "POST", path: "/api/admin/openmetadata/refresh", body: `{"tables": "sales"}`, status: 422},
		{who: "admin", method: "POST", path: "/api/admin/openmetadata/refresh", body: `{"tables": ["SALES"]}`, status: 200,
			want: []string{`"refreshed":1`, `"fqn":"bigquery.sales"`, `"ok":true`}},
		{who: "analyst", method: "GET", path: "/api/catalog/tables", status: 200,
			want: []string{`"openmetadata":{`, `"description":"Sales from the ERP, one row per order line."`, `"tier":"Tier1"`,
				`"owners":["ann"]`, `"catalog_url":"` + fake.URL + `/table/bigquery.sales"`, `"amount":{"description":"Net amount in EUR"`}},
		{who: "analyst", method: "GET", path: "/catalog/sales", status: 200,
			want: []string{`data-testid="openmetadata-description"`, "Sales from the ERP, one row per order line.",
				`href="` + fake.URL + `/table/bigquery.sales"`, `data-testid="openmetadata-tier"`, "Net amount in EUR"}},
		// The catalog list shows it for tables without a description of their own.
		{who: "analyst", method: "GET", path: "/catalog?q=ERP", status: 200, want: []string{`data-table="sales"`, "Sales from the ERP"}},
		{who: "analyst", method: "POST", path: "/catalog/sales/openmetadata", status: 403},
		// The enrichment is the table's: callers who cannot read the table do not see it.
		{who: "viewer", method: "GET", path: "/catalog/sales", status: 403, forbidden: []string{"Sales from the ERP"}},
		{who: "viewer", method: "GET", path: "/api/catalog/tables?include=locked", status: 200, forbidden: []string{"Sales from the ERP"}},
	})

	// An admin refreshes it from the table page (htmx, CSRF-checked).
	b := env.browser()
	if rec := b.login("admin@example.com", testPassword); rec.Code != 303 {
		t.Fatalf("login: %d", rec.Code)
	}
	if rec := b.do("GET", "/catalog/sales", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="openmetadata-refresh"`) {
		t.Fatalf("admin table page = %d, no refresh button", rec.Code)
	}
	if rec := b.do("POST", "/catalog/sales/openmetadata", url.Values{}); rec.Code != 403 {
		t.Errorf("refresh without the CSRF token = %d, want 403", rec.Code)
	}
	rec := b.do("POST", "/catalog/sales/openmetadata", url.Values{"_csrf": {b.csrf}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Refreshed from OpenMetadata.") || strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("page refresh = %d %.300s", rec.Code, rec.Body.String())
	}

	// OpenMetadata failing: pages and the API still answer, with the last enrichment and
	// the reason the refresh failed.
	fake.Fail("/api/v1/", omtest.Fault{Status: 500}, omtest.Fault{Status: 500}, omtest.Fault{Status: 500})
	rec = env.do(request{method: "POST", path: "/api/admin/openmetadata/refresh", token: admin})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"failed":1`) {
		t.Fatalf("refresh while failing = %d %s", rec.Code, rec.Body.String())
	}
	rec = env.do(request{method: "GET", path: "/catalog/sales", token: analyst})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Sales from the ERP") || !strings.Contains(rec.Body.String(), `data-testid="openmetadata-error"`) {
		t.Fatalf("page while OpenMetadata fails = %d %.300s", rec.Code, rec.Body.String())
	}
	fake.Close()
	rec = env.do(request{method: "GET", path: "/api/catalog/tables", token: analyst})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Sales from the ERP") {
		t.Fatalf("catalog with OpenMetadata down = %d %s", rec.Code, rec.Body.String())
	}
	en.Wait()
}

func TestOpenMetadataRefreshedOnSyncAndExported(t *testing.T) {
	env := newTestEnv(t)
	if rec := env.upload(env.tokens["analyst"], "sales", "sales.csv", []byte(salesCSV)); rec.Code != 201 {
		t.Fatalf("upload = %d %s", rec.Code, rec.Body.String())
	}
	fake := omtest.New("om-token")
	defer fake.Close()
	fake.AddTable(omtest.OrdersTable("bigquery.sales", "Sales v1"))
	en := withOpenMetadata(t, env, fake, "om-token")
	// The sync hook `da serve` installs.
	env.srv.syncer.Close()
	env.srv.syncer = engine.NewSyncer(env.srv.engine, env.store, engine.SyncOptions{Publisher: env.srv.publisher,
		AfterSync: en.RefreshSynced})
	t.Cleanup(env.srv.syncer.Close)

	if r := en.Refresh(context.Background(), []string{"sales"}); !r[0].OK {
		t.Fatal(r)
	}
	fake.AddTable(omtest.OrdersTable("bigquery.sales", "Sales v2"))
	job, err := env.srv.syncer.Trigger(context.Background(), engine.SyncRequest{Tables: []string{"sales"}, RequestedBy: "admin@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.srv.syncer.Wait(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	en.Wait()
	if c, _ := en.Cached("sales"); c == nil || c.Enrichment == nil || c.Enrichment.Description != "Sales v2" {
		t.Fatalf("after a sync the enrichment is %+v, want it refetched", c)
	}

	docs := filepath.Join(env.srv.cfg.DataDir, "docs")
	hand := filepath.Join(docs, "tables", "notes.yml")
	_ = os.MkdirAll(filepath.Dir(hand), 0o755)
	_ = os.WriteFile(hand, []byte("name: notes\n"), 0o644)
	rec := env.do(request{method: "POST", path: "/api/admin/catalog-export", token: env.tokens["admin"]})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"tables_count":1`) {
		t.Fatalf("catalog export = %d %s", rec.Code, rec.Body.String())
	}
	raw, err := os.ReadFile(filepath.Join(docs, "tables", "sales.yml"))
	if err != nil || !strings.HasPrefix(string(raw), openmetadata.Marker) || !strings.Contains(string(raw), "Sales v2") {
		t.Fatalf("exported table doc = %q %v", raw, err)
	}
	if _, err := os.Stat(hand); err != nil {
		t.Errorf("the export removed a hand-written file: %v", err)
	}
	if rec := env.do(request{method: "POST", path: "/api/admin/catalog-export", token: env.tokens["analyst"]}); rec.Code != 403 {
		t.Errorf("export as analyst = %d", rec.Code)
	}
}
