package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SyncJob is a row of sync_jobs: one sync job as its runner last saved it. Tables is the
// runner's JSON of the per-table progress; the store does not look inside it. Zero times are
// NULL.
type SyncJob struct {
	ID          string
	Trigger     string
	RequestedBy string
	Status      string
	Error       string
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	Tables      string
}

// SaveSyncJob inserts the job or replaces the row with the same id.
func (s *Store) SaveSyncJob(ctx context.Context, j SyncJob) error {
	return s.SaveSyncJobOwned(ctx, j, "")
}

// SaveSyncJobOwned is SaveSyncJob that also records, in the same transaction, that replica
// owns the job (sync_job_owners; see replicas.go); "" records no owner.
func (s *Store) SaveSyncJobOwned(ctx context.Context, j SyncJob, replica string) error {
	if j.ID == "" || j.Status == "" || j.CreatedAt.IsZero() {
		return errors.New("store: save sync job: id, status and created_at are required")
	}
	if j.Tables == "" {
		j.Tables = "[]"
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if replica != "" {
			if err := setSyncJobOwnerTx(ctx, tx, j.ID, replica); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sync_jobs
			(id, trigger_kind, requested_by, status, error, created_at, started_at, finished_at, tables)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET trigger_kind = excluded.trigger_kind,
				requested_by = excluded.requested_by, status = excluded.status, error = excluded.error,
				started_at = excluded.started_at, finished_at = excluded.finished_at, tables = excluded.tables`,
			j.ID, j.Trigger, nullIfEmpty(j.RequestedBy), j.Status, nullIfEmpty(j.Error), j.CreatedAt.UTC(),
			nullIfZero(j.StartedAt), nullIfZero(j.FinishedAt), j.Tables)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save sync job: %w", err)
	}
	return nil
}

// GetSyncJob returns the job with this id, or ErrNotFound.
func (s *Store) GetSyncJob(ctx context.Context, id string) (*SyncJob, error) {
	rows, err := s.DB.QueryContext(ctx, syncJobSelect+" WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("store: get sync job: %w", err)
	}
	jobs, err := scanSyncJobs(rows)
	if err != nil {
		return nil, fmt.Errorf("store: get sync job: %w", err)
	}
	if len(jobs) == 0 {
		return nil, ErrNotFound
	}
	return &jobs[0], nil
}

// ListSyncJobs returns the jobs oldest first; with statuses given, only the jobs in one of
// them.
func (s *Store) ListSyncJobs(ctx context.Context, statuses ...string) ([]SyncJob, error) {
	q := syncJobSelect
	args := make([]any, 0, len(statuses))
	if len(statuses) > 0 {
		q += " WHERE status IN (?" + strings.Repeat(", ?", len(statuses)-1) + ")"
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	rows, err := s.DB.QueryContext(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sync jobs: %w", err)
	}
	jobs, err := scanSyncJobs(rows)
	if err != nil {
		return nil, fmt.Errorf("store: list sync jobs: %w", err)
	}
	return jobs, nil
}

// DeleteSyncJobs deletes the jobs with these ids and reports how many went.
func (s *Store) DeleteSyncJobs(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM sync_jobs WHERE id IN (?"+strings.Repeat(", ?", len(ids)-1)+")", args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete sync jobs: %w", err)
	}
	return int(n), nil
}

const syncJobSelect = `SELECT id, trigger_kind, coalesce(requested_by, ''), status, coalesce(error, ''),
	created_at, started_at, finished_at, tables FROM sync_jobs`

func scanSyncJobs(rows *sql.Rows) ([]SyncJob, error) {
	defer rows.Close()
	var out []SyncJob
	for rows.Next() {
		var j SyncJob
		var started, finished sql.NullTime
		if err := rows.Scan(&j.ID, &j.Trigger, &j.RequestedBy, &j.Status, &j.Error, &j.CreatedAt, &started, &finished, &j.Tables); err != nil {
			return nil, err
		}
		j.CreatedAt = j.CreatedAt.UTC()
		if started.Valid {
			j.StartedAt = started.Time.UTC()
		}
		if finished.Valid {
			j.FinishedAt = finished.Time.UTC()
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ProbeWrite commits a one-row write to the system database. It fails when the database can
// no longer write, for example because its disk is full; health checks call it.
func (s *Store) ProbeWrite(ctx context.Context) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO write_probe (id, probed_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`, time.Now().UTC())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: write probe: %w", err)
	}
	return nil
}

// nullIfZero is NULL for the zero time, else t in UTC.
func nullIfZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
