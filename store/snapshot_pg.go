package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// snapshotRows is how many rows one INSERT of a PostgreSQL snapshot carries.
const snapshotRows = 256

// snapshotPostgres writes the PostgreSQL state as a new DuckDB system database at path: a
// database of the same schema version, filled from one repeatable-read transaction, so that
// it holds every write committed before the snapshot began and none after. The file is what
// a DuckDB store would snapshot, so it restores the same way (and `da admin migrate-state`
// puts it back on PostgreSQL).
func (s *Store) snapshotPostgres(ctx context.Context, path string) (err error) {
	version, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	dst, err := Open(path)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	defer func() {
		if cerr := dst.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if v, err := dst.SchemaVersion(ctx); err != nil || v != version {
		return fmt.Errorf("store: snapshot: the PostgreSQL state is at schema version %d, this da writes %d; use the da that serves it", version, v)
	}
	tables, err := stateTables(ctx, dst)
	if err != nil {
		return err
	}
	tx, err := s.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, t := range tables {
		if err := snapshotTable(ctx, tx, dst, t); err != nil {
			return err
		}
	}
	if _, err := dst.DB.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("store: snapshot: checkpoint: %w", err)
	}
	return nil
}

// snapshotTable copies one table from the PostgreSQL transaction into dst and checks that
// both hold as many rows.
func snapshotTable(ctx context.Context, tx *sql.Tx, dst *Store, table string) error {
	cols, err := copyColumns(ctx, dst.DB, table)
	if err != nil {
		return err
	}
	sel := make([]string, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.name)
		sel[i] = quoteIdent(c.name)
		if strings.EqualFold(c.dataType, "JSON") {
			sel[i] += "::text" // JSON text, which DuckDB casts back
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+quoteIdent(table))
	if err != nil {
		return fmt.Errorf("store: snapshot: read %s: %w", table, err)
	}
	defer rows.Close()
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	insert := func(batch []any, n int) error {
		if n == 0 {
			return nil
		}
		q := "INSERT INTO " + quoteIdent(table) + " (" + strings.Join(names, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
		if _, err := dst.DB.ExecContext(ctx, q, batch...); err != nil {
			return fmt.Errorf("store: snapshot: write %s: %w", table, err)
		}
		return nil
	}
	var (
		batch []any
		n     int
		total int64
	)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("store: snapshot: read %s: %w", table, err)
		}
		batch = append(batch, vals...)
		n++
		total++
		if n == snapshotRows {
			if err := insert(batch, n); err != nil {
				return err
			}
			batch, n = batch[:0], 0
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: snapshot: read %s: %w", table, err)
	}
	if err := insert(batch, n); err != nil {
		return err
	}
	var have int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(table)).Scan(&have); err != nil {
		return fmt.Errorf("store: snapshot: count %s: %w", table, err)
	}
	got, err := countRows(ctx, dst.DB, table)
	if err != nil {
		return err
	}
	if got != have || got != total {
		return fmt.Errorf("store: snapshot: table %s has %d rows in the snapshot and %d in PostgreSQL", table, got, have)
	}
	return nil
}
