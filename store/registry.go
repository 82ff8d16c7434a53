package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Table is a row of table_registry: a table the platform publishes. ID is the lower-case
// table name and is the id used by downloads, permissions, access requests and the catalog.
type Table struct {
	ID               string
	Name             string
	SourceType       string // upload, demo, keboola, bigquery, jira, ...
	Bucket           string
	SourceTable      string
	SyncStrategy     string
	QueryMode        string // local or remote
	SyncSchedule     string
	ProfileAfterSync bool
	PrimaryKey       string
	Folder           string
	Description      string
	RegisteredBy     string // e-mail of the user who registered (for uploads: the owner)
	IsPublic         bool
	RegisteredAt     time.Time
}

const tableColumns = `id, name, coalesce(source_type, ''), coalesce(bucket, ''), coalesce(source_table, ''),
	coalesce(sync_strategy, 'full_refresh'), coalesce(query_mode, 'local'), coalesce(sync_schedule, ''),
	coalesce(profile_after_sync, true), coalesce(primary_key, ''), coalesce(folder, ''),
	coalesce(description, ''), coalesce(registered_by, ''), coalesce(is_public, true), registered_at`

func scanTable(r rowScanner) (*Table, error) {
	var t Table
	var at sql.NullTime
	if err := r.Scan(&t.ID, &t.Name, &t.SourceType, &t.Bucket, &t.SourceTable, &t.SyncStrategy, &t.QueryMode,
		&t.SyncSchedule, &t.ProfileAfterSync, &t.PrimaryKey, &t.Folder, &t.Description, &t.RegisteredBy,
		&t.IsPublic, &at); err != nil {
		return nil, err
	}
	if at.Valid {
		t.RegisteredAt = at.Time.UTC()
	}
	return &t, nil
}

// RegisterTable inserts t, or updates every field of an existing row with the same ID except
// registered_by and registered_at, which keep their first values. Empty SyncStrategy and
// QueryMode get the column defaults.
func (s *Store) RegisterTable(ctx context.Context, t *Table) error {
	if t.ID == "" || t.Name == "" {
		return fmt.Errorf("store: register table: id and name are required")
	}
	if t.SyncStrategy == "" {
		t.SyncStrategy = "full_refresh"
	}
	if t.QueryMode == "" {
		t.QueryMode = "local"
	}
	auditResource(ctx, t.ID)
	// An auth write: a re-registration can make a table private or change its owner.
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO table_registry (id, name, source_type, bucket, source_table,
			sync_strategy, query_mode, sync_schedule, profile_after_sync, primary_key, folder, description,
			registered_by, is_public, registered_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, source_type = excluded.source_type,
			bucket = excluded.bucket, source_table = excluded.source_table, sync_strategy = excluded.sync_strategy,
			query_mode = excluded.query_mode, sync_schedule = excluded.sync_schedule,
			profile_after_sync = excluded.profile_after_sync, primary_key = excluded.primary_key,
			folder = excluded.folder, description = excluded.description, is_public = excluded.is_public`,
			t.ID, t.Name, nullString(t.SourceType), nullString(t.Bucket), nullString(t.SourceTable), t.SyncStrategy,
			t.QueryMode, nullString(t.SyncSchedule), t.ProfileAfterSync, nullString(t.PrimaryKey),
			nullString(t.Folder), nullString(t.Description), nullString(t.RegisteredBy), t.IsPublic, nowUTC())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: register table %q: %w", t.ID, err)
	}
	got, err := s.GetTable(ctx, t.ID)
	if err != nil {
		return err
	}
	*t = *got
	return nil
}

// GetTable returns the registry row with this id, or ErrNotFound.
func (s *Store) GetTable(ctx context.Context, id string) (*Table, error) {
	t, err := scanTable(s.DB.QueryRowContext(ctx, `SELECT `+tableColumns+` FROM table_registry WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get table %q: %w", id, err)
	}
	return t, nil
}

// ListTables returns every registry row ordered by id.
func (s *Store) ListTables(ctx context.Context) ([]Table, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+tableColumns+` FROM table_registry ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list tables: %w", err)
	}
	defer rows.Close()
	var out []Table
	for rows.Next() {
		t, err := scanTable(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tables: %w", err)
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// DeleteTable removes a registry row; ErrNotFound when there is none.
func (s *Store) DeleteTable(ctx context.Context, id string) error {
	return s.authWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM table_registry WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("store: delete table %q: %w", id, err)
		}
		return mustAffect(res, ErrNotFound)
	})
}
