package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// cmdHelp is the help of one command: how to call it, what it is for and examples.
type cmdHelp struct {
	args     string   // positional arguments after the command, e.g. "TABLE"
	purpose  string   // one line
	examples []string // command lines, without the leading "da "
}

// helps is the help of every command, keyed by its name as the flag set is named
// ("sync", "admin set-role", …). A command missing here fails TestEveryCommandHasHelp.
var helps = map[string]cmdHelp{
	"serve": {purpose: "Run the web server and JSON API.",
		examples: []string{"serve", "serve --addr :9000 --data-dir /srv/da", "serve --demo"}},
	"admin bootstrap": {purpose: "Create the first admin in a stopped instance (while the server runs, use POST /auth/bootstrap).",
		examples: []string{"admin bootstrap --email admin@example.com --password 'a-long-secret'"}},
	"admin backup": {purpose: "Write a verified backup archive of DATA_DIR (through the server while it runs, else from the stopped instance).",
		examples: []string{"admin backup --out da-backup.tar.gz", "admin backup --out /backups/da.tar.gz --data-dir /srv/da"}},
	"admin restore": {args: "FILE", purpose: "Check a backup archive and restore it into a stopped instance's DATA_DIR (the former content is kept aside).",
		examples: []string{"admin restore da-backup.tar.gz --check", "admin restore da-backup.tar.gz --data-dir /srv/da"}},
	"admin catalog-export": {purpose: "Write OpenMetadata's metrics and the registered tables to DATA_DIR/docs (generated files only; hand-written ones are kept).",
		examples: []string{"admin catalog-export", "admin catalog-export --json"}},
	"admin migrate-state": {purpose: "Copy the DuckDB state of a stopped instance into an empty PostgreSQL database (then set DA_DATABASE_URL); safe to re-run.",
		examples: []string{"admin migrate-state --to postgres://da:secret@db.example.com:5432/da"}},
	"demo load": {purpose: "Load the demo data set and the demo admin into a stopped instance.",
		examples: []string{"demo load --data-dir ./data"}},
	"jobs": {purpose: "Run the scheduled syncs against a server started with --no-jobs (env JOBS_API_TOKEN: an admin's personal access token).",
		examples: []string{"jobs --server http://localhost:8000"}},
	"auth login": {purpose: "Sign in with e-mail and password (prompting for what is missing), or store a personal access token.",
		examples: []string{"auth login --email you@example.com", "auth login --token da_pat_... --server https://da.example.com"}},
	"auth logout": {purpose: "Forget the saved login.", examples: []string{"auth logout"}},
	"auth whoami": {purpose: "Show who you are signed in as, your role and what it allows.",
		examples: []string{"auth whoami", "auth whoami --json"}},
	"sync": {purpose: "Download the tables you subscribe to (all you can read until you choose) and build user/duckdb/analytics.duckdb. Needs the analyst role.",
		examples: []string{"sync", "sync --table orders", "sync --dry-run --json"}},
	"push": {purpose: "Upload CLAUDE.local.md and new or changed transcripts in user/sessions/*.jsonl for the team's knowledge; secrets are redacted first (same as sync --upload-only).",
		examples: []string{"push", "push --json", "push --all"}},
	"query": {args: `"SQL"`, purpose: "Run one SELECT on the local copy, or on the server with --remote. JSON gives DECIMALs as exact strings unless --decimals float.",
		examples: []string{`query "SELECT count(*) FROM orders"`, `query "FROM customers LIMIT 5" --remote --format json`,
			`query "SELECT sum(total) AS revenue FROM orders" --format json --decimals float`}},
	"explore": {args: "[TABLE]", purpose: "List the tables (local: row counts and descriptions; --remote: locked ones too), or describe one: columns, profile and sample rows.",
		examples: []string{"explore", "explore orders", "explore --remote --json"}},
	"status": {purpose: "Show the server's health, your local tables and which are stale.",
		examples: []string{"status", "status --local --json"}},
	"request-access": {args: "TABLE", purpose: "Ask the admins for read access to a table.",
		examples: []string{"request-access finance_ledger --reason 'quarterly revenue report'"}},
	"diagnose": {purpose: "Check config, server, token, clock, disk and the local database, with a fix for each failure.",
		examples: []string{"diagnose", "diagnose --json"}},
	"memory list": {args: "[WORDS]", purpose: "List the team's knowledge items you may see (mandatory items first).",
		examples: []string{"memory list --search revenue", "memory list --status mandatory --json"}},
	"memory show":    {args: "ID", purpose: "Print one knowledge item in full.", examples: []string{"memory show 3f1c…"}},
	"memory add":     {purpose: "Contribute a knowledge item (analyst role); a knowledge admin reviews it.", examples: []string{"memory add --title 'Revenue excludes VAT' --category metrics --content 'orders.total is net of VAT'", "memory add --title 'Churn definition' --file churn.md"}},
	"memory vote":    {args: "ID up|down|clear", purpose: "Vote on an approved item, or withdraw your vote (analyst role).", examples: []string{"memory vote 3f1c… up", "memory vote 3f1c… clear"}},
	"memory bundle":  {purpose: "Print the approved and mandatory knowledge for your audience, as `da sync` writes it to .claude/rules/corporate-memory.md.", examples: []string{"memory bundle", "memory bundle --json"}},
	"memory pending": {purpose: "List the items awaiting review (km_admin role).", examples: []string{"memory pending --json"}},
	"memory approve": {args: "ID", purpose: "Approve a pending item (km_admin role).", examples: []string{"memory approve 3f1c…"}},
	"memory reject":  {args: "ID", purpose: "Reject a pending item (km_admin role).", examples: []string{"memory reject 3f1c… --reason 'duplicate of the churn item'"}},
	"memory mandate": {args: "ID", purpose: "Make an approved item mandatory for everyone or an audience; a reason is required (km_admin role).", examples: []string{"memory mandate 3f1c… --reason 'finance policy' --audience analysts"}},
	"memory revoke":  {args: "ID", purpose: "Withdraw an approved or mandatory item (km_admin role).", examples: []string{"memory revoke 3f1c… --reason 'outdated'"}},

	"admin jira backfill": {purpose: "Load Jira history into the jira tables through the webhook path, resumably, with a progress bar (admin role).",
		examples: []string{"admin jira backfill", "admin jira backfill --issue-keys SUP-1,SUP-2", "admin jira backfill --jql 'project = SUP AND created >= -30d' --parallel 8 --dry-run"}},
	"admin users":          {purpose: "List the users (admin role).", examples: []string{"admin users", "admin users --json"}},
	"admin add-user":       {args: "EMAIL", purpose: "Create a user; without --password a one-time set-up link is printed (admin role).", examples: []string{"admin add-user ann@example.com --role analyst"}},
	"admin remove-user":    {args: "USER", purpose: "Delete a user, given by e-mail or id (admin role).", examples: []string{"admin remove-user ann@example.com"}},
	"admin set-role":       {args: "USER ROLE", purpose: "Change a user's role: viewer, analyst, km_admin or admin; USER is an e-mail or id (admin role).", examples: []string{"admin set-role ann@example.com analyst"}},
	"admin register-table": {args: "NAME", purpose: "Register a source table for syncing; it is checked against the source's table list when the source has one (admin role).", examples: []string{"admin register-table orders --source-type keboola --bucket in.c-sales --source-table orders"}},
	"admin list-tables":    {purpose: "List the registered tables (admin role).", examples: []string{"admin list-tables --json"}},
	"admin permissions":    {args: "[USER]", purpose: "List table grants, of everyone or of one user given by e-mail or id (admin role).", examples: []string{"admin permissions", "admin permissions ann@example.com"}},
	"admin grant":          {args: "USER TABLE", purpose: "Let a user read a table or every table of a bucket (BUCKET.*); USER is an e-mail or id (admin role).", examples: []string{"admin grant ann@example.com orders", "admin grant ann@example.com 'in.c-sales.*'"}},
	"admin revoke":         {args: "USER TABLE", purpose: "Remove a user's grant on a table or bucket; USER is an e-mail or id (admin role).", examples: []string{"admin revoke ann@example.com orders"}},
}

