package query

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
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
