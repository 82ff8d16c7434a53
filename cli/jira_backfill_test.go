package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"da/config"
	"da/engine/connectors/jira/jiratest"
)

// TestAdminJiraBackfill runs `da admin jira backfill` against a real server whose Jira is
// the in-process fake: targeted keys, a dry run, then the whole project, which resumes.
func TestAdminJiraBackfill(t *testing.T) {
	fake := jiratest.New()
	defer fake.Close()
	for i := 1; i <= 6; i++ {
		fake.Put(jiratest.NewIssue(fmt.Sprintf("SUP-%d", i), 100+i, "2026-01-10T10:00:00.000+0000", "2026-01-10T10:00:00.000+0000"))
	}
	dir := t.TempDir()
	envs := map[string]string{"DATA_DIR": dir, "SEED_ADMIN_EMAIL": testAdminEmail, "SEED_ADMIN_PASSWORD": testAdminPassword,
		"JIRA_DOMAIN": "acme.atlassian.net", "JIRA_BASE_URL": fake.URL, "JIRA_EMAIL": jiratest.Email,
		"JIRA_API_TOKEN": jiratest.Token, "JIRA_WEBHOOK_SECRET": "s", "JIRA_PROJECT": "SUP"}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	base := startServerWith(t, cfg)
	cli := newCLI(t, base)
	cli.mustRun(ExitOK, "auth", "login", "--email", testAdminEmail, "--password", testAdminPassword)

	if code, _, errOut := cli.run("admin", "jira", "backfill", "--parallel", "0"); code != ExitUsage || !strings.Contains(errOut, "--parallel") {
		t.Fatalf("bad --parallel: %d %s", code, errOut)
	}
	if code, _, errOut := cli.run("admin", "jira", "backfill", "--issue-keys", "nope"); code != ExitError || !strings.Contains(errOut, "not an issue key") {
		t.Fatalf("bad key: %d %s", code, errOut)
	}
	out := cli.mustRun(ExitOK, "admin", "jira", "backfill", "--issue-keys", "SUP-1,SUP-2")
	if !strings.Contains(out, "2 loaded") {
		t.Fatalf("targeted: %s", out)
	}
	out = cli.mustRun(ExitOK, "admin", "jira", "backfill", "--dry-run")
	if !strings.Contains(out, "SUP-6") || !strings.Contains(out, "0 loaded") {
		t.Fatalf("dry run: %s", out)
	}
	out = cli.mustRun(ExitOK, "admin", "jira", "backfill", "--parallel", "2")
	if !strings.Contains(out, "4 loaded, 2 already stored, 0 failed of 6") {
		t.Fatalf("resume: %s", out)
	}
	res, err := adminClient(t, base).Query(context.Background(), "SELECT count(*) FROM issues", 10)
	if err != nil || fmt.Sprint(res.Rows) != "[[6]]" {
		t.Fatalf("issues: %v %v", res, err)
	}
}
