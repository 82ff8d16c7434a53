package profile

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// BenchmarkProfile1M profiles a 1M-row, 8-column parquet file (sampled to the default 500k rows)
// and, on the same file and engine limits, runs DuckDB's own SUMMARIZE; it reports how many
// times slower the full profile is.
func BenchmarkProfile1M(b *testing.B) {
	dir := b.TempDir()
	path := writeParquet(b, dir, "bench", nil, `SELECT
		i AS id,
		round(random() * 1000, 2) AS amount,
		(i % 97)::INTEGER AS qty,
		'cat_' || (i % 20) AS category,
		'customer ' || hash(i) % 200000 AS customer,
		DATE '2020-01-01' + (i % 1500)::INTEGER AS created,
		TIMESTAMP '2020-01-01' + INTERVAL (i) SECOND AS updated,
		i % 3 = 0 AS flag
		FROM range(1000000) r(i)`)
	cfg := testConfig()
	cfg.MemoryLimit = "4GB"
	ctx := context.Background()
	in := Input{TableID: "bench", PrimaryKey: "id", Files: []string{path}}

	var profileTime, summarizeTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		p, err := ProfileTable(ctx, in, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if p.RowCount != 1_000_000 || !p.Sampled {
			b.Fatalf("row_count %d sampled %v", p.RowCount, p.Sampled)
		}
		profileTime += time.Since(start)

		start = time.Now()
		if err := summarize(ctx, path, cfg.Threads, cfg.MemoryLimit); err != nil {
			b.Fatal(err)
		}
		summarizeTime += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(profileTime.Milliseconds())/float64(b.N), "profile_ms")
	b.ReportMetric(float64(summarizeTime.Milliseconds())/float64(b.N), "summarize_ms")
	b.ReportMetric(float64(profileTime)/float64(summarizeTime), "x_vs_summarize")
}

// summarize runs SUMMARIZE over the file on a fresh engine with the profiler's limits.
func summarize(ctx context.Context, path string, threads int, memory string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, s := range []string{fmt.Sprintf("SET threads = %d", threads), "SET memory_limit = " + quoteString(memory)} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	rows, err := db.QueryContext(ctx, "SUMMARIZE SELECT * FROM read_parquet("+quoteString(path)+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	dests := make([]any, len(cols))
	for i := range vals {
		dests[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dests...); err != nil {
			return err
		}
		n++
	}
	if n != 8 {
		return fmt.Errorf("SUMMARIZE returned %d rows, want 8", n)
	}
	return rows.Err()
}
