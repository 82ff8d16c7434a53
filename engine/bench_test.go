package engine

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRebuild measures a full rebuild of tables spread over four sources. "warm" is the
// steady state (file hashes cached, sync_state unchanged); "cold" is a new engine each time
// (every file hashed and read for its metadata; sync_state unchanged).
func BenchmarkRebuild(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		e, _, dir := testEngine(b, Options{})
		const sources = 4
		for s := 0; s < sources; s++ {
			var tables []fxTable
			for i := s; i < n; i += sources {
				tables = append(tables, fxTable{name: fmt.Sprintf("t%04d", i), query: rangeQuery(10 + i%50)})
			}
			writeSource(b, dir, fmt.Sprintf("source_%d", s), tables)
		}
		start := time.Now()
		res := mustRebuild(b, e)
		first := time.Since(start)
		if len(res.Catalog.Tables) != n {
			b.Fatalf("published %d tables, want %d", len(res.Catalog.Tables), n)
		}
		b.Run(fmt.Sprintf("tables=%d/warm", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Rebuild(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/table")
			b.ReportMetric(float64(first.Nanoseconds())/float64(n), "first-ns/table")
		})
		b.Run(fmt.Sprintf("tables=%d/cold", n), func(b *testing.B) {
			for b.Loop() {
				e2 := New(dir, e.store, e.log, Options{})
				if _, err := e2.Rebuild(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/table")
		})
	}
}
