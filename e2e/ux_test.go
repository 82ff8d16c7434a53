package e2e

import (
	"regexp"
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// TestFilterBarsApplyEverySelect: every select of a filter bar applies its change (not only
// the first one), and the Apply button filters when JavaScript is off.
func TestFilterBarsApplyEverySelect(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	tok := apiToken(t, base, adminEmail, adminPassword)
	orders, pay := catalogCSV()
	uploadCSV(t, base, tok, "orders_e2e", orders, true)
	uploadCSV(t, base, tok, "secret_pay", pay, false)
	createAnalyst(t, base, tok, "ana@example.com", "analyst-password-1")
	expect := playwright.NewPlaywrightAssertions(15000)

	page := signIn(t, b, base, "ana@example.com", "analyst-password-1")
	if _, err := page.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("catalog-row")).ToHaveCount(2))
	// Access is the third select of the bar.
	if _, err := page.GetByTestId("catalog-filter-access").SelectOption(playwright.SelectOptionValues{Values: &[]string{"locked"}}); err != nil {
		t.Fatal(err)
	}
	must(t, page.WaitForURL("**/catalog?*access=locked*"))
	must(t, expect.Locator(page.GetByTestId("catalog-row")).ToHaveCount(1))
	must(t, expect.Locator(page.Locator(`[data-testid="catalog-row"][data-table="secret_pay"]`)).ToBeVisible())
	screenshot(t, page, "catalog-filter-locked-analyst")
	if _, err := page.GetByTestId("catalog-filter-access").SelectOption(playwright.SelectOptionValues{Values: &[]string{"readable"}}); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.Locator(`[data-testid="catalog-row"][data-table="orders_e2e"]`)).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("catalog-row")).ToHaveCount(1))

	// Corporate memory: Sort is the second select.
	if _, err := page.Goto(base + "/corporate-memory"); err != nil {
		t.Fatal(err)
	}
	if _, err := page.GetByTestId("memory-sort").SelectOption(playwright.SelectOptionValues{Values: &[]string{"title"}}); err != nil {
		t.Fatal(err)
	}
	must(t, page.WaitForURL("**/corporate-memory?*sort=title*"))
	screenshot(t, page, "memory-sorted-analyst")

	// Without JavaScript, Apply submits the bar.
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false), Viewport: &playwright.Size{Width: 1280, Height: 900}})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Goto(base + "/login"); err != nil {
		t.Fatal(err)
	}
	must(t, p2.GetByTestId("login-email").Fill("ana@example.com"))
	must(t, p2.GetByTestId("login-password").Fill("analyst-password-1"))
	must(t, p2.GetByTestId("login-submit").Click())
	must(t, p2.WaitForURL("**/dashboard"))
	if _, err := p2.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.GetByTestId("catalog-filter-access").SelectOption(playwright.SelectOptionValues{Values: &[]string{"locked"}}); err != nil {
		t.Fatal(err)
	}
	must(t, p2.GetByTestId("catalog-apply").Click())
	must(t, p2.WaitForURL("**/catalog?*access=locked*"))
	must(t, expect.Locator(p2.GetByTestId("catalog-row")).ToHaveCount(1))
	screenshot(t, p2, "catalog-filter-nojs-analyst")
}

