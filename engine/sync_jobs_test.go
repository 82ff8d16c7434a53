package engine

import (
	"context"
	"testing"
	"time"

	"da/engine/connectors"
	"da/store"
)

// A restart (a new Syncer over the same system database) still answers for the jobs the
// previous process ran, and marks the ones it left unfinished as failed.
func TestSyncJobsSurviveARestart(t *testing.T) {
	env := newSyncEnv(t)
	ctx := context.Background()
	env.register(t, store.Table{ID: "alpha", Name: "alpha", SourceType: "flaky"})
	env.fake.set(map[string]int{"alpha": 5}, nil)
	done := env.runSync(t, SyncRequest{Tables: []string{"alpha"}, RequestedBy: "admin@example.com"})
	if done.Status != JobDone {
		t.Fatalf("first job: %+v", done)
	}
	// What a process killed in the middle of a job leaves behind.
	started := time.Now().UTC().Truncate(time.Microsecond)
	cut := &SyncJob{ID: "cut-short", Trigger: TriggerSchedule, Status: JobRunning, CreatedAt: started, StartedAt: started,
		Tables: []TableProgress{
			{ID: "alpha", Name: "alpha", SourceType: "flaky", State: SyncDone, Rows: 5, StartedAt: started, FinishedAt: started},
			{ID: "beta", Name: "beta", SourceType: "flaky", State: SyncExtracting, StartedAt: started},
			{ID: "gamma", Name: "gamma", SourceType: "flaky", State: SyncQueued},
		}}
	rec, err := jobRecord(cut)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.st.SaveSyncJob(ctx, rec); err != nil {
		t.Fatal(err)
	}
	env.sy.Close()

	restart := func(opt SyncOptions) *Syncer {
		opt.Connectors = connectors.NewRegistry(env.eng.ExtractsDir(), env.fake)
		sy := NewSyncer(env.eng, env.st, opt)
		t.Cleanup(sy.Close)
		return sy
	}
	sy := restart(SyncOptions{})
	got, ok := sy.Job(done.ID)
	if !ok || got.Status != JobDone || got.RequestedBy != "admin@example.com" || progressOf(got, "alpha").Rows != 5 ||
		!got.FinishedAt.Equal(done.FinishedAt.Truncate(time.Microsecond)) {
		t.Errorf("finished job after a restart = %+v, %v; want %+v", got, ok, done)
	}
	got, ok = sy.Job("cut-short")
	if !ok {
		t.Fatal("the interrupted job is gone after a restart")
	}
	if got.Status != JobFailed || got.Error != InterruptedReason || got.FinishedAt.IsZero() {
		t.Errorf("interrupted job = %+v, want failed with %q", got, InterruptedReason)
	}
	if p := progressOf(got, "alpha"); p.State != SyncDone || p.Reason != "" {
		t.Errorf("a table finished before the crash changed: %+v", p)
	}
	for _, id := range []string{"beta", "gamma"} {
		if p := progressOf(got, id); p.State != SyncFailed || p.Reason != InterruptedReason {
			t.Errorf("unfinished table %s = %+v, want failed: %s", id, p, InterruptedReason)
		}
	}
	if sy.Busy("beta") {
		t.Error("a table of the interrupted job still counts as being synced")
	}
	if jobs := sy.Jobs(); len(jobs) != 2 || jobs[0].ID != "cut-short" {
		t.Errorf("Jobs() after a restart = %d jobs, want 2, newest first", len(jobs))
	}
	// The failure is on record, so the next restart does not mark it again.
	rec2, err := env.st.GetSyncJob(ctx, "cut-short")
	if err != nil || rec2.Status != JobFailed || rec2.Error != InterruptedReason {
		t.Errorf("stored interrupted job = %+v, %v", rec2, err)
	}

	// A job run after the restart is on record as it goes, and retention applies to records.
	sy.Close()
	sy = restart(SyncOptions{KeepJobs: 1})
	if _, ok := sy.Job(done.ID); ok {
		t.Error("retention (KeepJobs 1) kept the older job")
	}
	rows, err := env.st.ListSyncJobs(ctx)
	if err != nil || len(rows) != 1 || rows[0].ID != "cut-short" {
		t.Errorf("stored jobs after retention = %+v, %v", rows, err)
	}
	job, err := sy.Trigger(ctx, SyncRequest{Tables: []string{"alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.st.GetSyncJob(ctx, job.ID); err != nil {
		t.Errorf("a triggered job is not on record at once: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := sy.Wait(wctx, job.ID); err != nil {
		t.Fatal(err)
	}
	rec3, err := env.st.GetSyncJob(ctx, job.ID)
	if err != nil || rec3.Status != JobDone || rec3.FinishedAt.IsZero() {
		t.Errorf("stored job after it finished = %+v, %v", rec3, err)
	}
}
