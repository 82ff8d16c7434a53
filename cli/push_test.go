package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"da/client"
	"da/config"
)

// TestPushUploadsNotesAndNewTranscripts: da push sends CLAUDE.local.md and the transcripts,
// redacted, then only what changed; da sync --upload-only does the same.
func TestPushUploadsNotesAndNewTranscripts(t *testing.T) {
	dataDir := t.TempDir()
	envs := map[string]string{"DATA_DIR": dataDir, "SEED_ADMIN_EMAIL": testAdminEmail, "SEED_ADMIN_PASSWORD": testAdminPassword}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	base := startServerWith(t, cfg)
	admin := adminClient(t, base)
	uid := createAnalyst(t, admin)
	c := newCLI(t, base)
	c.mustRun(ExitOK, "auth", "login", "--email", testAnalystEmail, "--password", testAnalystPass)

	sessions := filepath.Join(c.local, "user", "sessions")
	if err := os.MkdirAll(sessions, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(c.local, "CLAUDE.local.md"), "# Notes\norders.total is net of VAT\n")
	write(filepath.Join(sessions, "2026-01-01_a.jsonl"), `{"message":"export KEY=sk-ant-api03-abcdefghijklmnopqrstuvwx"}`+"\n")
	write(filepath.Join(sessions, "2026-01-02_b.jsonl"), `{"message":"hello"}`+"\n")

	push := func(args ...string) pushReport {
		t.Helper()
		out := c.mustRun(ExitOK, append(args, "--json")...)
		var rep pushReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return rep
	}
	rep := push("push")
	if rep.Sessions != 2 || !rep.LocalMD || rep.Redacted != 1 {
		t.Fatalf("first push: %+v", rep)
	}
	stored, err := os.ReadFile(filepath.Join(dataDir, "user_sessions", uid, "2026-01-01_a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), "sk-ant-api03") {
		t.Fatalf("the key left the machine: %s", stored)
	}
	if rep := push("push"); rep.Sessions != 0 || rep.LocalMD || rep.Skipped != 2 {
		t.Fatalf("second push sent again: %+v", rep)
	}
	write(filepath.Join(sessions, "2026-01-03_c.jsonl"), `{"message":"new"}`+"\n")
	if rep := push("sync", "--upload-only"); rep.Sessions != 1 || rep.Skipped != 2 {
		t.Fatalf("upload-only: %+v", rep)
	}
	// A transcript the server refuses is reported and exits non-zero.
	write(filepath.Join(sessions, "2026-01-04_d.jsonl"), "not json\n")
	code, _, errs := c.run("push")
	if code == ExitOK || !strings.Contains(errs, "2026-01-04_d.jsonl") {
		t.Fatalf("bad transcript: exit %d, %s", code, errs)
	}
}

// TestSyncWritesKnowledgeBundle: da sync writes the approved and mandatory items into
// .claude/rules/corporate-memory.md, mandatory first; da memory bundle prints the same.
func TestSyncWritesKnowledgeBundle(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	createAnalyst(t, admin)
	ctx := context.Background()
	ids := map[string]string{}
	for _, title := range []string{"Approved tip", "Mandatory rule", "Pending idea"} {
		id, err := admin.AddMemory(ctx, client.NewMemory{Title: title, Content: title + " content", Category: "workflow"})
		if err != nil {
			t.Fatal(err)
		}
		ids[title] = id
	}
	for _, g := range [][3]string{{"approve", "Approved tip", ""}, {"approve", "Mandatory rule", ""}, {"mandate", "Mandatory rule", "finance policy"}} {
		if _, err := admin.GovernMemory(ctx, g[0], ids[g[1]], g[2], ""); err != nil {
			t.Fatalf("%v: %v", g, err)
		}
	}
	c := newCLI(t, base)
	c.mustRun(ExitOK, "auth", "login", "--email", testAnalystEmail, "--password", testAnalystPass)
	rep := c.sync()
	if rep.Knowledge == nil || rep.Knowledge.Items != 2 {
		t.Fatalf("report %+v", rep.Knowledge)
	}
	b, err := os.ReadFile(filepath.Join(c.local, ".claude", "rules", "corporate-memory.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	if strings.Contains(md, "Pending idea") || strings.Index(md, "Mandatory rule") > strings.Index(md, "Approved tip") ||
		!strings.Contains(md, "corporate-memory?item="+ids["Approved tip"]) {
		t.Fatalf("bundle:\n%s", md)
	}
	if out := c.mustRun(ExitOK, "memory", "bundle"); !strings.Contains(out, "### Mandatory rule") {
		t.Fatalf("da memory bundle:\n%s", out)
	}
}
