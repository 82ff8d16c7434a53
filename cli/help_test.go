package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestEveryCommandHasHelp calls --help on every command and sub-command: each must exit 0
// and print its usage, a one-line purpose, flags in --long form and an example.
func TestEveryCommandHasHelp(t *testing.T) {
	c := newCLI(t, "http://127.0.0.1:1")
	names := make([]string, 0, len(helps))
	for name := range helps {
		names = append(names, name)
	}
	sort.Strings(names)
	singleDash := regexp.MustCompile(`(?m)^  -[a-z][a-z-]+`)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			code, out, errs := c.run(append(strings.Fields(name), "--help")...)
			if code != ExitOK {
				t.Fatalf("da %s --help: exit %d\nstdout: %s\nstderr: %s", name, code, out, errs)
			}
			h := helps[name]
			for _, want := range []string{"Usage: da " + name, h.purpose, "Examples:\n  da "} {
				if h.purpose == "" || !strings.Contains(out, want) {
					t.Errorf("da %s --help lacks %q:\n%s", name, want, out)
				}
			}
			if singleDash.MatchString(out) {
				t.Errorf("da %s --help shows single-dash flags:\n%s", name, out)
			}
			if strings.Contains(out+errs, "Usage of ") {
				t.Errorf("da %s --help prints Go's bare usage:\n%s", name, out)
			}
		})
	}
	// Every flag set the commands create is in the table: a command added without help
	// fails here.
	srcs, _ := filepath.Glob("*.go")
	flagSet := regexp.MustCompile(`flag\.NewFlagSet\("([a-z -]+)",`)
	for _, f := range srcs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range flagSet.FindAllStringSubmatch(string(b), -1) {
			if _, ok := helps[m[1]]; !ok && !strings.HasSuffix(f, "_test.go") {
				t.Errorf("%s: command %q has no help entry", f, m[1])
			}
		}
	}
	for _, group := range []string{"admin", "auth", "memory", "demo"} {
		for _, args := range [][]string{{group, "--help"}, {"help", group}} {
			code, out, _ := c.run(args...)
			if code != ExitOK || !strings.Contains(out, "Usage: da "+group+" COMMAND") || !strings.Contains(out, groups[group]) {
				t.Errorf("da %s: exit %d\n%s", strings.Join(args, " "), code, out)
			}
		}
	}
	code, out, _ := c.run("help", "sync")
	if code != ExitOK || !strings.Contains(out, "Usage: da sync") || !strings.Contains(out, "--table TABLE") {
		t.Errorf("da help sync: exit %d\n%s", code, out)
	}
	// A bad flag: exit 2, the error and the command's help on stderr.
	code, _, errs := c.run("sync", "--bogus")
	if code != ExitUsage || !strings.Contains(errs, "flag provided but not defined: -bogus") || !strings.Contains(errs, "Usage: da sync") {
		t.Errorf("da sync --bogus: exit %d\n%s", code, errs)
	}
	// The memory group's help lists every sub-command, not list's flags only.
	_, out, _ = c.run("memory", "--help")
	for _, sub := range []string{"add", "vote", "mandate", "pending"} {
		if !strings.Contains(out, "  "+sub+" ") {
			t.Errorf("da memory --help lacks %s:\n%s", sub, out)
		}
	}
}
