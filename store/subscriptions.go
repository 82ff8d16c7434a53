package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
)

// SyncSetting is a row of user_sync_settings: whether a user subscribes to one dataset (a
// table id) for `da sync`. Tables is the stored JSON text of the original's per-table list, or
// "" when NULL.
type SyncSetting struct {
	UserID    string
	Dataset   string
	Enabled   bool
	TableMode string
	Tables    string
	UpdatedAt time.Time
}

// ListSyncSettings returns the user's subscription rows ordered by dataset.
func (s *Store) ListSyncSettings(ctx context.Context, userID string) ([]SyncSetting, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT user_id, dataset, coalesce(enabled, false), coalesce(table_mode, 'all'),
		coalesce(tables::VARCHAR, ''), updated_at FROM user_sync_settings WHERE user_id = ? ORDER BY dataset`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list sync settings: %w", err)
	}
	defer rows.Close()
	out := []SyncSetting{}
	for rows.Next() {
		var st SyncSetting
		var at sql.NullTime
		if err := rows.Scan(&st.UserID, &st.Dataset, &st.Enabled, &st.TableMode, &st.Tables, &at); err != nil {
			return nil, fmt.Errorf("store: list sync settings: %w", err)
		}
		if at.Valid {
			st.UpdatedAt = at.Time.UTC()
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sync settings: %w", err)
	}
	return out, nil
}

// SetSyncSettings upserts enabled for each dataset of the user in one transaction. Dataset
// names are normalised like permissions (trimmed, lower-case); an empty name is refused and
// nothing is written.
func (s *Store) SetSyncSettings(ctx context.Context, userID string, enabled map[string]bool) error {
	if userID == "" {
		return errors.New("store: set sync settings: user id is required")
	}
	names := make([]string, 0, len(enabled))
	norm := make(map[string]bool, len(enabled))
	for name, on := range enabled {
		n := NormalizeDataset(name)
		if n == "" {
			return errors.New("store: set sync settings: dataset name is required")
		}
		if _, seen := norm[n]; !seen {
			names = append(names, n)
		}
		norm[n] = on
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	now := nowUTC()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_sync_settings (user_id, dataset, enabled, table_mode, updated_at)
				VALUES (?, ?, ?, 'all', ?)
				ON CONFLICT (user_id, dataset) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at`,
				userID, n, norm[n], now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set sync settings: %w", err)
	}
	return nil
}

// GetSyncSetting returns one subscription row, or ErrNotFound.
func (s *Store) GetSyncSetting(ctx context.Context, userID, dataset string) (*SyncSetting, error) {
	all, err := s.ListSyncSettings(ctx, userID)
	if err != nil {
		return nil, err
	}
	n := NormalizeDataset(dataset)
	for i := range all {
		if all[i].Dataset == n {
			return &all[i], nil
		}
	}
	return nil, ErrNotFound
}

// SubscribedTables returns the datasets the user subscribes to (enabled rows). An empty set
// means the user has not chosen: `da sync` then downloads every table the user can read.
func (s *Store) SubscribedTables(ctx context.Context, userID string) (map[string]bool, error) {
	all, err := s.ListSyncSettings(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(all))
	for _, st := range all {
		if st.Enabled {
			out[st.Dataset] = true
		}
	}
	return out, nil
}
