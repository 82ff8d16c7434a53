package extract

import (
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeParquet makes a parquet file at path with n rows of (id BIGINT, name VARCHAR).
func writeParquet(t *testing.T, path string, n int, extraCol bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sel := "SELECT range AS id, 'n' || range AS name FROM range(?)"
	if extraCol {
		sel = "SELECT range AS id, 'n' || range AS name, range * 2 AS extra FROM range(?)"
	}
	q := "COPY (" + strings.Replace(sel, "?", strconv.Itoa(n), 1) + ") TO " + sqlString(path) + " (FORMAT parquet)"
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// queryView counts the rows of a view inside extract.duckdb, as the orchestrator would see it.
func queryView(t *testing.T, dir, view string) (int64, error) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("ATTACH " + sqlString(filepath.Join(dir, FileName)) + " AS src (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	var n int64
	err = db.QueryRow(`SELECT count(*) FROM src."` + view + `"`).Scan(&n)
	return n, err
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "data", "orders.parquet"), 10, false)
	writeParquet(t, filepath.Join(dir, "data", "issues", "2026_01.parquet"), 3, false)
	writeParquet(t, filepath.Join(dir, "data", "issues", "2026_02.parquet"), 4, true)
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	in := &Extract{
		Tables: []Table{
			{Name: "orders", Description: "it's orders", Rows: 10, SizeBytes: 123, ExtractedAt: at, QueryMode: ModeLocal},
			{Name: "issues", Rows: 7, ExtractedAt: at},
			{Name: "remote_t", QueryMode: ModeRemote},
		},
		Remote: []RemoteAttach{{Alias: "kbc", Extension: "keboola", URL: "https://x'y", TokenEnv: "KBC_TOKEN"}},
	}
	if err := Write(dir, in); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tables) != 3 || len(got.Remote) != 1 {
		t.Fatalf("got %+v", got)
	}
	want := in.Tables[0]
	if g := got.Tables[0]; g.Name != want.Name || g.Description != want.Description || g.Rows != 10 ||
		g.SizeBytes != 123 || !g.ExtractedAt.Equal(at) || g.QueryMode != ModeLocal {
		t.Errorf("table 0 = %+v, want %+v", g, want)
	}
	if got.Tables[1].QueryMode != ModeLocal || got.Tables[2].QueryMode != ModeRemote {
		t.Errorf("modes = %q %q", got.Tables[1].QueryMode, got.Tables[2].QueryMode)
	}
	if got.Remote[0] != in.Remote[0] {
		t.Errorf("remote = %+v", got.Remote[0])
	}
	for view, rows := range map[string]int64{"orders": 10, "issues": 7} {
		n, err := queryView(t, dir, view)
		if err != nil || n != rows {
			t.Errorf("view %s: n=%d err=%v, want %d", view, n, err, rows)
		}
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestWriteRejects(t *testing.T) {
	cases := []struct {
		name string
		x    *Extract
		want string
	}{
		{"nil", nil, "nil extract"},
		{"bad name", &Extract{Tables: []Table{{Name: "a-b", QueryMode: ModeRemote}}}, "invalid table name"},
		{"injection", &Extract{Tables: []Table{{Name: `x"; DROP`, QueryMode: ModeRemote}}}, "invalid table name"},
		{"reserved", &Extract{Tables: []Table{{Name: "_META", QueryMode: ModeRemote}}}, "reserved"},
		{"duplicate", &Extract{Tables: []Table{{Name: "a", QueryMode: ModeRemote}, {Name: "A", QueryMode: ModeRemote}}}, "duplicate"},
		{"mode", &Extract{Tables: []Table{{Name: "a", QueryMode: "cloud"}}}, "query mode"},
		{"no files", &Extract{Tables: []Table{{Name: "missing"}}}, "no parquet files"},
		{"alias", &Extract{Remote: []RemoteAttach{{Alias: "1x", Extension: "e"}}}, "invalid remote alias"},
		{"ext", &Extract{Remote: []RemoteAttach{{Alias: "x", Extension: "e;"}}}, "invalid remote extension"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Write(dir, c.x)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("extract.duckdb written despite error")
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("this is not a database at all, just some text padding padding"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a readable DuckDB database") {
		t.Errorf("corrupt: err = %v", err)
	}
	// A DuckDB file without _meta.
	dir2 := t.TempDir()
	db, err := sql.Open("duckdb", filepath.Join(dir2, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE other (x INT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Read(dir2); err == nil || !strings.Contains(err.Error(), "no _meta") {
		t.Errorf("no meta: err = %v", err)
	}
}

func TestUpsertRemove(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "data", "a.parquet"), 2, false)
	writeParquet(t, filepath.Join(dir, "data", "b.parquet"), 5, false)
	if err := Upsert(dir, Table{Name: "a", Rows: 2}); err != nil {
		t.Fatal(err)
	}
	if err := Upsert(dir, Table{Name: "b", Rows: 5, Description: "bee"}); err != nil {
		t.Fatal(err)
	}
	if err := Upsert(dir, Table{Name: "A", Rows: 20, Description: "replaced"}); err != nil {
		t.Fatalf("case-insensitive replace: %v", err)
	}
	x, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Tables) != 2 || x.Tables[0].Rows != 20 || x.Tables[0].Description != "replaced" || x.Tables[1].Name != "b" {
		t.Fatalf("after upserts: %+v", x.Tables)
	}
	if err := Upsert(dir, Table{Name: "nofiles"}); err == nil {
		t.Error("upsert of a local table without files succeeded")
	}
	if err := Remove(dir, "zzz"); !errors.Is(err, ErrTableNotFound) {
		t.Errorf("remove unknown: %v", err)
	}
	if err := Remove(dir, "../a"); err == nil {
		t.Error("remove with a path name succeeded")
	}
	if err := Remove(dir, "b"); err != nil {
		t.Fatal(err)
	}
	x, err = Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Tables) != 1 || x.Tables[0].Name != "a" {
		t.Fatalf("after remove: %+v", x.Tables)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "b.parquet")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("b.parquet still there: %v", err)
	}
	if _, err := queryView(t, dir, "b"); err == nil {
		t.Error("view b still queryable")
	}
}

func TestUpsertConcurrent(t *testing.T) {
	dir := t.TempDir()
	names := []string{"t0", "t1", "t2", "t3", "t4", "t5"}
	for _, n := range names {
		writeParquet(t, filepath.Join(dir, "data", n+".parquet"), 1, false)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Upsert(dir, Table{Name: n, Rows: 1})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	x, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Tables) != len(names) {
		t.Fatalf("lost updates: %d tables, want %d", len(x.Tables), len(names))
	}
}

func TestPublishParquet(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "staging.parquet")
	writeParquet(t, good, 3, false)
	bad := filepath.Join(dir, "bad.parquet")
	if err := os.WriteFile(bad, []byte("PAR1 but not really a parquet"), 0o640); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, table, file, want string
	}{
		{"invalid name", "../x", good, "invalid table name"},
		{"reserved", "_meta", good, "invalid table name"},
		{"missing", "t", filepath.Join(dir, "nope.parquet"), "no such file"},
		{"not parquet", "t", bad, "not a parquet file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := PublishParquet(dir, c.table, c.file); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	final, err := PublishParquet(dir, "t", good)
	if err != nil {
		t.Fatal(err)
	}
	if final != filepath.Join(dir, "data", "t.parquet") {
		t.Errorf("final = %s", final)
	}
	if _, err := os.Stat(good); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source not moved")
	}
	if files := TableFiles(dir, "t"); len(files) != 1 || files[0] != final {
		t.Errorf("TableFiles = %v", files)
	}
}

