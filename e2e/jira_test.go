package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/mxschmitt/playwright-go"

	"da/engine/connectors/jira/jiratest"
)

// TestJiraAdminFlow: the admin tables page shows the Jira connector's status; a consistency
// check reports the issues Jira has and we lack, with its alert level; the Backfill button's
// progress reaches done, and the issues table is then in the catalog.
func TestJiraAdminFlow(t *testing.T) {
	fake := jiratest.New()
	defer fake.Close()
	created := time.Now().UTC().AddDate(0, 0, -2).Format("2006-01-02T15:04:05.000-0700")
	for i := 1; i <= 15; i++ {
		fake.Put(jiratest.NewIssue(fmt.Sprintf("SUP-%d", i), 100+i, created, created))
	}
	base := startServer(t, map[string]string{"JIRA_DOMAIN": "acme.atlassian.net", "JIRA_BASE_URL": fake.URL,
		"JIRA_EMAIL": jiratest.Email, "JIRA_API_TOKEN": jiratest.Token, "JIRA_WEBHOOK_SECRET": "e2e-secret", "JIRA_PROJECT": "SUP"})
	b := startBrowser(t)
	page, err := b.NewPage(playwright.BrowserNewPageOptions{Viewport: &playwright.Size{Width: 1400, Height: 900}})
	if err != nil {
		t.Fatal(err)
	}
	expect := playwright.NewPlaywrightAssertions(30000)
	signInAsAdmin(t, page, base)
	if _, err := page.Goto(base + "/admin/tables"); err != nil {
		t.Fatal(err)
	}
	panel := page.GetByTestId("jira-panel")
	must(t, expect.Locator(panel.GetByTestId("jira-status")).ToContainText("Receiving"))
	must(t, expect.Locator(panel.GetByTestId("jira-domain")).ToHaveText("acme.atlassian.net"))

	// 15 missing: more than the check loads by itself, so it asks for a backfill.
	must(t, panel.GetByTestId("jira-check").Click())
	must(t, expect.Locator(page.GetByTestId("jira-alert-level")).ToHaveText("ERROR"))
	must(t, expect.Locator(page.GetByTestId("jira-report-counts")).ToContainText("Jira 15, stored 0"))
	screenshot(t, page, "jira-consistency-report")

	must(t, page.GetByTestId("jira-backfill").Click())
	progress := page.GetByTestId("jira-backfill-progress")
	must(t, expect.Locator(progress).ToHaveAttribute("data-state", "done"))
	must(t, expect.Locator(progress).ToContainText("15 loaded"))
	screenshot(t, page, "jira-backfill-done")

	// The six tables registered themselves; issues is in the catalog.
	if _, err := page.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	must(t, page.GetByTestId("catalog-search").Fill("issues"))
	must(t, expect.Locator(page.GetByTestId("catalog-row").Filter(playwright.LocatorFilterOptions{HasText: "issues"}).First()).ToBeVisible())
	screenshot(t, page, "jira-catalog")
}
