package keboola

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"da/engine/connectors"
	"da/engine/connectors/keboola/keboolatest"
	"da/engine/extract"
)

// benchRows is the size of the benchmark table: 1M rows, or 100k with -short.
func benchRows() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

func benchTable() keboolatest.Table {
	return keboolatest.Table{ID: "in.c-bench.events", PrimaryKey: []string{"id"}, Columns: []keboolatest.Column{
		{Name: "id", BaseType: "INTEGER"}, {Name: "amount", BaseType: "NUMERIC", Length: "12,2"},
		{Name: "day", BaseType: "DATE"}, {Name: "label", BaseType: "STRING"}}}
}

func benchRow(i int, label string) []string {
	return []string{fmt.Sprint(i), fmt.Sprintf("%d.%02d", i%1000, i%100), fmt.Sprintf("2026-%02d-%02d", i%12+1, i%28+1), label}
}

func newBenchEnv(b *testing.B, n int) *env {
	b.Helper()
	f := keboolatest.New("bench-token")
	b.Cleanup(f.Close)
	f.SliceRows = 100_000
	f.PollsBeforeDone = 1
	f.AddTable(benchTable())
	rows := make([][]string, 0, n)
	for i := range n {
		rows = append(rows, benchRow(i, "first"))
	}
	f.Upsert("in.c-bench.events", time.Now().Add(-48*time.Hour), rows...)
	dir := b.TempDir()
	k := New(Config{URL: f.URL, Token: f.Token(), SourceDir: filepath.Join(dir, "extracts", "keboola"),
		Client: fastOptions(), FullRefreshEvery: -1})
	if err := os.MkdirAll(extract.DataDir(k.cfg.SourceDir), 0o750); err != nil {
		b.Fatal(err)
	}
	return &env{fake: f, k: k, dir: dir}
}

