package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Unregistered counts what UnregisterTable removed besides the registry row.
type Unregistered struct {
	Permissions   int64
	Subscriptions int64
	Profiles      int64
}

// UnregisterTable deletes the registry row of id together with everything keyed by that table
// id: explicit grants (dataset_permissions), users' subscriptions (user_sync_settings) and the
// stored profile, in one transaction. ErrNotFound when there is no such table; then nothing is
// deleted. Bucket wildcard grants, access requests and sync history stay.
func (s *Store) UnregisterTable(ctx context.Context, id string) (*Unregistered, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	out := &Unregistered{}
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM table_registry WHERE lower(id) = ?`, id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, fmt.Errorf("%w: table %q", ErrNotFound, id)); err != nil {
			return err
		}
		count := func(q string, n *int64) error {
			res, err := tx.ExecContext(ctx, q, id)
			if err != nil {
				return err
			}
			*n, err = res.RowsAffected()
			return err
		}
		if err := count(`DELETE FROM dataset_permissions WHERE lower(dataset) = ?`, &out.Permissions); err != nil {
			return err
		}
		if err := count(`DELETE FROM user_sync_settings WHERE lower(dataset) = ?`, &out.Subscriptions); err != nil {
			return err
		}
		if err := count(`DELETE FROM table_profiles WHERE lower(table_id) = ?`, &out.Profiles); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM table_sync_options WHERE table_id = $1`, id); err != nil {
			return err
		}
		NoteAudit(ctx, "permissions_removed", out.Permissions)
		NoteAudit(ctx, "subscriptions_removed", out.Subscriptions)
		NoteAudit(ctx, "profiles_removed", out.Profiles)
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("store: unregister table %q: %w", id, err)
	}
	return out, nil
}
