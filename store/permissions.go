package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Access levels of a dataset_permissions row. "none" is stored (the original wrote it when
// revoking from its UI) but grants nothing.
const (
	AccessRead = "read"
	AccessNone = "none"
)

// Permission is a row of dataset_permissions: Dataset is a table id or a bucket wildcard
// "<bucket>.*".
type Permission struct {
	UserID  string
	Dataset string
	Access  string
}

// NormalizeDataset is how datasets are stored and compared: trimmed and lower-case, as table
// ids are.
func NormalizeDataset(dataset string) string {
	return strings.ToLower(strings.TrimSpace(dataset))
}

// Grant sets the access of user to dataset ("read" or "none"), replacing any earlier row for
// the same dataset whatever its case. It does not check that the user or the table exists.
func (s *Store) Grant(ctx context.Context, userID, dataset, access string) (*Permission, error) {
	p, err := newPermission(userID, dataset, access)
	if err != nil {
		return nil, err
	}
	err = s.authWriteTx(ctx, func(tx *sql.Tx) error { return grantTx(ctx, tx, p) })
	if err != nil {
		return nil, fmt.Errorf("store: grant %q to %q: %w", p.Dataset, userID, err)
	}
	return p, nil
}

func newPermission(userID, dataset, access string) (*Permission, error) {
	p := &Permission{UserID: strings.TrimSpace(userID), Dataset: NormalizeDataset(dataset), Access: strings.ToLower(strings.TrimSpace(access))}
	if p.UserID == "" || p.Dataset == "" {
		return nil, fmt.Errorf("store: grant: user id and dataset are required")
	}
	if p.Access != AccessRead && p.Access != AccessNone {
		return nil, fmt.Errorf("store: grant: access must be %q or %q, not %q", AccessRead, AccessNone, access)
	}
	return p, nil
}

// grantTx upserts p inside tx. Rows differing only in case (written by the original system)
// are replaced so that one user has one row per dataset.
func grantTx(ctx context.Context, tx *sql.Tx, p *Permission) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM dataset_permissions WHERE user_id = ? AND lower(dataset) = ?`,
		p.UserID, p.Dataset); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO dataset_permissions (user_id, dataset, access) VALUES (?, ?, ?)`,
		p.UserID, p.Dataset, p.Access)
	return err
}

// Revoke deletes the user's row for dataset (compared case-insensitively); ErrNotFound when
// there is none.
func (s *Store) Revoke(ctx context.Context, userID, dataset string) error {
	dataset = NormalizeDataset(dataset)
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM dataset_permissions WHERE user_id = ? AND lower(dataset) = ?`,
			userID, dataset)
		if err != nil {
			return err
		}
		return mustAffect(res, fmt.Errorf("%w: user %q has no permission for %q", ErrNotFound, userID, dataset))
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: revoke: %w", err)
	}
	return err
}

// ListPermissions returns the rows of one user, or of everyone when userID is "", ordered by
// user id and dataset.
func (s *Store) ListPermissions(ctx context.Context, userID string) ([]Permission, error) {
	q := `SELECT user_id, dataset, coalesce(access, 'read') FROM dataset_permissions`
	var args []any
	if userID != "" {
		q += ` WHERE user_id = ?`
		args = append(args, userID)
	}
	rows, err := s.DB.QueryContext(ctx, q+` ORDER BY user_id, dataset`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list permissions: %w", err)
	}
	defer rows.Close()
	out := []Permission{}
	for rows.Next() {
		var p Permission
		if err := rows.Scan(&p.UserID, &p.Dataset, &p.Access); err != nil {
			return nil, fmt.Errorf("store: list permissions: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list permissions: %w", err)
	}
	return out, nil
}

// readableWhere is the table-access rule for a non-admin, active user, as a condition on
// table_registry r joined with the dialect's grantsCTE g. Parameter: user e-mail. A row is readable when it is public,
// when it is an upload owned by the user, or when the user holds a "read" grant for its id or
// for "<its bucket>.*". "none" grants nothing. Comparisons ignore case.
func readableWhere(d *dialect) string {
	return `(
	coalesce(r.is_public, true)
	OR (r.source_type = 'upload' AND lower(coalesce(r.registered_by, '')) = ?)
	OR ` + d.hasGrant("g.datasets", "lower(r.id)") + `
	OR (coalesce(r.bucket, '') <> '' AND ` + d.hasGrant("g.datasets", "lower(r.bucket) || '.*'") + `)
)`
}

// ReadableTableIDs returns the lower-cased ids of every registered table the (non-admin,
// active) user may read under the table-access rule, in one query. Role and deactivation are
// the caller's business: use auth.ReadableTables rather than this directly.
func (s *Store) ReadableTableIDs(ctx context.Context, userID, email string) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, s.d.grantsCTE+`SELECT lower(r.id) FROM table_registry r, g WHERE `+readableWhere(s.d)+` ORDER BY 1`,
		userID, NormalizeEmail(email))
	if err != nil {
		return nil, fmt.Errorf("store: readable tables: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: readable tables: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: readable tables: %w", err)
	}
	return out, nil
}

// TableReadableBy reports whether the (non-admin, active) user may read the registered table
// tableID (case-insensitive) under the same rule as ReadableTableIDs. A table with no
// registry row is never readable here. Use auth.CanAccessTable rather than this directly.
func (s *Store) TableReadableBy(ctx context.Context, userID, email, tableID string) (bool, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, s.d.grantsCTE+`SELECT count(*) FROM table_registry r, g WHERE lower(r.id) = ? AND `+readableWhere(s.d),
		userID, strings.ToLower(strings.TrimSpace(tableID)), NormalizeEmail(email)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: table access: %w", err)
	}
	return n > 0, nil
}
