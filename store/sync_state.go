package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DataStats summarises sync_state for health checks and the dashboard.
type DataStats struct {
	Tables    int
	TotalRows int64
	LastSync  *time.Time
	Stale     []string // table ids whose last sync is older than the threshold
}

// DataStats counts synced tables and rows and lists the tables not synced within staleAfter.
func (s *Store) DataStats(ctx context.Context, staleAfter time.Duration) (*DataStats, error) {
	st := &DataStats{}
	var last sql.NullTime
	err := s.DB.QueryRowContext(ctx,
		`SELECT count(*), coalesce(sum("rows"), 0)::BIGINT, max(last_sync) FROM sync_state`).
		Scan(&st.Tables, &st.TotalRows, &last)
	if err != nil {
		return nil, fmt.Errorf("store: data stats: %w", err)
	}
	if last.Valid {
		t := last.Time.UTC()
		st.LastSync = &t
	}
	cutoff := time.Now().UTC().Add(-staleAfter)
	rows, err := s.DB.QueryContext(ctx,
		`SELECT table_id FROM sync_state WHERE last_sync IS NULL OR last_sync < ? ORDER BY table_id`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("store: stale tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: stale tables: %w", err)
		}
		st.Stale = append(st.Stale, id)
	}
	return st, rows.Err()
}
