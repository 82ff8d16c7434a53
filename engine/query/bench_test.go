package query

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func benchTable(b *testing.B, rows int) (string, []Table) {
	b.Helper()
	f := filepath.Join(b.TempDir(), "bench.parquet")
	writeParquet(b, f, fmt.Sprintf("SELECT range AS id, 'label_' || range AS label, range * 0.5 AS amount FROM range(%d)", rows))
	return f, []Table{{Name: "bench", Files: []string{f}}}
}

// BenchmarkQueryOverhead compares a query on a cached sandbox (gate + cache lookup + stat of
// the files + run + typed conversion) with the same query on a plain DuckDB over the same
// parquet file, and reports the ratio.
func BenchmarkQueryOverhead(b *testing.B) {
	f, tables := benchTable(b, 100_000)
	r := newTestRunner(b, Options{})
	const q = "SELECT label, amount FROM bench WHERE id BETWEEN 500 AND 509"
	mustRun(b, r, Request{SQL: q, Tables: tables}) // warm the cache

	plain, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Exec("CREATE VIEW bench AS SELECT * FROM read_parquet(" + quoteLiteral(f) + ")"); err != nil {
		b.Fatal(err)
	}
	plainRun := func() {
		rows, err := plain.Query(q)
		if err != nil {
			b.Fatal(err)
		}
		var s string
		var a float64
		for rows.Next() {
			if err := rows.Scan(&s, &a); err != nil {
				b.Fatal(err)
			}
		}
		rows.Close()
	}
	plainRun()

	b.ResetTimer()
	var sandboxTime, plainTime time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := r.Run(context.Background(), Request{SQL: q, Tables: tables}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		plainRun()
		sandboxTime += t1.Sub(t0)
		plainTime += time.Since(t1)
	}
	b.ReportMetric(float64(sandboxTime.Microseconds())/float64(b.N), "sandbox_us/op")
	b.ReportMetric(float64(plainTime.Microseconds())/float64(b.N), "plain_us/op")
	b.ReportMetric(float64(sandboxTime)/float64(plainTime), "ratio")
}

// BenchmarkGate measures the parser gate alone.
func BenchmarkGate(b *testing.B) {
	r := newTestRunner(b, Options{})
	for i := 0; i < b.N; i++ {
		if err := r.gate.parse(context.Background(), "SELECT label, amount FROM bench WHERE id % 1000 = 7 ORDER BY id LIMIT 100"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSandboxCold measures building a sandbox (links, views, settings, lock) and its
// first query: what a permission change, upload or rebuild costs once.
func BenchmarkSandboxCold(b *testing.B) {
	f, _ := benchTable(b, 1000)
	r := newTestRunner(b, Options{CacheSize: 1})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A different table name is a different key: a cold build every time.
		tables := []Table{{Name: fmt.Sprintf("bench_%d", i), Files: []string{f}}}
		if _, err := r.Run(context.Background(), Request{SQL: "SELECT 1", Tables: tables}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExport1M exports one million rows in each format.
func BenchmarkExport1M(b *testing.B) {
	_, tables := benchTable(b, 1_000_000)
	r := newTestRunner(b, Options{Timeout: 5 * time.Minute})
	for _, format := range []string{"csv", "json", "parquet"} {
		b.Run(format, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				w := &countingWriter{}
				n, err := r.Export(context.Background(), Request{SQL: "SELECT * FROM bench", Tables: tables}, format, w)
				if err != nil || n != 1_000_000 {
					b.Fatalf("%d %v", n, err)
				}
				b.ReportMetric(float64(w.n)/1e6, "MB")
			}
		})
	}
}
