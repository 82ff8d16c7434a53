package upload

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// benchCSV writes the 1M-row CSV of the performance method (id, customer_id, amount,
// region, day, note; about 67 MB) once per benchmark.
func benchCSV(b *testing.B, db *sql.DB, dir string) string {
	b.Helper()
	csvPath := filepath.Join(dir, "big.csv")
	if _, err := db.Exec(`COPY (SELECT range AS id, range % 1000 AS customer_id, (hash(range) % 100000) / 100.0 AS amount,
		['north', 'south', 'east', 'west'][(range % 4)::INTEGER + 1] AS region, DATE '2024-01-01' + (range % 700)::INTEGER AS day,
		md5(range::VARCHAR) AS note FROM range(1000000)) TO ` + sqlString(csvPath) + ` (FORMAT csv, HEADER)`); err != nil {
		b.Fatal(err)
	}
	return csvPath
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkIngestCSV1M times Ingest of a 1M-row CSV (receive, convert, publish) against
// DuckDB's own one statement COPY (SELECT * FROM read_csv(f)) TO p (FORMAT parquet) of the
// same file, alternating the two, and reports the medians and their ratio. Run it with
// -benchtime=7x for a stable median on a shared machine.
func BenchmarkIngestCSV1M(b *testing.B) {
	dir := b.TempDir()
	gen, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	csvPath := benchCSV(b, gen, dir)
	gen.Close()
	fi, _ := os.Stat(csvPath)
	b.Logf("input: %d bytes", fi.Size())
	var ours, theirs []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := filepath.Join(dir, "src"+strconv.Itoa(i))
		f, err := os.Open(csvPath)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := Ingest(context.Background(), src, "big", "big.csv", f, Options{MaxBytes: -1})
		ours = append(ours, time.Since(start))
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if res.Rows != 1000000 {
			b.Fatalf("rows = %d", res.Rows)
		}

		out := filepath.Join(dir, "duck"+strconv.Itoa(i)+".parquet")
		db, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := db.Exec(`COPY (SELECT * FROM read_csv(` + sqlString(csvPath) + `)) TO ` + sqlString(out) + ` (FORMAT parquet)`); err != nil {
			b.Fatal(err)
		}
		theirs = append(theirs, time.Since(start))
		db.Close()
		_ = os.RemoveAll(src)
		_ = os.Remove(out)
	}
	b.StopTimer()
	b.ReportMetric(float64(median(ours).Milliseconds()), "ms_ingest_median")
	b.ReportMetric(float64(median(theirs).Milliseconds()), "ms_duckdb_median")
	b.ReportMetric(float64(median(ours))/float64(median(theirs)), "x_vs_duckdb")
}
