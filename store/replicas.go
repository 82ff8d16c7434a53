package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Replica is a row of replicas: one da serve (or da jobs) process using this database, as it
// last reported itself.
type Replica struct {
	ID          string
	Version     string
	StartedAt   time.Time
	HeartbeatAt time.Time
	Generation  uint64
	IsLeader    bool
	Addr        string
}

// Live reports whether the replica's heartbeat is younger than within at now.
func (r Replica) Live(now time.Time, within time.Duration) bool {
	return now.Sub(r.HeartbeatAt) < within
}

// HeartbeatReplica inserts or refreshes the replica's row.
func (s *Store) HeartbeatReplica(ctx context.Context, r Replica) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO replicas (id, version, started_at, heartbeat_at, generation, is_leader, addr)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, heartbeat_at = excluded.heartbeat_at,
				generation = excluded.generation, is_leader = excluded.is_leader, addr = excluded.addr`,
			r.ID, r.Version, r.StartedAt.UTC(), r.HeartbeatAt.UTC(), int64(r.Generation), r.IsLeader, nullIfEmpty(r.Addr))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: replica heartbeat: %w", err)
	}
	return nil
}

// ListReplicas returns every replica row, the most recent heartbeat first.
func (s *Store) ListReplicas(ctx context.Context) ([]Replica, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, version, started_at, heartbeat_at, coalesce(generation, 0),
		is_leader, coalesce(addr, '') FROM replicas ORDER BY heartbeat_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var gen int64
		if err := rows.Scan(&r.ID, &r.Version, &r.StartedAt, &r.HeartbeatAt, &gen, &r.IsLeader, &r.Addr); err != nil {
			return nil, fmt.Errorf("store: list replicas: %w", err)
		}
		r.StartedAt, r.HeartbeatAt, r.Generation = r.StartedAt.UTC(), r.HeartbeatAt.UTC(), uint64(max(gen, 0))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list replicas: %w", err)
	}
	return out, nil
}

// DeleteReplica removes the replica's row (a clean stop).
func (s *Store) DeleteReplica(ctx context.Context, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete replica: %w", err)
	}
	return nil
}

// PruneReplicas deletes the rows of replicas silent since before, and the owner records of
// sync jobs that are gone. It reports how many replica rows went.
func (s *Store) PruneReplicas(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE heartbeat_at < ?`, before.UTC())
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sync_job_owners WHERE job_id NOT IN (SELECT id FROM sync_jobs)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune replicas: %w", err)
	}
	return int(n), nil
}

// SetSyncJobOwner records that replica runs job.
func (s *Store) SetSyncJobOwner(ctx context.Context, jobID, replicaID string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error { return setSyncJobOwnerTx(ctx, tx, jobID, replicaID) })
	if err != nil {
		return fmt.Errorf("store: set sync job owner: %w", err)
	}
	return nil
}

// SyncJobOwners maps job id to the replica that runs (or ran) it.
func (s *Store) SyncJobOwners(ctx context.Context) (map[string]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT job_id, replica_id FROM sync_job_owners`)
	if err != nil {
		return nil, fmt.Errorf("store: sync job owners: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var j, r string
		if err := rows.Scan(&j, &r); err != nil {
			return nil, fmt.Errorf("store: sync job owners: %w", err)
		}
		out[j] = r
	}
	return out, rows.Err()
}

func setSyncJobOwnerTx(ctx context.Context, tx *sql.Tx, jobID, replicaID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_job_owners (job_id, replica_id) VALUES (?, ?)
		ON CONFLICT (job_id) DO UPDATE SET replica_id = excluded.replica_id`, jobID, replicaID)
	return err
}