// TestConsoleErrorsStayInline: an export of a bad query, a Run of an empty editor and a
// query of a locked table all answer inline, and the console keeps its page.
func TestConsoleErrorsStayInline(t *testing.T) {
	dir := seedOrders(t)
	base := startServer(t, map[string]string{"DATA_DIR": dir})
	b := startBrowser(t)
	tok := apiToken(t, base, adminEmail, adminPassword)
	_, pay := catalogCSV()
	uploadCSV(t, base, tok, "secret_pay", pay, false)
	createAnalyst(t, base, tok, "ana@example.com", "analyst-password-1")
	expect := playwright.NewPlaywrightAssertions(15000)

	page := signIn(t, b, base, "ana@example.com", "analyst-password-1")
	if _, err := page.Goto(base + "/query"); err != nil {
		t.Fatal(err)
	}
	editor := page.GetByTestId("sql-editor")
	must(t, editor.Fill("SELECT nope FROM orders"))
	must(t, page.GetByTestId("export-csv").Click())
	must(t, expect.Locator(page.GetByTestId("query-error")).ToContainText("nope"))
	must(t, expect.Page(page).ToHaveURL(base+"/query"))
	must(t, expect.Locator(editor).ToHaveValue("SELECT nope FROM orders"))
	screenshot(t, page, "query-export-error-analyst")

	must(t, editor.Fill(""))
	must(t, page.GetByTestId("run-query").Click())
	must(t, expect.Locator(page.GetByTestId("query-error")).ToContainText("empty"))

	must(t, editor.Fill("SELECT * FROM secret_pay"))
	must(t, page.GetByTestId("run-query").Click())
	must(t, expect.Locator(page.GetByTestId("query-error")).ToHaveAttribute("data-kind", "denied"))
	must(t, expect.Locator(page.GetByTestId("query-error")).ToContainText("You don't have access to secret_pay"))
	must(t, expect.Locator(page.GetByTestId("query-error")).Not().ToContainText("sqlite"))
	must(t, expect.Locator(page.GetByTestId("denied-request-access")).ToHaveAttribute("href", "/access-requests?table=secret_pay"))
	screenshot(t, page, "query-locked-analyst")

	// A valid export still downloads, and the console stays.
	must(t, editor.Fill("SELECT * FROM orders"))
	dl, err := page.ExpectDownload(func() error { return page.GetByTestId("export-csv").Click() })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dl.Path(); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Page(page).ToHaveURL(base+"/query"))
}

// TestChartControlsFlow: chart a monthly series whose two columns differ by orders of
// magnitude (a right axis, month labels), switch the chart type and series, and find the
// choice again in a saved query after a reload.
func TestChartControlsFlow(t *testing.T) {
	dir := seedOrders(t)
	base := startServer(t, map[string]string{"DATA_DIR": dir})
	b := startBrowser(t)
	expect := playwright.NewPlaywrightAssertions(15000)
	page := signIn(t, b, base, adminEmail, adminPassword)
	if _, err := page.Goto(base + "/query"); err != nil {
		t.Fatal(err)
	}
	editor := page.GetByTestId("sql-editor")
	sql := "SELECT date_trunc('day', ordered_on)::TIMESTAMP AS day, count(*) AS orders, sum(amount) * 1000 AS revenue FROM orders GROUP BY 1 ORDER BY 1"
	must(t, editor.Fill(sql))
	must(t, page.GetByTestId("run-query").Click())
	must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveText("15 rows"))
	must(t, page.GetByTestId("tab-chart").Click())
	chart := page.GetByTestId("chart")
	must(t, expect.Locator(chart).ToHaveAttribute("data-kind", "line"))
	must(t, expect.Locator(chart).ToHaveAttribute("data-axis", "dual"))
	must(t, expect.Locator(page.GetByTestId("chart-right-axis")).ToBeVisible())
	screenshot(t, page, "query-chart-dual-admin")
	must(t, expect.Locator(page.GetByTestId("chart-x-tick").First()).ToContainText("Mar 1"))
	must(t, expect.Locator(page.GetByTestId("chart-x-axis")).Not().ToContainText("00:00"))

	if _, err := page.GetByTestId("chart-type").SelectOption(playwright.SelectOptionValues{Values: &[]string{"bar"}}); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(chart).ToHaveAttribute("data-kind", "bar"))
	must(t, expect.Locator(page.GetByTestId("chart-bar")).ToHaveCount(30))
	must(t, page.Locator(`[data-testid="chart-series-toggle"][value="revenue"]`).Uncheck())
	must(t, expect.Locator(page.GetByTestId("chart-bar")).ToHaveCount(15))
	must(t, expect.Locator(editor).ToHaveValue(sql+"\n"+`-- da-chart: {"type":"bar","x":"day","series":["orders"]}`))
	screenshot(t, page, "query-chart-bar-admin")

	must(t, page.GetByTestId("save-open").Click())
	must(t, page.GetByTestId("save-name").Fill("Orders per day"))
	must(t, page.GetByTestId("save-submit").Click())
	must(t, expect.Locator(page.GetByTestId("saved-name")).ToHaveText("Orders per day"))
	must(t, editor.Fill("SELECT 1"))
	if _, err := page.Reload(); err != nil {
		t.Fatal(err)
	}
	must(t, page.GetByTestId("saved-load").Click())
	must(t, expect.Locator(editor).ToHaveValue(regexp.MustCompile(`da-chart: \{"type":"bar"`)))
	must(t, page.GetByTestId("run-query").Click())
	must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveText("15 rows"))
	must(t, page.GetByTestId("tab-chart").Click())
	must(t, expect.Locator(chart).ToHaveAttribute("data-kind", "bar"))
	must(t, expect.Locator(page.GetByTestId("chart-bar")).ToHaveCount(15))
}

