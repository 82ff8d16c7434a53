package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"da/engine/connectors"
	"da/engine/extract"
	"da/store"
)

// Per-table states of a sync job, in the order a table goes through them.
const (
	SyncQueued     = "queued"
	SyncExtracting = "extracting"
	SyncRebuilding = "rebuilding"
	SyncProfiling  = "profiling"
	SyncDone       = "done"
	SyncFailed     = "failed"
)

// Job statuses.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed" // at least one table failed
)

// Sync triggers recorded on a job.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
)

// ErrBusy means every requested table is already being synced (or waiting to be), so the
// request was dropped rather than stacked. BusyError carries the job that has them.
var ErrBusy = errors.New("engine: the tables are already being synced")

// BusyError is ErrBusy with the job that already covers the tables.
type BusyError struct{ JobID string }

func (e *BusyError) Error() string { return ErrBusy.Error() + " (job " + e.JobID + ")" }

// Unwrap makes errors.Is(err, ErrBusy) work.
func (e *BusyError) Unwrap() error { return ErrBusy }

// UnknownTablesError names requested table ids that are not registered.
type UnknownTablesError struct{ IDs []string }

func (e *UnknownTablesError) Error() string {
	return "unknown table ids (not registered): " + strings.Join(e.IDs, ", ")
}

// SyncRequest asks for one sync job.
type SyncRequest struct {
	// Tables are registry ids; nil or empty means every registered table with a connector.
	Tables []string
	// Trigger is TriggerManual or TriggerSchedule.
	Trigger string
	// RequestedBy is the user id or e-mail behind a manual trigger.
	RequestedBy string
	// SkipBusy drops tables already queued or running instead of syncing them again after the
	// running job (the scheduler's rule: overlapping runs are skipped, not stacked).
	SkipBusy bool
}

// TableProgress is one table's progress in a sync job.
type TableProgress struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	SourceType string `json:"source_type"`
	State      string `json:"state"`
	Reason     string `json:"reason,omitempty"`  // why it failed
	Warning    string `json:"warning,omitempty"` // done, but something secondary failed (profiling)
	Rows       int64  `json:"rows"`
	// Figures of the extraction, when the source reports them.
	Strategy    string    `json:"strategy,omitempty"`     // the strategy used (a first incremental sync is a full refresh)
	RowsChanged int64     `json:"rows_changed,omitempty"` // rows the source sent
	Bytes       int64     `json:"bytes,omitempty"`        // size of the written data
	ExtractMS   int64     `json:"extract_ms,omitempty"`   // how long the extraction took
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
}

// Finished reports whether the table reached done or failed.
func (p TableProgress) Finished() bool { return p.State == SyncDone || p.State == SyncFailed }

