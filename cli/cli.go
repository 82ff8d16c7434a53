// Package cli implements the `da` sub-commands: the server and the command-line client.
package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes shared by every sub-command.
const (
	ExitOK       = 0
	ExitError    = 1
	ExitUsage    = 2
	ExitAuth     = 3
	ExitNotFound = 4
	ExitServer   = 5
)

// env is the process environment, replaceable in tests.
type env struct {
	version string
	stdout  io.Writer
	stderr  io.Writer
	getenv  func(string) string
	stdin   io.Reader // prompts (da auth login); nil reads nothing
}

const usage = `da — data platform for AI analysts

Usage:
  da serve [--addr HOST:PORT] [--data-dir DIR] [--config FILE] [--no-jobs] [--demo]
                                  run the web server and JSON API
  da admin bootstrap --email E [--password P] [--name N] [--data-dir DIR]
                                  create the first admin in a stopped instance
  da admin backup --out FILE [--data-dir DIR]
                                  write a verified backup archive of DATA_DIR (works while serving)
  da admin restore FILE [--check] [--data-dir DIR]
                                  restore an archive into a stopped instance
  da admin catalog-export [--json]
                                  export OpenMetadata's metrics and tables to DATA_DIR/docs
  da demo load [--data-dir DIR]   load the demo data set and demo admin into a stopped instance
  da jobs [--server URL]          run the scheduled syncs against a server started with --no-jobs
                                  (env JOBS_API_TOKEN: an admin's personal access token)
  da version                      print the version

For analysts and agents (server: env DA_SERVER, else config.yaml, else http://localhost:8000):
  da auth login [--email E] [--password P] [--token T] [--server URL]
                                  sign in (prompts for what is missing) or store a personal token
  da auth logout | da auth whoami forget the saved login | show who you are
  da sync [--table T] [--dry-run] [--quiet] [--json] [--verify] [--upload-only]
                                  download changed tables and build user/duckdb/analytics.duckdb
  da push [--json] [--all]        upload CLAUDE.local.md and new session transcripts (secrets redacted)
  da query "SQL" [--remote] [--format table|csv|json] [--limit N]
                                  query the local copy (or the server with --remote)
  da status [--local] [--json]    server health, local tables and which are stale
  da explore [TABLE] [--remote] [--json]
                                  list tables, or describe one: columns, profile, sample rows
  da request-access TABLE [--reason R]
                                  ask the admins for read access to a table
  da memory [list|show|add|vote|bundle|pending|approve|reject|mandate|revoke] …
                                  read and contribute to the team's knowledge ('da memory --help')
  da diagnose [--json]            check config, server, token, clock, disk and local database
  da admin users|add-user|remove-user|set-role|register-table|list-tables|permissions|grant|revoke
                                  administer the server (admin role; USER is an e-mail or an id)

Exit codes: 0 ok, 1 other error, 2 usage, 3 authentication, 4 not found or no access,
5 server or network error.

Run 'da COMMAND --help' (or 'da help COMMAND') for the purpose, flags and examples of a command.
`

// Run executes one command line and returns the process exit code.
func Run(args []string, version string, stdout, stderr io.Writer) int {
	e := &env{version: version, stdout: stdout, stderr: stderr, getenv: osGetenv, stdin: os.Stdin}
	return e.run(args)
}

func (e *env) run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "serve":
		return e.serve(args[1:])
	case "admin":
		return e.admin(args[1:])
	case "demo":
		return e.demoCmd(args[1:])
	case "jobs":
		return e.jobsCmd(args[1:])
	case "auth":
		return e.authCmd(args[1:])
	case "login":
		return e.authLogin(args[1:])
	case "sync":
		return e.syncCmd(args[1:])
	case "query":
		return e.queryCmd(args[1:])
	case "status":
		return e.statusCmd(args[1:])
	case "explore":
		return e.exploreCmd(args[1:])
	case "diagnose":
		return e.diagnoseCmd(args[1:])
	case "request-access":
		return e.requestAccessCmd(args[1:])
	case "memory":
		return e.memoryCmd(args[1:])
	case "push":
		return e.pushCmd(args[1:])
	case "version", "--version", "-v":
		fmt.Fprintf(e.stdout, "da %s\n", e.version)
		return ExitOK
	case "help", "--help", "-h":
		if len(args) > 1 && args[0] == "help" {
			// da help sync, da help admin grant: the same as --help after the command.
			return e.run(append(append([]string{}, args[1:]...), "--help"))
		}
		fmt.Fprint(e.stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(e.stderr, "da: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

// parseFlags parses a flag set, mapping -h and bad flags to exit codes.
func (e *env) parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if code, ok := e.parseHelpful(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "da %s: unexpected argument %q\n", fs.Name(), strings.Join(fs.Args(), " "))
		return ExitUsage, false
	}
	return 0, true
}
