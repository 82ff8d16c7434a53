package handlers

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2"

	"da/engine/extract"
	"da/store"
)

// fxTable is a test table: its id, the SELECT that fills it, and whether it is public.
type fxTable struct {
	name   string
	query  string
	public bool
	owner  string // registered_by (an uploader's e-mail); optional
}

// addTables publishes tables the way a connector does: parquet under
// DATA_DIR/extracts/<source>/data/<name>.parquet, the extract contract, a registry row, then
// a rebuild of the engine so that the next query sees them.
func (env *testEnv) addTables(source string, tables ...fxTable) {
	env.t.Helper()
	ctx := context.Background()
	dir := filepath.Join(env.srv.engine.DataDir(), "extracts", source)
	if err := os.MkdirAll(extract.DataDir(dir), 0o755); err != nil {
		env.t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		env.t.Fatal(err)
	}
	defer db.Close()
	for _, tb := range tables {
		path := filepath.Join(extract.DataDir(dir), tb.name+".parquet")
		tmp := path + ".writing"
		q := fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet)", tb.query, strings.ReplaceAll(tmp, "'", "''"))
		if _, err := db.Exec(q); err != nil {
			env.t.Fatalf("write %s: %v", tb.name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			env.t.Fatal(err)
		}
		var rows int64
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM (%s)", tb.query)).Scan(&rows); err != nil {
			env.t.Fatal(err)
		}
		if err := extract.Upsert(dir, extract.Table{Name: tb.name, Rows: rows}); err != nil {
			env.t.Fatalf("contract %s: %v", tb.name, err)
		}
		reg := &store.Table{ID: strings.ToLower(tb.name), Name: tb.name, SourceType: source, IsPublic: tb.public, RegisteredBy: tb.owner}
		if err := env.store.RegisterTable(ctx, reg); err != nil {
			env.t.Fatalf("register %s: %v", tb.name, err)
		}
	}
	if _, err := env.srv.engine.Rebuild(ctx); err != nil {
		env.t.Fatalf("rebuild: %v", err)
	}
}

// queryFixtures adds the standard query fixtures: a public "sales" table (category, day,
// amount, units; 6 rows), a private "salaries" table whose values are unique markers, and a
// public "big" table of 25,000 rows.
func (env *testEnv) queryFixtures() {
	env.t.Helper()
	env.addTables("testsrc",
		fxTable{name: "sales", public: true, query: `SELECT * FROM (VALUES
			('books', DATE '2026-01-01', 10.5, 3), ('games', DATE '2026-01-02', 20.0, 1), ('music', DATE '2026-01-03', NULL, 7),
			('books', DATE '2026-01-04', 5.25, 2), ('games', DATE '2026-01-05', 7.0, 4), ('toys', DATE '2026-01-06', 1.0, 9))
			AS t(category, day, amount, units)`},
		fxTable{name: "salaries", public: false, query: `SELECT 'SECRETROW-' || range AS marker, range * 1000 AS pay FROM range(5)`},
		fxTable{name: "big", public: true, query: `SELECT range AS id, 'row ' || range AS label FROM range(25000)`},
	)
}