// groups lists the commands that take a sub-command, with the purpose of the group.
var groups = map[string]string{
	"auth":   "Sign in, sign out and show who you are.",
	"admin":  "Administer the server: users, roles, tables and grants (admin role); bootstrap a stopped instance or move its state to PostgreSQL.",
	"memory": "Read and contribute to the team's knowledge; knowledge admins review it.",
	"demo":   "Load the demo data set into a stopped instance.",
}

// isHelpArg reports whether a word asks for help.
func isHelpArg(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }

// printGroupHelp prints the sub-commands of a group with their purposes.
func printGroupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: da %s COMMAND [flags]\n\n%s\n\nCommands:\n", group, groups[group])
	var names []string
	for name := range helps {
		if strings.HasPrefix(name, group+" ") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		h := helps[name]
		fmt.Fprintf(w, "  %-24s %s\n", strings.TrimPrefix(name, group+" ")+" "+h.args, h.purpose)
	}
	fmt.Fprintf(w, "\nRun 'da %s COMMAND --help' for the flags and examples of a command.\n", group)
}

// printHelp prints a command's usage, purpose, flags (in --long form) and examples.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	name := fs.Name()
	h := helps[name]
	line := "da " + name
	if h.args != "" {
		line += " " + h.args
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		line += " [flags]"
	}
	fmt.Fprintf(w, "Usage: %s\n", line)
	if h.purpose != "" {
		fmt.Fprintf(w, "\n%s\n", h.purpose)
	}
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		fs.VisitAll(func(f *flag.Flag) {
			arg, usage := flag.UnquoteUsage(f)
			dash := "--"
			if len(f.Name) == 1 {
				dash = "-"
			}
			left := dash + f.Name
			switch arg {
			case "":
			case "string":
				left += " " + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			case "int", "uint", "int64", "float":
				left += " N"
			default:
				left += " " + strings.ToUpper(arg)
			}
			if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
				usage += fmt.Sprintf(" (default %s)", def)
			}
			fmt.Fprintf(w, "  %-22s %s\n", left, usage)
		})
	}
	if len(h.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, ex := range h.examples {
			fmt.Fprintf(w, "  da %s\n", ex)
		}
	}
}

// parseHelpful parses fs quietly: --help prints the command's help to stdout (exit 0), a bad
// flag prints the error and the help to stderr (exit 2).
func (e *env) parseHelpful(fs *flag.FlagSet, args []string) (int, bool) {
	fs.SetOutput(e.stderr)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			printHelp(e.stdout, fs)
			return ExitOK, false
		}
		fmt.Fprintln(e.stderr)
		printHelp(e.stderr, fs)
		return ExitUsage, false
	}
	return 0, true
}
