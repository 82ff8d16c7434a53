package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrTargetNotEmpty reports that CopyState found rows in the target that are not a copy of
// the source; it copies nothing then.
var ErrTargetNotEmpty = errors.New("store: the target database already holds other data")

// TableCopy is what CopyState did with one table.
type TableCopy struct {
	Table  string
	Source int64
	Target int64
	// Action is "copied"; "verified" for a table that a previous run had copied; "empty"
	// when the source table has no rows.
	Action string
}

// CopyState copies every table of the DuckDB store src into the PostgreSQL store dst, both
// already at the same schema version, one transaction per table. Tables that already hold
// the same rows in dst as in src (as many, with the same primary keys) are taken as copied
// by an earlier run and only verified, so a run that stopped half-way can be run again; any
// other non-empty table in dst refuses the whole copy (ErrTargetNotEmpty) before anything
// is written. Row counts are
// checked after each table. Serial sequences and identity columns of dst are moved past the
// copied values. schema_version is not copied: dst has its own history.
func CopyState(ctx context.Context, src, dst *Store) ([]TableCopy, error) {
	if src.d != duckDialect || dst.d != pgDialect {
		return nil, errors.New("store: copying state goes from a DuckDB store to a PostgreSQL store")
	}
	sv, err := src.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	dv, err := dst.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if sv != dv {
		return nil, fmt.Errorf("store: the source is at schema version %d and the target at %d; open both with the same da", sv, dv)
	}
	tables, err := stateTables(ctx, src)
	if err != nil {
		return nil, err
	}
	dstTables, err := stateTables(ctx, dst)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		if !slices.Contains(dstTables, t) {
			return nil, fmt.Errorf("store: the target has no table %s", t)
		}
	}
	// Decide for every table before writing anything.
	plan := make([]TableCopy, 0, len(tables))
	for _, t := range tables {
		sn, err := countRows(ctx, src.DB, t)
		if err != nil {
			return nil, err
		}
		dn, err := countRows(ctx, dst.DB, t)
		if err != nil {
			return nil, err
		}
		tc := TableCopy{Table: t, Source: sn, Target: dn, Action: "copied"}
		switch {
		case sn == 0 && dn == 0:
			tc.Action = "empty"
		case dn == 0:
		case dn == sn:
			same, err := sameKeys(ctx, src, dst, t)
			if err != nil {
				return nil, err
			}
			if !same {
				return nil, fmt.Errorf("%w: table %s has as many rows there as in the source, but other ones; copy into an empty database",
					ErrTargetNotEmpty, t)
			}
			tc.Action = "verified"
		default:
			return nil, fmt.Errorf("%w: table %s has %d rows there and %d in the source; copy into an empty database",
				ErrTargetNotEmpty, t, dn, sn)
		}
		plan = append(plan, tc)
	}
	for i, tc := range plan {
		if tc.Action != "copied" {
			continue
		}
		if err := copyTable(ctx, src, dst, tc.Table); err != nil {
			return plan, err
		}
		n, err := countRows(ctx, dst.DB, tc.Table)
		if err != nil {
			return plan, err
		}
		plan[i].Target = n
		if n != tc.Source {
			return plan, fmt.Errorf("store: table %s has %d rows after copying, the source %d", tc.Table, n, tc.Source)
		}
	}
	if err := fixSequences(ctx, dst, tables); err != nil {
		return plan, err
	}
	return plan, nil
}

// stateTables lists the store's tables, without schema_version, in name order (the schema
// has no foreign keys, so any order satisfies the dependencies).
func stateTables(ctx context.Context, s *Store) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_version'
		ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("store: list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("store: list tables: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func countRows(ctx context.Context, db *sql.DB, table string) (int64, error) {
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s: %w", table, err)
	}
	return n, nil
}

// column is one column of a table, as information_schema names it.
type column struct{ name, dataType string }

