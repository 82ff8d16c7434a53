package engine

import (
	"context"
	"testing"
	"time"

	"da/engine/connectors"
	"da/store"
)

// With replicas, a starting syncer leaves the unfinished jobs of live replicas alone (and
// serves them from the store), and the leader fails and retries, once, the jobs of a replica
// that is gone.
func TestOrphanedJobsAreFailedAndRetriedOnce(t *testing.T) {
	env := newSyncEnv(t)
	ctx := context.Background()
	env.register(t, store.Table{ID: "alpha", Name: "alpha", SourceType: "flaky"})
	env.register(t, store.Table{ID: "beta", Name: "beta", SourceType: "flaky"})
	env.fake.set(map[string]int{"alpha": 5, "beta": 3}, nil)
	env.sy.Close()

	started := time.Now().UTC().Truncate(time.Microsecond)
	save := func(id, owner string, tables ...TableProgress) {
		t.Helper()
		rec, err := jobRecord(&SyncJob{ID: id, Trigger: TriggerSchedule, Status: JobRunning, CreatedAt: started,
			StartedAt: started, Tables: tables})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.st.SaveSyncJob(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := env.st.SetSyncJobOwner(ctx, id, owner); err != nil {
			t.Fatal(err)
		}
	}
	save("elsewhere", "live-replica", TableProgress{ID: "alpha", Name: "alpha", SourceType: "flaky", State: SyncExtracting})
	save("orphan", "dead-replica",
		TableProgress{ID: "alpha", Name: "alpha", SourceType: "flaky", State: SyncDone, Rows: 5},
		TableProgress{ID: "beta", Name: "beta", SourceType: "flaky", State: SyncExtracting})
	live := map[string]bool{"live-replica": true, "leader-a": true, "leader-b": true}
	newSyncer := func(id string) *Syncer {
		sy := NewSyncer(env.eng, env.st, SyncOptions{Connectors: connectors.NewRegistry(env.eng.ExtractsDir(), env.fake),
			Replica: id, LiveReplicas: func(context.Context) (map[string]bool, error) { return live, nil }})
		t.Cleanup(sy.Close)
		return sy
	}
	a, b := newSyncer("leader-a"), newSyncer("leader-b")

	// Starting did not touch the live replica's job; it is read from the store.
	if j, ok := a.Job("elsewhere"); !ok || j.Status != JobRunning {
		t.Fatalf("a live replica's job after a start = %+v, %v", j, ok)
	}
	if a.Busy("alpha") {
		t.Fatal("a job of another replica must not make a table busy here")
	}
	retried, err := a.RecoverOrphans(ctx)
	if err != nil || len(retried) != 1 {
		t.Fatalf("RecoverOrphans = %v, %v; want one retry", retried, err)
	}
	// A second leader's pass (after a takeover) finds nothing left to do.
	if again, err := b.RecoverOrphans(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second pass = %v, %v; want none", again, err)
	}
	orphan, ok := a.Job("orphan")
	if !ok || orphan.Status != JobFailed || orphan.Error != OrphanReason {
		t.Fatalf("orphan = %+v", orphan)
	}
	if p := progressOf(orphan, "alpha"); p.State != SyncDone {
		t.Errorf("a table that had finished changed: %+v", p)
	}
	if p := progressOf(orphan, "beta"); p.State != SyncFailed || p.Reason != OrphanReason {
		t.Errorf("the interrupted table = %+v", p)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	redo, err := a.Wait(wctx, retried[0])
	if err != nil {
		t.Fatal(err)
	}
	if redo.Trigger != TriggerRetry || redo.Status != JobDone || len(redo.Tables) != 1 || redo.Tables[0].ID != "beta" {
		t.Fatalf("retry job = %+v", redo)
	}
	if j, _ := a.Job("elsewhere"); j.Status != JobRunning {
		t.Fatalf("the live replica's job was touched: %+v", j)
	}
	owners, err := env.st.SyncJobOwners(ctx)
	if err != nil || owners[retried[0]] != "leader-a" || owners["orphan"] != "leader-a" {
		t.Fatalf("owners = %v, %v", owners, err)
	}
}
