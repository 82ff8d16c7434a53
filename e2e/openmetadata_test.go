package e2e

import (
	"net/http"
	"testing"

	"github.com/mxschmitt/playwright-go"

	"da/engine/openmetadata/omtest"
)

// TestCatalogShowsOpenMetadata: with OPENMETADATA_URL and _TOKEN pointing at a fake
// OpenMetadata, an admin refreshes the enrichment and the table's catalog page shows the
// description from OpenMetadata with a link to its page there.
func TestCatalogShowsOpenMetadata(t *testing.T) {
	fake := omtest.New("om-e2e-token")
	defer fake.Close()
	fake.AddTable(omtest.OrdersTable("bigquery.orders_om", "<p>Every order placed in the <b>web shop</b>.</p>"))
	base := startServer(t, map[string]string{"OPENMETADATA_URL": fake.URL, "OPENMETADATA_TOKEN": "om-e2e-token"})
	b := startBrowser(t)
	tok := apiToken(t, base, adminEmail, adminPassword)
	orders, _ := catalogCSV()
	uploadCSV(t, base, tok, "orders_om", orders, true)
	if code, body := apiCall(t, http.MethodPost, base+"/api/admin/openmetadata/refresh", tok, map[string]any{"tables": []string{"orders_om"}}); code != 200 || body["refreshed"] != float64(1) {
		t.Fatalf("refresh = %d %v", code, body)
	}

	page := signIn(t, b, base, adminEmail, adminPassword)
	expect := playwright.NewPlaywrightAssertions(15000)
	if _, err := page.Goto(base + "/catalog/orders_om"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("openmetadata-description")).ToHaveText("Every order placed in the web shop."))
	must(t, expect.Locator(page.GetByTestId("openmetadata-link")).ToHaveAttribute("href", fake.URL+"/table/bigquery.orders_om"))
	must(t, expect.Locator(page.GetByTestId("openmetadata-tier")).ToHaveText("Tier1"))
	screenshot(t, page, "catalog-openmetadata")

	// The description changes in OpenMetadata; the admin's button fetches it again.
	fake.AddTable(omtest.OrdersTable("bigquery.orders_om", "Orders of the web shop, cancelled ones included."))
	must(t, page.GetByTestId("openmetadata-refresh").Click())
	must(t, expect.Locator(page.GetByTestId("openmetadata-note")).ToHaveText("Refreshed from OpenMetadata."))
	must(t, expect.Locator(page.GetByTestId("openmetadata-description")).ToHaveText("Orders of the web shop, cancelled ones included."))
}
