package e2e

import (
	"testing"
	"time"

	"github.com/mxschmitt/playwright-go"

	"da/engine/connectors/keboola/keboolatest"
)

// TestKeboolaFlow: an admin tests the Keboola connection, browses the buckets, registers two
// tables with schedules, presses Sync all, watches the progress reach done, and sees typed
// columns in the catalog. The Storage API is a fake running inside the test process.
func TestKeboolaFlow(t *testing.T) {
	fake := keboolatest.New("e2e-keboola-token")
	t.Cleanup(fake.Close)
	fake.PollsBeforeDone = 2
	fake.AddTable(keboolatest.Table{ID: "in.c-crm.customers", Description: "CRM customers", PrimaryKey: []string{"id"},
		Columns: []keboolatest.Column{{Name: "id", BaseType: "INTEGER"}, {Name: "name", BaseType: "STRING"}, {Name: "since", BaseType: "DATE"}}})
	fake.AddTable(keboolatest.Table{ID: "in.c-crm.deals", Description: "Deals", PrimaryKey: []string{"id"},
		Columns: []keboolatest.Column{{Name: "id", BaseType: "INTEGER"}, {Name: "value", BaseType: "NUMERIC", Length: "10,2"}, {Name: "won", BaseType: "BOOLEAN"}}})
	fake.AddTable(keboolatest.Table{ID: "out.c-reports.weekly", Columns: []keboolatest.Column{{Name: "week"}, {Name: "total"}}})
	at := time.Now().Add(-time.Hour)
	fake.Upsert("in.c-crm.customers", at, []string{"1", "Ada", "2020-01-02"}, []string{"2", "Bob", "2021-03-04"})
	fake.Upsert("in.c-crm.deals", at, []string{"10", "99.90", "true"}, []string{"11", "5", "false"})

	base := startServer(t, map[string]string{"KEBOOLA_STACK_URL": fake.URL, "KEBOOLA_STORAGE_TOKEN": fake.Token()})
	b := startBrowser(t)
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1400, Height: 900}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	expect := playwright.NewPlaywrightAssertions(15000)
	signInAsAdmin(t, page, base)
	if _, err := page.Goto(base + "/admin/tables"); err != nil {
		t.Fatal(err)
	}
	section := page.GetByTestId("keboola-section")
	must(t, expect.Locator(section).ToBeVisible())

	// Test connection: the status turns to connected with the project's name.
	must(t, section.GetByTestId("keboola-test").Click())
	must(t, expect.Locator(page.GetByTestId("keboola-status")).ToHaveAttribute("data-state", "ok"))
	must(t, expect.Locator(page.GetByTestId("keboola-message")).ToContainText("Fake project"))
	screenshot(t, page, "keboola-connected")

	// Browse: the bucket tree, narrowed by a search.
	must(t, page.GetByTestId("keboola-browse").Click())
	must(t, expect.Locator(page.GetByTestId("keboola-bucket-in.c-crm")).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("keboola-bucket-out.c-reports")).ToBeVisible())
	must(t, page.GetByTestId("keboola-search").Fill("c-crm"))
	must(t, expect.Locator(page.GetByTestId("keboola-bucket-out.c-reports")).ToHaveCount(0))
	must(t, expect.Locator(page.GetByTestId("keboola-table-in.c-crm.deals")).ToContainText("DECIMAL(10,2)"))
	screenshot(t, page, "keboola-browse")

	// Register both CRM tables at once, incremental, every six hours.
	must(t, page.GetByTestId("keboola-select-in.c-crm.customers").Check())
	must(t, page.GetByTestId("keboola-select-in.c-crm.deals").Check())
	_, err = page.GetByTestId("keboola-strategy").SelectOption(playwright.SelectOptionValues{Values: &[]string{"incremental"}})
	must(t, err)
	must(t, page.GetByTestId("keboola-schedule").Fill("@every 6h"))
	must(t, page.GetByTestId("keboola-register").Click())
	for _, id := range []string{"customers", "deals"} {
		row := page.GetByTestId("registry-row-" + id)
		must(t, expect.Locator(row).ToBeVisible())
		must(t, expect.Locator(row.GetByTestId("registry-schedule")).ToContainText("@every 6h"))
	}
	screenshot(t, page, "keboola-registered")

	// Sync all: the progress reaches done for both.
	must(t, page.GetByTestId("sync-all").Click())
	job := page.GetByTestId("sync-job")
	must(t, expect.Locator(job).ToBeVisible())
	must(t, expect.Locator(job).ToHaveAttribute("data-status", "done", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(60000)}))
	must(t, expect.Locator(page.GetByTestId("sync-table-customers")).ToHaveAttribute("data-state", "done"))
	must(t, expect.Locator(page.GetByTestId("sync-table-deals")).ToHaveAttribute("data-state", "done"))
	must(t, expect.Locator(page.GetByTestId("registry-row-deals").GetByTestId("registry-last-figures")).ToContainText("rows changed"))
	screenshot(t, page, "keboola-synced")

	// The catalog shows typed columns.
	if _, err := page.Goto(base + "/catalog/deals"); err != nil {
		t.Fatal(err)
	}
	value := page.Locator(`[data-testid="column-card"][data-column="value"]`)
	must(t, expect.Locator(value).ToBeVisible(playwright.LocatorAssertionsToBeVisibleOptions{Timeout: playwright.Float(60000)}))
	must(t, expect.Locator(value).ToContainText("DECIMAL(10,2)"))
	must(t, expect.Locator(page.Locator(`[data-testid="column-card"][data-column="won"]`)).ToContainText("BOOLEAN"))
	screenshot(t, page, "keboola-catalog-typed")
}
