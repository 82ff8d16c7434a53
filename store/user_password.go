package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SetUserPassword replaces the password hash of user id; ErrNotFound when there is none.
// Verifying the current password is the caller's job. Credentials issued before the change
// stop working (user_valid_after.go); the caller re-stamps the session it wants to keep.
func (s *Store) SetUserPassword(ctx context.Context, id, passwordHash string) error {
	if passwordHash == "" {
		return fmt.Errorf("store: set password: hash is required")
	}
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		now := nowUTC()
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
			passwordHash, now, id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, fmt.Errorf("%w: user %q", ErrNotFound, id)); err != nil {
			return err
		}
		// Every token, personal access token and session issued until now ends with the old
		// password.
		return bumpValidAfter(ctx, tx, id, now)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: set password: %w", err)
	}
	return err
}
