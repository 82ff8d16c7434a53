package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSyncJobsRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		created := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		j := SyncJob{ID: "job-1", Trigger: "manual", RequestedBy: "a@example.com", Status: "running",
			CreatedAt: created, StartedAt: created.Add(time.Second), Tables: `[{"id":"t"}]`}
		if err := s.SaveSyncJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		j.Status, j.Error, j.FinishedAt = "failed", "1 of 1 tables failed", created.Add(time.Minute)
		if err := s.SaveSyncJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSyncJob(ctx, SyncJob{ID: "job-2", Trigger: "schedule", Status: "queued", CreatedAt: created.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSyncJob(ctx, "job-1")
		if err != nil {
			t.Fatal(err)
		}
		if *got != j {
			t.Errorf("GetSyncJob = %+v, want %+v", *got, j)
		}
		if _, err := s.GetSyncJob(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetSyncJob(unknown) = %v, want ErrNotFound", err)
		}
		pending, err := s.ListSyncJobs(ctx, "queued", "running")
		if err != nil || len(pending) != 1 || pending[0].ID != "job-2" || pending[0].Tables != "[]" || !pending[0].StartedAt.IsZero() {
			t.Errorf("ListSyncJobs(queued, running) = %+v, %v", pending, err)
		}
		all, err := s.ListSyncJobs(ctx)
		if err != nil || len(all) != 2 || all[0].ID != "job-1" {
			t.Errorf("ListSyncJobs() = %+v, %v", all, err)
		}
		if n, err := s.DeleteSyncJobs(ctx, []string{"job-1", "nope"}); err != nil || n != 1 {
			t.Errorf("DeleteSyncJobs = %d, %v", n, err)
		}
		if err := s.SaveSyncJob(ctx, SyncJob{ID: "x"}); err == nil {
			t.Error("SaveSyncJob without status and created_at succeeded")
		}
		if err := s.ProbeWrite(ctx); err != nil {
			t.Errorf("ProbeWrite: %v", err)
		}
		if err := s.ProbeWrite(ctx); err != nil {
			t.Errorf("second ProbeWrite: %v", err)
		}
	})
}
