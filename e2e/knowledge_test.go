package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxschmitt/playwright-go"

	"da/cli"
	"da/llm/llmfake"
)

// TestKnowledgeCollectionFlow: an analyst uploads notes with `da push`, an admin presses
// Collect now against the fake LLM, sees the pending item with its source excerpt, approves
// it, and after `da sync` the item is in the analyst's workspace bundle.
func TestKnowledgeCollectionFlow(t *testing.T) {
	fake := llmfake.New(llmfake.Anthropic)
	fake.Respond = llmfake.Curator
	t.Cleanup(fake.Close)
	base := startServer(t, map[string]string{"LLM_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "e2e-key", "ANTHROPIC_BASE_URL": fake.URL})
	b := startBrowser(t)
	expect := playwright.NewPlaywrightAssertions(15000)
	createAnalyst(t, base, apiToken(t, base, adminEmail, adminPassword), "ana@example.com", "ana-password-1")

	// The analyst's workspace: notes, pushed with the CLI.
	root := t.TempDir()
	work := filepath.Join(root, "work")
	must(t, os.MkdirAll(work, 0o755))
	must(t, os.WriteFile(filepath.Join(work, "CLAUDE.local.md"),
		[]byte("# My notes\nTIP: Refunds live in payments — join payments on order_id to net out refunds\n"), 0o644))
	t.Setenv("DA_SERVER", base)
	t.Setenv("DA_CONFIG_DIR", filepath.Join(root, "config"))
	t.Setenv("DA_LOCAL_DIR", work)
	da := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := cli.Run(args, "e2e", &out, &errb); code != 0 {
			t.Fatalf("da %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		return out.String()
	}
	da("auth", "login", "--email", "ana@example.com", "--password", "ana-password-1")
	if out := da("push"); !strings.Contains(out, "Uploaded CLAUDE.local.md") {
		t.Fatalf("push: %s", out)
	}

	admin := signIn(t, b, base, adminEmail, adminPassword)
	if _, err := admin.Goto(base + "/corporate-memory/admin?tab=collect"); err != nil {
		t.Fatal(err)
	}
	must(t, admin.GetByTestId("km-collect-now").Click())
	must(t, expect.Locator(admin.GetByTestId("km-run").First()).ToHaveAttribute("data-status", "done"))
	must(t, expect.Locator(admin.GetByTestId("km-run-proposed").First()).ToHaveText("1"))
	screenshot(t, admin, "memory-collection-history")

	must(t, admin.GetByTestId("km-tab-pending").Click())
	row := admin.Locator(`[data-testid=km-row]:has-text("Refunds live in payments")`)
	must(t, expect.Locator(row).ToHaveCount(1))
	must(t, row.GetByTestId("km-sources").Locator("summary").Click())
	must(t, expect.Locator(row.GetByTestId("km-source-excerpt")).ToContainText("join payments on order_id"))
	must(t, expect.Locator(row.GetByTestId("km-source")).ToContainText("ana@example.com"))
	screenshot(t, admin, "memory-collected-pending")
	must(t, row.GetByTestId("km-approve").Click())
	must(t, expect.Locator(row).ToHaveAttribute("data-status", "approved"))

	da("sync")
	bundle, err := os.ReadFile(filepath.Join(work, ".claude", "rules", "corporate-memory.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bundle), "### Refunds live in payments") || !strings.Contains(string(bundle), "/corporate-memory?item=km_") {
		t.Fatalf("bundle:\n%s", bundle)
	}
}
