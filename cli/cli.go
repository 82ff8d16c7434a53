// Package cli implements the `da` sub-commands: the server and the command-line client.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
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
}

const usage = `da — data platform for AI analysts

Usage:
  da serve [--addr HOST:PORT] [--data-dir DIR] [--config FILE] [--no-jobs] [--demo]
                                  run the web server and JSON API
  da admin bootstrap --email E [--password P] [--name N] [--data-dir DIR]
                                  create the first admin in a stopped instance
  da demo load [--data-dir DIR]   load the demo data set and demo admin into a stopped instance
  da version                      print the version

Run 'da <command> --help' for the flags of a command.
`

// Run executes one command line and returns the process exit code.
func Run(args []string, version string, stdout, stderr io.Writer) int {
	e := &env{version: version, stdout: stdout, stderr: stderr, getenv: osGetenv}
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
	case "version", "--version", "-v":
		fmt.Fprintf(e.stdout, "da %s\n", e.version)
		return ExitOK
	case "help", "--help", "-h":
		fmt.Fprint(e.stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(e.stderr, "da: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

// parseFlags parses a flag set, mapping -h and bad flags to exit codes.
func (e *env) parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "da %s: unexpected argument %q\n", fs.Name(), strings.Join(fs.Args(), " "))
		return ExitUsage, false
	}
	return 0, true
}
