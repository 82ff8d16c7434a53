package e2e

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// apiToken signs in through POST /auth/token and returns the bearer token.
func apiToken(t *testing.T, base, email, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(base+"/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

// uploadCSV publishes a CSV through POST /api/upload/table.
func uploadCSV(t *testing.T, base, token, name, csv string, public bool) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("name", name)
	_ = w.WriteField("public", strconv.FormatBool(public))
	_ = w.WriteField("description", "E2E table "+name)
	f, _ := w.CreateFormFile("file", name+".csv")
	_, _ = f.Write([]byte(csv))
	_ = w.Close()
	req, _ := http.NewRequest("POST", base+"/api/upload/table", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload %s: %d", name, resp.StatusCode)
	}
}

// createAnalyst adds an analyst with a password through the users API.
func createAnalyst(t *testing.T, base, token, email, password string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "name": "Ana Lyst", "role": "analyst", "password": password})
	req, _ := http.NewRequest("POST", base+"/api/users", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create analyst: %d", resp.StatusCode)
	}
}

func catalogCSV() (orders, pay string) {
	var o strings.Builder
	o.WriteString("order_id,region,amount,ordered_on\n")
	regions := []string{"north", "south", "east", "west"}
	for i := 1; i <= 2000; i++ {
		o.WriteString(strconv.Itoa(i) + "," + regions[i%4] + "," + strconv.Itoa(i%300) + ".5,2025-0" + strconv.Itoa(1+i%9) + "-1" + strconv.Itoa(i%9) + "\n")
	}
	return o.String(), "person,pay\nann,100\nbob,200\n"
}

// TestCatalogFlow: search the catalog, open a table, see its column charts and download it;
// an analyst sees a locked table with its Request access button.
func TestCatalogFlow(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	tok := apiToken(t, base, adminEmail, adminPassword)
	orders, pay := catalogCSV()
	uploadCSV(t, base, tok, "orders_e2e", orders, true)
	uploadCSV(t, base, tok, "secret_pay", pay, false)
	createAnalyst(t, base, tok, "ana@example.com", "analyst-password-1")

	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}, AcceptDownloads: playwright.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	expect := playwright.NewPlaywrightAssertions(15000)
	signInAsAdmin(t, page, base)
	screenshot(t, page, "dashboard-admin")
	if _, err := page.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("catalog-row")).ToHaveCount(2))
	must(t, page.GetByTestId("catalog-search").Fill("orders"))
	must(t, expect.Locator(page.GetByTestId("catalog-row")).ToHaveCount(1))
	must(t, page.WaitForURL("**/catalog?q=orders*"))
	screenshot(t, page, "catalog-search")
	must(t, page.GetByTestId("catalog-open").First().Click())
	must(t, page.WaitForURL(base+"/catalog/orders_e2e"))
	must(t, expect.Locator(page.GetByTestId("column-card")).ToHaveCount(4))
	must(t, expect.Locator(page.Locator(`[data-column="amount"] [data-testid="chart-histogram"] svg`)).ToBeVisible())
	must(t, expect.Locator(page.Locator(`[data-column="region"] [data-testid="chart-top-values"]`)).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("sample-rows")).ToBeVisible())
	screenshot(t, page, "catalog-table")
	dl, err := page.ExpectDownload(func() error { return page.GetByTestId("download-parquet").Click() })
	if err != nil {
		t.Fatal(err)
	}
	if dl.SuggestedFilename() != "orders_e2e.parquet" {
		t.Errorf("download name = %q", dl.SuggestedFilename())
	}
	path, err := dl.Path()
	if err != nil || path == "" {
		t.Fatalf("download: %v", err)
	}

	// An analyst sees the private table locked, with a Request access button.
	ctx2, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ctx2.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Goto(base + "/login"); err != nil {
		t.Fatal(err)
	}
	must(t, p2.GetByTestId("login-email").Fill("ana@example.com"))
	must(t, p2.GetByTestId("login-password").Fill("analyst-password-1"))
	must(t, p2.GetByTestId("login-submit").Click())
	must(t, p2.WaitForURL(base+"/dashboard"))
	screenshot(t, p2, "dashboard-analyst")
	if _, err := p2.Goto(base + "/catalog"); err != nil {
		t.Fatal(err)
	}
	locked := p2.Locator(`[data-table="secret_pay"][data-locked="true"]`)
	must(t, expect.Locator(locked).ToBeVisible())
	must(t, expect.Locator(locked.GetByTestId("action-request-access")).ToBeVisible())
	screenshot(t, p2, "catalog-locked")
	resp, err := p2.Goto(base + "/catalog/secret_pay")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status() != http.StatusForbidden {
		t.Errorf("locked table page: %d", resp.Status())
	}
}