// SyncJob is a snapshot of one sync job; the Syncer hands out copies.
type SyncJob struct {
	ID          string          `json:"job_id"`
	Trigger     string          `json:"trigger"`
	RequestedBy string          `json:"requested_by,omitempty"`
	Status      string          `json:"status"`
	Error       string          `json:"error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   time.Time       `json:"started_at,omitzero"`
	FinishedAt  time.Time       `json:"finished_at,omitzero"`
	Tables      []TableProgress `json:"tables"`
}

// Finished reports whether the job has ended.
func (j *SyncJob) Finished() bool { return j.Status == JobDone || j.Status == JobFailed }

// Counts returns how many tables are done, failed, and in total.
func (j *SyncJob) Counts() (done, failed, total int) {
	for _, t := range j.Tables {
		switch t.State {
		case SyncDone:
			done++
		case SyncFailed:
			failed++
		}
	}
	return done, failed, len(j.Tables)
}

// SyncOptions tune a Syncer.
type SyncOptions struct {
	// Connectors maps source types to connectors; required.
	Connectors *connectors.Registry
	// Publisher profiles tables after a sync; nil skips profiling.
	Publisher *Publisher
	// KeepJobs is how many finished jobs stay queryable (default 100); KeepFor how long
	// (default 24 h). Running jobs are always kept.
	KeepJobs int
	KeepFor  time.Duration
	Log      *slog.Logger
	// AfterSync, when set, hears of the tables each job published (after profiling), for
	// work that follows a sync such as the OpenMetadata enrichment; it must not block.
	AfterSync func(ids []string)
	// Replica, when several replicas share the data directory, is this replica's id: every
	// job records it as its owner, and at start only the unfinished jobs of replicas that are
	// not live (LiveReplicas) are failed and retried, by the leader (see sync_cluster.go).
	Replica      string
	LiveReplicas func(ctx context.Context) (map[string]bool, error)
}

// Syncer runs sync jobs in the background: connectors extract into the extract contract
// (through a staging file and an atomic rename, so a failing connector leaves the previous
// data serving), then the catalog is rebuilt and the synced tables profiled. Only one job at a
// time works on a source; the others wait their turn with their tables "queued".
type Syncer struct {
	eng   *Engine
	store *store.Store
	opt   SyncOptions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	saveMu sync.Mutex
	jobs   map[string]*SyncJob
	order  []string // job ids, oldest first
	// sourceLocks (capacity 1 each) serialise jobs per source directory.
	sourceLocks map[string]chan struct{}
	// observer hears of every finished job (OnFinished); guarded by mu.
	observer func(*SyncJob)
}

// OnFinished sets fn to be called with a copy of every job that finishes from now on (for
// metrics); fn must not block.
func (s *Syncer) OnFinished(fn func(*SyncJob)) {
	s.mu.Lock()
	s.observer = fn
	s.mu.Unlock()
}

// NewSyncer returns a Syncer publishing through e and recording in st.
func NewSyncer(e *Engine, st *store.Store, opt SyncOptions) *Syncer {
	if opt.KeepJobs <= 0 {
		opt.KeepJobs = 100
	}
	if opt.KeepFor <= 0 {
		opt.KeepFor = 24 * time.Hour
	}
	if opt.Log == nil {
		opt.Log = e.log
	}
	if opt.Connectors == nil {
		opt.Connectors = connectors.NewRegistry(e.ExtractsDir())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Syncer{eng: e, store: st, opt: opt, ctx: ctx, cancel: cancel, jobs: map[string]*SyncJob{},
		sourceLocks: map[string]chan struct{}{}}
	s.recoverJobs(ctx)
	return s
}

// InterruptedReason is the error of a job (and of its unfinished tables) that was running or
// waiting when the server stopped without finishing it.
const InterruptedReason = "interrupted by a server restart"

// recoverJobs loads the jobs an earlier process saved: the ones it left queued or running
// are marked failed (nothing runs them any more), and the retained ones are served again by
// Job and Jobs. Problems are logged; the syncer works without its history.
func (s *Syncer) recoverJobs(ctx context.Context) {
	rows, err := s.store.ListSyncJobs(ctx)
	if err != nil {
		s.opt.Log.Error("sync: loading saved sync jobs failed", "error", err)
		return
	}
	elsewhere, err := s.runningElsewhere(ctx)
	if err != nil {
		s.opt.Log.Error("sync: reading which replicas run sync jobs failed", "error", err)
		return
	}
	now := time.Now().UTC()
	interrupted := 0
	for _, r := range rows {
		j, err := jobFromRecord(r)
		if err != nil {
			s.opt.Log.Warn("sync: skipping an unreadable saved sync job", "job", r.ID, "error", err)
			continue
		}
		if !j.Finished() && elsewhere[j.ID] {
			continue // another replica's: it runs it, or the leader recovers it; Job reads it from the store
		}
		if !j.Finished() {
			for i := range j.Tables {
				if !j.Tables[i].Finished() {
					j.Tables[i].State, j.Tables[i].Reason, j.Tables[i].FinishedAt = SyncFailed, InterruptedReason, now
				}
			}
			j.Status, j.Error, j.FinishedAt = JobFailed, InterruptedReason, now
			if err := s.saveJob(ctx, j); err != nil {
				s.opt.Log.Error("sync: marking an interrupted sync job failed did not save", "job", j.ID, "error", err)
			}
			interrupted++
		}
		s.jobs[j.ID] = j
		s.order = append(s.order, j.ID)
	}
	if interrupted > 0 {
		s.opt.Log.Warn("sync: jobs interrupted by the last shutdown are marked failed", "jobs", interrupted)
	}
	s.forget(ctx, s.pruneLocked())
}

// jobRecord is the row the store keeps for a job.
func jobRecord(j *SyncJob) (store.SyncJob, error) {
	tables, err := json.Marshal(j.Tables)
	if err != nil {
		return store.SyncJob{}, err
	}
	return store.SyncJob{ID: j.ID, Trigger: j.Trigger, RequestedBy: j.RequestedBy, Status: j.Status, Error: j.Error,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, Tables: string(tables)}, nil
}

// jobFromRecord is the job a stored row describes.
func jobFromRecord(r store.SyncJob) (*SyncJob, error) {
	j := &SyncJob{ID: r.ID, Trigger: r.Trigger, RequestedBy: r.RequestedBy, Status: r.Status, Error: r.Error,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Tables: []TableProgress{}}
	if err := json.Unmarshal([]byte(r.Tables), &j.Tables); err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	return j, nil
}

// saveJob writes the job's current state to the store.
func (s *Syncer) saveJob(ctx context.Context, j *SyncJob) error {
	r, err := jobRecord(j)
	if err != nil {
		return err
	}
	return s.store.SaveSyncJob(context.WithoutCancel(ctx), r)
}

// persist saves a snapshot of a running job; a failure is logged and the job goes on (its
// record catches up at the next change).
func (s *Syncer) persist(j *SyncJob) {
	if err := s.saveJob(s.ctx, j); err != nil {
		s.opt.Log.Warn("sync: saving the job's progress failed", "job", j.ID, "error", err)
	}
}

// forget deletes the saved records of jobs that retention dropped.
func (s *Syncer) forget(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	if _, err := s.store.DeleteSyncJobs(context.WithoutCancel(ctx), ids); err != nil {
		s.opt.Log.Warn("sync: deleting old sync jobs failed", "jobs", len(ids), "error", err)
	}
}

// Connectors is the connector registry the syncer uses.
func (s *Syncer) Connectors() *connectors.Registry { return s.opt.Connectors }

// Close cancels running jobs and waits for them to stop.
func (s *Syncer) Close() {
	s.cancel()
	s.wg.Wait()
}

// Trigger starts a sync job and returns its first snapshot at once. Unknown ids give
// *UnknownTablesError and start nothing. A table already waiting in another job is not
// queued twice; when nothing is left to do the answer is a *BusyError naming that job.
func (s *Syncer) Trigger(ctx context.Context, req SyncRequest) (*SyncJob, error) {
	if s.ctx.Err() != nil {
		return nil, errors.New("engine: the syncer is shut down")
	}
	rows, err := s.store.ListTables(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]store.Table, len(rows))
	for _, r := range rows {
		byID[strings.ToLower(r.ID)] = r
	}
	var selected []store.Table
	if len(req.Tables) == 0 {
		for _, r := range rows {
			if _, ok := s.opt.Connectors.Get(r.SourceType); ok {
				selected = append(selected, r)
			}
		}
	} else {
		var unknown []string
		seen := map[string]bool{}
		for _, id := range req.Tables {
			id = strings.ToLower(strings.TrimSpace(id))
			if seen[id] {
				continue
			}
			seen[id] = true
			r, ok := byID[id]
			if !ok {
				unknown = append(unknown, id)
				continue
			}
			selected = append(selected, r)
		}
		if len(unknown) > 0 {
			return nil, &UnknownTablesError{IDs: unknown}
		}
	}
	if req.Trigger == "" {
		req.Trigger = TriggerManual
	}

	s.mu.Lock()
	busy := s.busyLocked()
	job := &SyncJob{ID: uuid.NewString(), Trigger: req.Trigger, RequestedBy: req.RequestedBy, Status: JobQueued,
		CreatedAt: time.Now().UTC(), Tables: []TableProgress{}}
	holder := ""
	for _, r := range selected {
		id := strings.ToLower(r.ID)
		if b, ok := busy[id]; ok && (b.state == SyncQueued || req.SkipBusy) {
			holder = b.job
			continue
		}
		job.Tables = append(job.Tables, TableProgress{ID: id, Name: r.Name, SourceType: r.SourceType, State: SyncQueued})
	}
	if len(job.Tables) == 0 && holder != "" {
		s.mu.Unlock()
		return nil, &BusyError{JobID: holder}
	}
	s.jobs[job.ID] = job
	s.order = append(s.order, job.ID)
	pruned := s.pruneLocked()
	snap := cloneJob(job)
	// Counted before the lock goes, so that Close waits for this job too.
	s.wg.Add(1)
	s.mu.Unlock()
	s.forget(ctx, pruned)
	// The job is on record before it starts, so that a crash cannot make it vanish.
	// With replicas, its owner is on record in the same transaction (sync_cluster.go).
	if err := s.saveOwnedJob(ctx, snap); err != nil {
		s.mu.Lock()
		delete(s.jobs, job.ID)
		s.order = slices.DeleteFunc(s.order, func(id string) bool { return id == job.ID })
		s.mu.Unlock()
		s.wg.Done()
		return nil, fmt.Errorf("engine: record the sync job: %w", err)
	}
	go func() {
		defer s.wg.Done()
		s.run(job.ID)
	}()
	return snap, nil
}

type busyEntry struct{ job, state string }

// busyLocked maps every table of an unfinished job to that job and its state.
func (s *Syncer) busyLocked() map[string]busyEntry {
	out := map[string]busyEntry{}
	for _, id := range s.order {
		j := s.jobs[id]
		if j.Finished() {
			continue
		}
		for _, t := range j.Tables {
			if !t.Finished() {
				out[t.ID] = busyEntry{job: j.ID, state: t.State}
			}
		}
	}
	return out
}

// Busy reports whether the table is queued or being synced by some job.
func (s *Syncer) Busy(tableID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.busyLocked()[strings.ToLower(tableID)]
	return ok
}

// Job returns a snapshot of the job with this id.
func (s *Syncer) Job(id string) (*SyncJob, bool) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	if ok {
		j = cloneJob(j)
	}
	s.mu.Unlock()
	if !ok {
		return s.storedJob(id)
	}
	return j, true
}

// Jobs returns snapshots of the retained jobs, newest first.
func (s *Syncer) Jobs() []*SyncJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*SyncJob, 0, len(s.order))
	for i := len(s.order) - 1; i >= 0; i-- {
		out = append(out, cloneJob(s.jobs[s.order[i]]))
	}
	return out
}

// LatestByTable returns, for every table in a retained job, its progress in the newest job
// that has it together with that job's id.
func (s *Syncer) LatestByTable() map[string]LatestProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]LatestProgress{}
	for i := len(s.order) - 1; i >= 0; i-- {
		j := s.jobs[s.order[i]]
		for _, t := range j.Tables {
			if _, ok := out[t.ID]; !ok {
				out[t.ID] = LatestProgress{JobID: j.ID, Progress: t}
			}
		}
	}
	return out
}

// LatestProgress is a table's progress in its newest retained job.
type LatestProgress struct {
	JobID    string
	Progress TableProgress
}

// Wait blocks until the job has finished or ctx ends, and returns its last snapshot.
func (s *Syncer) Wait(ctx context.Context, id string) (*SyncJob, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		j, ok := s.Job(id)
		if !ok {
			return nil, fmt.Errorf("engine: no sync job %q", id)
		}
		if j.Finished() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-tick.C:
		}
	}
}

func cloneJob(j *SyncJob) *SyncJob {
	c := *j
	c.Tables = slices.Clone(j.Tables)
	return &c
}

// pruneLocked forgets finished jobs beyond KeepJobs or older than KeepFor and returns their
// ids, for forget to delete their records.
func (s *Syncer) pruneLocked() []string {
	var pruned []string
	cutoff := time.Now().Add(-s.opt.KeepFor)
	finished := 0
	for _, id := range s.order {
		if s.jobs[id].Finished() {
			finished++
		}
	}
	kept := s.order[:0]
	for _, id := range s.order {
		j := s.jobs[id]
		if j.Finished() && (finished > s.opt.KeepJobs || j.FinishedAt.Before(cutoff)) {
			finished--
			delete(s.jobs, id)
			pruned = append(pruned, id)
			continue
		}
		kept = append(kept, id)
	}
	s.order = kept
	return pruned
}

// update changes the job under the lock and saves it. Only the job's own run calls it after
// Trigger, so its saves happen in order.
func (s *Syncer) update(id string, fn func(j *SyncJob)) {
	// Tables of one source are extracted in parallel: their snapshots are saved in the order
	// they were taken, so an older one never overwrites a newer one.
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	fn(j)
	snap := cloneJob(j)
	s.mu.Unlock()
	s.persist(snap)
}

// setTable changes one table's progress.
func (s *Syncer) setTable(jobID, tableID string, fn func(p *TableProgress)) {
	s.update(jobID, func(j *SyncJob) {
		for i := range j.Tables {
			if j.Tables[i].ID == tableID {
				fn(&j.Tables[i])
			}
		}
	})
}

func (s *Syncer) failTable(jobID, tableID, reason string) {
	s.setTable(jobID, tableID, func(p *TableProgress) {
		p.State, p.Reason, p.FinishedAt = SyncFailed, reason, time.Now().UTC()
	})
}

// lockSource takes the source's lock, or gives up when ctx ends.
func (s *Syncer) lockSource(ctx context.Context, source string) (func(), error) {
	s.mu.Lock()
	ch, ok := s.sourceLocks[source]
	if !ok {
		ch = make(chan struct{}, 1)
		s.sourceLocks[source] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Replicas sharing the data directory take turns on a source too.
	unlock, err := s.eng.clusterLock(ctx, "sync:"+source)
	if err != nil {
		<-ch
		return nil, err
	}
	return func() { unlock(); <-ch }, nil
}

// run is one job: extract per source, rebuild, profile, record failures.
func (s *Syncer) run(jobID string) {
	ctx := s.ctx
	start := time.Now().UTC()
	s.update(jobID, func(j *SyncJob) { j.Status, j.StartedAt = JobRunning, start })
	job, _ := s.Job(jobID)

	// Group by source directory, keeping the request's order within a group.
	type member struct {
		p    TableProgress
		conn connectors.Connector
	}
	groups := map[string][]member{}
	var sources []string
	for _, p := range job.Tables {
		conn, ok := s.opt.Connectors.Get(p.SourceType)
		if !ok {
			s.failTable(jobID, p.ID, fmt.Sprintf("no connector for source type %q (known: %s)", p.SourceType,
				strings.Join(s.opt.Connectors.Types(), ", ")))
			continue
		}
		if _, seen := groups[conn.Source()]; !seen {
			sources = append(sources, conn.Source())
		}
		groups[conn.Source()] = append(groups[conn.Source()], member{p: p, conn: conn})
	}

	var extracted []string
	for _, src := range sources {
		unlock, err := s.lockSource(ctx, src)
		if err != nil {
			for _, m := range groups[src] {
				s.failTable(jobID, m.p.ID, "cancelled: the server is shutting down")
			}
			continue
		}
		// A source that can export several tables at once does, up to its limit; a failing
		// table never stops the others.
		par := 1
		if pc, ok := groups[src][0].conn.(connectors.Parallel); ok && pc.Parallelism() > 1 {
			par = pc.Parallelism()
		}
		sem := make(chan struct{}, par)
		var wg sync.WaitGroup
		var emu sync.Mutex
		ok := map[string]bool{}
		for _, m := range groups[src] {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				s.setTable(jobID, m.p.ID, func(p *TableProgress) { p.State, p.StartedAt = SyncExtracting, time.Now().UTC() })
				fig, err := s.extractTable(ctx, m.conn, m.p.ID)
				if err != nil {
					s.opt.Log.Warn("sync: extract failed", "job", jobID, "table", m.p.ID, "error", err)
					s.failTable(jobID, m.p.ID, err.Error())
					return
				}
				s.setTable(jobID, m.p.ID, func(p *TableProgress) {
					p.Strategy, p.RowsChanged, p.Bytes, p.ExtractMS = fig.strategy, fig.changed, fig.bytes, time.Since(p.StartedAt).Milliseconds()
				})
				emu.Lock()
				ok[m.p.ID] = true
				emu.Unlock()
			}()
		}
		wg.Wait()
		for _, m := range groups[src] { // the request's order
			if ok[m.p.ID] {
				extracted = append(extracted, m.p.ID)
			}
		}
		unlock()
	}

	if len(extracted) > 0 {
		for _, id := range extracted {
			s.setTable(jobID, id, func(p *TableProgress) { p.State = SyncRebuilding })
		}
		res, err := s.eng.Rebuild(ctx)
		if err != nil {
			for _, id := range extracted {
				s.failTable(jobID, id, "publishing failed: "+err.Error())
			}
			extracted = nil
		} else {
			extracted = s.checkPublished(jobID, res, extracted)
		}
	}
	for _, id := range extracted {
		s.profile(ctx, jobID, id)
	}
	if s.opt.AfterSync != nil && len(extracted) > 0 {
		s.opt.AfterSync(extracted)
	}

	final, _ := s.Job(jobID)
	var history []store.SyncHistory
	for _, p := range final.Tables {
		if p.State == SyncFailed {
			dur := int64(0)
			if !p.StartedAt.IsZero() {
				dur = p.FinishedAt.Sub(p.StartedAt).Milliseconds()
			}
			history = append(history, store.SyncHistory{TableID: p.ID, Status: store.SyncStatusError, Error: p.Reason,
				DurationMS: max(dur, 0)})
		}
	}
	hctx := context.WithoutCancel(ctx)
	// A sync that found the data unchanged succeeded too, and sync history says so; the
	// rebuild records a row only for the tables whose data changed.
	var done []string
	for _, p := range final.Tables {
		if p.State == SyncDone {
			done = append(done, p.ID)
		}
	}
	if recorded, err := s.store.SyncHistorySince(hctx, done, start); err != nil {
		s.opt.Log.Error("sync: reading sync_history failed", "job", jobID, "error", err)
	} else {
		for _, p := range final.Tables {
			if p.State == SyncDone && !recorded[p.ID] {
				dur := int64(0)
				if !p.StartedAt.IsZero() {
					dur = p.FinishedAt.Sub(p.StartedAt).Milliseconds()
				}
				history = append(history, store.SyncHistory{TableID: p.ID, Status: store.SyncStatusOK, Rows: p.Rows,
					DurationMS: max(dur, 0)})
			}
		}
	}
	if len(history) > 0 {
		if err := s.store.ApplySyncChanges(hctx, store.SyncChanges{History: history}); err != nil {
			s.opt.Log.Error("sync: recording the job in sync_history failed", "job", jobID, "error", err)
		}
	}
	// The final state is saved before the job shows as finished, so that whoever saw it
	// finish (Wait, GET /api/sync/jobs/{id}) finds the same after a restart.
	s.mu.Lock()
	var snap *SyncJob
	if j, ok := s.jobs[jobID]; ok {
		snap = cloneJob(j)
	}
	s.mu.Unlock()
	if snap != nil {
		snap.FinishedAt = time.Now().UTC()
		done, failed, total := snap.Counts()
		snap.Status = JobDone
		if failed > 0 {
			snap.Status = JobFailed
			snap.Error = fmt.Sprintf("%d of %d tables failed", failed, total)
		}
		s.persist(snap)
		// Observers hear of the job before it shows as finished, so that whoever saw it
		// finish also sees it counted.
		s.mu.Lock()
		observe := s.observer
		s.mu.Unlock()
		if observe != nil {
			observe(cloneJob(snap))
		}
		s.opt.Log.Info("sync job finished", "job", jobID, "trigger", snap.Trigger, "done", done, "failed", failed,
			"duration_ms", snap.FinishedAt.Sub(start).Milliseconds())
	}
	s.mu.Lock()
	if j, ok := s.jobs[jobID]; ok && snap != nil {
		j.FinishedAt, j.Status, j.Error = snap.FinishedAt, snap.Status, snap.Error
	}
	pruned := s.pruneLocked()
	s.mu.Unlock()
	s.forget(ctx, pruned)
}

// checkPublished marks tables the rebuild did not publish as failed (with the orchestrator's
// reason) and returns the rest.
func (s *Syncer) checkPublished(jobID string, res *Result, ids []string) []string {
	var ok []string
	for _, id := range ids {
		info, found := res.Catalog.Table(id)
		switch {
		case !found:
			s.failTable(jobID, id, "not published: "+publishSkipReason(res.Catalog, id))
		case !info.Available():
			s.failTable(jobID, id, info.Status)
		default:
			s.setTable(jobID, id, func(p *TableProgress) { p.Rows = info.Rows })
			ok = append(ok, id)
		}
	}
	return ok
}

// publishSkipReason finds why the rebuild left a table out.
func publishSkipReason(cat *Catalog, id string) string {
	for _, src := range cat.Sources {
		for _, sk := range src.Skipped {
			if sk.Table != "" && strings.EqualFold(sk.Table, id) {
				return sk.Reason
			}
		}
	}
	return "the orchestrator did not find it in any source"
}

// profile profiles a freshly published table when its registry row asks for it; a failure is
// a warning, the data is served all the same.
func (s *Syncer) profile(ctx context.Context, jobID, id string) {
	finish := func(warning string) {
		s.setTable(jobID, id, func(p *TableProgress) {
			p.State, p.Warning, p.FinishedAt = SyncDone, warning, time.Now().UTC()
		})
	}
	row, err := s.store.GetTable(ctx, id)
	info, served := s.eng.Catalog().Table(id)
	if s.opt.Publisher == nil || err != nil || !row.ProfileAfterSync || !served || len(info.Files) == 0 {
		finish("")
		return
	}
	s.setTable(jobID, id, func(p *TableProgress) { p.State = SyncProfiling })
	if _, err := s.opt.Publisher.ProfileTable(ctx, id); err != nil {
		finish("profiling failed: " + err.Error())
		return
	}
	finish("")
}

// extractFigures are what one table's extraction did.
type extractFigures struct {
	strategy string
	changed  int64
	bytes    int64
}

// extractTable runs the connector for one table and publishes its output into the source's
// extract. Nothing changes unless the connector succeeded and its file is a readable parquet.
func (s *Syncer) extractTable(ctx context.Context, conn connectors.Connector, id string) (extractFigures, error) {
	var fig extractFigures
	err := s.extractTableInto(ctx, conn, id, &fig)
	return fig, err
}

func (s *Syncer) extractTableInto(ctx context.Context, conn connectors.Connector, id string, fig *extractFigures) error {
	row, err := s.store.GetTable(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errors.New("the table was deleted from the registry")
	}
	if err != nil {
		return err
	}
	opts, err := s.store.TableSyncOptions(ctx, id)
	if err != nil {
		return err
	}
	if !extract.ValidIdent(row.Name) {
		return fmt.Errorf("invalid table name %q", row.Name)
	}
	mode := row.QueryMode
	if mode == "" {
		mode = extract.ModeLocal
	}
	if !connectors.SupportsMode(conn, mode) {
		return fmt.Errorf("the %s source does not support query mode %q", conn.Type(), mode)
	}
	dir := filepath.Join(s.eng.ExtractsDir(), conn.Source())
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	name := storedName(dir, row.Name)
	staging, err := os.MkdirTemp(dir, ".sync-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	stage := filepath.Join(staging, name+".parquet")
	res, err := conn.Extract(ctx, connectors.Table{ID: id, Name: name, Bucket: row.Bucket, SourceTable: row.SourceTable,
		QueryMode: mode, Strategy: row.SyncStrategy, PrimaryKey: row.PrimaryKey, Description: row.Description,
		Options: connectors.TableOptions{Columns: opts.Columns, WhereFilters: whereFilters(opts.WhereFilters),
			PartitionBy: opts.PartitionBy, PartitionGrain: opts.PartitionGrain}}, stage)
	if err != nil {
		return fmt.Errorf("%s connector: %w", conn.Type(), err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The extract ran in a staging folder, which backups skip; publishing it is the change
	// a backup must see whole or not at all.
	releaseWrites := s.eng.holdWrites()
	defer releaseWrites()
	desc := row.Description
	if res.Description != "" {
		desc = res.Description
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	switch {
	case res.Kept:
		return nil
	case res.Remote != nil:
		return publishRemote(dir, extract.Table{Name: name, Description: desc, ExtractedAt: now, QueryMode: extract.ModeRemote}, *res.Remote)
	}
	fig.strategy, fig.changed = res.Strategy, res.RowsChanged
	if fig.strategy == "" {
		fig.strategy = row.SyncStrategy
	}
	if res.Partitions != nil {
		rows, size, err := publishPartitions(ctx, dir, name, res.Partitions)
		if err != nil {
			return err
		}
		fig.bytes = size
		return extract.Upsert(dir, extract.Table{Name: name, Description: desc, Rows: rows, SizeBytes: size,
			ExtractedAt: now, QueryMode: extract.ModeLocal})
	}
	rows, err := countParquet(ctx, stage)
	if err != nil {
		return fmt.Errorf("%s connector wrote no readable parquet file: %w", conn.Type(), err)
	}
	final, err := extract.PublishParquet(dir, name, stage)
	if err != nil {
		return err
	}
	// A table stored as shards before is one file now; the single file wins, the shards go.
	_ = os.RemoveAll(filepath.Join(extract.DataDir(dir), name))
	fi, err := os.Stat(final)
	if err != nil {
		return err
	}
	fig.bytes = fi.Size()
	return extract.Upsert(dir, extract.Table{Name: name, Description: desc, Rows: rows, SizeBytes: fi.Size(),
		ExtractedAt: now, QueryMode: extract.ModeLocal})
}

// whereFilters converts the registry's filters for a connector.
func whereFilters(in []store.WhereFilter) []connectors.WhereFilter {
	var out []connectors.WhereFilter
	for _, f := range in {
		out = append(out, connectors.WhereFilter{Column: f.Column, Operator: f.Operator, Values: f.Values})
	}
	return out
}

// publishPartitions moves a partitioned table's rewritten partition files into
// data/<table>/ (each by an atomic rename), removes the partitions the table no longer has and
// its single file of an earlier strategy, and returns the rows and bytes of the result.
func publishPartitions(ctx context.Context, dir, name string, p *connectors.Partitions) (rows, size int64, err error) {
	for _, n := range p.Rewritten {
		if _, err := countParquet(ctx, filepath.Join(p.Dir, n+".parquet")); err != nil {
			return 0, 0, fmt.Errorf("partition %s is not a readable parquet file: %w", n, err)
		}
	}
	pd := filepath.Join(extract.DataDir(dir), name)
	if err := os.MkdirAll(pd, 0o750); err != nil {
		return 0, 0, err
	}
	for _, n := range p.Rewritten {
		if err := os.Rename(filepath.Join(p.Dir, n+".parquet"), filepath.Join(pd, n+".parquet")); err != nil {
			return 0, 0, err
		}
	}
	_ = os.Remove(filepath.Join(extract.DataDir(dir), name+".parquet"))
	keep := map[string]bool{}
	for _, n := range p.All {
		keep[n+".parquet"] = true
	}
	ents, _ := os.ReadDir(pd)
	for _, e := range ents {
		if !keep[e.Name()] {
			_ = os.Remove(filepath.Join(pd, e.Name()))
			continue
		}
		n, err := countParquet(ctx, filepath.Join(pd, e.Name()))
		if err != nil {
			return 0, 0, err
		}
		rows += n
		if fi, err := e.Info(); err == nil {
			size += fi.Size()
		}
	}
	return rows, size, nil
}

// storedName is the spelling the source's contract already uses for name, or name.
func storedName(dir, name string) string {
	if x, err := extract.Read(dir); err == nil {
		for _, t := range x.Tables {
			if strings.EqualFold(t.Name, name) {
				return t.Name
			}
		}
	}
	return name
}

// publishRemote records a remote table and its attach row in the source's contract.
func publishRemote(dir string, t extract.Table, ra extract.RemoteAttach) error {
	x, err := extract.Read(dir)
	if errors.Is(err, os.ErrNotExist) {
		x, err = &extract.Extract{}, nil
	}
	if err != nil {
		return err
	}
	replaced := false
	for i := range x.Tables {
		if strings.EqualFold(x.Tables[i].Name, t.Name) {
			x.Tables[i], replaced = t, true
		}
	}
	if !replaced {
		x.Tables = append(x.Tables, t)
	}
	x.Remote = slices.DeleteFunc(x.Remote, func(r extract.RemoteAttach) bool { return strings.EqualFold(r.Alias, ra.Alias) })
	x.Remote = append(x.Remote, ra)
	return extract.Write(dir, x)
}

// countParquet reads a parquet file's row count, which also proves it is readable.
func countParquet(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("duckdb", "?threads=1&autoinstall_known_extensions=false&autoload_known_extensions=false")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet("+quoteString(path)+")").Scan(&n)
	if err != nil {
		return 0, errors.New(duckMessage(err))
	}
	return n, nil
}

// Unregister deletes a registered table for good: the registry row with its grants,
// subscriptions and profile, and its data in the source's extract, then rebuilds so that it
// stops being served. It waits for a running sync of that source to finish first.
func (s *Syncer) Unregister(ctx context.Context, id string) (*store.Unregistered, error) {
	id = strings.ToLower(id)
	// The table's critical section, shared with uploads: a re-upload racing a delete runs
	// wholly before or wholly after it.
	unlockTable, err := s.eng.lockTable(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlockTable()
	row, err := s.store.GetTable(ctx, id)
	if err != nil {
		return nil, err
	}
	source := ""
	if info, ok := s.eng.Catalog().Table(id); ok {
		source = info.Source
	} else if conn, ok := s.opt.Connectors.Get(row.SourceType); ok {
		source = conn.Source()
	}
	if source != "" {
		unlock, err := s.lockSource(ctx, source)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	releaseWrites := s.eng.holdWrites()
	defer releaseWrites()
	out, err := s.store.UnregisterTable(ctx, id)
	if err != nil {
		return nil, err
	}
	if source != "" && extract.ValidIdent(source) {
		err := extract.Remove(filepath.Join(s.eng.ExtractsDir(), source), row.Name)
		if err != nil && !errors.Is(err, extract.ErrTableNotFound) {
			s.opt.Log.Error("unregister: removing the data failed; it is served until removed", "table", id, "error", err)
		}
	}
	releaseWrites()
	if _, err := s.eng.Rebuild(context.WithoutCancel(ctx)); err != nil {
		s.opt.Log.Error("unregister: rebuild failed; the table stops being served at the next rebuild", "table", id, "error", err)
	}
	return out, nil
}

// SortedIDs is a helper for messages: the ids of a job's tables in order.
func (j *SyncJob) SortedIDs() []string {
	ids := make([]string, 0, len(j.Tables))
	for _, t := range j.Tables {
		ids = append(ids, t.ID)
	}
	sort.Strings(ids)
	return ids
}
