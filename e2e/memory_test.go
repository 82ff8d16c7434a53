package e2e

import (
	"regexp"
	"testing"

	"github.com/mxschmitt/playwright-go"
)

// TestMemoryFlow: an analyst contributes two items (pending), an admin approves one and
// rejects the other with a reason on the admin page, the analyst finds the published one,
// upvotes it and withdraws the vote, and sees why the other was rejected.
func TestMemoryFlow(t *testing.T) {
	base := startServer(t, nil)
	b := startBrowser(t)
	expect := playwright.NewPlaywrightAssertions(10000)
	createAnalyst(t, base, apiToken(t, base, adminEmail, adminPassword), "ana@example.com", "ana-password-1")
	ana := signIn(t, b, base, "ana@example.com", "ana-password-1")

	// The empty page invites a contribution.
	if _, err := ana.Goto(base + "/corporate-memory"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(ana.GetByTestId("memory-empty-contribute")).ToBeVisible())
	screenshot(t, ana, "memory-empty")

	contribute := func(title, category, tags, content string) {
		t.Helper()
		must(t, ana.GetByTestId("contribute-title").Fill(title))
		must(t, ana.GetByTestId("contribute-category").Fill(category))
		must(t, ana.GetByTestId("contribute-tags").Fill(tags))
		must(t, ana.GetByTestId("contribute-content").Fill(content))
		must(t, ana.GetByTestId("memory-submit").Click())
		must(t, expect.Locator(ana.GetByTestId("toast-message").Last()).ToContainText("waiting for review"))
	}
	contribute("Revenue is net of refunds", "Finance", "revenue, refunds", "Use net_revenue for every revenue number.\nGross revenue double counts refunds.")
	contribute("Use the old fiscal calendar", "Finance", "calendar", "Fiscal year starts in April.")
	mine := ana.GetByTestId("memory-mine-item")
	must(t, expect.Locator(mine).ToHaveCount(2))
	must(t, expect.Locator(mine.First()).ToHaveAttribute("data-status", "pending"))
	must(t, expect.Locator(ana.GetByTestId("memory-mine")).ToContainText("Waiting for review by a knowledge admin"))
	must(t, expect.Locator(ana.GetByTestId("memory-item")).ToHaveCount(0))
	screenshot(t, ana, "memory-contributed")

	// The admin reviews the queue: approve one, reject the other with a reason.
	admin := signIn(t, b, base, adminEmail, adminPassword)
	if _, err := admin.Goto(base + "/corporate-memory/admin"); err != nil {
		t.Fatal(err)
	}
	must(t, expect.Locator(admin.GetByTestId("km-row")).ToHaveCount(2))
	must(t, expect.Locator(admin.GetByTestId("km-stat-pending").GetByTestId("stat-value")).ToHaveText("2"))
	screenshot(t, admin, "memory-admin-queue")
	good := admin.Locator(`[data-testid=km-row]:has-text("Revenue is net of refunds")`)
	must(t, good.GetByTestId("km-approve").Click())
	must(t, expect.Locator(good.GetByTestId("km-message")).ToContainText("Approved"))
	must(t, expect.Locator(good).ToHaveAttribute("data-status", "approved"))
	must(t, expect.Locator(admin.GetByTestId("km-stat-pending").GetByTestId("stat-value")).ToHaveText("1"))
	must(t, expect.Locator(admin.GetByTestId("toast-message").Last()).ToContainText("Approved"))
	must(t, expect.Locator(admin.GetByTestId("km-pending-badge")).ToHaveText("1"))

	// Edit in the dialog: an empty title is refused inline, then the tags are changed.
	must(t, good.GetByTestId("km-edit").Click())
	edit := good.Locator("dialog[open]")
	must(t, expect.Locator(edit).ToBeVisible())
	must(t, edit.Locator("input[name=title]").Fill(""))
	_, err := edit.Locator("input[name=title]").Evaluate("el => el.removeAttribute('required')", nil)
	must(t, err)
	must(t, edit.GetByTestId("km-edit-save").Click())
	must(t, expect.Locator(good.GetByTestId("km-error")).ToContainText("Title is required"))
	edit = good.Locator("dialog[open]")
	must(t, expect.Locator(edit.GetByTestId("field-error-title")).ToBeVisible())
	must(t, edit.Locator("input[name=title]").Fill("Revenue is net of refunds"))
	must(t, edit.Locator("input[name=tags]").Fill("revenue, refunds, finance"))
	screenshot(t, admin, "memory-admin-edit-dialog")
	must(t, edit.GetByTestId("km-edit-save").Click())
	must(t, expect.Locator(good.GetByTestId("km-message")).ToContainText("Saved tags"))
	must(t, expect.Locator(good.Locator("dialog[open]")).ToHaveCount(0))

	bad := admin.Locator(`[data-testid=km-row]:has-text("Use the old fiscal calendar")`)
	must(t, bad.GetByTestId("km-reject").Click())
	dialog := bad.Locator("dialog[open]")
	must(t, expect.Locator(dialog).ToBeVisible())
	must(t, dialog.GetByTestId("km-dialog-reason").Fill("The calendar changed in 2024"))
	screenshot(t, admin, "memory-admin-reject-dialog")
	must(t, dialog.GetByTestId("km-dialog-confirm").Click())
	must(t, expect.Locator(bad).ToHaveAttribute("data-status", "rejected"))
	must(t, expect.Locator(admin.GetByTestId("km-stat-pending").GetByTestId("stat-value")).ToHaveText("0"))
	screenshot(t, admin, "memory-admin-reviewed")

	if _, err := admin.Goto(base + "/corporate-memory/admin?tab=audit"); err != nil {
		t.Fatal(err)
	}
	// Two contributions, an approval, an edit and a rejection.
	must(t, expect.Locator(admin.GetByTestId("km-audit-row")).ToHaveCount(5))
	must(t, expect.Locator(admin.GetByTestId("km-audit-row").First()).ToContainText("The calendar changed in 2024"))
	screenshot(t, admin, "memory-admin-audit")

	// The analyst sees the published item, upvotes it and withdraws the vote.
	if _, err := ana.Goto(base + "/corporate-memory"); err != nil {
		t.Fatal(err)
	}
	card := ana.GetByTestId("memory-item")
	must(t, expect.Locator(card).ToHaveCount(1))
	must(t, expect.Locator(card.GetByTestId("memory-item-title")).ToHaveText("Revenue is net of refunds"))
	must(t, expect.Locator(card.GetByTestId("memory-status")).ToContainText("approved"))
	must(t, expect.Locator(card.GetByTestId("memory-item-tags")).ToContainText("#finance"))
	must(t, expect.Locator(ana.GetByTestId("memory-mine")).ToContainText("The calendar changed in 2024"))
	vote := card.GetByTestId("memory-vote")
	must(t, expect.Locator(vote.GetByTestId("memory-score")).ToHaveText("0"))
	must(t, vote.GetByTestId("memory-upvote").Click())
	must(t, expect.Locator(card.GetByTestId("memory-vote")).ToHaveAttribute("data-my-vote", "1"))
	must(t, expect.Locator(card.GetByTestId("memory-score")).ToHaveText("1"))
	must(t, expect.Locator(card.GetByTestId("memory-upvote")).ToHaveAttribute("aria-pressed", "true"))
	must(t, expect.Locator(card.GetByTestId("memory-upvote")).ToHaveClass(regexp.MustCompile(`\bbg-indigo-600\b`)))
	screenshot(t, ana, "memory-voted")
	must(t, card.GetByTestId("memory-upvote").Click())
	must(t, expect.Locator(card.GetByTestId("memory-vote")).ToHaveAttribute("data-my-vote", "0"))
	must(t, expect.Locator(card.GetByTestId("memory-score")).ToHaveText("0"))
	must(t, expect.Locator(card.GetByTestId("memory-upvote")).ToHaveAttribute("aria-pressed", "false"))

	// "/" focuses the search, which filters as you type and keeps the URL.
	must(t, ana.Locator("body").Click())
	must(t, ana.Keyboard().Press("/"))
	must(t, expect.Locator(ana.GetByTestId("memory-search")).ToBeFocused())
	must(t, ana.Keyboard().Type("no such words"))
	must(t, expect.Locator(ana.GetByTestId("memory-clear")).ToBeVisible())
	must(t, expect.Page(ana).ToHaveURL(regexp.MustCompile(`/corporate-memory\?q=no(\+|%20)such(\+|%20)words`)))
	must(t, ana.GetByTestId("memory-search").Fill("refunds"))
	must(t, expect.Locator(ana.GetByTestId("memory-item")).ToHaveCount(1))
	screenshot(t, ana, "memory-page")
}
