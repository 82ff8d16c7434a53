package query

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestExportSmall(t *testing.T) {
	r := newTestRunner(t, Options{})
	sel := `SELECT 1 AS id, 'a,"b"' AS s, 1.50::DECIMAL(5,2) AS d, DATE '2024-01-02' AS day, NULL::INTEGER AS n, [1,2] AS l, {'k': 'v'} AS st, 2 AS id`
	t.Run("csv", func(t *testing.T) {
		var b bytes.Buffer
		n, err := r.Export(context.Background(), Request{SQL: sel}, "csv", &b)
		if err != nil || n != 1 {
			t.Fatalf("%d %v", n, err)
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"id", "s", "d", "day", "n", "l", "st", "id"}, {"1", `a,"b"`, "1.50", "2024-01-02", "", "[1,2]", `{"k":"v"}`, "2"}}
		if got, _ := json.Marshal(recs); string(got) != mustJSON(t, want) {
			t.Fatalf("csv %s", got)
		}
	})
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		n, err := r.Export(context.Background(), Request{SQL: sel}, "JSON", &b)
		if err != nil || n != 1 {
			t.Fatalf("%d %v", n, err)
		}
		want := `[
{"id":1,"s":"a,\"b\"","d":"1.50","day":"2024-01-02","n":null,"l":[1,2],"st":{"k":"v"},"id_2":2}
]
`
		if b.String() != want {
			t.Fatalf("json %q", b.String())
		}
	})
	t.Run("json empty", func(t *testing.T) {
		var b bytes.Buffer
		n, err := r.Export(context.Background(), Request{SQL: "SELECT 1 AS x WHERE false"}, "json", &b)
		var v []any
		if err != nil || n != 0 || json.Unmarshal(b.Bytes(), &v) != nil || len(v) != 0 {
			t.Fatalf("%d %v %q", n, err, b.String())
		}
	})
	t.Run("refused statement writes nothing", func(t *testing.T) {
		var b bytes.Buffer
		_, err := r.Export(context.Background(), Request{SQL: "COPY (SELECT 1) TO '/tmp/x.csv'"}, "csv", &b)
		if errKind(err) != Invalid || b.Len() != 0 {
			t.Fatalf("%v %q", err, b.String())
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExportParquetRoundTrip writes every natively kept type to parquet and reads it back with
// a plain DuckDB.
func TestExportParquetRoundTrip(t *testing.T) {
	r := newTestRunner(t, Options{})
	sel := `SELECT range AS id, range::INTEGER AS i, (range * 1.25)::DECIMAL(10,2) AS d, 12345678901234567890.123::DECIMAL(38,3) AS big,
		'x' || range AS s, DATE '2024-01-01' + range::INTEGER AS day, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (range) SECOND AS ts,
		TIMESTAMPTZ '2024-01-01 00:00:00+00' AS tz, TIME '01:02:03' AS tm, INTERVAL 1 DAY AS iv, range::DOUBLE / 3 AS f,
		'0f8fad5b-d9cb-469f-a165-70867728950e'::UUID AS u, '\xAA'::BLOB AS bl, [range, NULL] AS l, {'a': range, 'b': 'y'} AS st,
		MAP {'k': range} AS m, 170141183460469231731687303715884105727::HUGEINT AS h, 'b'::ENUM('a', 'b') AS e,
		CASE WHEN range % 2 = 0 THEN NULL ELSE range END AS maybe, 1 AS id
		FROM range(1000)`
	out := filepath.Join(t.TempDir(), "x.parquet")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Export(context.Background(), Request{SQL: sel}, "parquet", f)
	f.Close()
	if err != nil || n != 1000 {
		t.Fatalf("export: %d %v", n, err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var diff int
	q := "SELECT count(*) FROM (SELECT * FROM read_parquet(" + quoteLiteral(out) + ") EXCEPT ALL SELECT * REPLACE (e::VARCHAR AS e) FROM (" +
		strings.Replace(sel, "1 AS id\n", "1 AS id_2\n", 1) + "))"
	if err := db.QueryRow(q).Scan(&diff); err != nil {
		t.Fatalf("compare: %v", err)
	}
	if diff != 0 {
		t.Fatalf("%d rows differ after the parquet round trip", diff)
	}
	var types string
	if err := db.QueryRow("SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE SELECT * FROM read_parquet(" + quoteLiteral(out) + "))").Scan(&types); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"d DECIMAL(10,2)", "big DECIMAL(38,3)", "day DATE", "ts TIMESTAMP", "tz TIMESTAMP WITH TIME ZONE", "l BIGINT[]", "e VARCHAR", "id_2 INTEGER"} {
		if !strings.Contains(types, want) {
			t.Errorf("parquet schema %q lacks %q", types, want)
		}
	}
}

func TestExportCap(t *testing.T) {
	r := newTestRunner(t, Options{ExportMaxRows: 100})
	for _, format := range []string{"csv", "json", "parquet"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			n, err := r.Export(context.Background(), Request{SQL: "SELECT * FROM range(1000)"}, format, &b)
			if !errors.Is(err, ErrExportTruncated) || n != 100 {
				t.Fatalf("%d %v", n, err)
			}
			if format == "json" {
				var v []any
				if err := json.Unmarshal(b.Bytes(), &v); err != nil || len(v) != 100 {
					t.Fatalf("capped json invalid: %v %d", err, len(v))
				}
			}
		})
	}
}

func TestExportTimeout(t *testing.T) {
	r := newTestRunner(t, Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := r.Export(context.Background(), Request{SQL: slowSQL}, "csv", &countingWriter{})
	if errKind(err) != Timeout || time.Since(start) > 2*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

// TestExportMillionRowsFlatMemory exports 1M rows in each format while sampling the Go heap.
func TestExportMillionRowsFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1M-row export")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "big.parquet")
	writeParquet(t, f, "SELECT range AS id, 'label_' || range AS label, range * 0.5 AS amount, DATE '2024-01-01' + (range % 365)::INTEGER AS day FROM range(1000000)")
	r := newTestRunner(t, Options{Timeout: 2 * time.Minute})
	tables := []Table{{Name: "big", Files: []string{f}}}
	for _, format := range []string{"csv", "json", "parquet"} {
		t.Run(format, func(t *testing.T) {
			runtime.GC()
			var peak atomic.Uint64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			w := &countingWriter{}
			start := time.Now()
			n, err := r.Export(context.Background(), Request{SQL: "SELECT * FROM big", Tables: tables}, format, w)
			close(stop)
			<-sampled
			if err != nil || n != 1_000_000 {
				t.Fatalf("%d rows, %v", n, err)
			}
			t.Logf("%s: %d rows, %.1f MB written in %v, peak HeapInuse %.1f MB", format, n, float64(w.n)/1e6, time.Since(start), float64(peak.Load())/1e6)
			if peak.Load() > 64<<20 {
				t.Fatalf("peak HeapInuse %d MB > 64 MB", peak.Load()>>20)
			}
		})
	}
}

func TestStatementBody(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT 1;", "SELECT 1"},
		{"SELECT 1 ; ;\n", "SELECT 1"},
		{"SELECT 1 -- note", "SELECT 1"},
		{"SELECT 1; -- note\n/* more */ ;", "SELECT 1"},
		{"SELECT 1 /* a /* nested */ comment */", "SELECT 1"},
		{"SELECT ';--' AS s;", "SELECT ';--' AS s"},
		{`SELECT 1 AS "x;--";`, `SELECT 1 AS "x;--"`},
		{"SELECT 'it''s' -- c", "SELECT 'it''s'"},
		{"SELECT $$a;--$$ ;", "SELECT $$a;--$$"},
		{"SELECT $t$ $$ ; $t$", "SELECT $t$ $$ ; $t$"},
		{"SELECT -- a\n 1", "SELECT -- a\n 1"},
		{"  ", ""},
	}
	for _, tt := range tests {
		if got := statementBody(tt.in); got != tt.want {
			t.Errorf("statementBody(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestExportWrapping exports statements whose text tries to end, comment out or extend the
// SELECT that the export puts around them. Each must either export exactly what Run returns
// or be refused with a 4xx kind, and never write a file outside the export sandbox.
func TestExportWrapping(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "t.parquet")
	writeParquet(t, f, "SELECT range AS id, 'v' || range AS s FROM range(50)")
	tables := []Table{{Name: "t", Files: []string{f}}}
	victim := filepath.Join(dir, "victim.csv")
	tmp := t.TempDir()
	r := newTestRunner(t, Options{TempDir: tmp})
	tests := []struct {
		name, sql string
		refused   bool
	}{
		{"plain", "SELECT * FROM t", false},
		{"trailing semicolons", "SELECT * FROM t;;", false},
		{"trailing line comment", "SELECT * FROM t -- ) TO '" + victim + "'", false},
		{"trailing block comment", "SELECT * FROM t /* ) TO '" + victim + "' */", false},
		{"semicolon then comment", "SELECT * FROM t; -- done", false},
		{"string with parens", "SELECT ') TO ''" + victim + "'' (FORMAT csv); --' AS x FROM t", false},
		{"dollar string", "SELECT $$) TO '" + victim + "'; --$$ AS x FROM t", false},
		{"quoted name", `SELECT id AS ")" FROM t`, false},
		{"cte", "WITH a AS (SELECT id FROM t WHERE id < 5) SELECT * FROM a", false},
		{"union", "SELECT id FROM t UNION ALL SELECT id + 100 FROM t", false},
		{"from first", "FROM t SELECT id", false},
		{"values", "VALUES (1, 'a'), (2, 'b')", false},
		{"summarize", "SUMMARIZE t", false},
		{"order and limit", "SELECT id FROM t ORDER BY id DESC LIMIT 7", false},
		{"unbalanced close", "SELECT 1) TO '" + victim + "' (FORMAT csv", true},
		{"second statement", "SELECT 1; COPY t TO '" + victim + "'", true},
		{"unterminated comment", "SELECT 1 /* ", true},
		{"unterminated string", "SELECT 'x", true},
		{"row counter", "SELECT nextval('da_export.exported_rows') FROM t", true},
		{"row counter value", "SELECT currval('da_export.exported_rows')", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			n, err := r.Export(context.Background(), Request{SQL: tt.sql, Tables: tables}, "csv", &b)
			if tt.refused {
				if k := errKind(err); k != Invalid && k != Engine {
					t.Fatalf("want a refusal, got %d rows, %v", n, err)
				}
			} else {
				if err != nil {
					t.Fatalf("export: %v", err)
				}
				res := mustRun(t, r, Request{SQL: tt.sql, Tables: tables})
				recs, err := csv.NewReader(&b).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if int(n) != res.RowCount || len(recs) != res.RowCount+1 {
					t.Fatalf("export wrote %d rows (%d records), Run returned %d", n, len(recs), res.RowCount)
				}
				if strings.Join(recs[0], ",") != strings.Join(res.Columns, ",") {
					t.Fatalf("header %v, columns %v", recs[0], res.Columns)
				}
				for i, row := range res.Rows {
					if got, want := recs[i+1][0], textOf(row[0]); got != want && res.ColumnTypes[0] != "DOUBLE" {
						t.Fatalf("row %d: %q, want %q", i, got, want)
					}
				}
			}
			if _, err := os.Stat(victim); err == nil {
				t.Fatalf("%s was written", victim)
			}
		})
	}
	// Run's sandboxes stay cached; no export file or export sandbox may remain.
	_ = filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), "export-") {
			t.Errorf("export left %s behind", p)
		}
		return nil
	})
	if left, _ := os.ReadDir(tmp); len(left) != r.cache.len() {
		t.Errorf("%d sandbox dirs for %d cached sandboxes", len(left), r.cache.len())
	}
}

