package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrNotOwner means an upload would replace a table that another user owns.
var ErrNotOwner = errors.New("store: the table belongs to another user")

// RegisterUpload records an uploaded table, checking ownership in the same transaction. A new
// id is inserted with t.RegisteredBy as its owner. An existing row must be an upload (else
// ErrConflict) owned by t.RegisteredBy unless asAdmin (else ErrNotOwner); then its name,
// source table, public flag and (when t.Description is not empty) description change, and
// its owner, registered_at, bucket, folder, primary key and schedule stay. t is filled with
// the stored row.
func (s *Store) RegisterUpload(ctx context.Context, t *Table, asAdmin bool) error {
	if t.ID == "" || t.Name == "" || t.RegisteredBy == "" {
		return fmt.Errorf("store: register upload: id, name and owner are required")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var source, owner sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT source_type, registered_by FROM table_registry WHERE id = ?`, t.ID).Scan(&source, &owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO table_registry (id, name, source_type, source_table,
				sync_strategy, query_mode, profile_after_sync, description, registered_by, is_public, registered_at)
			VALUES (?, ?, 'upload', ?, 'full_refresh', 'local', true, ?, ?, ?, ?)`,
				t.ID, t.Name, nullString(t.SourceTable), nullString(t.Description), t.RegisteredBy, t.IsPublic, nowUTC())
			return err
		case err != nil:
			return err
		case source.String != "upload":
			return fmt.Errorf("%w: table %q comes from source %q", ErrConflict, t.ID, source.String)
		case !asAdmin && !strings.EqualFold(owner.String, t.RegisteredBy):
			return fmt.Errorf("%w: table %q belongs to %s", ErrNotOwner, t.ID, owner.String)
		}
		_, err = tx.ExecContext(ctx, `UPDATE table_registry SET name = ?, source_table = ?, is_public = ?,
			description = coalesce(?, description) WHERE id = ?`,
			t.Name, nullString(t.SourceTable), t.IsPublic, nullString(t.Description), t.ID)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotOwner) {
			return err
		}
		return fmt.Errorf("store: register upload %q: %w", t.ID, err)
	}
	got, err := s.GetTable(ctx, t.ID)
	if err != nil {
		return err
	}
	*t = *got
	return nil
}
