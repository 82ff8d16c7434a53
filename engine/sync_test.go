package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"da/config"
	"da/engine/connectors"
	"da/engine/extract"
	"da/store"
)

// fakeConn is a test connector of source type "flaky": each table gets `rows` rows, unless
// failHalfway names it, in which case half a parquet file is written and an error returned.
type fakeConn struct {
	mu          sync.Mutex
	rows        map[string]int
	failHalfway map[string]bool
	block       chan struct{} // when set, Extract waits for it to close
}

func (f *fakeConn) Type() string    { return "flaky" }
func (f *fakeConn) Source() string  { return "flaky" }
func (f *fakeConn) Label() string   { return "Flaky test source" }
func (f *fakeConn) Modes() []string { return []string{extract.ModeLocal} }
func (f *fakeConn) Discover(context.Context) ([]connectors.Discovered, error) {
	return []connectors.Discovered{{ID: "alpha", Name: "alpha"}, {ID: "beta", Name: "beta"}}, nil
}

func (f *fakeConn) Extract(ctx context.Context, t connectors.Table, stage string) (*connectors.Result, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	n, fail := f.rows[t.Name], f.failHalfway[t.Name]
	f.mu.Unlock()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	q := fmt.Sprintf("COPY (SELECT range AS id, 'v' || range AS label FROM range(%d)) TO %s (FORMAT parquet)", n, quoteString(stage))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return nil, err
	}
	if fail {
		b, _ := os.ReadFile(stage)
		_ = os.WriteFile(stage, b[:len(b)/2], 0o640)
		return nil, errors.New("connection reset by peer after 50%")
	}
	return &connectors.Result{}, nil
}

func (f *fakeConn) set(rows map[string]int, fail map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows, f.failHalfway = rows, fail
}

type syncEnv struct {
	eng  *Engine
	st   *store.Store
	dir  string
	sy   *Syncer
	pub  *Publisher
	fake *fakeConn
}

func newSyncEnv(t *testing.T) *syncEnv {
	t.Helper()
	eng, st, dir := testEngine(t, Options{})
	pub := &Publisher{Engine: eng, Store: st, DataDir: dir, Profiler: config.ProfilerConfig{}, Log: eng.log}
	fake := &fakeConn{}
	sy := NewSyncer(eng, st, SyncOptions{Connectors: connectors.NewRegistry(eng.ExtractsDir(), fake), Publisher: pub})
	t.Cleanup(sy.Close)
	return &syncEnv{eng: eng, st: st, dir: dir, sy: sy, pub: pub, fake: fake}
}

