package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"da/config"
	"da/engine"
	"da/engine/connectors"
	"da/engine/extract"
	"da/store"
)

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC) // a Monday
	tests := []struct {
		spec    string
		next    time.Time // zero: only check validity
		wantErr string
	}{
		{spec: "0 6 * * *", next: time.Date(2026, 3, 3, 6, 0, 0, 0, time.UTC)},
		{spec: "*/15 * * * *", next: time.Date(2026, 3, 2, 10, 45, 0, 0, time.UTC)},
		{spec: "@hourly", next: time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)},
		{spec: "@every 15m", next: from.Add(15 * time.Minute)},
		{spec: "every 2h", next: from.Add(2 * time.Hour)},
		{spec: "daily 06:00,18:00", next: time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC)},
		{spec: "", wantErr: "empty"},
		{spec: "@every 0s", wantErr: "at least 1s"},
		{spec: "@every soon", wantErr: "duration"},
		{spec: "61 * * * *", wantErr: "not a cron schedule"},
		{spec: "* * *", wantErr: "not a cron schedule"},
		{spec: "daily 25:00", wantErr: "time of day"},
		{spec: "; DROP TABLE x", wantErr: "not a cron schedule"},
	}
	for _, tc := range tests {
		s, err := ParseSchedule(tc.spec)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseSchedule(%q) error = %v, want %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tc.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tc.next) {
			t.Errorf("ParseSchedule(%q).Next = %v, want %v", tc.spec, got, tc.next)
		}
	}
}

// fakeSyncs counts triggers; while busy it answers ErrSkipped.
type fakeSyncs struct {
	mu        sync.Mutex
	schedules map[string]string
	fired     map[string]int
	skipped   int
	busy      bool
}

func (f *fakeSyncs) Schedules(context.Context) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.schedules {
		out[k] = v
	}
	return out, nil
}

func (f *fakeSyncs) TriggerSync(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		f.skipped++
		return "", ErrSkipped
	}
	f.fired[id]++
	return "job-" + id, nil
}

func (f *fakeSyncs) counts() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.fired {
		out[k] = v
	}
	return out, f.skipped
}

func TestSchedulerFiresReloadsAndSkips(t *testing.T) {
	f := &fakeSyncs{schedules: map[string]string{"orders": "@every 1s", "daily": "0 3 * * *", "bad": "nonsense"}, fired: map[string]int{}}
	var taskRuns sync.WaitGroup
	taskRuns.Add(1)
	once := sync.Once{}
	s := New(Options{Syncs: f, ReloadEvery: time.Hour, Tasks: []Task{{Name: "t", Schedule: "@every 1s",
		Run: func(context.Context) error { once.Do(taskRuns.Done); return nil }}}})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if next := s.Next(); len(next) != 2 || next["bad"] != (time.Time{}) {
		t.Errorf("scheduled entries = %v, want orders and daily (bad is invalid)", next)
	}
	waitFor(t, func() bool { c, _ := f.counts(); return c["orders"] >= 1 })
	taskRuns.Wait()

	// Busy: the next firings are skipped, not stacked.
	f.mu.Lock()
	f.busy = true
	f.mu.Unlock()
	waitFor(t, func() bool { _, sk := f.counts(); return sk >= 1 })
	f.mu.Lock()
	f.busy = false
	f.schedules = map[string]string{"daily": "0 3 * * *"}
	f.mu.Unlock()
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := f.counts()
	time.Sleep(2200 * time.Millisecond)
	after, _ := f.counts()
	if after["orders"] != before["orders"] {
		t.Errorf("orders fired %d more times after its schedule was removed", after["orders"]-before["orders"])
	}
	if after["daily"] != 0 {
		t.Errorf("the daily table fired: %v", after)
	}
}

