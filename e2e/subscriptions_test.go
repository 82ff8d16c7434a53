package e2e

import (
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// TestSubscriptionsAndRoles: an analyst switches on Sync for one table in the catalog and
// every note says da sync now takes only it; a viewer sees what the role allows instead of
// the agent card and no da sync hints; a 403 for an admin page offers no access request.
func TestSubscriptionsAndRoles(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	tok := apiToken(t, base, adminEmail, adminPassword)
	orders, pay := catalogCSV()
	uploadCSV(t, base, tok, "orders_e2e", orders, true)
	uploadCSV(t, base, tok, "pay_e2e", pay, true)
	createAnalyst(t, base, tok, "ana@example.com", "analyst-password-1")
	if code, _ := apiCall(t, "POST", base+"/api/users", tok, map[string]string{"email": "vic@example.com", "name": "Vic Viewer",
		"role": "viewer", "password": "viewer-password-1"}); code != 201 {
		t.Fatalf("create viewer: %d", code)
	}
	expect := playwright.NewPlaywrightAssertions(15000)

	ana := signIn(t, b, base, "ana@example.com", "analyst-password-1")
	must(t, expect.Locator(ana.GetByTestId("agent-card")).ToBeVisible())
	if _, err := ana.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	note := ana.GetByTestId("sync-mode-note")
	must(t, expect.Locator(note).ToContainText("downloads every table you can read"))
	must(t, ana.Locator(`[data-testid="catalog-row"][data-table="orders_e2e"] [data-testid="subscription-toggle"] button`).Click())
	must(t, expect.Locator(ana.Locator(`[data-testid="catalog-row"][data-table="orders_e2e"] [data-testid="subscription-toggle"]`)).ToHaveAttribute("data-on", "true"))
	must(t, expect.Locator(note).ToContainText("downloads only the 1 table you subscribe to"))
	screenshot(t, ana, "catalog-subscribed-analyst")
	anaTok := apiToken(t, base, "ana@example.com", "analyst-password-1")
	if code, m := apiCall(t, "GET", base+"/api/sync/settings", anaTok, nil); code != 200 || len(m["enabled_datasets"].([]any)) != 1 {
		t.Fatalf("sync settings after the click: %d %v", code, m)
	}
	if _, err := ana.Goto(base + "/catalog/orders_e2e"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(ana.GetByTestId("sync-command")).ToBeVisible())
	must(t, expect.Locator(ana.GetByTestId("sync-mode-note")).ToContainText("only the 1 table"))
	screenshot(t, ana, "catalog-table-analyst")
	if _, err := ana.Goto(base + "/dashboard"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(ana.GetByTestId("sync-mode-note")).ToContainText("only the 1 table"))
	screenshot(t, ana, "dashboard-analyst")
	if _, err := ana.Goto(base + "/admin/users"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(ana.GetByTestId("error-message")).ToContainText("Ask an admin"))
	must(t, expect.Locator(ana.GetByTestId("error-request-access")).ToHaveCount(0))
	screenshot(t, ana, "forbidden-admin-page-analyst")

	vic := signIn(t, b, base, "vic@example.com", "viewer-password-1")
	must(t, expect.Locator(vic.GetByTestId("role-card")).ToContainText("need the analyst role"))
	must(t, expect.Locator(vic.GetByTestId("agent-card")).ToHaveCount(0))
	must(t, expect.Locator(vic.GetByTestId("subscription-toggle")).ToHaveCount(0))
	screenshot(t, vic, "dashboard-viewer")
	if _, err := vic.Goto(base + "/catalog/orders_e2e"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(vic.GetByTestId("sync-command")).ToHaveCount(0))
	must(t, expect.Locator(vic.GetByTestId("role-download-hint")).ToBeVisible())
	screenshot(t, vic, "catalog-table-viewer")
}
