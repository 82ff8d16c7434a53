package e2e

import (
	"strings"
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// TestLoginFlow: open a protected page, get sent to sign-in, fail once with an inline
// error, sign in, land on the page asked for, sign out.
func TestLoginFlow(t *testing.T) {
	base := startServer(t, nil)
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

	if _, err := page.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.URL(), "/login?next=%2Fcatalog") {
		t.Fatalf("not redirected to login: %s", page.URL())
	}
	screenshot(t, page, "login")

	must(t, page.GetByTestId("login-email").Fill(adminEmail))
	must(t, page.GetByTestId("login-password").Fill("wrong-password"))
	must(t, page.GetByTestId("login-submit").Click())
	must(t, expect.Locator(page.GetByTestId("login-error")).ToContainText("Invalid email or password"))
	must(t, expect.Locator(page.GetByTestId("login-email")).ToHaveValue(adminEmail))
	screenshot(t, page, "login-error")

	must(t, page.GetByTestId("login-password").Fill(adminPassword))
	must(t, page.GetByTestId("login-submit").Click())
	must(t, page.WaitForURL(base+"/catalog"))
	must(t, expect.Locator(page.GetByTestId("catalog-search")).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("nav-admin-users")).ToBeVisible())
	screenshot(t, page, "catalog-signed-in")

	// Signed in, the login page says so and leads on.
	if _, err := page.Goto(base + "/login?next=/catalog"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("login-signed-in-email")).ToHaveText(adminEmail))
	screenshot(t, page, "login-signed-in")
	must(t, page.GetByTestId("login-continue").Click())
	must(t, page.WaitForURL(base+"/catalog"))

	if _, err := page.Goto(base + "/dashboard"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("dashboard-user")).ToContainText("Admin"))
	must(t, expect.Locator(page.GetByTestId("dashboard-role")).ToContainText("Administrator"))
	screenshot(t, page, "dashboard")

	must(t, page.GetByTestId("logout").Click())
	must(t, page.WaitForURL("**/login?signed_out=1"))
	must(t, expect.Locator(page.GetByTestId("login-notice")).ToBeVisible())

	// Signed out means signed out: the protected page sends us back to sign-in.
	if _, err := page.Goto(base + "/dashboard"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.URL(), "/login?next=") {
		t.Fatalf("still signed in after logout: %s", page.URL())
	}
}

// TestMobileLayout checks the dashboard on a phone-sized screen and its menu.
func TestMobileLayout(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 390, Height: 844}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := page.Goto(base + "/login"); err != nil {
		t.Fatal(err)
	}
	must(t, page.GetByTestId("login-email").Fill(adminEmail))
	must(t, page.GetByTestId("login-password").Fill(adminPassword))
	must(t, page.GetByTestId("login-submit").Click())
	must(t, page.WaitForURL(base+"/dashboard"))
	screenshot(t, page, "dashboard-mobile")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