func TestStartRefusesBadTask(t *testing.T) {
	s := New(Options{Tasks: []Task{{Name: "broken", Schedule: "@every nope", Run: func(context.Context) error { return nil }}}})
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Start = %v, want an error naming the task", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// halfway is a connector that writes part of a file and fails.
type halfway struct{}

func (halfway) Type() string    { return "halfway" }
func (halfway) Source() string  { return "halfway" }
func (halfway) Label() string   { return "Fails half-way" }
func (halfway) Modes() []string { return []string{extract.ModeLocal} }
func (halfway) Discover(context.Context) ([]connectors.Discovered, error) {
	return nil, nil
}
func (halfway) Extract(_ context.Context, t connectors.Table, stage string) (*connectors.Result, error) {
	if err := os.WriteFile(stage, []byte("PAR1 half a file"), 0o640); err != nil {
		return nil, err
	}
	return nil, errors.New("source went away half-way")
}

// TestScheduledSyncFires runs the real scheduler against a real engine: a 1 s schedule on an
// uploaded table and on a table of a connector that fails half-way, whose previous data (put
// there by an earlier successful extraction) must keep serving.
func TestScheduledSyncFires(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(dir, st, log, engine.Options{})
	pub := &engine.Publisher{Engine: eng, Store: st, DataDir: dir, Profiler: config.ProfilerConfig{}, Log: log}
	sy := engine.NewSyncer(eng, st, engine.SyncOptions{Connectors: connectors.NewRegistry(eng.ExtractsDir(), halfway{}), Publisher: pub})
	defer sy.Close()

	if _, err := pub.Upload(ctx, engine.UploadRequest{Name: "sales", Filename: "s.csv", Body: strings.NewReader("a\n1\n2\n3\n"),
		UploaderEmail: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	// Earlier good data of the halfway source, as a previous successful sync left it.
	hdir := filepath.Join(dir, "extracts", "halfway")
	if _, err := pub.Upload(ctx, engine.UploadRequest{Name: "seed", Filename: "s.csv", Body: strings.NewReader("x\n7\n8\n"),
		UploaderEmail: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(extract.DataDir(hdir), 0o750); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(filepath.Join(dir, "extracts", "uploads", "data", "seed.parquet"))
	if err := os.WriteFile(filepath.Join(extract.DataDir(hdir), "events.parquet"), src, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := extract.Upsert(hdir, extract.Table{Name: "events", Rows: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []store.Table{{ID: "sales", Name: "sales", SourceType: "upload", SyncSchedule: "@every 1s"},
		{ID: "events", Name: "events", SourceType: "halfway", SyncSchedule: "@every 1s"}} {
		if err := st.RegisterTable(ctx, &tb); err != nil {
			t.Fatal(err)
		}
	}

	s := New(Options{Syncs: &Local{Store: st, Syncer: sy}, Log: log, Tasks: []Task{HistoryRetention(st, 24*time.Hour)}})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	finished := func(id, state string) bool {
		for _, j := range sy.Jobs() {
			if j.Trigger != engine.TriggerSchedule || !j.Finished() {
				continue
			}
			for _, p := range j.Tables {
				if p.ID == id && p.State == state {
					return true
				}
			}
		}
		return false
	}
	waitFor(t, func() bool { return finished("sales", engine.SyncDone) && finished("events", engine.SyncFailed) })
	for _, j := range sy.Jobs() {
		for _, p := range j.Tables {
			if p.ID == "events" && p.State == engine.SyncFailed && !strings.Contains(p.Reason, "source went away half-way") {
				t.Errorf("events failed without the connector's reason: %q", p.Reason)
			}
		}
	}
	info, ok := eng.Catalog().Table("events")
	if !ok || info.Rows != 2 || !info.Available() {
		t.Errorf("events after failed scheduled syncs = %+v, want the previous 2 rows served", info)
	}
}

func TestRemoteAdapter(t *testing.T) {
	var got []map[string]any
	busy := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer da_pat_test" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"detail":"Not authenticated"}`))
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /api/admin/registry":
			_, _ = w.Write([]byte(`{"tables":[{"id":"orders","sync_schedule":"@every 1h"},{"id":"x","sync_schedule":null},{"id":"y","sync_schedule":"  "}],"count":3}`))
		case "POST /api/sync/trigger":
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			got = append(got, body)
			if busy {
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"detail":"busy"}`))
				return
			}
			_, _ = w.Write([]byte(`{"status":"triggered","job_id":"j1","tables":["orders"],"message":"ok"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	r := &Remote{BaseURL: srv.URL + "/", Token: "da_pat_test"}
	sched, err := r.Schedules(ctx)
	if err != nil || len(sched) != 1 || sched["orders"] != "@every 1h" {
		t.Fatalf("Schedules = %v, %v", sched, err)
	}
	if id, err := r.TriggerSync(ctx, "orders"); err != nil || id != "j1" {
		t.Fatalf("TriggerSync = %q, %v", id, err)
	}
	if got[0]["skip_busy"] != true || got[0]["trigger"] != "schedule" {
		t.Errorf("trigger body = %v", got[0])
	}
	busy = true
	if _, err := r.TriggerSync(ctx, "orders"); !errors.Is(err, ErrSkipped) {
		t.Errorf("busy TriggerSync = %v, want ErrSkipped", err)
	}
	bad := &Remote{BaseURL: srv.URL, Token: "wrong"}
	if _, err := bad.Schedules(ctx); err == nil || !strings.Contains(err.Error(), "Not authenticated") {
		t.Errorf("bad token: %v", err)
	}
}

// TestSchedulerReportsRuns: OnRun hears of every sync firing and task run with its outcome.
func TestSchedulerReportsRuns(t *testing.T) {
	f := &fakeSyncs{schedules: map[string]string{"orders": "@every 1s"}, fired: map[string]int{}, busy: true}
	var mu sync.Mutex
	runs := map[string]int{}
	s := New(Options{Syncs: f, ReloadEvery: time.Hour,
		Tasks: []Task{{Name: "retention", Schedule: "@every 1s", Run: func(context.Context) error { return errors.New("boom") }}},
		OnRun: func(job, outcome string) { mu.Lock(); runs[job+" "+outcome]++; mu.Unlock() }})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return runs["sync skipped"] >= 1 && runs["retention error"] >= 1
	})
	mu.Lock()
	defer mu.Unlock()
	if runs["sync ok"] != 0 || runs["retention ok"] != 0 {
		t.Errorf("runs %v: a busy sync and a failing task were reported as ok", runs)
	}
}