// TestExportOrderAndCap checks that the engine-written export keeps the statement's order,
// also when it is cut at the row limit, and that a result of exactly the limit is complete.
func TestExportOrderAndCap(t *testing.T) {
	r := newTestRunner(t, Options{ExportMaxRows: 100})
	tests := []struct {
		sql       string
		format    string
		rows      int64
		truncated bool
		first     string
	}{
		{"SELECT range AS x FROM range(1000) ORDER BY x DESC", "csv", 100, true, "999"},
		{"SELECT range AS x FROM range(100) ORDER BY x DESC", "csv", 100, false, "99"},
		{"SELECT range AS x FROM range(99)", "csv", 99, false, "0"},
		{"SELECT range AS x FROM range(101) ORDER BY x DESC", "parquet", 100, true, "100"},
		{"SELECT range AS x FROM range(0)", "parquet", 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.sql, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x."+tt.format)
			fh, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			n, err := r.Export(context.Background(), Request{SQL: tt.sql}, tt.format, fh)
			fh.Close()
			if n != tt.rows || errors.Is(err, ErrExportTruncated) != tt.truncated || (err != nil && !errors.Is(err, ErrExportTruncated)) {
				t.Fatalf("%d rows, %v", n, err)
			}
			db, err := sql.Open("duckdb", "")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			reader := "read_parquet(" + quoteLiteral(out) + ")"
			if tt.format == "csv" {
				reader = "read_csv(" + quoteLiteral(out) + ", header=true, all_varchar=true)"
			}
			var count int64
			var first sql.NullString
			if err := db.QueryRow("SELECT count(*), first(x::VARCHAR) FROM "+reader).Scan(&count, &first); err != nil {
				t.Fatal(err)
			}
			if count != tt.rows || first.String != tt.first {
				t.Fatalf("file has %d rows starting with %q, want %d starting with %q", count, first.String, tt.rows, tt.first)
			}
		})
	}
}