func (env *syncEnv) register(t *testing.T, tables ...store.Table) {
	t.Helper()
	for i := range tables {
		if err := env.st.RegisterTable(context.Background(), &tables[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func (env *syncEnv) runSync(t *testing.T, req SyncRequest) *SyncJob {
	t.Helper()
	job, err := env.sy.Trigger(context.Background(), req)
	if err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done, err := env.sy.Wait(ctx, job.ID)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return done
}

func progressOf(j *SyncJob, id string) TableProgress {
	for _, p := range j.Tables {
		if p.ID == id {
			return p
		}
	}
	return TableProgress{}
}

func TestSyncFailingConnectorKeepsPreviousData(t *testing.T) {
	env := newSyncEnv(t)
	env.register(t, store.Table{ID: "alpha", Name: "alpha", SourceType: "flaky", ProfileAfterSync: true},
		store.Table{ID: "beta", Name: "beta", SourceType: "flaky", ProfileAfterSync: true})

	steps := []struct {
		name       string
		rows       map[string]int
		fail       map[string]bool
		wantStatus string
		wantState  map[string]string
		wantRows   map[string]int64 // served rows after the step
	}{
		{"first sync", map[string]int{"alpha": 10, "beta": 20}, nil, JobDone,
			map[string]string{"alpha": SyncDone, "beta": SyncDone}, map[string]int64{"alpha": 10, "beta": 20}},
		{"beta fails half-way", map[string]int{"alpha": 11, "beta": 99}, map[string]bool{"beta": true}, JobFailed,
			map[string]string{"alpha": SyncDone, "beta": SyncFailed}, map[string]int64{"alpha": 11, "beta": 20}},
		{"beta recovers", map[string]int{"alpha": 11, "beta": 30}, nil, JobDone,
			map[string]string{"alpha": SyncDone, "beta": SyncDone}, map[string]int64{"alpha": 11, "beta": 30}},
	}
	for _, s := range steps {
		env.fake.set(s.rows, s.fail)
		job := env.runSync(t, SyncRequest{})
		if job.Status != s.wantStatus {
			t.Errorf("%s: job status %q (%s), want %q", s.name, job.Status, job.Error, s.wantStatus)
		}
		for id, want := range s.wantState {
			p := progressOf(job, id)
			if p.State != want {
				t.Errorf("%s: %s state %q (reason %q), want %q", s.name, id, p.State, p.Reason, want)
			}
			if want == SyncFailed && !strings.Contains(p.Reason, "connection reset by peer") {
				t.Errorf("%s: %s reason %q does not carry the connector's error", s.name, id, p.Reason)
			}
		}
		for id, want := range s.wantRows {
			info, ok := env.eng.Catalog().Table(id)
			if !ok || info.Rows != want {
				t.Errorf("%s: served %s = %+v, want %d rows", s.name, id, info, want)
			}
		}
	}
	// The failure is in sync_history, the staging files are gone, and the profile exists.
	hist, err := env.st.ListSyncHistory(context.Background(), "beta", 0)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, h := range hist {
		if h.Status == store.SyncStatusError && strings.Contains(h.Error, "connection reset") {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("sync_history of beta has %d failure rows, want 1: %+v", failed, hist)
	}
	// alpha synced three times, the last time without a change: each sync is in its history.
	hist, err = env.st.ListSyncHistory(context.Background(), "alpha", 0)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, h := range hist {
		if h.Status == store.SyncStatusOK && h.Rows > 0 {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("sync_history of alpha has %d successful rows, want 3 (one per sync): %+v", ok, hist)
	}
	if m, _ := filepath.Glob(filepath.Join(env.dir, "extracts", "flaky", ".sync-*")); len(m) > 0 {
		t.Errorf("staging left behind: %v", m)
	}
	if _, _, err := env.st.GetProfile(context.Background(), "alpha"); err != nil {
		t.Errorf("alpha was not profiled after the sync: %v", err)
	}
}

func TestSyncUploadSource(t *testing.T) {
	env := newSyncEnv(t)
	ctx := context.Background()
	_, err := env.pub.Upload(ctx, UploadRequest{Name: "Sales", Filename: "sales.csv", Body: strings.NewReader("a,b\n1,2\n3,4\n"),
		UploaderEmail: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.st.SaveProfile(ctx, "sales", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	job := env.runSync(t, SyncRequest{Tables: []string{"SALES"}, RequestedBy: "admin@example.com"})
	if p := progressOf(job, "sales"); job.Status != JobDone || p.State != SyncDone || p.Rows != 2 {
		t.Fatalf("upload sync = %+v", job)
	}
	// Its data file vanished: the sync fails with a reason and nothing else changes.
	if err := os.Remove(filepath.Join(env.dir, "extracts", "uploads", "data", "sales.parquet")); err != nil {
		t.Fatal(err)
	}
	job = env.runSync(t, SyncRequest{Tables: []string{"sales"}})
	if p := progressOf(job, "sales"); p.State != SyncFailed || !strings.Contains(p.Reason, "upload the file again") {
		t.Fatalf("sync of a missing upload = %+v", p)
	}
}

func TestSyncTriggerRules(t *testing.T) {
	env := newSyncEnv(t)
	env.register(t, store.Table{ID: "alpha", Name: "alpha", SourceType: "flaky"},
		store.Table{ID: "ghost", Name: "ghost", SourceType: "nosuchsource"})
	env.fake.set(map[string]int{"alpha": 3}, nil)
	ctx := context.Background()

	var unknown *UnknownTablesError
	if _, err := env.sy.Trigger(ctx, SyncRequest{Tables: []string{"alpha", "nope"}}); !errors.As(err, &unknown) || unknown.IDs[0] != "nope" {
		t.Fatalf("unknown id: err = %v", err)
	}
	// "all" takes only tables that have a connector; an explicit one without fails with a reason.
	job := env.runSync(t, SyncRequest{})
	if len(job.Tables) != 1 || job.Tables[0].ID != "alpha" {
		t.Errorf("all = %+v, want only alpha", job.Tables)
	}
	job = env.runSync(t, SyncRequest{Tables: []string{"ghost"}})
	if p := progressOf(job, "ghost"); p.State != SyncFailed || !strings.Contains(p.Reason, `no connector for source type "nosuchsource"`) {
		t.Errorf("ghost = %+v", p)
	}

	// While a job holds alpha, a scheduled run is skipped and a second manual one queues once.
	env.fake.block = make(chan struct{})
	first, err := env.sy.Trigger(ctx, SyncRequest{Tables: []string{"alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for progressOf(mustJob(t, env.sy, first.ID), "alpha").State != SyncExtracting && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !env.sy.Busy("alpha") {
		t.Fatal("alpha is not busy while extracting")
	}
	if _, err := env.sy.Trigger(ctx, SyncRequest{Tables: []string{"alpha"}, SkipBusy: true}); !errors.Is(err, ErrBusy) {
		t.Errorf("scheduled run during a sync: err = %v, want ErrBusy", err)
	}
	second, err := env.sy.Trigger(ctx, SyncRequest{Tables: []string{"alpha"}})
	if err != nil {
		t.Fatalf("manual run during a sync: %v", err)
	}
	var busy *BusyError
	if _, err := env.sy.Trigger(ctx, SyncRequest{Tables: []string{"alpha"}}); !errors.As(err, &busy) || busy.JobID != second.ID {
		t.Errorf("third manual run while one is queued: err = %v, want BusyError for %s", err, second.ID)
	}
	close(env.fake.block)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, id := range []string{first.ID, second.ID} {
		j, err := env.sy.Wait(wctx, id)
		if err != nil || j.Status != JobDone {
			t.Errorf("job %s = %+v, %v", id, j, err)
		}
	}
	if env.sy.Busy("alpha") {
		t.Error("alpha still busy after the jobs finished")
	}
	if jobs := env.sy.Jobs(); len(jobs) < 4 || jobs[0].ID != second.ID {
		t.Errorf("Jobs() is not newest first: %d jobs", len(jobs))
	}
}

func mustJob(t *testing.T, s *Syncer, id string) *SyncJob {
	t.Helper()
	j, ok := s.Job(id)
	if !ok {
		t.Fatalf("job %s vanished", id)
	}
	return j
}

func TestUnregisterRemovesDataAndGrants(t *testing.T) {
	env := newSyncEnv(t)
	ctx := context.Background()
	env.register(t, store.Table{ID: "alpha", Name: "alpha", SourceType: "flaky"}, store.Table{ID: "beta", Name: "beta", SourceType: "flaky"})
	env.fake.set(map[string]int{"alpha": 5, "beta": 6}, nil)
	env.runSync(t, SyncRequest{})
	if _, err := env.st.Grant(ctx, "u1", "alpha", "read"); err != nil {
		t.Fatal(err)
	}
	out, err := env.sy.Unregister(ctx, "ALPHA")
	if err != nil || out.Permissions != 1 {
		t.Fatalf("Unregister = %+v, %v", out, err)
	}
	if _, ok := env.eng.Catalog().Table("alpha"); ok {
		t.Error("alpha is still served after Unregister")
	}
	if _, ok := env.eng.Catalog().Table("beta"); !ok {
		t.Error("beta stopped being served")
	}
	if files := extract.TableFiles(filepath.Join(env.dir, "extracts", "flaky"), "alpha"); len(files) > 0 {
		t.Errorf("alpha's data is still there: %v", files)
	}
	if _, err := env.sy.Unregister(ctx, "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Unregister: %v, want ErrNotFound", err)
	}
}
