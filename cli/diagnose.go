package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"da/client"
	"da/engine/localdb"
)

// profileTimeout bounds the optional profile lookup of `da explore`.
const profileTimeout = 5 * time.Second

// Thresholds of `da diagnose`.
const (
	maxClockSkew  = 2 * time.Minute
	lowDiskWarn   = 1 << 30   // 1 GiB
	lowDiskFailed = 100 << 20 // 100 MiB
)

// check is one diagnosis; Fix says what to do when Status is not "ok".
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// diagnoseCmd is `da diagnose`: configuration, connectivity, token, clock skew, disk space
// and the local database, each with how to fix a failure. Exit 1 when any check fails.
func (e *env) diagnoseCmd(args []string) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	checks := e.diagnose(context.Background())
	overall := "healthy"
	for _, c := range checks {
		if c.Status == "fail" {
			overall = "unhealthy"
			break
		}
		if c.Status == "warn" {
			overall = "degraded"
		}
	}
	code := ExitOK
	if overall == "unhealthy" {
		code = ExitError
	}
	if *asJSON {
		if c := e.printJSON(map[string]any{"overall": overall, "checks": checks}); c != ExitOK {
			return c
		}
		return code
	}
	for _, c := range checks {
		mark := map[string]string{"ok": "[ok]  ", "warn": "[warn]", "fail": "[FAIL]"}[c.Status]
		fmt.Fprintf(e.stdout, "%s %-12s %s\n", mark, c.Name, c.Detail)
		if c.Fix != "" && c.Status != "ok" {
			fmt.Fprintf(e.stdout, "       %-12s fix: %s\n", "", c.Fix)
		}
	}
	fmt.Fprintf(e.stdout, "Overall: %s\n", overall)
	return code
}

// diagnose runs every check in order; later checks are skipped when they cannot work.
func (e *env) diagnose(ctx context.Context) []check {
	var out []check
	s, err := e.loadSession()
	if err != nil {
		_, msg := describeError(err)
		return append(out, check{Name: "config", Status: "fail", Detail: msg, Fix: "fix or delete config.yaml, then run `da auth login`"})
	}
	out = append(out, configCheck(s))
	if u, err := url.Parse(s.server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return append(out, check{Name: "server", Status: "fail", Detail: fmt.Sprintf("server URL %q is not an http(s) URL", s.server),
			Fix: "set DA_SERVER or run `da auth login --server https://your-server`"})
	}
	c := s.client()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	start := time.Now()
	h, err := c.Health(hctx)
	latency := time.Since(start)
	cancel()
	if err != nil {
		_, msg := describeError(err)
		out = append(out, check{Name: "server", Status: "fail", Detail: fmt.Sprintf("%s: %s", s.server, firstLine(msg)),
			Fix: "check that the server runs and DA_SERVER / `server:` in config.yaml points at it"})
	} else {
		st := "ok"
		fix := ""
		if h.Status != "healthy" {
			st, fix = "warn", "the server reports "+h.Status+": ask its admin (see `da status`)"
		}
		out = append(out, check{Name: "server", Status: st, Detail: fmt.Sprintf("%s is %s (%d ms)", s.server, h.Status, latency.Milliseconds()), Fix: fix})
		out = append(out, clockCheck(h.Timestamp, start, latency))
		out = append(out, tokenCheck(ctx, s, c))
	}
	ws := e.workspace(s.configDir)
	out = append(out, diskCheck(ws.root))
	out = append(out, localDBCheck(ctx, ws))
	return out
}

// firstLine cuts a message at its first newline.
func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// configCheck looks at the config file's permissions (it holds a token).
func configCheck(s *session) check {
	p := userConfigPath(s.configDir)
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return check{Name: "config", Status: "ok", Detail: "no config.yaml (server " + s.server + ")"}
	}
	if err != nil {
		return check{Name: "config", Status: "fail", Detail: err.Error(), Fix: "make " + p + " readable"}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return check{Name: "config", Status: "warn", Detail: fmt.Sprintf("%s is readable by others (mode %o) and holds your token", p, fi.Mode().Perm()),
			Fix: "chmod 600 " + p}
	}
	return check{Name: "config", Status: "ok", Detail: p + " (mode 600)"}
}

