package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/engine"
	"da/store"
)

// After a restart, GET /api/sync/jobs/{id} still answers for a job the previous process
// left unfinished (as failed, interrupted by the restart), and the list shows it.
func TestSyncJobInterruptedByARestartStillAnswers(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	started := time.Now().UTC().Truncate(time.Microsecond)
	err := env.store.SaveSyncJob(ctx, store.SyncJob{ID: "job-cut-short", Trigger: "manual", RequestedBy: "admin@example.com",
		Status: engine.JobRunning, CreatedAt: started, StartedAt: started,
		Tables: `[{"id":"orders","name":"orders","source_type":"keboola","state":"extracting","rows":0}]`})
	if err != nil {
		t.Fatal(err)
	}
	// The restart: a new syncer over the same system database.
	old := env.srv.syncer
	old.Close()
	env.srv.syncer = engine.NewSyncer(env.srv.engine, env.store, engine.SyncOptions{Publisher: env.srv.publisher})
	t.Cleanup(env.srv.syncer.Close)

	rec := env.do(request{method: "GET", path: "/api/sync/jobs/job-cut-short", token: env.tokens[auth.RoleAdmin]})
	if rec.Code != 200 {
		t.Fatalf("GET the interrupted job: %d %s", rec.Code, rec.Body)
	}
	var job engine.SyncJob
	if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil {
		t.Fatal(err)
	}
	if job.Status != engine.JobFailed || job.Error != engine.InterruptedReason || len(job.Tables) != 1 ||
		job.Tables[0].State != engine.SyncFailed || job.Tables[0].Reason != engine.InterruptedReason {
		t.Errorf("interrupted job = %+v", job)
	}
	rec = env.do(request{method: "GET", path: "/api/sync/jobs", token: env.tokens[auth.RoleAdmin]})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "job-cut-short") {
		t.Errorf("job list after a restart: %d %s", rec.Code, rec.Body)
	}
	if rec := env.do(request{method: "GET", path: "/api/sync/jobs/job-cut-short", token: env.tokens[auth.RoleAnalyst]}); rec.Code != 403 {
		t.Errorf("an analyst read a sync job: %d", rec.Code)
	}
	if rec := env.do(request{method: "GET", path: "/api/sync/jobs/no-such-job", token: env.tokens[auth.RoleAdmin]}); rec.Code != 404 {
		t.Errorf("unknown job: %d", rec.Code)
	}
}
