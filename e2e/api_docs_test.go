package e2e

import (
	"strings"
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// TestAPIDocsPage opens the API reference: Swagger UI, served from the binary, draws
// /openapi.json and lists the query endpoint, with no request to another site and no
// script refused by the page's content security policy.
func TestAPIDocsPage(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	page, err := b.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	var foreign, refused []string
	page.OnRequest(func(r playwright.Request) {
		if !strings.HasPrefix(r.URL(), base) && !strings.HasPrefix(r.URL(), "data:") {
			foreign = append(foreign, r.URL())
		}
	})
	page.OnConsole(func(m playwright.ConsoleMessage) {
		if strings.Contains(m.Text(), "Content Security Policy") || m.Type() == "error" {
			refused = append(refused, m.Text())
		}
	})
	if _, err := page.Goto(base + "/docs"); err != nil {
		t.Fatal(err)
	}
	expect := playwright.NewPlaywrightAssertions(15000)
	must(t, expect.Locator(page.Locator(".swagger-ui .info .title")).ToContainText("da API"))
	query := page.Locator(`.opblock-summary-path[data-path="/api/query"]`).First()
	must(t, expect.Locator(query).ToBeVisible())
	must(t, query.Click())
	must(t, expect.Locator(page.Locator(".opblock.is-open").First()).ToContainText("analyst"))
	screenshot(t, page, "api-docs")
	if len(foreign) > 0 {
		t.Errorf("/docs loaded from other sites: %v", foreign)
	}
	if len(refused) > 0 {
		t.Errorf("console errors on /docs: %v", refused)
	}
}