// TestExportCancelAndIsolation cancels an engine-written export and checks that the export
// sandbox sees only the caller's tables, and that concurrent exports beyond the slot count
// all finish.
func TestExportCancelAndIsolation(t *testing.T) {
	dir := t.TempDir()
	pub, priv := filepath.Join(dir, "pub.parquet"), filepath.Join(dir, "priv.parquet")
	writeParquet(t, pub, "SELECT range AS id FROM range(10)")
	writeParquet(t, priv, "SELECT 'SECRET-' || range AS marker FROM range(10)")
	r := newTestRunner(t, Options{})
	tables := []Table{{Name: "pub", Files: []string{pub}}}

	t.Run("cancel", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := r.Export(context.Background(), Request{QueryID: "exp-cancel", SQL: slowSQL}, "csv", &countingWriter{})
			done <- err
		}()
		waitRunning(t, r, "exp-cancel")
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		if !r.Cancel("exp-cancel") {
			t.Fatal("not running")
		}
		select {
		case err := <-done:
			if errKind(err) != Cancelled {
				t.Fatalf("%v", err)
			}
			t.Logf("stopped %v after Cancel", time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatal("export did not stop")
		}
	})
	t.Run("other tables and files", func(t *testing.T) {
		for _, q := range []string{"SELECT * FROM priv", "SELECT * FROM read_parquet(" + quoteLiteral(priv) + ")",
			"SELECT * FROM read_csv(" + quoteLiteral(pub) + ")"} {
			var b bytes.Buffer
			_, err := r.Export(context.Background(), Request{SQL: q, Tables: tables}, "csv", &b)
			if err == nil || strings.Contains(b.String()+err.Error(), "SECRET") {
				t.Errorf("%s: %v %q", q, err, b.String())
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		errs := make(chan error, 3*maxConcurrentExports)
		for i := 0; i < cap(errs); i++ {
			go func() {
				var b bytes.Buffer
				n, err := r.Export(context.Background(), Request{SQL: "SELECT * FROM pub", Tables: tables}, "csv", &b)
				if err == nil && (n != 10 || strings.Count(b.String(), "\n") != 11) {
					err = fmt.Errorf("%d rows: %q", n, b.String())
				}
				errs <- err
			}()
		}
		for i := 0; i < cap(errs); i++ {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// TestExportCSVStopsAtRowLimit checks that a CSV export of a result far larger than the row
// limit is stopped while the engine writes (it would otherwise run into the timeout) and
// comes back as exactly the first ExportMaxRows rows.
func TestExportCSVStopsAtRowLimit(t *testing.T) {
	r := newTestRunner(t, Options{ExportMaxRows: 1000, Timeout: 2 * time.Minute})
	w := &countingWriter{}
	n, err := r.Export(context.Background(), Request{SQL: "SELECT range AS x, md5(range::VARCHAR) AS h FROM range(10000000000)"}, "csv", w)
	if n != 1000 || !errors.Is(err, ErrExportTruncated) {
		t.Fatalf("%d rows, %v", n, err)
	}
}

// TestExportCSVQuotedLineBreaks checks that line breaks inside values, which the CSV line
// watcher counts as lines, neither cut an export that is within the limit nor mark it as
// truncated.
func TestExportCSVQuotedLineBreaks(t *testing.T) {
	const rows = 20_000
	r := newTestRunner(t, Options{ExportMaxRows: rows})
	for _, tt := range []struct {
		sql       string
		truncated bool
	}{
		{fmt.Sprintf("SELECT range AS x, repeat('a' || chr(10), 200) AS body FROM range(%d)", rows), false},
		{fmt.Sprintf("SELECT range AS x, repeat('a' || chr(10), 200) AS body FROM range(%d)", rows+1), true},
	} {
		out := filepath.Join(t.TempDir(), "x.csv")
		fh, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		n, err := r.Export(context.Background(), Request{SQL: tt.sql}, "csv", fh)
		fh.Close()
		if n != rows || errors.Is(err, ErrExportTruncated) != tt.truncated || (err != nil && !errors.Is(err, ErrExportTruncated)) {
			t.Fatalf("%s: %d rows, %v", tt.sql, n, err)
		}
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		var count, maxX int64
		err = db.QueryRow("SELECT count(*), max(x) FROM read_csv("+quoteLiteral(out)+", header=true)").Scan(&count, &maxX)
		db.Close()
		if err != nil || count != rows || maxX != rows-1 {
			t.Fatalf("%s: file has %d rows up to %d (%v)", tt.sql, count, maxX, err)
		}
	}
}
