package store

import (
	"context"
	"fmt"
	"time"
)

// FailingTable is a registered table none of whose recorded syncs succeeded.
type FailingTable struct {
	TableID   string
	Failures  int
	LastError string
	LastAt    time.Time
}

// FailingTables lists the registered tables that have sync history and no successful sync
// in it, ordered by id: a table registered under a name its source does not have, or one
// whose source always refuses it. Health reports them and the dashboard names them.
func (s *Store) FailingTables(ctx context.Context) ([]FailingTable, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT h.table_id, count(*)::INTEGER, max(h.synced_at)
		FROM sync_history h JOIN table_registry r ON r.id = h.table_id
		GROUP BY h.table_id HAVING bool_and(coalesce(h.status, 'ok') = 'error') ORDER BY h.table_id`)
	if err != nil {
		return nil, fmt.Errorf("store: failing tables: %w", err)
	}
	defer rows.Close()
	out := []FailingTable{}
	for rows.Next() {
		var f FailingTable
		if err := rows.Scan(&f.TableID, &f.Failures, &f.LastAt); err != nil {
			return nil, fmt.Errorf("store: failing tables: %w", err)
		}
		f.LastAt = f.LastAt.UTC()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: failing tables: %w", err)
	}
	for i := range out {
		if err := s.DB.QueryRowContext(ctx, `SELECT coalesce(error, '') FROM sync_history WHERE table_id = ?
			ORDER BY synced_at DESC LIMIT 1`, out[i].TableID).Scan(&out[i].LastError); err != nil {
			return nil, fmt.Errorf("store: failing tables: %w", err)
		}
	}
	return out, nil
}
