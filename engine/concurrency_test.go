package engine

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadersNeverFailDuringRebuilds runs readers of every kind while 20 rebuilds publish
// changing data: none of their queries may fail.
func TestReadersNeverFailDuringRebuilds(t *testing.T) {
	e, _, dir := testEngine(t, Options{HistoryRetention: 24 * time.Hour})
	ctx := context.Background()
	write := func(i int) {
		tables := []fxTable{
			{name: "orders", query: rangeQuery(10 + i)},
			{name: "events", shards: []string{rangeQuery(i + 1), rangeQuery(2)}},
		}
		for k := 0; k < i%4; k++ { // tables come and stay
			tables = append(tables, fxTable{name: fmt.Sprintf("extra_%d", k), query: rangeQuery(k + 1)})
		}
		writeSource(t, dir, "main_src", tables)
		writeSource(t, dir, "other", []fxTable{{name: "customers", query: rangeQuery(3 + i%2)}})
	}
	write(0)
	mustRebuild(t, e)

	mem := openDuck(t, "")
	defer mem.Close()
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		reads    [3]atomic.Int64
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	queryCount := func(db *sql.DB, q string) error {
		var n int64
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("%s = %d", q, n)
		}
		return nil
	}
	readers := []func(){
		// The query sandbox's way: the catalog's parquet files in an in-memory DuckDB.
		func() {
			for _, info := range e.Catalog().List() {
				if err := queryCount(mem, "SELECT count(*) FROM read_parquet("+parquetList(info.Files)+")"); err != nil {
					fail("parquet of %s: %v", info.ID, err)
				}
			}
			reads[0].Add(1)
		},
		// The current generation's analytics database.
		func() {
			db, err := e.OpenAnalytics(ctx)
			if err != nil {
				fail("OpenAnalytics: %v", err)
				return
			}
			defer db.Close()
			if err := queryCount(db, "SELECT count(*) FROM orders"); err != nil {
				fail("orders via OpenAnalytics: %v", err)
			}
			reads[1].Add(1)
		},
		// A tool opening server.duckdb by its stable path.
		func() {
			db, err := sql.Open("duckdb", e.AnalyticsPath()+"?access_mode=READ_ONLY")
			if err != nil {
				fail("open server.duckdb: %v", err)
				return
			}
			defer db.Close()
			if err := queryCount(db, "SELECT count(*) FROM customers"); err != nil {
				fail("customers via server.duckdb: %v", err)
			}
			reads[2].Add(1)
		},
	}
	for _, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r()
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		write(i)
		res, err := e.Rebuild(ctx)
		if err != nil {
			fail("rebuild %d: %v", i, err)
			continue
		}
		if info, _ := res.Catalog.Table("orders"); info == nil || info.Rows != int64(10+i) {
			fail("rebuild %d: orders = %+v", i, info)
		}
	}
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failures, first ones:\n%s", len(failures), strings.Join(failures[:min(10, len(failures))], "\n"))
	}
	for i := range reads {
		if reads[i].Load() == 0 {
			t.Fatalf("reader %d never ran", i)
		}
	}
	t.Logf("reads during 20 rebuilds: parquet %d, snapshot %d, server.duckdb %d", reads[0].Load(), reads[1].Load(), reads[2].Load())
}

// TestOpenAnalyticsIsFreshAcrossSwaps proves that a handle of an older generation still open
// in this process does not make later opens stale (DuckDB caches instances by path).
func TestOpenAnalyticsIsFreshAcrossSwaps(t *testing.T) {
	e, _, dir := testEngine(t, Options{})
	ctx := context.Background()
	writeSource(t, dir, "one", []fxTable{{name: "a", query: rangeQuery(2)}})
	mustRebuild(t, e)
	old, err := e.OpenAnalytics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	plainOld := openDuck(t, e.AnalyticsPath()+"?access_mode=READ_ONLY")
	defer plainOld.Close()
	views := func(db *sql.DB) int64 {
		return countRows(t, db, "SELECT count(*) FROM duckdb_views() WHERE NOT internal")
	}
	if views(old) != 1 || views(plainOld) != 1 {
		t.Fatal("generation 1 should have one view")
	}

	for gen := 2; gen <= 4; gen++ {
		writeSource(t, dir, fmt.Sprintf("src%d", gen), []fxTable{{name: fmt.Sprintf("t%d", gen), query: rangeQuery(1)}})
		mustRebuild(t, e)
		fresh, err := e.OpenAnalytics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := views(fresh); got != int64(gen) {
			t.Fatalf("generation %d: OpenAnalytics sees %d views, want %d (stale instance)", gen, got, gen)
		}
		_ = fresh.Close()
		// The old handles keep working on their generation although its file was replaced.
		if views(old) != 1 || countRows(t, old, "SELECT count(*) FROM a") != 2 {
			t.Fatal("the generation-1 handle broke")
		}
	}
	// What DuckDB's per-path instance cache does to a plain reopen while an old handle lives:
	plainNew := openDuck(t, e.AnalyticsPath()+"?access_mode=READ_ONLY")
	t.Logf("server.duckdb reopened by path while an old handle is open sees %d views (current: 4)", views(plainNew))
	_ = plainNew.Close()
}
