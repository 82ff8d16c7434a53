// Package localdb manages an analyst's local analytics.duckdb, the database `da sync` builds
// over the downloaded parquet files and `da query` reads: one view per table, the user's own
// base tables left alone.
package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"da/engine/extract"
	"da/engine/query"
)

// ErrNoDatabase means the local database file does not exist yet.
var ErrNoDatabase = errors.New("localdb: local database not found")

// quoteIdent double-quotes an identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteLiteral single-quotes a string literal.
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// ViewsResult reports what RebuildViews did.
type ViewsResult struct {
	Views   []string // views now defined, sorted
	Shadows []string // tables skipped because a user base table has the name
	Created int      // views (re)created; the others were kept as they were
	Dropped int      // views removed
}

// RebuildViews makes the views of dbPath exactly one per entry of tables (view name →
// absolute parquet path), in one transaction; base tables are kept and win over a view of
// the same name. A view that already reads the same path is kept unless its name is in fresh
// (its file was replaced, so its columns may have changed); every other view is dropped or
// created. Names must be valid identifiers.
func RebuildViews(ctx context.Context, dbPath string, tables map[string]string, fresh map[string]bool) (*ViewsResult, error) {
	for name := range tables {
		if !extract.ValidIdent(name) {
			return nil, fmt.Errorf("localdb: invalid table name %q", name)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, fmt.Errorf("localdb: %w", err)
	}
	db, err := sql.Open("duckdb", dbPath)
	if err != nil {
		return nil, openError(dbPath, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, openError(dbPath, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return nil, fmt.Errorf("localdb: %w", err)
	}
	res, err := rebuildInTx(ctx, conn, tables, fresh)
	if err != nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return nil, fmt.Errorf("localdb: commit: %w", err)
	}
	if res.Created > 0 || res.Dropped > 0 {
		_, _ = conn.ExecContext(ctx, "CHECKPOINT")
	}
	return res, nil
}

// viewSQL is the body of the view over one parquet file.
func viewSQL(path string) string { return "SELECT * FROM read_parquet(" + quoteLiteral(path) + ")" }

func rebuildInTx(ctx context.Context, conn *sql.Conn, tables map[string]string, fresh map[string]bool) (*ViewsResult, error) {
	rows, err := conn.QueryContext(ctx, `SELECT t.table_name, t.table_type, coalesce(v.sql, '')
		FROM information_schema.tables t
		LEFT JOIN duckdb_views() v ON v.database_name = t.table_catalog AND v.schema_name = t.table_schema AND v.view_name = t.table_name
		WHERE t.table_catalog = current_database() AND t.table_schema = 'main'`)
	if err != nil {
		return nil, fmt.Errorf("localdb: list tables: %w", err)
	}
	views := map[string]string{} // name → stored SQL
	base := map[string]bool{}
	for rows.Next() {
		var name, typ, def string
		if err := rows.Scan(&name, &typ, &def); err != nil {
			rows.Close()
			return nil, fmt.Errorf("localdb: %w", err)
		}
		if typ == "VIEW" {
			views[name] = def
		} else {
			base[strings.ToLower(name)] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localdb: %w", err)
	}
	res := &ViewsResult{Views: []string{}, Shadows: []string{}}
	// A stored view is kept when it has the wanted name and reads the wanted file.
	keep := func(name string) bool {
		path, ok := tables[name]
		return ok && !fresh[name] && !base[strings.ToLower(name)] && strings.Contains(views[name], viewSQL(path))
	}
	for v := range views {
		if keep(v) {
			continue
		}
		if _, err := conn.ExecContext(ctx, "DROP VIEW IF EXISTS main."+quoteIdent(v)); err != nil {
			return nil, fmt.Errorf("localdb: drop view %s: %w", v, err)
		}
		if _, wanted := tables[v]; !wanted {
			res.Dropped++
		}
	}
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if base[strings.ToLower(n)] {
			res.Shadows = append(res.Shadows, n)
			continue
		}
		res.Views = append(res.Views, n)
		if keep(n) {
			continue
		}
		if _, err := conn.ExecContext(ctx, "CREATE VIEW main."+quoteIdent(n)+" AS "+viewSQL(tables[n])); err != nil {
			return nil, fmt.Errorf("localdb: create view %s: %w", n, err)
		}
		res.Created++
	}
	return res, nil
}

// openError explains the usual reason a local database cannot be opened.
func openError(path string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "lock") {
		return fmt.Errorf("localdb: %s is in use by another program (close other da query/DuckDB sessions and retry): %w", path, err)
	}
	return fmt.Errorf("localdb: cannot open %s: %w", path, err)
}

// DB is the local database opened read-only.
type DB struct {
	db   *sql.DB
	path string
}

// Open opens dbPath read-only; ErrNoDatabase when it does not exist.
func Open(dbPath string) (*DB, error) {
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoDatabase
	}
	db, err := sql.Open("duckdb", dbPath+"?access_mode=READ_ONLY")
	if err != nil {
		return nil, openError(dbPath, err)
	}
	return &DB{db: db, path: dbPath}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Result is a query result with JSON-ready values (the same renderings as the server's
// POST /api/query: dates and timestamps ISO 8601, DECIMAL exact strings, big integers
// outside ±2^53 as strings).
type Result struct {
	Columns     []string
	ColumnTypes []string
	Rows        [][]any
	Truncated   bool
}

// Query runs sql and returns at most limit rows (limit ≤ 0: all rows).
func (d *DB) Query(ctx context.Context, sqlText string, limit int) (*Result, error) {
	rows, err := d.db.QueryContext(ctx, sqlText)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: cols, ColumnTypes: make([]string, len(cts)), Rows: [][]any{}}
	for i, ct := range cts {
		res.ColumnTypes[i] = ct.DatabaseTypeName()
	}
	conv := make([]query.Converter, len(cols))
	for i, t := range res.ColumnTypes {
		conv[i] = query.NewConverter(t)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if limit > 0 && len(res.Rows) == limit {
			res.Truncated = true
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = conv[i].JSON(v)
		}
		res.Rows = append(res.Rows, row)
	}
	return res, rows.Err()
}

// Column is one column of DESCRIBE.
type Column struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// Relation is a table or view of the local database.
type Relation struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "view" or "table"
}

