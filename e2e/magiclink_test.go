package e2e

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/mxschmitt/playwright-go"

	"da/auth/mailtest"
)

// TestMagicLinkSignIn: ask for a sign-in link on the login page, read the e-mail from an
// in-process SMTP server, open the link (which only shows a confirm button), confirm, and
// land on the dashboard signed in.
func TestMagicLinkSignIn(t *testing.T) {
	ms := mailtest.Start(t, mailtest.Options{})
	base := startServer(t, map[string]string{
		"SMTP_HOST": ms.Host, "SMTP_PORT": strconv.Itoa(ms.Port), "SMTP_USE_TLS": "false",
		"SMTP_FROM": "Data Platform <noreply@example.com>",
	})
	b := startBrowser(t)
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 860}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	expect := playwright.NewPlaywrightAssertions(10000)

	if _, err := page.Goto(base + "/login"); err != nil {
		t.Fatal(err)
	}
	must(t, page.GetByText("Email me a sign-in link").Click())
	must(t, page.GetByTestId("login-magic-email").Fill(adminEmail))
	screenshot(t, page, "magic-link-request")
	must(t, page.GetByTestId("login-magic-submit").Click())
	must(t, expect.Locator(page.GetByTestId("magic-sent")).ToBeVisible())
	screenshot(t, page, "magic-link-sent")

	mail := ms.Wait(t, 15*time.Second)
	link := mail.Link("/auth/email/verify")
	if link == "" {
		t.Fatalf("no link in the e-mail: %s", mail.Data)
	}
	// SERVER_URL is the default in this test; open the same path on the test server.
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := page.Goto(base + u.RequestURI()); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("magic-confirm-email")).ToHaveText(adminEmail))
	screenshot(t, page, "magic-link-confirm")

	// Opening the link did not sign in.
	page2, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := page2.Goto(base + "/dashboard"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Page(page2).ToHaveURL(base+"/login?next=%2Fdashboard"))
	must(t, page2.Close())

	must(t, page.GetByTestId("magic-confirm-submit").Click())
	must(t, page.WaitForURL(base+"/dashboard"))
	must(t, expect.Locator(page.GetByTestId("dashboard-role")).ToContainText("Administrator"))
	screenshot(t, page, "magic-link-dashboard")

	// The link works once.
	if _, err := page.Goto(base + u.RequestURI()); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("magic-error")).ToContainText("already used"))
}
