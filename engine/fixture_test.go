package engine

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"da/engine/extract"
	"da/store"
)

// fxTable is one table of a test source, written with plain DuckDB SQL.
type fxTable struct {
	name        string
	query       string   // SELECT for data/<name>.parquet
	shards      []string // SELECTs for data/<name>/part-<i>.parquet
	mode        string   // query_mode; "" = local
	description string
	extractedAt time.Time
}

// fxRemote is one _remote_attach row.
type fxRemote struct{ alias, ext, url, tokenEnv string }

// testEngine returns an engine over a fresh DATA_DIR with its own system database.
func testEngine(t testing.TB, opt Options) (*Engine, *store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state", "system.duckdb"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if opt.Getenv == nil {
		opt.Getenv = func(string) string { return "" }
	}
	return New(dir, st, slog.New(slog.DiscardHandler), opt), st, dir
}

// writeSource writes DATA_DIR/extracts/<source> through the contract: parquet files, then
// extract.duckdb with _meta, optional _remote_attach and a view per local table. Every file is
// written to a temporary name and renamed, as connectors do.
func writeSource(t testing.TB, dataDir, source string, tables []fxTable, remotes ...fxRemote) {
	t.Helper()
	dir := filepath.Join(dataDir, "extracts", source)
	if err := os.MkdirAll(extract.DataDir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.query != "" {
			writeParquet(t, filepath.Join(extract.DataDir(dir), tb.name+".parquet"), tb.query)
		}
		for i, q := range tb.shards {
			writeParquet(t, filepath.Join(extract.DataDir(dir), tb.name, fmt.Sprintf("part-%03d.parquet", i)), q)
		}
	}
	tmp := filepath.Join(dir, extract.FileName+".tmp")
	_ = os.Remove(tmp)
	db := openDuck(t, tmp)
	mustExec(t, db, extract.MetaDDL)
	for _, tb := range tables {
		mode := tb.mode
		if mode == "" {
			mode = extract.ModeLocal
		}
		var at any
		if !tb.extractedAt.IsZero() {
			at = tb.extractedAt
		}
		mustExec(t, db, `INSERT INTO _meta VALUES (?, ?, 0, 0, ?, ?)`, tb.name, tb.description, at, mode)
		if files := extract.TableFiles(dir, tb.name); len(files) > 0 && extract.ValidIdent(tb.name) {
			mustExec(t, db, fmt.Sprintf(`CREATE OR REPLACE VIEW "%s" AS SELECT * FROM read_parquet(%s)`, tb.name, parquetList(files)))
		}
	}
	if len(remotes) > 0 {
		mustExec(t, db, extract.RemoteAttachDDL)
		for _, r := range remotes {
			mustExec(t, db, `INSERT INTO _remote_attach VALUES (?, ?, ?, ?)`, r.alias, r.ext, r.url, r.tokenEnv)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, extract.FileName)); err != nil {
		t.Fatal(err)
	}
}

// writeParquet writes the result of query to path atomically.
func writeParquet(t testing.TB, path, query string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".writing"
	db := openDuck(t, "")
	defer db.Close()
	mustExec(t, db, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet)", query, quoteString(tmp)))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// rewriteSameBytes replaces path with a new file holding the same bytes (new inode, new mtime).
func rewriteSameBytes(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // make sure the modification time moves
	if err := os.WriteFile(path+".copy", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".copy", path); err != nil {
		t.Fatal(err)
	}
}

func openDuck(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", dsn)
	if err != nil {
		t.Fatalf("open duckdb %q: %v", dsn, err)
	}
	return db
}

func mustExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func mustRebuild(t testing.TB, e *Engine) *Result {
	t.Helper()
	res, err := e.Rebuild(context.Background())
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	return res
}

// copyFile copies src to dst.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// skipReason returns the recorded reason for a skipped table ("" = whole source) or "".
func skipReason(res *Result, source, table string) string {
	for _, s := range res.Sources {
		if s.Name != source {
			continue
		}
		for _, sk := range s.Skipped {
			if sk.Table == table {
				return sk.Reason
			}
		}
	}
	return ""
}

// rangeQuery is a SELECT of n rows with an id, a label and an amount.
func rangeQuery(n int) string {
	return fmt.Sprintf("SELECT range AS id, 'item ' || range AS label, range * 1.5 AS amount FROM range(%d)", n)
}

func countRows(t testing.TB, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