// Relations lists the local tables and views, sorted by name.
func (d *DB) Relations(ctx context.Context) ([]Relation, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT table_name, table_type FROM information_schema.tables
		WHERE table_catalog = current_database() AND table_schema = 'main' ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Relation{}
	for rows.Next() {
		var r Relation
		var typ string
		if err := rows.Scan(&r.Name, &typ); err != nil {
			return nil, err
		}
		r.Kind = "table"
		if typ == "VIEW" {
			r.Kind = "view"
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Describe returns a relation's columns; name must be a valid identifier.
func (d *DB) Describe(ctx context.Context, name string) ([]Column, error) {
	if !extract.ValidIdent(name) {
		return nil, fmt.Errorf("invalid table name %q", name)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns
		WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = ? ORDER BY ordinal_position`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Column{}
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type, &c.Nullable); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Count returns a relation's row count; name must be a valid identifier.
func (d *DB) Count(ctx context.Context, name string) (int64, error) {
	if !extract.ValidIdent(name) {
		return 0, fmt.Errorf("invalid table name %q", name)
	}
	var n int64
	err := d.db.QueryRowContext(ctx, "SELECT count(*) FROM main."+quoteIdent(name)).Scan(&n)
	return n, err
}

// Sample returns the first n rows of a relation; name must be a valid identifier.
func (d *DB) Sample(ctx context.Context, name string, n int) (*Result, error) {
	if !extract.ValidIdent(name) {
		return nil, fmt.Errorf("invalid table name %q", name)
	}
	return d.Query(ctx, "SELECT * FROM main."+quoteIdent(name)+" LIMIT "+strconv.Itoa(n), n)
}

// Problem is one relation of the local database that cannot be read.
type Problem struct {
	Name  string
	Error string
}

// Check reads the schema of every relation and reports those that fail (for example a view
// whose parquet file is missing or corrupt).
func (d *DB) Check(ctx context.Context) ([]Problem, error) {
	rels, err := d.Relations(ctx)
	if err != nil {
		return nil, err
	}
	var out []Problem
	for _, r := range rels {
		if !extract.ValidIdent(r.Name) {
			continue
		}
		rows, err := d.db.QueryContext(ctx, "SELECT * FROM main."+quoteIdent(r.Name)+" LIMIT 1")
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		if err != nil {
			out = append(out, Problem{Name: r.Name, Error: err.Error()})
		}
	}
	return out, nil
}