// clockCheck compares the server's clock with ours; a large skew makes tokens look expired.
func clockCheck(ts string, sent time.Time, latency time.Duration) check {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05.999999-07:00", ts)
	}
	if err != nil {
		return check{Name: "clock", Status: "warn", Detail: "the server sent no readable time", Fix: "upgrade the server"}
	}
	skew := t.Sub(sent.Add(latency / 2))
	if skew < 0 {
		skew = -skew
	}
	if skew > maxClockSkew {
		return check{Name: "clock", Status: "fail", Detail: fmt.Sprintf("this machine's clock is %s off the server's", skew.Round(time.Second)),
			Fix: "enable time synchronisation (NTP) on this machine or the server; tokens may look expired"}
	}
	return check{Name: "clock", Status: "ok", Detail: fmt.Sprintf("skew %s", skew.Round(time.Millisecond))}
}

// tokenCheck asks the server who the token belongs to.
func tokenCheck(ctx context.Context, s *session, c *client.Client) check {
	if s.token == "" {
		return check{Name: "token", Status: "fail", Detail: "not logged in", Fix: "run `da auth login` (or set DA_TOKEN)"}
	}
	me, err := c.Me(ctx)
	if err != nil {
		if client.StatusOf(err) == 401 {
			return check{Name: "token", Status: "fail", Detail: "the server rejects the token from " + s.tokenSource + " (expired or revoked)",
				Fix: "run `da auth login`"}
		}
		_, msg := describeError(err)
		return check{Name: "token", Status: "warn", Detail: firstLine(msg), Fix: "retry; run `da auth login` if it persists"}
	}
	return check{Name: "token", Status: "ok", Detail: fmt.Sprintf("%s (role %s, from %s)", me.Email, me.Role, s.tokenSource)}
}

// diskCheck reports the free space where the workspace lives.
func diskCheck(root string) check {
	dir := root
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return check{Name: "disk", Status: "warn", Detail: "cannot read free space: " + err.Error()}
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	detail := fmt.Sprintf("%s free under %s", humanBytes(free), dir)
	switch {
	case free < lowDiskFailed:
		return check{Name: "disk", Status: "fail", Detail: detail, Fix: "free disk space or set DA_LOCAL_DIR to a larger disk"}
	case free < lowDiskWarn:
		return check{Name: "disk", Status: "warn", Detail: detail, Fix: "free disk space before syncing large tables"}
	}
	return check{Name: "disk", Status: "ok", Detail: detail}
}

// localDBCheck opens the local database read-only and reads every table and view.
func localDBCheck(ctx context.Context, ws workspace) check {
	db, err := localdb.Open(ws.dbPath)
	if errors.Is(err, localdb.ErrNoDatabase) {
		return check{Name: "local db", Status: "warn", Detail: "no local database yet at " + ws.dbPath, Fix: "run `da sync`"}
	}
	if err != nil {
		return check{Name: "local db", Status: "fail", Detail: firstLine(err.Error()), Fix: "close programs using it; if it is damaged, delete it and run `da sync`"}
	}
	defer db.Close()
	problems, err := db.Check(ctx)
	if err != nil {
		return check{Name: "local db", Status: "fail", Detail: firstLine(err.Error()), Fix: "delete " + ws.dbPath + " and run `da sync`"}
	}
	if len(problems) > 0 {
		names := make([]string, 0, len(problems))
		for _, p := range problems {
			names = append(names, p.Name)
		}
		return check{Name: "local db", Status: "fail", Detail: fmt.Sprintf("%d unreadable: %v (%s)", len(problems), names, firstLine(problems[0].Error)),
			Fix: "run `da sync --verify` to fetch damaged or missing files again"}
	}
	rels, _ := db.Relations(ctx)
	return check{Name: "local db", Status: "ok", Detail: fmt.Sprintf("%d %s readable in %s", len(rels), plural(len(rels), "table", "tables"), ws.dbPath)}
}