// Upserts that wait for a source's lock are written together, and a bad row in the group
// fails only its own call.
func TestUpsertBatchesWaitingWrites(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	good := []string{"g0", "g1", "g2", "g3", "g4"}
	for _, n := range good {
		writeParquet(t, filepath.Join(dir, "data", n+".parquet"), 2, false)
	}
	unlock := lockSource(abs) // a rewrite of the source in progress
	errs := map[string]chan error{}
	for _, n := range append(slices.Clone(good), "missing_data") {
		ch := make(chan error, 1)
		errs[n] = ch
		go func() { ch <- Upsert(dir, Table{Name: n, Rows: 2}) }()
	}
	for deadline := time.Now().Add(time.Minute); ; {
		upsertsMu.Lock()
		waiting := 0
		if b := pendingUpserts[abs]; b != nil {
			waiting = len(b.reqs)
		}
		upsertsMu.Unlock()
		if waiting == len(errs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d upserts are waiting in one batch", waiting, len(errs))
		}
		time.Sleep(5 * time.Millisecond)
	}
	unlock()
	for n, ch := range errs {
		err := <-ch
		if n == "missing_data" {
			if err == nil || !strings.Contains(err.Error(), "no parquet files") {
				t.Errorf("upsert of a table without data: %v, want its own error", err)
			}
		} else if err != nil {
			t.Errorf("upsert of %s failed with the batch: %v", n, err)
		}
	}
	x, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range x.Tables {
		names = append(names, tb.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, good) {
		t.Errorf("contract holds %v, want %v", names, good)
	}
	upsertsMu.Lock()
	defer upsertsMu.Unlock()
	if len(pendingUpserts) != 0 {
		t.Errorf("batches left pending: %v", pendingUpserts)
	}
}

// An upsert into an existing contract patches only its own row and view, and the result is
// what a full rewrite would hold: rows in their order, the replaced table's view over its new
// columns, the other views untouched and working.
func TestUpsertPatchesTheContract(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		writeParquet(t, filepath.Join(dir, "data", n+".parquet"), 3, false)
	}
	if err := Write(dir, &Extract{Tables: []Table{{Name: "a", Rows: 3}, {Name: "b", Rows: 3}, {Name: "c", Rows: 3}},
		Remote: []RemoteAttach{{Alias: "kbc", Extension: "keboola", URL: "https://example.invalid"}}}); err != nil {
		t.Fatal(err)
	}
	// b is replaced by a file with another column and more rows; d is new.
	writeParquet(t, filepath.Join(dir, "data", "b.parquet"), 7, true)
	writeParquet(t, filepath.Join(dir, "data", "d.parquet"), 1, false)
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := Upsert(dir, Table{Name: "B", Rows: 7, Description: "new b", ExtractedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := Upsert(dir, Table{Name: "d", Rows: 1}); err != nil {
		t.Fatal(err)
	}
	x, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range x.Tables {
		names = append(names, tb.Name)
	}
	if strings.Join(names, ",") != "a,b,c,d" {
		t.Fatalf("tables after upserts: %v, want a,b,c,d in order", names)
	}
	if b := x.Tables[1]; b.Rows != 7 || b.Description != "new b" || !b.ExtractedAt.Equal(at) || b.QueryMode != ModeLocal {
		t.Errorf("replaced row = %+v", b)
	}
	if len(x.Remote) != 1 || x.Remote[0].Alias != "kbc" {
		t.Errorf("_remote_attach after upserts = %+v", x.Remote)
	}
	for view, want := range map[string]int64{"a": 3, "b": 7, "c": 3, "d": 1} {
		if n, err := queryView(t, dir, view); err != nil || n != want {
			t.Errorf("view %s: %d rows, %v; want %d", view, n, err, want)
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("ATTACH " + sqlString(filepath.Join(dir, FileName)) + " AS src (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	var extra int64
	if err := db.QueryRow(`SELECT sum(extra) FROM src.b`).Scan(&extra); err != nil || extra != 42 {
		t.Errorf("view b does not read its new column: %d, %v", extra, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "."+FileName+".tmp-*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
