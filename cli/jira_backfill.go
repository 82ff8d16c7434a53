package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"da/client"
)

// adminJira dispatches `da admin jira ...`.
func (e *env) adminJira(args []string) int {
	if len(args) == 0 || args[0] != "backfill" {
		fmt.Fprintln(e.stderr, "Usage: da admin jira backfill [--jql JQL] [--issue-keys K1,K2] [--parallel N] [--dry-run] [--force]")
		if len(args) > 0 && isHelpArg(args[0]) {
			return ExitOK
		}
		return ExitUsage
	}
	return e.adminJiraBackfill(args[1:])
}

// adminJiraBackfill is `da admin jira backfill`: the server loads Jira history through the
// webhook path; this command starts it and shows its progress until it ends. Issues already
// stored are skipped unless --force, so running it again after an interruption resumes.
func (e *env) adminJiraBackfill(args []string) int {
	fs := flag.NewFlagSet("admin jira backfill", flag.ContinueOnError)
	jql := fs.String("jql", "", "JQL selecting the issues (default: the project's issues, oldest first)")
	keys := fs.String("issue-keys", "", "comma-separated issue keys to load (targeted mode, always reloaded)")
	parallel := fs.Int("parallel", 4, "issues fetched at once (1-32)")
	dryRun := fs.Bool("dry-run", false, "list the issues that would be loaded")
	force := fs.Bool("force", false, "reload issues that are already stored")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if *parallel < 1 || *parallel > 32 {
		fmt.Fprintln(e.stderr, "da admin jira backfill: --parallel must be between 1 and 32")
		return ExitUsage
	}
	req := client.JiraBackfillRequest{JQL: *jql, Parallel: *parallel, DryRun: *dryRun, Force: *force}
	for _, k := range strings.Split(*keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			req.IssueKeys = append(req.IssueKeys, k)
		}
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin jira backfill", err)
	}
	ctx := context.Background()
	st, err := c.StartJiraBackfill(ctx, req)
	if err != nil {
		return e.fail("admin jira backfill", err)
	}
	for st.State == "running" {
		fmt.Fprintf(e.stderr, "\r%s", progressBar(st))
		time.Sleep(500 * time.Millisecond)
		if st, err = c.JiraBackfill(ctx); err != nil {
			fmt.Fprintln(e.stderr)
			return e.fail("admin jira backfill", err)
		}
	}
	fmt.Fprintf(e.stderr, "\r%s\n", progressBar(st))
	if *dryRun {
		for _, k := range st.Keys {
			fmt.Fprintln(e.stdout, k)
		}
	}
	fmt.Fprintf(e.stdout, "backfill %s: %d loaded, %d already stored, %d failed of %d\n", st.State, st.Done, st.Skipped, st.Failed, st.Total)
	if st.State != "done" || st.Failed > 0 {
		if st.Error != "" {
			fmt.Fprintln(e.stderr, "da admin jira backfill:", st.Error)
		}
		return ExitError
	}
	return ExitOK
}

func progressBar(st *client.JiraBackfillStatus) string {
	const width = 30
	n := st.Percent * width / 100
	return fmt.Sprintf("[%s%s] %3d%% %d/%d", strings.Repeat("#", n), strings.Repeat(".", width-n), st.Percent,
		st.Done+st.Skipped+st.Failed, st.Total)
}
