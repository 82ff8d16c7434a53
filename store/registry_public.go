package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SetTablePublic makes the registered table id public or private and returns the updated
// row; ErrNotFound when there is no such table. Only is_public changes.
func (s *Store) SetTablePublic(ctx context.Context, id string, public bool) (*Table, error) {
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE table_registry SET is_public = ? WHERE id = ?`, public, id)
		if err != nil {
			return err
		}
		return mustAffect(res, fmt.Errorf("%w: table %q", ErrNotFound, id))
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("store: set table %q public=%v: %w", id, public, err)
	}
	return s.GetTable(ctx, id)
}
