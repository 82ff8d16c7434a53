package faults

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"da/engine"
)

// dockerGrace is Docker's default stop grace period: a stop must end well within it.
const dockerGrace = 10 * time.Second

// shutdownEnv makes the drain short and queries long, so that a query is still running
// when the drain ends.
var shutdownEnv = []string{"DA_SHUTDOWN_DRAIN=2s", "DA_QUERY_TIMEOUT=300s"}

// runningQueries is how many queries GET /api/admin/queries lists.
func runningQueries(t *testing.T, in *Instance) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.URL()+"/api/admin/queries", nil)
	req.Header.Set("Authorization", "Bearer "+in.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/admin/queries: %v", err)
	}
	defer resp.Body.Close()
	var out []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET /api/admin/queries: %d %v", resp.StatusCode, err)
	}
	return len(out)
}

// waitFor polls cond every 20ms for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// termWithinGrace sends SIGTERM and requires exit code 0 before Docker would kill the process.
func termWithinGrace(t *testing.T, in *Instance) {
	t.Helper()
	if code := in.Term(dockerGrace); code != 0 {
		if code == -1 {
			t.Fatalf("da serve was still running %s after SIGTERM (killed); log:\n%s", dockerGrace, tail(in.lastLog(), 3000))
		}
		t.Fatalf("da serve exited with %d after SIGTERM, want 0; log:\n%s", code, tail(in.lastLog(), 3000))
	}
}

// TestSIGTERMDuringLongQuery stops a server whose only request is a query that would run for
// minutes: the query is cancelled after the drain and the process exits 0, leaving no
// sandbox behind.
func TestSIGTERMDuringLongQuery(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	in.Env = shutdownEnv
	in.StartReady()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	qerr := make(chan error, 1)
	go func() {
		_, err := in.Client().Query(ctx, "SELECT sum(range) FROM range(1000000000000)", 0)
		qerr <- err
	}()
	waitFor(t, "the query to run", func() bool { return runningQueries(t, in) == 1 })
	termWithinGrace(t, in)
	select {
	case err := <-qerr:
		if err == nil {
			t.Fatal("the query succeeded although the server stopped")
		}
	case <-time.After(time.Minute):
		t.Fatal("the query's client never got an answer or a closed connection")
	}
	checkNoTemp(t, in.DataDir)
	checkDBOpens(t, in.DataDir)
	if log := in.lastLog(); !strings.Contains(log, "running requests were cancelled") {
		t.Errorf("the log does not say that the running query was cancelled:\n%s", tail(log, 2000))
	}
}

// TestSIGTERMDuringSlowUpload stops a server while an upload is still arriving (at a rate the
// server accepts): the upload is cut after the drain, its spool is removed, the process exits
// 0, and after a restart nothing of it is registered or served.
func TestSIGTERMDuringSlowUpload(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	in.Env = shutdownEnv
	in.StartReady()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	uerr := make(chan error, 1)
	go func() {
		// About 80 KB/s, well above the minimum rate: only the shutdown stops it.
		body := &slowReader{ctx: ctx, r: csvRows(2_000_000), size: 8 << 10, interval: 100 * time.Millisecond}
		_, err := in.Upload(ctx, "slow_upload", "slow.csv", body)
		uerr <- err
	}()
	waitFor(t, "the upload's spool", func() bool { return len(engine.FindTemp(in.DataDir)) > 0 })
	termWithinGrace(t, in)
	select {
	case err := <-uerr:
		if err == nil {
			t.Fatal("the upload was acknowledged although the server stopped while receiving it")
		}
	case <-time.After(time.Minute):
		t.Fatal("the upload's client never got an answer or a closed connection")
	}
	// Checked before any restart: the start-up sweep would hide leftovers.
	checkNoTemp(t, in.DataDir)
	checkDBOpens(t, in.DataDir)
	in.StartReady()
	checkConsistent(t, in, &Ledger{})
	if _, err := in.Client().Query(ctx, "SELECT count(*) FROM slow_upload", 0); err == nil {
		t.Fatal("the interrupted upload is served after the restart")
	}
}

// TestSIGTERMIdle: a server with nothing running stops at once with exit code 0.
func TestSIGTERMIdle(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	in.Env = shutdownEnv
	in.StartReady()
	termWithinGrace(t, in)
	if log := in.lastLog(); !strings.Contains(log, "stopped cleanly") {
		t.Errorf("the log does not say the server stopped cleanly:\n%s", tail(log, 2000))
	}
	checkNoTemp(t, in.DataDir)
}
