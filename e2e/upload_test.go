package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// signInAsAdmin opens the login page and signs in as the seeded admin.
func signInAsAdmin(t *testing.T, page playwright.Page, base string) {
	t.Helper()
	if _, err := page.Goto(base + "/login"); err != nil {
		t.Fatal(err)
	}
	must(t, page.GetByTestId("login-email").Fill(adminEmail))
	must(t, page.GetByTestId("login-password").Fill(adminPassword))
	must(t, page.GetByTestId("login-submit").Click())
	must(t, page.WaitForURL(base+"/dashboard"))
}

// TestUploadFlow: drop a CSV on the upload page, see its type and a preview, watch the
// progress, and get the published table with its column profile.
func TestUploadFlow(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := ctx.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	expect := playwright.NewPlaywrightAssertions(15000)
	signInAsAdmin(t, page, base)
	must(t, page.GetByTestId("nav-upload").Click())
	must(t, page.WaitForURL(base+"/upload"))
	screenshot(t, page, "upload-empty")

	// Record the progress events htmx reports while the file goes up.
	if _, err := page.Evaluate(`() => { window.__progress = []; document.addEventListener("htmx:xhr:progress", e => window.__progress.push([e.detail.loaded, e.detail.total])); }`); err != nil {
		t.Fatal(err)
	}
	// Drop a generated CSV onto the drop zone, as a person dragging it from their desktop.
	var csv strings.Builder
	csv.WriteString("order_id,region,amount,ordered_on,express\n")
	regions := []string{"north", "south", "east", "west"}
	for i := 1; i <= 20000; i++ {
		csv.WriteString(strings.Join([]string{strconv.Itoa(i), regions[i%4], strconv.Itoa(i%500) + ".25", "2026-0" + strconv.Itoa(1+i%9) + "-1" + strconv.Itoa(i%9), map[bool]string{true: "true", false: "false"}[i%3 == 0]}, ","))
		csv.WriteString("\n")
	}
	if _, err := page.Evaluate(`(text) => {
		const dt = new DataTransfer();
		dt.items.add(new File([text], "Regional Sales 2026.csv", { type: "text/csv" }));
		const zone = document.querySelector("[data-dropzone]");
		zone.dispatchEvent(new DragEvent("dragenter", { dataTransfer: dt, bubbles: true }));
		zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true }));
	}`, csv.String()); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(page.GetByTestId("upload-chosen")).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("upload-kind")).ToHaveText("CSV"))
	must(t, expect.Locator(page.GetByTestId("upload-name")).ToHaveValue("regional_sales_2026"))
	must(t, expect.Locator(page.GetByTestId("upload-preview-type")).ToHaveCount(5))
	must(t, expect.Locator(page.GetByTestId("upload-preview-types")).ToHaveText("integertextdecimaldateboolean"))
	must(t, expect.Locator(page.GetByTestId("upload-submit")).ToBeEnabled())
	must(t, page.GetByTestId("upload-description").Fill("Orders by region, uploaded in the browser test"))
	screenshot(t, page, "upload-chosen")

	must(t, page.GetByTestId("upload-submit").Click())
	must(t, expect.Locator(page.GetByTestId("upload-result")).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("upload-result-table")).ToHaveText("regional_sales_2026"))
	must(t, expect.Locator(page.GetByTestId("upload-result-rows")).ToHaveText("20,000"))
	must(t, expect.Locator(page.GetByTestId("upload-column")).ToHaveCount(5))
	must(t, expect.Locator(page.GetByTestId("upload-column-profile").First()).Not().ToBeEmpty())
	progress, err := page.Evaluate(`() => window.__progress`)
	if err != nil {
		t.Fatal(err)
	}
	if events, ok := progress.([]any); !ok || len(events) == 0 {
		t.Errorf("no upload progress was reported: %v", progress)
	}
	screenshot(t, page, "upload-result")

	// A bad file shows an inline error and keeps the form.
	must(t, page.GetByTestId("upload-another").Click())
	must(t, page.WaitForURL(base+"/upload"))
	// Files the client already knows are unusable keep Upload disabled, with the reason.
	for name, content := range map[string]string{"empty.csv": "", "header.csv": "a,b\n", "notes.docx": "hello"} {
		if _, err := page.Evaluate(`([name, content]) => {
			const dt = new DataTransfer();
			dt.items.add(new File([content], name));
			document.querySelector("[data-dropzone]").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true }));
		}`, []string{name, content}); err != nil {
			t.Fatal(err)
		}
		must(t, expect.Locator(page.GetByTestId("upload-warning")).ToBeVisible())
		must(t, expect.Locator(page.GetByTestId("upload-submit")).ToBeDisabled())
		if name == "header.csv" {
			must(t, expect.Locator(page.GetByTestId("upload-warning")).ToContainText("no rows"))
			screenshot(t, page, "upload-header-only-admin")
		}
	}
	if _, err := page.Evaluate(`() => {
		const dt = new DataTransfer();
		dt.items.add(new File(["a,b\n1,2\n3,4,5\n"], "broken.csv", { type: "text/csv" }));
		document.querySelector("[data-dropzone]").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true }));
	}`); err != nil {
		t.Fatal(err)
	}
	must(t, page.GetByTestId("upload-submit").Click())
	must(t, expect.Locator(page.GetByTestId("upload-error")).ToBeVisible())
	must(t, expect.Locator(page.GetByTestId("upload-name")).ToHaveValue("broken"))
	screenshot(t, page, "upload-error")
}
