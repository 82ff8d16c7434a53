package engine

import (
	"context"
	"errors"
	"time"

	"da/store"
)

// With several replicas each Syncer runs the jobs triggered on its replica, and records
// itself as their owner (sync_job_owners). A job whose owner is no longer live was
// interrupted: the leader marks it failed and starts its unfinished tables again in a new
// job (RecoverOrphans). The per-source cluster lock that a running job holds goes with its
// replica's database session, so the new job cannot overlap with what is left of the old.

// OrphanReason is the error of a job whose replica stopped while it ran.
const OrphanReason = "interrupted: the replica running it stopped"

// TriggerRetry is the trigger of a job that redoes an interrupted job's tables.
const TriggerRetry = "retry"

// clustered reports whether jobs are shared with other replicas.
func (s *Syncer) clustered() bool { return s.opt.Replica != "" && s.opt.LiveReplicas != nil }

// saveOwnedJob saves the job and, with replicas, records this replica as its owner in the
// same transaction, so that no one ever sees the job without its owner.
func (s *Syncer) saveOwnedJob(ctx context.Context, j *SyncJob) error {
	r, err := jobRecord(j)
	if err != nil {
		return err
	}
	owner := ""
	if s.clustered() {
		owner = s.opt.Replica
	}
	return s.store.SaveSyncJobOwned(context.WithoutCancel(ctx), r, owner)
}

// runningElsewhere is the set of jobs that are not this replica's to recover at start: with
// replicas, every job owned by another replica (a live one runs it; the leader recovers those
// of one that is gone, see RecoverOrphans). Empty for a single process, where every
// unfinished job at start was interrupted.
func (s *Syncer) runningElsewhere(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	if !s.clustered() {
		return out, nil
	}
	rows, err := s.store.ListSyncJobs(ctx, JobQueued, JobRunning)
	if err != nil {
		return nil, err
	}
	owners, err := s.store.SyncJobOwners(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if owners[r.ID] != s.opt.Replica {
			out[r.ID] = true
		}
	}
	return out, nil
}

// storedJob reads a job this process does not hold (another replica's) from the store.
func (s *Syncer) storedJob(id string) (*SyncJob, bool) {
	if !s.clustered() {
		return nil, false
	}
	r, err := s.store.GetSyncJob(s.ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.opt.Log.Warn("sync: reading a sync job of another replica failed", "job", id, "error", err)
		}
		return nil, false
	}
	j, err := jobFromRecord(*r)
	if err != nil {
		return nil, false
	}
	return j, true
}

// RecoverOrphans marks failed every unfinished job whose owner is neither this replica nor
// live, and triggers its unfinished tables again. It returns the ids of the new jobs. The
// leader calls it periodically.
func (s *Syncer) RecoverOrphans(ctx context.Context) ([]string, error) {
	if !s.clustered() {
		return nil, nil
	}
	rows, err := s.store.ListSyncJobs(ctx, JobQueued, JobRunning)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	owners, err := s.store.SyncJobOwners(ctx)
	if err != nil {
		return nil, err
	}
	live, err := s.opt.LiveReplicas(ctx)
	if err != nil {
		return nil, err
	}
	var started []string
	for _, r := range rows {
		owner := owners[r.ID]
		if owner == s.opt.Replica || live[owner] {
			continue
		}
		j, err := jobFromRecord(r)
		if err != nil {
			continue
		}
		now := time.Now().UTC()
		var redo []string
		for i := range j.Tables {
			if !j.Tables[i].Finished() {
				redo = append(redo, j.Tables[i].ID)
				j.Tables[i].State, j.Tables[i].Reason, j.Tables[i].FinishedAt = SyncFailed, OrphanReason, now
			}
		}
		j.Status, j.Error, j.FinishedAt = JobFailed, OrphanReason, now
		// Owning the job makes a second leader's pass (or a race with one) skip it.
		if err := s.saveOwnedJob(ctx, j); err != nil {
			return started, err
		}
		s.opt.Log.Warn("sync: a job of a replica that stopped is marked failed", "job", j.ID, "replica", owner, "tables", len(redo))
		if len(redo) == 0 {
			continue
		}
		nj, err := s.Trigger(ctx, SyncRequest{Tables: redo, Trigger: TriggerRetry, RequestedBy: j.RequestedBy})
		var busy *BusyError
		if errors.As(err, &busy) {
			// Every table is already waiting in another job here, which syncs it anyway.
			s.opt.Log.Info("sync: an interrupted job's tables are already queued", "job", j.ID, "queued_in", busy.JobID)
			continue
		}
		if err != nil {
			s.opt.Log.Warn("sync: retrying an interrupted job failed", "job", j.ID, "error", err)
			continue
		}
		s.opt.Log.Info("sync: retrying an interrupted job", "job", j.ID, "retry", nj.ID)
		started = append(started, nj.ID)
	}
	return started, nil
}
