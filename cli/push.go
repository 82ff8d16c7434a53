package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"da/client"
	"da/redact"
)

// pushState remembers, per server and workspace, what `da push` has already sent: the
// SHA-256 of each transcript and of CLAUDE.local.md as uploaded (after redaction).
type pushState struct {
	Sessions map[string]string `json:"sessions"`
	LocalMD  string            `json:"local_md"`
}

// pushReport is the outcome of a push (also its --json output).
type pushReport struct {
	Sessions int         `json:"sessions"`
	LocalMD  bool        `json:"local_md"`
	Skipped  int         `json:"skipped"`
	Redacted int         `json:"redacted"`
	Errors   []syncError `json:"errors"`
}

func pushStatePath(configDir string) string { return filepath.Join(configDir, "push_state.json") }

func loadPushStates(path string) (map[string]*pushState, error) {
	all := map[string]*pushState{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return all, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v); delete it to upload everything again", path, err)
	}
	return all, nil
}

func savePushStates(path string, all map[string]*pushState) error {
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// localMDPath finds the workspace's CLAUDE.local.md: at the root, else in .claude/.
func localMDPath(root string) string {
	for _, p := range []string{filepath.Join(root, "CLAUDE.local.md"), filepath.Join(root, ".claude", "CLAUDE.local.md")} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// pushCmd is `da push` (and `da sync --upload-only`).
func (e *env) pushCmd(args []string) int {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	all := fs.Bool("all", false, "upload every file again, not only new or changed ones")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	return e.runPushCmd(*asJSON, *all)
}

func (e *env) runPushCmd(asJSON, all bool) int {
	s, c, err := e.authedClient()
	if err != nil {
		return e.fail("push", err)
	}
	rep, err := e.runPush(context.Background(), s, c, all)
	if err != nil {
		return e.fail("push", err)
	}
	if asJSON {
		if code := e.printJSON(rep); code != ExitOK {
			return code
		}
	} else {
		fmt.Fprintf(e.stdout, "Uploaded %d %s (%d unchanged)\n", rep.Sessions, plural(rep.Sessions, "session", "sessions"), rep.Skipped)
		if rep.LocalMD {
			fmt.Fprintln(e.stdout, "Uploaded CLAUDE.local.md")
		}
		if rep.Redacted > 0 {
			fmt.Fprintf(e.stdout, "Redacted %d %s before upload\n", rep.Redacted, plural(rep.Redacted, "secret", "secrets"))
		}
		for _, se := range rep.Errors {
			fmt.Fprintf(e.stderr, "da push: %s: %s\n", se.Table, se.Error)
		}
	}
	if len(rep.Errors) > 0 {
		return rep.Errors[0].code
	}
	return ExitOK
}

// runPush uploads CLAUDE.local.md and the transcripts under user/sessions that are new or
// changed since the last push, redacting secrets first, and remembers what was sent.
func (e *env) runPush(ctx context.Context, s *session, c *client.Client, all bool) (*pushReport, error) {
	root := e.localDir()
	statePath := pushStatePath(s.configDir)
	states, err := loadPushStates(statePath)
	if err != nil {
		return nil, err
	}
	key := strings.TrimRight(s.server, "/") + " " + root
	st := states[key]
	if st == nil || all {
		st = &pushState{}
		states[key] = st
	}
	if st.Sessions == nil {
		st.Sessions = map[string]string{}
	}
	rep := &pushReport{Errors: []syncError{}}
	fail := func(name string, err error) {
		code, msg := describeError(err)
		rep.Errors = append(rep.Errors, syncError{Table: name, Error: strings.ReplaceAll(msg, "\n", " "), code: code})
	}
	if p := localMDPath(root); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			fail("CLAUDE.local.md", err)
		} else {
			text, n := redact.String(string(b))
			if h := sha([]byte(text)); h != st.LocalMD {
				if _, err := c.UploadLocalMD(ctx, text); err != nil {
					fail("CLAUDE.local.md", err)
				} else {
					st.LocalMD, rep.LocalMD = h, true
					rep.Redacted += n
				}
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "user", "sessions", "*.jsonl"))
	sort.Strings(files)
	for _, f := range files {
		name := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			fail(name, err)
			continue
		}
		clean, n := redact.Bytes(b)
		h := sha(clean)
		if st.Sessions[name] == h {
			rep.Skipped++
			continue
		}
		if _, err := c.UploadSession(ctx, name, clean); err != nil {
			fail(name, err)
			if client.IsNetwork(err) {
				break
			}
			continue
		}
		st.Sessions[name] = h
		rep.Sessions++
		rep.Redacted += n
	}
	if err := savePushStates(statePath, states); err != nil {
		return nil, err
	}
	return rep, nil
}
