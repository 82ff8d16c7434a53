package upload

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkIngestCSV1M times Ingest of a 1M-row, 7-column CSV against DuckDB's own
// COPY t FROM csv + COPY t TO parquet of the same file, and reports the ratio.
func BenchmarkIngestCSV1M(b *testing.B) {
	dir := b.TempDir()
	csvPath := filepath.Join(dir, "big.csv")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`COPY (SELECT range AS id, 'customer_' || (hash(range) % 5000) AS customer,
		round((hash(range, 'a') % 100000) / 100.0, 2) AS amount, (hash(range, 'q') % 20)::INTEGER AS qty,
		DATE '2025-01-01' + (range % 365)::INTEGER AS day, TIMESTAMP '2025-01-01' + to_seconds(range) AS ts,
		range % 3 = 0 AS flag FROM range(1000000)) TO ` + sqlString(csvPath) + ` (HEADER)`); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(csvPath)
	b.Logf("input: %d bytes", fi.Size())
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := filepath.Join(dir, "src"+strconv.Itoa(i))
		f, err := os.Open(csvPath)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := Ingest(context.Background(), src, "big", "big.csv", f, Options{MaxBytes: -1})
		ours += time.Since(start)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if res.Rows != 1000000 {
			b.Fatalf("rows = %d", res.Rows)
		}

		out := filepath.Join(dir, "duck"+strconv.Itoa(i)+".parquet")
		start = time.Now()
		for _, q := range []string{
			`CREATE OR REPLACE TABLE t (id BIGINT, customer VARCHAR, amount DOUBLE, qty BIGINT, day DATE, ts TIMESTAMP, flag BOOLEAN)`,
			`COPY t FROM ` + sqlString(csvPath) + ` (HEADER)`,
			`COPY t TO ` + sqlString(out) + ` (FORMAT parquet, COMPRESSION zstd)`,
		} {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		theirs += time.Since(start)
		_ = os.RemoveAll(src)
		_ = os.Remove(out)
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "ms_ingest")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "ms_duckdb")
	b.ReportMetric(float64(ours)/float64(theirs), "x_vs_duckdb")
}