func copyColumns(ctx context.Context, db *sql.DB, table string) ([]column, error) {
	rows, err := db.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, fmt.Errorf("store: columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.dataType); err != nil {
			return nil, fmt.Errorf("store: columns of %s: %w", table, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// copyTable streams table from src into dst with COPY, in one transaction.
func copyTable(ctx context.Context, src, dst *Store, table string) error {
	cols, err := copyColumns(ctx, src.DB, table)
	if err != nil {
		return err
	}
	dcols, err := copyColumns(ctx, dst.DB, table)
	if err != nil {
		return err
	}
	names := make([]string, len(cols))
	sel := make([]string, len(cols))
	for i, c := range cols {
		if !slices.ContainsFunc(dcols, func(d column) bool { return d.name == c.name }) {
			return fmt.Errorf("store: the target table %s has no column %s", table, c.name)
		}
		names[i] = c.name
		sel[i] = quoteIdent(c.name)
		if strings.EqualFold(c.dataType, "JSON") {
			sel[i] += "::VARCHAR" // the JSON text, which pgx sends to a json column as is
		}
	}
	rows, err := src.DB.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+quoteIdent(table))
	if err != nil {
		return fmt.Errorf("store: read %s: %w", table, err)
	}
	defer rows.Close()
	return dst.PgxConn(ctx, func(conn *pgx.Conn) error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("store: copy %s: %w", table, err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, names, &sqlRowSource{rows: rows, n: len(cols)}); err != nil {
			return fmt.Errorf("store: copy %s: %w", table, err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: read %s: %w", table, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("store: copy %s: %w", table, err)
		}
		return nil
	})
}

// sqlRowSource feeds database/sql rows to pgx's CopyFrom.
type sqlRowSource struct {
	rows *sql.Rows
	n    int
}

func (r *sqlRowSource) Next() bool { return r.rows.Next() }

func (r *sqlRowSource) Values() ([]any, error) {
	vals := make([]any, r.n)
	ptrs := make([]any, r.n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return vals, nil
}

func (r *sqlRowSource) Err() error { return r.rows.Err() }

// fixSequences moves every serial or identity sequence of dst's tables past the largest
// value copied into its column, so that the next generated value does not collide.
func fixSequences(ctx context.Context, dst *Store, tables []string) error {
	rows, err := dst.DB.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')`)
	if err != nil {
		return fmt.Errorf("store: list sequences: %w", err)
	}
	type seqCol struct{ table, column string }
	var cols []seqCol
	for rows.Next() {
		var c seqCol
		if err := rows.Scan(&c.table, &c.column); err != nil {
			rows.Close()
			return fmt.Errorf("store: list sequences: %w", err)
		}
		if slices.Contains(tables, c.table) {
			cols = append(cols, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: list sequences: %w", err)
	}
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max(%s), 0) + 1, false) FROM %s`,
			quoteIdent(c.column), quoteIdent(c.table))
		if _, err := dst.DB.ExecContext(ctx, q, c.table, c.column); err != nil {
			return fmt.Errorf("store: move the sequence of %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

// sameKeys reports whether table holds the same primary keys in src and dst. A table
// without a primary key compares equal (its row counts were compared already).
func sameKeys(ctx context.Context, src, dst *Store, table string) (bool, error) {
	rows, err := dst.DB.QueryContext(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = to_regclass(?) AND i.indisprimary ORDER BY a.attnum`, quoteIdent(table))
	if err != nil {
		return false, fmt.Errorf("store: primary key of %s: %w", table, err)
	}
	var key []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return false, fmt.Errorf("store: primary key of %s: %w", table, err)
		}
		key = append(key, quoteIdent(c))
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(key) == 0 {
		return err == nil, err
	}
	// Sorted here, not by ORDER BY: the two databases may collate text differently.
	read := func(db *sql.DB) ([]string, error) {
		parts := make([]string, len(key))
		for i, k := range key {
			parts[i] = "CAST(" + k + " AS VARCHAR)"
		}
		q := "SELECT " + strings.Join(parts, " || chr(1) || ") + " FROM " + quoteIdent(table)
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("store: keys of %s: %w", table, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return nil, fmt.Errorf("store: keys of %s: %w", table, err)
			}
			out = append(out, k)
		}
		slices.Sort(out)
		return out, rows.Err()
	}
	a, err := read(src.DB)
	if err != nil {
		return false, err
	}
	b, err := read(dst.DB)
	if err != nil {
		return false, err
	}
	return slices.Equal(a, b), nil
}

// quoteIdent double-quotes a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
