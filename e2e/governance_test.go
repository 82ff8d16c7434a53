package e2e

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// signIn opens the login page in a fresh context and signs in.
func signIn(t *testing.T, b playwright.Browser, base, email, password string) playwright.Page {
	t.Helper()
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})
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
	must(t, page.GetByTestId("login-email").Fill(email))
	must(t, page.GetByTestId("login-password").Fill(password))
	must(t, page.GetByTestId("login-submit").Click())
	must(t, page.WaitForURL("**/dashboard"))
	return page
}

// apiCall sends a JSON request with a bearer token and decodes the JSON answer.
func apiCall(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestGovernanceFlows: (a) invite without password → set-up link → new user signs in;
// (c) personal token created in settings works and stops working once revoked; every
// governance page is captured; (b) access request and approval, last (it needs uploads).
func TestGovernanceFlows(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	expect := playwright.NewPlaywrightAssertions(10000)
	admin := signIn(t, b, base, adminEmail, adminPassword)

	// (a) Invite without a password and copy the set-up link.
	if _, err := admin.Goto(base + "/admin/users"); err != nil {
		t.Fatal(err)
	}
	screenshot(t, admin, "admin-users")
	must(t, admin.GetByTestId("invite-email").Fill("ana@example.com"))
	must(t, admin.GetByTestId("invite-name").Fill("Ana Lyst"))
	_, err := admin.GetByTestId("invite-role").SelectOption(playwright.SelectOptionValues{Values: &[]string{"analyst"}})
	must(t, err)
	must(t, admin.GetByTestId("invite-submit").Click())
	must(t, expect.Locator(admin.GetByTestId("invite-result")).ToBeVisible())
	must(t, expect.Locator(admin.GetByTestId("user-row-ana@example.com")).ToBeVisible())
	must(t, admin.GetByTestId("invite-copy").Click())
	link, err := admin.GetByTestId("invite-copy").GetAttribute("data-copy")
	must(t, err)
	if !strings.Contains(link, "/password/setup?token=") {
		t.Fatalf("set-up link = %q", link)
	}
	screenshot(t, admin, "admin-users-invited")

	// One's own row offers no role change, deactivation or deletion.
	own := admin.GetByTestId("user-row-" + adminEmail)
	must(t, expect.Locator(own.GetByTestId("user-role-self")).ToBeVisible())
	must(t, expect.Locator(own.GetByTestId("user-deactivate")).ToHaveCount(0))
	must(t, expect.Locator(own.GetByTestId("user-delete")).ToHaveCount(0))
	must(t, expect.Locator(own.GetByTestId("user-role-select")).ToHaveCount(0))

	fresh, err := b.NewContext()
	must(t, err)
	np, err := fresh.NewPage()
	must(t, err)
	if _, err := np.Goto(strings.Replace(link, "http://localhost:8000", base, 1)); err != nil {
		t.Fatal(err)
	}
	must(t, np.GetByTestId("password-new").Fill("ana-password-1"))
	must(t, np.GetByTestId("password-confirm").Fill("ana-password-1"))
	must(t, np.GetByTestId("password-submit").Click())
	_ = fresh.Close()
	ana := signIn(t, b, base, "ana@example.com", "ana-password-1")
	must(t, expect.Locator(ana.GetByTestId("user-email")).ToContainText("ana@example.com"))

	// (c) A personal token from settings, used and revoked.
	if _, err := ana.Goto(base + "/settings"); err != nil {
		t.Fatal(err)
	}
	must(t, ana.GetByTestId("token-name").Fill("e2e cli"))
	must(t, ana.GetByTestId("token-submit").Click())
	must(t, expect.Locator(ana.GetByTestId("new-token")).ToBeVisible())
	must(t, ana.GetByTestId("new-token-copy").Click())
	tok, err := ana.GetByTestId("new-token-copy").GetAttribute("data-copy")
	must(t, err)
	screenshot(t, ana, "settings-token-created")
	if code, me := apiCall(t, "GET", base+"/api/me", tok, nil); code != 200 || me["email"] != "ana@example.com" {
		t.Fatalf("token on /api/me: %d %v", code, me)
	}
	must(t, ana.GetByTestId("token-revoke").Click())
	must(t, ana.Locator("[data-testid^=revoke-token-][data-testid$=-confirm]").Click())
	must(t, expect.Locator(ana.GetByTestId("tokens-empty")).ToBeVisible())
	if code, _ := apiCall(t, "GET", base+"/api/me", tok, nil); code != 401 {
		t.Fatalf("revoked token on /api/me: %d, want 401", code)
	}
	screenshot(t, ana, "settings")

	for _, p := range []struct{ path, name string }{
		{"/admin/permissions?view=user", "admin-permissions-user"},
		{"/admin/permissions?view=table", "admin-permissions-table"},
		{"/activity-center", "activity-admin"},
		{"/activity-center?tab=sync", "activity-sync"},
		{"/access-requests", "access-requests-admin"},
	} {
		if _, err := admin.Goto(base + p.path); err != nil {
			t.Fatal(err)
		}
		screenshot(t, admin, p.name)
	}
	if _, err := ana.Goto(base + "/activity-center"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(ana.GetByTestId("activity-scope")).ToBeVisible())
	screenshot(t, ana, "activity-analyst")

	// (b) Needs POST /api/upload/table for a private table; a subtest, so that its skip
	// while uploads are unfinished does not hide the flows above.
	t.Run("access request", func(t *testing.T) {
		code, tk := apiCall(t, "POST", base+"/auth/token", "", map[string]string{"email": adminEmail, "password": adminPassword})
		if code != 200 {
			t.Fatalf("admin token: %d", code)
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "secret_sales.csv")
		_, _ = fw.Write([]byte("id,amount\n1,10\n2,20\n"))
		_ = mw.WriteField("name", "secret_sales")
		_ = mw.WriteField("public", "false")
		_ = mw.Close()
		req, _ := http.NewRequest("POST", base+"/api/upload/table", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+tk["access_token"].(string))
		res, err := http.DefaultClient.Do(req)
		must(t, err)
		var up map[string]any
		_ = json.NewDecoder(res.Body).Decode(&up)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed {
			t.Skipf("POST /api/upload/table is not available yet (%d): flow (b) skipped", res.StatusCode)
		}
		if res.StatusCode >= 300 {
			t.Fatalf("upload: %d %v", res.StatusCode, up)
		}
		tableID, _ := up["table_id"].(string)
		if tableID == "" {
			tableID, _ = up["id"].(string)
		}
		// The analyst finds the locked table in the catalog and asks for it from there.
		if _, err := ana.Goto(base + "/catalog"); err != nil {
			t.Fatal(err)
		}
		row := ana.Locator(`[data-testid=catalog-row][data-table="` + tableID + `"]`)
		must(t, expect.Locator(row).ToHaveAttribute("data-locked", "true"))
		must(t, row.GetByTestId("action-request-access").Click())
		must(t, expect.Locator(ana.GetByTestId("request-reason")).ToBeVisible())
		must(t, ana.GetByTestId("request-reason").Fill("Quarterly numbers"))
		screenshot(t, ana, "catalog-request-dialog")
		must(t, ana.GetByTestId("request-submit").Click())
		must(t, expect.Locator(ana.GetByTestId("request-dialog-done")).ToBeVisible())
		if _, err := ana.Goto(base + "/access-requests"); err != nil {
			t.Fatal(err)
		}
		must(t, expect.Locator(ana.GetByTestId("my-request-"+tableID).GetByTestId("request-status")).ToContainText("pending"))
		screenshot(t, ana, "access-requests-analyst")
		if _, err := admin.Goto(base + "/access-requests"); err != nil {
			t.Fatal(err)
		}
		must(t, admin.GetByTestId("review-row-"+tableID).GetByTestId("review-approve").Click())
		must(t, expect.Locator(admin.GetByTestId("review-message")).ToContainText("can now read"))
		screenshot(t, admin, "access-requests-approved")
		if _, err := ana.Reload(); err != nil {
			t.Fatal(err)
		}
		must(t, expect.Locator(ana.GetByTestId("my-request-"+tableID).GetByTestId("request-status")).ToContainText("approved"))

		// Approval takes effect at once: the analyst queries the table in the console.
		if _, err := ana.Goto(base + "/query?table=" + tableID); err != nil {
			t.Fatal(err)
		}
		must(t, ana.GetByTestId("sql-editor").Press("Control+Enter"))
		must(t, expect.Locator(ana.GetByTestId("row-count")).ToHaveText("2 rows"))
		screenshot(t, ana, "access-approved-query")
	})
}
