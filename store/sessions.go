package store

import (
	"context"
	"fmt"
	"time"
)

// CountActiveSessions counts the browser sessions that have not expired at now.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM sessions WHERE expiry > ?", now.UTC()).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count sessions: %w", err)
	}
	return n, nil
}
