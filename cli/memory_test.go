package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"da/store"
)

// TestMemoryCommands contributes, reviews, lists and votes on a knowledge item through the
// CLI against the real server, and checks the exit codes of bad input.
func TestMemoryCommands(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	createAnalyst(t, admin)

	analyst := newCLI(t, base)
	analyst.stdin = testAnalystEmail + "\n" + testAnalystPass + "\n"
	analyst.mustRun(ExitOK, "auth", "login")
	kmAdmin := newCLI(t, base)
	kmAdmin.vars["DA_TOKEN"] = admin.Token

	if out := analyst.mustRun(ExitOK, "memory"); !strings.Contains(out, "No knowledge items match") {
		t.Fatalf("empty list: %q", out)
	}
	analyst.stdin = "Revenue is booked net of refunds.\nSee finance wiki."
	out := analyst.mustRun(ExitOK, "memory", "add", "--title", "Revenue definition", "--category", "metrics",
		"--tags", "Revenue, finance,revenue", "--file", "-")
	id := strings.Fields(out)[1]
	if !strings.Contains(out, "pending review") || id == "" {
		t.Fatalf("add: %q", out)
	}

	// Pending: the author sees it, voting is refused until it is approved.
	if out := analyst.mustRun(ExitOK, "memory", "show", id); !strings.Contains(out, "Status:    pending") ||
		!strings.Contains(out, "See finance wiki.") || !strings.Contains(out, "Tags:      revenue, finance") {
		t.Fatalf("show: %q", out)
	}
	if code, _, errs := analyst.run("memory", "vote", id, "up"); code == ExitOK || !strings.Contains(errs, "approved") {
		t.Fatalf("vote on pending: %d %q", code, errs)
	}
	if out := kmAdmin.mustRun(ExitOK, "memory", "pending"); !strings.Contains(out, id) || !strings.Contains(out, testAnalystEmail) {
		t.Fatalf("pending: %q", out)
	}
	// The one governance rule holds here too: a pending item cannot be mandated, and a
	// mandate needs a reason.
	if code, _, errs := kmAdmin.run("memory", "mandate", id, "--reason", "policy"); code == ExitOK || !strings.Contains(errs, "approve it first") {
		t.Fatalf("mandate pending: %d %q", code, errs)
	}
	if out := kmAdmin.mustRun(ExitOK, "memory", "approve", id, "--reason", "matches finance"); !strings.Contains(out, "approved") {
		t.Fatalf("approve: %q", out)
	}
	if code, _, errs := kmAdmin.run("memory", "mandate", id); code == ExitOK || !strings.Contains(errs, "the reason is required") {
		t.Fatalf("mandate without reason: %d %q", code, errs)
	}

	// Published: search finds it, votes count and can be withdrawn.
	var page struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(analyst.mustRun(ExitOK, "memory", "search", "REFUNDS", "--json")), &page); err != nil ||
		len(page.Items) != 1 || page.Items[0].ID != id || page.Items[0].Status != "approved" {
		t.Fatalf("search: %+v %v", page, err)
	}
	if out := analyst.mustRun(ExitOK, "memory", "vote", id, "up"); !strings.Contains(out, "1 up, 0 down") {
		t.Fatalf("vote: %q", out)
	}
	var mine struct {
		Items []struct {
			MyVote int `json:"my_vote"`
			Score  int `json:"score"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(analyst.mustRun(ExitOK, "memory", "list", "--json")), &mine); err != nil ||
		len(mine.Items) != 1 || mine.Items[0].MyVote != 1 || mine.Items[0].Score != 1 {
		t.Fatalf("my vote: %+v %v", mine, err)
	}
	if out := analyst.mustRun(ExitOK, "memory", "vote", id, "clear"); !strings.Contains(out, "0 up, 0 down") {
		t.Fatalf("withdraw: %q", out)
	}

	// Bad input: usage errors, not found, no permission.
	analyst.mustRun(ExitUsage, "memory", "vote", id, "sideways")
	analyst.mustRun(ExitUsage, "memory", "add", "--content", "no title")
	analyst.mustRun(ExitUsage, "memory", "frobnicate")
	analyst.mustRun(ExitNotFound, "memory", "show", "no-such-item")
	analyst.mustRun(ExitNotFound, "memory", "approve", id) // analysts may not review: 403
}

// TestSeedDemoMemory adds the demo's knowledge once: a second load changes nothing.
func TestSeedDemoMemory(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for range 2 {
		if err := seedDemoMemory(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	items, total, err := st.ListKnowledge(ctx, store.KnowledgeFilter{SeeAll: true})
	if err != nil || total != len(demoMemory) || len(items) != len(demoMemory) {
		t.Fatalf("%d items (total %d), want %d: %v", len(items), total, len(demoMemory), err)
	}
	// Analysts see the published ones, not the admin's pending proposal.
	_, visible, err := st.ListKnowledge(ctx, store.KnowledgeFilter{Viewer: "someone@else"})
	if err != nil || visible != len(demoMemory)-1 {
		t.Fatalf("visible to others: %d, %v", visible, err)
	}
}
