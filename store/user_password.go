package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SetUserPassword replaces the password hash of user id; ErrNotFound when there is none.
// Verifying the current password is the caller's job.
func (s *Store) SetUserPassword(ctx context.Context, id, passwordHash string) error {
	if passwordHash == "" {
		return fmt.Errorf("store: set password: hash is required")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
			passwordHash, nowUTC(), id)
		if err != nil {
			return err
		}
		return mustAffect(res, fmt.Errorf("%w: user %q", ErrNotFound, id))
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: set password: %w", err)
	}
	return err
}
