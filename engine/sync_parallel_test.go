package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"da/config"
	"da/engine/connectors"
	"da/store"
)

// parallelConn is a source that extracts up to `limit` tables at once; each Extract waits
// until `limit` extractions are inside at the same time, so a sequential job cannot finish.
type parallelConn struct {
	fakeConn
	limit   int
	mu      sync.Mutex
	inside  int
	maxSeen int
	barrier chan struct{}
}

func (p *parallelConn) Type() string     { return "parallel" }
func (p *parallelConn) Source() string   { return "parallel" }
func (p *parallelConn) Parallelism() int { return p.limit }

func (p *parallelConn) Extract(ctx context.Context, t connectors.Table, stage string) (*connectors.Result, error) {
	p.mu.Lock()
	p.inside++
	p.maxSeen = max(p.maxSeen, p.inside)
	if p.inside == p.limit {
		close(p.barrier)
	}
	b := p.barrier
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.inside--; p.mu.Unlock() }()
	select {
	case <-b:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second): // a safety net only: a sequential job never gets here in time
		return nil, errors.New("the other extraction never started")
	}
	if t.Name == "t2" {
		return nil, errors.New("boom")
	}
	return p.fakeConn.Extract(ctx, t, stage)
}

func TestSyncExtractsASourceInParallel(t *testing.T) {
	eng, st, dir := testEngine(t, Options{})
	pub := &Publisher{Engine: eng, Store: st, DataDir: dir, Profiler: config.ProfilerConfig{}, Log: eng.log}
	pc := &parallelConn{limit: 3, barrier: make(chan struct{})}
	pc.rows = map[string]int{"t1": 3, "t2": 4, "t3": 5}
	sy := NewSyncer(eng, st, SyncOptions{Connectors: connectors.NewRegistry(eng.ExtractsDir(), pc), Publisher: pub})
	t.Cleanup(sy.Close)
	env := &syncEnv{eng: eng, st: st, dir: dir, sy: sy, pub: pub}
	for i := 1; i <= 3; i++ {
		env.register(t, store.Table{ID: fmt.Sprint("t", i), Name: fmt.Sprint("t", i), SourceType: "parallel"})
	}
	job := env.runSync(t, SyncRequest{Tables: []string{"t1", "t2", "t3"}})
	if pc.maxSeen != 3 {
		t.Fatalf("at most %d tables were extracted at once, want 3", pc.maxSeen)
	}
	// A failing table does not stop the others.
	if p := progressOf(job, "t2"); p.State != SyncFailed || p.Reason == "" {
		t.Fatalf("t2 = %+v", p)
	}
	for _, id := range []string{"t1", "t3"} {
		if p := progressOf(job, id); p.State != SyncDone || p.Rows == 0 || p.Bytes == 0 {
			t.Fatalf("%s = %+v", id, p)
		}
	}
}
