package handlers

import (
	"context"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

// TestUsersPageOwnRow: an admin's own row shows the role, not a select, and offers neither
// Deactivate nor Delete; other rows keep them.
func TestUsersPageOwnRow(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(auth.RoleAdmin)
	page := b.do("GET", "/admin/users", nil).Body.String()
	own := rowOf(page, `data-testid="user-row-admin@example.com"`)
	other := rowOf(page, `data-testid="user-row-viewer@example.com"`)
	if own == "" || other == "" {
		t.Fatalf("rows not found: %s", truncate(page))
	}
	for _, f := range []string{"user-deactivate", "user-delete", "user-role-select"} {
		if strings.Contains(own, f) {
			t.Errorf("own row offers %s", f)
		}
		if !strings.Contains(other, f) {
			t.Errorf("other row lacks %s", f)
		}
	}
	if !strings.Contains(own, "user-role-self") {
		t.Error("own row does not show the role")
	}
}

// rowWith returns the first <tr> of page that holds every marker.
func rowWith(page string, markers ...string) string {
	for _, part := range strings.Split(page, "<tr")[1:] {
		row, _, _ := strings.Cut(part, "</tr>")
		ok := true
		for _, m := range markers {
			ok = ok && strings.Contains(row, m)
		}
		if ok {
			return "<tr" + row
		}
	}
	return ""
}

// rowOf returns the <tr> of page that holds marker.
func rowOf(page, marker string) string {
	i := strings.Index(page, marker)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], "<tr")
	end := strings.Index(page[i:], "</tr>")
	if start < 0 || end < 0 {
		return ""
	}
	return page[start : i+end]
}

// TestActivityShowsEvents: the activity page lists what people did by name (the uploaded
// table, the query's SQL, its rows) instead of ids, keeps the raw request rows on their own
// tab, and every upload is an event naming its table, also when it fails.
func TestActivityShowsEvents(t *testing.T) {
	env := newTestEnv(t)
	tok := env.tokens[auth.RoleAnalyst]
	if rec := env.upload(tok, "weekly_kpis", "kpis.csv", []byte("week,visits\n1,10\n2,12\n")); rec.Code != 201 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body.String())
	}
	if rec := env.upload(tok, "broken_one", "broken.csv", []byte("a,b\n1,2,3\n")); rec.Code < 400 {
		t.Fatalf("bad upload: %d", rec.Code)
	}
	if rec := env.do(request{method: "POST", path: "/api/query", token: tok, body: sqlBody("SELECT week, visits FROM weekly_kpis")}); rec.Code != 200 {
		t.Fatalf("query: %d %s", rec.Code, rec.Body.String())
	}
	raw := &store.AuditEntry{UserID: env.users[auth.RoleAnalyst].ID, Action: "POST /api/thing/:id", Resource: "id=42", Result: "2xx"}
	if err := env.store.LogAudit(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	env.store.QueryLog().Sync()
	b := env.signedIn(auth.RoleAnalyst)
	page := b.do("GET", "/activity-center", nil).Body.String()
	up := rowWith(page, `data-action="upload"`, "weekly_kpis")
	if !strings.Contains(up, ">weekly_kpis<") || !strings.Contains(up, "File kpis.csv · 2 rows") || !strings.Contains(up, ">Upload<") {
		t.Errorf("upload event: %s", up)
	}
	if failed := rowWith(page, `data-action="upload"`, "broken_one"); !strings.Contains(failed, ">broken_one<") || !strings.Contains(failed, "failure") {
		t.Errorf("the failed upload is not an event naming its table: %s", truncate(page))
	}
	q := rowOf(page, `data-action="query"`)
	if !strings.Contains(q, "Ran SELECT week, visits FROM weekly_kpis · 2 rows") {
		t.Errorf("query event: %s", q)
	}
	if strings.Contains(page, "POST /api/thing") {
		t.Error("the events tab lists raw request rows")
	}
	req := b.do("GET", "/activity-center?tab=requests", nil).Body.String()
	if !strings.Contains(req, "POST /api/thing/:id") || strings.Contains(req, `data-action="upload"`) {
		t.Errorf("the requests tab: %s", truncate(req))
	}
}

// TestCatalogSampleAndDashboardPolish: sample rows show NULL as the console does; a viewer's
// dashboard shows their role instead of a query count they cannot raise.
func TestCatalogSampleAndDashboardPolish(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	a := env.signedIn(auth.RoleAnalyst)
	sample := a.do("GET", "/catalog/sales/sample", nil).Body.String()
	if !strings.Contains(sample, "data-null") || !strings.Contains(sample, ">NULL<") || strings.Contains(sample, ">null<") {
		t.Errorf("sample NULL: %s", truncate(sample))
	}
	if dash := a.do("GET", "/dashboard", nil).Body.String(); !strings.Contains(dash, `data-testid="stat-queries"`) {
		t.Error("the analyst's dashboard lacks the query count")
	}
	v := env.signedIn(auth.RoleViewer)
	dash := v.do("GET", "/dashboard", nil).Body.String()
	if strings.Contains(dash, `data-testid="stat-queries"`) || !strings.Contains(dash, `data-testid="stat-role"`) {
		t.Error("the viewer's dashboard shows a query count")
	}
}

// TestCatalogSearchSaysWhy: a table found by its description says where it matched, with
// the words around the match; one found by its name needs no note.
func TestCatalogSearchSaysWhy(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	tb, err := env.store.GetTable(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	tb.Description = "Synthetic rows for paging tests; every label is unique"
	if err := env.store.RegisterTable(context.Background(), tb); err != nil {
		t.Fatal(err)
	}
	a := env.signedIn(auth.RoleAnalyst)
	page := a.do("GET", "/catalog?q=paging", nil).Body.String()
	if !strings.Contains(page, `data-testid="catalog-match"`) || !strings.Contains(page, "Synthetic rows for paging tests") {
		t.Errorf("no match note: %s", truncate(page))
	}
	if page := a.do("GET", "/catalog?q=sales", nil).Body.String(); strings.Contains(page, `data-testid="catalog-match"`) {
		t.Error("a name match gets a description note")
	}
	if con := a.do("GET", "/query", nil).Body.String(); strings.Contains(con, "my_table") {
		t.Error("the console suggests my_table although real tables exist")
	}
}
