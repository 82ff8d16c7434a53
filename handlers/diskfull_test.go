package handlers

import (
	"context"
	"da/auth"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"da/engine/diskfull"
	"da/engine/query"
)

// Every way a full disk reaches the error handler becomes a 507 in plain words, with no server
// path; refusals of the request's content keep their status.
func TestDiskFullErrorsAnswer507(t *testing.T) {
	env := newTestEnv(t)
	const path = "/srv/data/state/system.duckdb.wal"
	duck := errors.New(`store: create user: TransactionContext Error: Failed to commit: Could not write file "` + path + `": No space left on device`)
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"ENOSPC from the kernel", &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}, 507},
		{"EDQUOT from the kernel", fmt.Errorf("upload: %w", &fs.PathError{Op: "write", Path: path, Err: syscall.EDQUOT}), 507},
		{"DuckDB's text only", duck, 507},
		{"marked by the engine", fmt.Errorf("publish upload: %w", diskfull.Wrap(duck)), 507},
		{"a 500 that carries the cause", apiError(http.StatusInternalServerError, "Profile failed: "+duck.Error()), 507},
		{"a 4xx the handler chose stays", apiError(http.StatusUnprocessableEntity, "could not read CSV: value 'No space left on device'"), 422},
		{"other errors stay 500", errors.New("boom"), 500},
	}
	for _, tt := range tests {
		for _, accept := range []string{"application/json", "text/html"} {
			target := "/api/upload/table"
			if accept == "text/html" {
				target = "/upload"
			}
			req := httptest.NewRequest("POST", target, nil)
			req.Header.Set("Accept", accept)
			rec := httptest.NewRecorder()
			env.srv.errorHandler(tt.err, env.e.NewContext(req, rec))
			if rec.Code != tt.status {
				t.Errorf("%s (%s): status %d, want %d", tt.name, accept, rec.Code, tt.status)
			}
			body := rec.Body.String()
			if strings.Contains(body, "/srv/data") {
				t.Errorf("%s (%s): the answer shows a server path: %s", tt.name, accept, body)
			}
			if tt.status != 507 {
				continue
			}
			if accept == "application/json" {
				var got struct{ Detail string }
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !strings.HasPrefix(got.Detail, "The server's disk is full: ") {
					t.Errorf("%s: body %s, want a detail that says the disk is full", tt.name, body)
				}
			} else if !strings.Contains(body, "disk is full") {
				t.Errorf("%s: the error page does not say the disk is full: %s", tt.name, body)
			}
		}
	}
	// A query that fails because the engine could not spill to a full disk is no SQL error.
	qe := &query.Error{Kind: query.Engine, Msg: "Query error: IO Error: Could not write file: No space left on device"}
	if st, msg := queryErrorStatus(qe); st != 507 || strings.Contains(msg, "IO Error") {
		t.Errorf("queryErrorStatus(disk full) = %d %q, want 507 in plain words", st, msg)
	}
	if st, _ := queryErrorStatus(&query.Error{Kind: query.Engine, Msg: "Query error: Binder Error: no such column"}); st != 400 {
		t.Errorf("queryErrorStatus(SQL error) = %d, want 400", st)
	}
}

// health: reads the health body's overall status and disk service.
func health(t *testing.T, env *testEnv) (string, map[string]any) {
	t.Helper()
	// Only admins (and the scrape token) see the disk's details.
	rec := env.do(request{method: "GET", path: "/api/health", token: env.tokens[auth.RoleAdmin]})
	if rec.Code != 200 {
		t.Fatalf("health answered %d", rec.Code)
	}
	var body struct {
		Status   string
		Services map[string]map[string]any
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	return body.Status, body.Services["disk"]
}

// Health and readiness go unhealthy while the write probe fails and recover as soon as it
// passes again, without a restart.
func TestHealthFollowsTheWriteProbe(t *testing.T) {
	env := newTestEnv(t)
	var fail atomic.Bool
	var runs atomic.Int32
	real := env.srv.probe.run
	env.srv.probe.run = func(ctx context.Context) error {
		runs.Add(1)
		if fail.Load() {
			return &fs.PathError{Op: "write", Path: "/srv/data/state/.write-probe-1", Err: syscall.ENOSPC}
		}
		return real(ctx)
	}
	env.srv.probe.ttl = time.Hour
	expire := func() {
		env.srv.probe.mu.Lock()
		env.srv.probe.at = time.Time{}
		env.srv.probe.mu.Unlock()
	}

	if st, disk := health(t, env); st != "healthy" || disk["status"] != "ok" || disk["writable"] != true {
		t.Fatalf("before: %s %v", st, disk)
	}
	fail.Store(true)
	if st, _ := health(t, env); st != "healthy" {
		t.Errorf("a fresh probe answer was not reused: %s", st)
	}
	expire()
	st, disk := health(t, env)
	if st != "unhealthy" || disk["status"] != "error" || disk["writable"] != false || disk["detail"] != "writes fail: the disk is full" {
		t.Errorf("disk full: %s %v", st, disk)
	}
	rec := env.do(request{method: "GET", path: "/readyz"})
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "/srv") {
		t.Errorf("readyz with a full disk: %d %s", rec.Code, rec.Body)
	}
	before := runs.Load()
	for range 5 {
		health(t, env)
	}
	if n := runs.Load() - before; n != 0 {
		t.Errorf("%d probes ran for 5 health checks within the cache time, want 0", n)
	}

	fail.Store(false)
	expire()
	if st, disk := health(t, env); st != "healthy" || disk["writable"] != true {
		t.Errorf("after the disk was freed: %s %v", st, disk)
	}
	if rec := env.do(request{method: "GET", path: "/readyz"}); rec.Code != 200 {
		t.Errorf("readyz after recovery: %d", rec.Code)
	}

	// A probe that only ran out of time proves nothing and is not a failure.
	env.srv.probe.run = func(ctx context.Context) error { return fmt.Errorf("store: write probe: %w", context.DeadlineExceeded) }
	expire()
	if st, _ := health(t, env); st != "healthy" {
		t.Errorf("a timed-out probe made health %s", st)
	}
}

func TestProbeDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dirs := []string{filepath.Join(dir, "state"), filepath.Join(dir, "tmp")}
	if err := probeDirs(dirs); err != nil {
		t.Fatalf("probe of a writable directory: %v", err)
	}
	for _, d := range dirs {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("the probe left %d files in %s", len(ents), d)
		}
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := probeDirs([]string{filepath.Join(file, "state")}); err == nil {
		t.Error("a directory that cannot be created passed the probe")
	}
}