// benchSync extracts and publishes like env.sync, for benchmarks.
func (e *env) benchSync(b *testing.B, tb connectors.Table) *connectors.Result {
	b.Helper()
	staging, err := os.MkdirTemp(e.k.cfg.SourceDir, ".sync-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(staging)
	stage := filepath.Join(staging, tb.Name+".parquet")
	res, err := e.k.Extract(context.Background(), tb, stage)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(stage, filepath.Join(extract.DataDir(e.k.cfg.SourceDir), tb.Name+".parquet")); err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkFullRefreshVsLocalCSV compares a full refresh of a table through the fake Storage
// API (export job, sliced gzip download, typed conversion to parquet) with DuckDB converting
// the very same gzip slices from local disk with the same casts. x_local is the ratio.
func BenchmarkFullRefreshVsLocalCSV(b *testing.B) {
	n := benchRows()
	e := newBenchEnv(b, n)
	tb := connectors.Table{Name: "events", Bucket: "in.c-bench", SourceTable: "events", Strategy: FullRefresh}

	// The slices as the fake serves them, on local disk.
	local := b.TempDir()
	c, _ := NewClient(e.fake.URL, e.fake.Token(), fastOptions())
	ctx := context.Background()
	files, gz, err := e.k.download(ctx, "in.c-bench.events", ColumnTypes(mustDetail(b, c)), time.Time{}, true, connectors.TableOptions{}, local)
	if err != nil || !gz {
		b.Fatalf("download: %v gz=%v", err, gz)
	}
	cols := ColumnTypes(mustDetail(b, c))

	var remote, disk time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res := e.benchSync(b, tb)
		remote += time.Since(start)
		if res.RowsChanged != int64(n) {
			b.Fatalf("rows %d", res.RowsChanged)
		}

		start = time.Now()
		work := b.TempDir()
		db, err := e.k.openDuck(work)
		if err != nil {
			b.Fatal(err)
		}
		if err := createSource(ctx, db, cols, files, true); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec("COPY (SELECT " + typedList(cols) + " FROM src) TO " + sqlString(filepath.Join(work, "out.parquet")) +
			" (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"); err != nil {
			b.Fatal(err)
		}
		_ = db.Close()
		disk += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(remote.Milliseconds())/float64(b.N), "ms_fake")
	b.ReportMetric(float64(disk.Milliseconds())/float64(b.N), "ms_local")
	b.ReportMetric(float64(remote)/float64(disk), "x_local")
}

func mustDetail(b *testing.B, c *Client) *Table {
	b.Helper()
	t, err := c.TableDetail(context.Background(), "in.c-bench.events")
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkIncrementalVsFullRefresh syncs the table incrementally with 1% of its rows changed,
// and compares with a full refresh of the same table. x_full is the ratio.
func BenchmarkIncrementalVsFullRefresh(b *testing.B) {
	n := benchRows()
	e := newBenchEnv(b, n)
	inc := connectors.Table{Name: "events", Bucket: "in.c-bench", SourceTable: "events", Strategy: Incremental}
	full := inc
	full.Strategy = FullRefresh
	e.benchSync(b, inc) // the first incremental sync is a full one
	changed := n / 100
	var tInc, tFull time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rows := make([][]string, 0, changed)
		for j := range changed {
			rows = append(rows, benchRow((j*97+i)%n, fmt.Sprint("changed-", i)))
		}
		e.fake.Upsert("in.c-bench.events", time.Now(), rows...)
		b.StartTimer()

		start := time.Now()
		res := e.benchSync(b, inc)
		tInc += time.Since(start)
		if res.Strategy != Incremental || res.RowsChanged < int64(changed) {
			b.Fatalf("incremental %+v", res)
		}
		b.StopTimer()
		// The full refresh writes elsewhere so that the incremental chain stays intact.
		staging, _ := os.MkdirTemp(e.k.cfg.SourceDir, ".full-*")
		b.StartTimer()
		start = time.Now()
		if _, err := e.k.Extract(context.Background(), full, filepath.Join(staging, "events.parquet")); err != nil {
			b.Fatal(err)
		}
		tFull += time.Since(start)
		b.StopTimer()
		_ = os.RemoveAll(staging)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(tInc.Milliseconds())/float64(b.N), "ms_incremental")
	b.ReportMetric(float64(tFull.Milliseconds())/float64(b.N), "ms_full")
	b.ReportMetric(float64(tInc)/float64(tFull), "x_full")
	// The merged table still has every row once.
	db, _ := sql.Open("duckdb", "")
	defer db.Close()
	var cnt, distinct int64
	p := filepath.Join(extract.DataDir(e.k.cfg.SourceDir), "events.parquet")
	if err := db.QueryRow("SELECT count(*), count(DISTINCT id) FROM read_parquet("+sqlString(p)+")").Scan(&cnt, &distinct); err != nil || cnt != int64(n) || distinct != int64(n) {
		b.Fatalf("merged table: %d rows, %d ids, %v", cnt, distinct, err)
	}
}

// BenchmarkDiscover2000Tables lists a project of 2,000 tables with 12 typed columns each:
// p50 of a listing from Keboola (cold), and of a cached answer.
func BenchmarkDiscover2000Tables(b *testing.B) {
	f := keboolatest.New("bench-token")
	b.Cleanup(f.Close)
	for i := range 2000 {
		var cols []keboolatest.Column
		for j := range 12 {
			cols = append(cols, keboolatest.Column{Name: fmt.Sprintf("col_%d", j), BaseType: []string{"STRING", "INTEGER", "NUMERIC", "DATE"}[j%4]})
		}
		f.AddTable(keboolatest.Table{ID: fmt.Sprintf("in.c-bucket%02d.table_%04d", i%40, i), Description: "bench", PrimaryKey: []string{"col_1"}, Columns: cols})
	}
	k := New(Config{URL: f.URL, Token: f.Token(), Client: ClientOptions{HTTP: &http.Client{Timeout: time.Minute}}})
	ctx := context.Background()
	var cold, warm []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		list, err := k.Refresh(ctx)
		cold = append(cold, time.Since(start))
		if err != nil || len(list) != 2000 {
			b.Fatalf("%d %v", len(list), err)
		}
		start = time.Now()
		if _, err := k.Discover(ctx); err != nil {
			b.Fatal(err)
		}
		warm = append(warm, time.Since(start))
	}
	b.StopTimer()
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ReportMetric(p50(cold), "ms_p50_listing")
	b.ReportMetric(p50(warm), "ms_p50_cached")
}
