package faults

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitGlob polls until one of the globs (relative to DATA_DIR) matches, or the upload
// finishes first (done closed), or timeout. It returns the glob that matched.
func waitGlob(in *Instance, done <-chan struct{}, timeout time.Duration, globs ...string) (string, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, g := range globs {
			if m, _ := filepath.Glob(filepath.Join(in.DataDir, filepath.FromSlash(g))); len(m) > 0 {
				return g, true
			}
		}
		select {
		case <-done:
			return "", false
		case <-time.After(2 * time.Millisecond):
		}
	}
	return "", false
}

// backgroundUpload starts an upload and returns a channel closed when it has answered.
func backgroundUpload(ctx context.Context, in *Instance, l *Ledger, name string, rows int, slow bool) <-chan struct{} {
	done := make(chan struct{})
	body := csvRows(rows)
	if slow {
		body = &slowReader{ctx: ctx, r: body, size: 16 << 10, interval: 10 * time.Millisecond}
	}
	go func() {
		defer close(done)
		if u, err := in.Upload(ctx, name, name+".csv", body); err == nil {
			l.Upload(u) // the answer came before the kill
		}
	}()
	return done
}

// ackUpload uploads a table and records it as acknowledged.
func ackUpload(t *testing.T, in *Instance, l *Ledger, name string, rows int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, err := in.Upload(ctx, name, name+".csv", csvRows(rows))
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	if u.Rows != int64(rows) {
		t.Fatalf("upload %s: %d rows, want %d", name, u.Rows, rows)
	}
	l.Upload(u)
}

// killMidUpload starts an upload, kills the server once one of the globs appears (plus
// delay), and restarts it with every check. It returns the bytes of temporary data there
// were before and right after the restart, and false when the upload finished before the
// moment came.
func killMidUpload(t *testing.T, in *Instance, l *Ledger, name string, rows int, slow bool, delay time.Duration, globs ...string) (before, after int64, hit bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.Pend(name, int64(rows))
	done := backgroundUpload(ctx, in, l, name, rows, slow)
	_, hit = waitGlob(in, done, 2*time.Minute, globs...)
	if hit {
		time.Sleep(delay)
	}
	in.Kill()
	cancel()
	<-done
	before = tempBytes(in.DataDir)
	after = afterCrash(t, in, l)
	return before, after, hit
}

// TestKillDuringUploadReceive kills the server while it receives slow upload bodies. After
// every restart the cut-off upload left nothing (it was never complete), the acknowledged
// one is intact, and the spools are gone.
func TestKillDuringUploadReceive(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	// One clean stop first, so that a da without crash-safe migrations can be measured too.
	in.StartReady()
	if code := in.Term(30 * time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit code %d", code)
	}
	in.StartReady()
	l := &Ledger{}
	ackUpload(t, in, l, "base", 100)
	var leftAtKill, leftAfter int64
	delays := []time.Duration{0, 150 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond, time.Second}
	for i, d := range delays {
		name := fmt.Sprintf("slow_%d", i)
		atKill, after, hit := killMidUpload(t, in, l, name, 300000, true, d, "tmp/upload-*", "extracts/uploads/.upload-*")
		if !hit {
			t.Fatalf("%s: the upload was never seen being received", name)
		}
		leftAtKill += atKill
		leftAfter = after // what every earlier crash left and the restarts kept
		if isRegistered(t, in, name) {
			t.Errorf("%s: a body cut off while being received was registered", name)
		}
	}
	t.Logf("%d crashes during upload receive left %d bytes of temporary data in all; %d remained after the last restart",
		len(delays), leftAtKill, leftAfter)
}

// TestKillDuringUploadConvertPublish kills the server while a big upload is converted,
// published, registered and rebuilt, and while a table is replaced. After every restart the
// table is either absent or whole (registered, served, all rows), and nothing temporary
// remains.
func TestKillDuringUploadConvertPublish(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	in.StartReady()
	l := &Ledger{}
	ackUpload(t, in, l, "base", 100)
	const big = 400000
	moments := []struct {
		name  string
		table string
		delay time.Duration
		globs []string
	}{
		{"convert starts", "conv_a", 0, []string{"extracts/uploads/.upload-*/conv_a.parquet"}},
		{"converting", "conv_b", 150 * time.Millisecond, []string{"extracts/uploads/.upload-*/conv_b.parquet"}},
		{"published, not yet registered", "pub_a", 0, []string{"extracts/uploads/data/pub_a.parquet"}},
		{"published +10ms", "pub_b", 10 * time.Millisecond, []string{"extracts/uploads/data/pub_b.parquet"}},
		{"published +30ms", "pub_c", 30 * time.Millisecond, []string{"extracts/uploads/data/pub_c.parquet"}},
		{"published +80ms", "pub_d", 80 * time.Millisecond, []string{"extracts/uploads/data/pub_d.parquet"}},
		{"rebuilding", "reb_a", 0, []string{"analytics/server.duckdb.*.tmp"}},
		{"replacing", "base", 0, []string{"extracts/uploads/.upload-*/previous.parquet"}},
	}
	missed := 0
	for _, m := range moments {
		if _, _, hit := killMidUpload(t, in, l, m.table, big, false, m.delay, m.globs...); !hit {
			missed++
			t.Logf("%s: the upload of %s finished before the moment was seen", m.name, m.table)
		}
	}
	if missed == len(moments) {
		t.Errorf("no kill landed inside an upload: the staging names of the upload pipeline changed?")
	}
}

// TestKillDuringSync kills the server while a sync job extracts the demo source. After every
// restart every table served before is still served, and nothing temporary remains.
func TestKillDuringSync(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	in.Args = []string{"--demo"}
	in.StartReady()
	l := &Ledger{}
	before := servedIDs(t, in)
	if len(before) == 0 {
		t.Fatal("the demo source serves no table")
	}
	for _, d := range []time.Duration{0, 400 * time.Millisecond, 1500 * time.Millisecond} {
		triggerSync(t, in)
		if _, hit := waitGlob(in, nil, time.Minute, "extracts/demo/.sync-*"); !hit {
			t.Fatal("the sync job never started extracting")
		}
		time.Sleep(d)
		afterCrash(t, in, l)
		after := servedIDs(t, in)
		for id := range before {
			if !after[id] {
				t.Errorf("table %s was served before the sync was cut off, not after", id)
			}
		}
	}
}

func triggerSync(t *testing.T, in *Instance) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.URL()+"/api/sync/trigger", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+in.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sync trigger: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sync trigger: %d", resp.StatusCode)
	}
}

func servedIDs(t *testing.T, in *Instance) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cat, err := in.Client().CatalogTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range cat {
		ids[strings.ToLower(c.ID)] = true
	}
	return ids
}

func isRegistered(t *testing.T, in *Instance, id string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := in.Client().ListRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reg {
		if strings.EqualFold(r.ID, id) {
			return true
		}
	}
	return false
}
