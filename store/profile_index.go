package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ListProfileTimes returns when each stored profile was made, by table id, without loading
// the documents: the catalog list needs only whether a profile exists and how fresh it is.
func (s *Store) ListProfileTimes(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT table_id, profiled_at FROM table_profiles`)
	if err != nil {
		return nil, fmt.Errorf("store: list profile times: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at sql.NullTime
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("store: list profile times: %w", err)
		}
		if at.Valid {
			out[id] = at.Time.UTC()
		} else {
			out[id] = time.Time{}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list profile times: %w", err)
	}
	return out, nil
}