// TestUXScreenshots signs in as admin, analyst and viewer and takes a screenshot of every
// page of the web UI, for a reviewer; it asserts only that each page answers.
func TestUXScreenshots(t *testing.T) {
	dir := seedOrders(t)
	base := startServer(t, map[string]string{"DATA_DIR": dir})
	b := startBrowser(t)
	tok := apiToken(t, base, adminEmail, adminPassword)
	_, pay := catalogCSV()
	uploadCSV(t, base, tok, "secret_pay", pay, false)
	createAnalyst(t, base, tok, "ana@example.com", "analyst-password-1")
	if code, _ := apiCall(t, "POST", base+"/api/users", tok, map[string]string{"email": "vic@example.com", "name": "Vic Viewer", "role": "viewer", "password": "viewer-password-1"}); code != 201 {
		t.Fatalf("create viewer: %d", code)
	}
	expect := playwright.NewPlaywrightAssertions(15000)
	shoot := func(page playwright.Page, role, path, name string) {
		t.Helper()
		resp, err := page.Goto(base + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status() >= 400 {
			t.Errorf("%s %s: %d", role, path, resp.Status())
		}
		screenshot(t, page, "ux-"+name+"-"+role)
	}
	pages := map[string][][2]string{
		"admin": {{"/dashboard", "dashboard"}, {"/catalog?q=shop", "catalog-search"}, {"/catalog/orders", "catalog-table"},
			{"/upload", "upload"}, {"/activity-center", "activity"}, {"/activity-center?tab=requests", "activity-requests"},
			{"/access-requests", "access-requests"}, {"/admin/tables", "admin-tables"}, {"/admin/users", "admin-users"},
			{"/corporate-memory", "memory"}},
		"analyst": {{"/dashboard", "dashboard"}, {"/catalog", "catalog"}, {"/catalog/orders", "catalog-table"}, {"/upload", "upload"},
			{"/activity-center", "activity"}, {"/access-requests", "access-requests"}, {"/corporate-memory", "memory"}},
		"viewer": {{"/dashboard", "dashboard"}, {"/catalog", "catalog"}, {"/catalog/orders", "catalog-table"},
			{"/activity-center", "activity"}, {"/access-requests", "access-requests"}, {"/corporate-memory", "memory"}},
	}
	creds := map[string][2]string{"admin": {adminEmail, adminPassword}, "analyst": {"ana@example.com", "analyst-password-1"}, "viewer": {"vic@example.com", "viewer-password-1"}}
	for _, role := range []string{"admin", "analyst", "viewer"} {
		page := signIn(t, b, base, creds[role][0], creds[role][1])
		for _, p := range pages[role] {
			shoot(page, role, p[0], p[1])
		}
		if role == "viewer" {
			continue
		}
		// The console with a result, its chart, and (analyst) a locked table.
		if _, err := page.Goto(base + "/query"); err != nil {
			t.Fatal(err)
		}
		must(t, page.GetByTestId("sql-editor").Fill("SELECT region, count(*) AS orders, sum(amount) * 100 AS revenue FROM orders GROUP BY 1 ORDER BY 1"))
		must(t, page.GetByTestId("run-query").Click())
		must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveText("4 rows"))
		screenshot(t, page, "ux-query-result-"+role)
		must(t, page.GetByTestId("tab-chart").Click())
		screenshot(t, page, "ux-query-chart-"+role)
		if role == "analyst" {
			must(t, page.GetByTestId("sql-editor").Fill("SELECT * FROM secret_pay"))
			must(t, page.GetByTestId("run-query").Click())
			must(t, expect.Locator(page.GetByTestId("denied-table")).ToBeVisible())
			screenshot(t, page, "ux-query-locked-"+role)
		}
	}
	lp, err := b.NewPage()
	must(t, err)
	shoot(lp, "anonymous", "/login", "login")
}
