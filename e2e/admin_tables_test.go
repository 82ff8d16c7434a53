package e2e

import (
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// TestAdminTablesFlow: an admin discovers a table of a source, registers it with a schedule,
// presses Sync now, watches the progress reach done, and finds the table in the catalog.
func TestAdminTablesFlow(t *testing.T) {
	base := startServer(t, nil)
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
	must(t, expect.Locator(page.GetByTestId("table-form")).ToBeVisible())
	screenshot(t, page, "admin-tables-empty")

	// Discover: the demo source offers orders, not registered yet.
	must(t, page.GetByTestId("discover").Click())
	row := page.GetByTestId("discovered-demo-orders")
	must(t, expect.Locator(row).ToBeVisible())
	screenshot(t, page, "admin-tables-discovered")
	must(t, row.GetByTestId("register-discovered").Click())

	// The register form arrives pre-filled; an invalid schedule is refused inline first.
	must(t, expect.Locator(page.GetByTestId("form-name")).ToHaveValue("orders"))
	must(t, page.GetByTestId("form-schedule").Fill("every tuesday"))
	must(t, page.GetByTestId("form-submit").Click())
	must(t, expect.Locator(page.GetByTestId("field-error-sync_schedule")).ToBeVisible())
	// The address is the page's, not the form's action.
	must(t, expect.Page(page).ToHaveURL(base+"/admin/tables"))
	screenshot(t, page, "admin-tables-invalid-schedule")
	must(t, page.GetByTestId("form-schedule").Fill("@every 1h"))
	must(t, page.GetByTestId("form-submit").Click())
	reg := page.GetByTestId("registry-row-orders")
	must(t, expect.Locator(reg).ToBeVisible())
	must(t, expect.Locator(reg.GetByTestId("registry-schedule")).ToContainText("@every 1h"))
	must(t, expect.Locator(reg.GetByTestId("registry-last-sync")).ToContainText("never"))
	// Discover sits above the list; a row's actions sit side by side in one line.
	disc, err := page.GetByTestId("discover-panel").BoundingBox()
	must(t, err)
	list, err := page.GetByTestId("registered-tables").BoundingBox()
	must(t, err)
	if disc.Y > list.Y {
		t.Errorf("Discover (y=%.0f) is below the registered tables (y=%.0f)", disc.Y, list.Y)
	}
	syncBox, err := reg.GetByTestId("sync-now").BoundingBox()
	must(t, err)
	editBox, err := reg.GetByTestId("edit-table").BoundingBox()
	must(t, err)
	if syncBox.Y != editBox.Y {
		t.Errorf("row actions are stacked: Sync now at y=%.0f, Edit at y=%.0f", syncBox.Y, editBox.Y)
	}

	// Sync now: the progress fragment polls until the table is done.
	must(t, reg.GetByTestId("sync-now").Click())
	job := page.GetByTestId("sync-job")
	must(t, expect.Locator(job).ToBeVisible())
	screenshot(t, page, "admin-tables-sync-running")
	must(t, expect.Locator(job).ToHaveAttribute("data-status", "done", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(60000)}))
	must(t, expect.Locator(page.GetByTestId("sync-table-orders")).ToHaveAttribute("data-state", "done"))
	// The list refreshes itself when the job ends.
	must(t, expect.Locator(page.GetByTestId("registry-row-orders").GetByTestId("registry-last-sync")).ToContainText("Done"))
	screenshot(t, page, "admin-tables-sync-done")

	// The catalog lists it.
	if _, err := page.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.Locator(`[data-testid="catalog-row"][data-table="orders"]`)).ToBeVisible())
	screenshot(t, page, "admin-tables-catalog")
}
