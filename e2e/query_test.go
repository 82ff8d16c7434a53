package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/mxschmitt/playwright-go"

	"da/engine/extract"
	"da/store"
)

// seedOrders publishes a public "orders" table (60 rows over 4 regions and 15 days) into a
// fresh DATA_DIR through the extract contract and the registry, as a connector would, so
// that the server started on it serves the table.
func seedOrders(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "extracts", "shop")
	if err := os.MkdirAll(extract.DataDir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(extract.DataDir(src), "orders.parquet")
	q := `SELECT range AS order_id, ['north','south','east','west'][range % 4 + 1] AS region,
		DATE '2026-03-01' + (range % 15)::INTEGER AS ordered_on, round(10 + (range * 7.3) % 90, 2) AS amount
		FROM range(60)`
	if _, err := db.Exec(fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet)", q, path)); err != nil {
		t.Fatal(err)
	}
	if err := extract.Upsert(src, extract.Table{Name: "orders", Rows: 60, Description: "Shop orders"}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterTable(context.Background(), &store.Table{ID: "orders", Name: "orders", SourceType: "upload", IsPublic: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestQueryConsoleFlow: open the console, insert a table from the schema browser, run with
// Ctrl+Enter, see the grid and the chart, cancel a slow query, save a query and find it
// again after a reload, export CSV, and re-run entries from the history.
func TestQueryConsoleFlow(t *testing.T) {
	dir := seedOrders(t)
	base := startServer(t, map[string]string{"DATA_DIR": dir})
	b := startBrowser(t)
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1360, Height: 1000}, AcceptDownloads: playwright.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	page.OnDialog(func(d playwright.Dialog) { _ = d.Accept() })
	expect := playwright.NewPlaywrightAssertions(15000)

	if _, err := page.Goto(base + "/login?next=/query"); err != nil {
		t.Fatal(err)
	}
	must(t, page.GetByTestId("login-email").Fill(adminEmail))
	must(t, page.GetByTestId("login-password").Fill(adminPassword))
	must(t, page.GetByTestId("login-submit").Click())
	must(t, page.WaitForURL(base+"/query"))
	must(t, expect.Locator(page.GetByTestId("schema-table")).ToHaveCount(1))
	screenshot(t, page, "query-empty")

	// Build a query from the schema browser, then run it with Ctrl+Enter.
	editor := page.GetByTestId("sql-editor")
	must(t, editor.Fill("SELECT region, count(*) AS orders, sum(amount) AS revenue FROM "))
	must(t, page.GetByTestId("schema-table").Click())
	must(t, expect.Locator(editor).ToHaveValue("SELECT region, count(*) AS orders, sum(amount) AS revenue FROM orders"))
	must(t, editor.PressSequentially(" GROUP BY region ORDER BY region"))
	must(t, editor.Press("Control+Enter"))
	must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveText("4 rows"))
	must(t, expect.Locator(page.Locator("[data-testid=result-grid] tbody tr")).ToHaveCount(4))
	must(t, expect.Locator(page.Locator("[data-testid=result-grid] tbody tr").First()).ToContainText("east"))
	must(t, expect.Locator(page.GetByTestId("history-item")).ToHaveCount(1))
	screenshot(t, page, "query-result")

	must(t, page.GetByTestId("tab-chart").Click())
	must(t, expect.Locator(page.GetByTestId("chart")).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("chart-bar")).ToHaveCount(8))
	screenshot(t, page, "query-chart")

	// A line chart over dates.
	must(t, editor.Fill("SELECT ordered_on, sum(amount) AS revenue FROM orders GROUP BY 1 ORDER BY 1"))
	must(t, page.GetByTestId("run-query").Click())
	must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveText("15 rows"))
	must(t, page.GetByTestId("tab-chart").Click())
	must(t, expect.Locator(page.GetByTestId("chart-point")).ToHaveCount(15))
	screenshot(t, page, "query-line-chart")

	// A slow query shows the running state and stops on Cancel.
	must(t, editor.Fill("SELECT count(*) FROM range(10000000000) a, range(10) b"))
	must(t, page.GetByTestId("run-query").Click())
	must(t, expect.Locator(page.GetByTestId("query-running")).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("running-seconds")).Not().ToHaveText("0.0"))
	screenshot(t, page, "query-running")
	must(t, page.GetByTestId("cancel-query").Click())
	must(t, expect.Locator(page.GetByTestId("query-error")).ToContainText("Cancelled after"))
	must(t, expect.Locator(page.GetByTestId("query-running")).ToBeHidden())
	screenshot(t, page, "query-cancelled")

	// An error is shown inline with DuckDB's message.
	must(t, editor.Fill("SELECT nope FROM orders"))
	must(t, editor.Press("Control+Enter"))
	must(t, expect.Locator(page.GetByTestId("query-error")).ToContainText("nope"))

	// Save a query; after a reload it is still in the editor and listed under saved.
	saved := "SELECT region, avg(amount) AS avg_amount FROM orders GROUP BY region"
	must(t, editor.Fill(saved))
	must(t, page.GetByTestId("save-open").Click())
	must(t, page.GetByTestId("save-name").Fill("Average by region"))
	must(t, page.GetByTestId("save-shared").Check())
	must(t, page.GetByTestId("save-submit").Click())
	must(t, expect.Locator(page.GetByTestId("saved-name")).ToHaveText("Average by region"))
	must(t, expect.Locator(page.GetByTestId("saved-shared")).ToBeVisible())
	if _, err := page.Reload(); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("sql-editor")).ToHaveValue(saved))
	must(t, expect.Locator(page.GetByTestId("saved-name")).ToHaveText("Average by region"))
	must(t, expect.Locator(page.GetByTestId("history-item")).ToHaveCount(4))
	screenshot(t, page, "query-saved")

	// Export the current query as CSV.
	dl, err := page.ExpectDownload(func() error { return page.GetByTestId("export-csv").Click() })
	if err != nil {
		t.Fatal(err)
	}
	if name := dl.SuggestedFilename(); !strings.HasPrefix(name, "query-") || !strings.HasSuffix(name, ".csv") {
		t.Errorf("download name %q", name)
	}
	p, err := dl.Path()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 5 || lines[0] != "region,avg_amount" {
		t.Errorf("exported CSV = %q", data)
	}

	// History re-runs: the "Run again" button of an earlier entry puts its SQL back in the
	// editor, runs it and refreshes the grid; the re-run becomes the newest history entry.
	lineSQL := "SELECT ordered_on, sum(amount) AS revenue FROM orders GROUP BY 1 ORDER BY 1"
	must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveCount(0))
	entry := page.GetByTestId("history-item").Filter(playwright.LocatorFilterOptions{HasText: "ordered_on"}).First()
	must(t, entry.Hover())
	must(t, entry.GetByTestId("history-rerun").Click())
	must(t, expect.Locator(page.GetByTestId("sql-editor")).ToHaveValue(lineSQL))
	must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveText("15 rows"))
	must(t, expect.Locator(page.Locator("[data-testid=result-grid] tbody tr")).ToHaveCount(15))
	must(t, expect.Locator(page.Locator("[data-testid=result-grid] thead")).ToContainText("revenue"))
	// 4 runs and now the re-run; the export is a download, not a run.
	must(t, expect.Locator(page.GetByTestId("history-item")).ToHaveCount(5))
	must(t, expect.Locator(page.GetByTestId("history-item").First()).ToContainText("ordered_on"))
	screenshot(t, page, "query-history-rerun")

	// A second re-run, of a different entry, replaces the grid again.
	entry = page.GetByTestId("history-item").Filter(playwright.LocatorFilterOptions{HasText: "GROUP BY region ORDER BY region"}).First()
	must(t, entry.Hover())
	must(t, entry.GetByTestId("history-rerun").Click())
	must(t, expect.Locator(page.GetByTestId("row-count")).ToHaveText("4 rows"))
	must(t, expect.Locator(page.Locator("[data-testid=result-grid] tbody tr")).ToHaveCount(4))
	must(t, expect.Locator(page.Locator("[data-testid=result-grid] tbody tr").First()).ToContainText("east"))
	must(t, expect.Locator(page.GetByTestId("history-item")).ToHaveCount(6))

	// Small screens: the schema browser collapses above the editor.
	must(t, page.SetViewportSize(390, 844))
	if _, err := page.Goto(base + "/query?table=orders"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("sql-editor")).ToHaveValue("SELECT * FROM orders LIMIT 100"))
	must(t, expect.Locator(page.GetByTestId("schema-search")).ToBeHidden())
	screenshot(t, page, "query-mobile")
}
