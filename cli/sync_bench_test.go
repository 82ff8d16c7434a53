package cli

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"da/client"
	"da/config"
	"da/engine/extract"
)

// writeBenchExtract writes a source "bench" with n tables of about bytesPerTable each
// (uncompressed parquet of unique wide strings, so the size grows fast) into dataDir.
func writeBenchExtract(tb testing.TB, dataDir string, n int, rowsPerTable int) {
	tb.Helper()
	src := filepath.Join(dataDir, "extracts", "bench")
	if err := os.MkdirAll(extract.DataDir(src), 0o755); err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	x := &extract.Extract{}
	for i := range n {
		name := fmt.Sprintf("t%04d", i)
		path := filepath.Join(extract.DataDir(src), name+".parquet")
		q := fmt.Sprintf(`COPY (SELECT i AS id, md5(i::VARCHAR || '%[1]s') || md5((i * 7)::VARCHAR) || md5((i * 13)::VARCHAR) || md5((i * 17)::VARCHAR) AS payload
			FROM range(%[2]d) r(i)) TO '%[3]s' (FORMAT parquet, COMPRESSION uncompressed)`, name, rowsPerTable, path)
		if _, err := db.Exec(q); err != nil {
			tb.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			tb.Fatal(err)
		}
		x.Tables = append(x.Tables, extract.Table{Name: name, Rows: int64(rowsPerTable), SizeBytes: fi.Size(), ExtractedAt: time.Now().UTC(), QueryMode: extract.ModeLocal})
	}
	if err := extract.Write(src, x); err != nil {
		tb.Fatal(err)
	}
}

// startBenchServer starts the real server over a data directory prepared by prepare.
func startBenchServer(tb testing.TB, prepare func(dataDir string)) string {
	tb.Helper()
	dir := tb.TempDir()
	prepare(dir)
	envs := map[string]string{"DATA_DIR": dir, "SEED_ADMIN_EMAIL": testAdminEmail, "SEED_ADMIN_PASSWORD": testAdminPassword}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		tb.Fatal(err)
	}
	return startServerWith(tb, cfg)
}

// plainGetAll downloads every table with plain GETs, syncParallel at a time, into dir. A
// plain client copies each body into its file with io.Copy (an *os.File then writes in 32 KiB
// pieces); tuned makes the copy use 1 MiB writes, as da sync does.
func plainGetAll(tb testing.TB, base, token string, ids []string, dir string, tuned bool) int64 {
	var total int64
	var mu sync.Mutex
	sem := make(chan struct{}, syncParallel)
	var wg sync.WaitGroup
	hc := client.New(base, token).HTTP
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req, _ := http.NewRequest(http.MethodGet, base+"/api/data/"+id+"/download", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := hc.Do(req)
			if err != nil {
				tb.Error(err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, id+".parquet"))
			if err != nil {
				tb.Error(err)
				return
			}
			var n int64
			if tuned {
				n, err = io.CopyBuffer(struct{ io.Writer }{f}, resp.Body, make([]byte, 1<<20))
			} else {
				n, err = io.Copy(f, resp.Body)
			}
			f.Close()
			if err != nil {
				tb.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

// BenchmarkSync1GB compares `da sync` of about 1 GB in 20 tables (manifest, download,
// CRC-32C check, atomic rename, local views) with plain parallel GETs of the same files
// written to disk without fsync, and with GETs whose copy loop is tuned like da sync's.
// ratio = plain time / sync time (throughput of sync relative to plain GETs);
// ratio_tuned the same against the tuned GETs.
func BenchmarkSync1GB(b *testing.B) {
	base := startBenchServer(b, func(dir string) { writeBenchExtract(b, dir, 20, 370_000) })
	admin := adminClient(b, base)
	man, err := admin.Manifest(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	var size int64
	for id, t := range man.Tables {
		ids = append(ids, id)
		size += t.SizeBytes
	}
	if len(ids) != 20 {
		b.Fatalf("manifest has %d tables", len(ids))
	}
	waitProfiled(b, admin, len(ids))
	var plain, tuned, synced time.Duration
	runGets := func(tune bool, into *time.Duration) func() {
		return func() {
			dir := b.TempDir()
			syscall.Sync() // start with no dirty pages from the other runs
			start := time.Now()
			got := plainGetAll(b, base, admin.Token, ids, dir, tune)
			*into += time.Since(start)
			if got != size {
				b.Fatalf("plain GETs fetched %d of %d bytes", got, size)
			}
			_ = os.RemoveAll(dir)
		}
	}
	runSync := func() {
		cli := newCLI(b, base)
		cli.vars["DA_TOKEN"] = admin.Token
		syscall.Sync()
		start := time.Now()
		rep := cli.sync("--quiet")
		synced += time.Since(start)
		if len(rep.Downloaded) != 20 || rep.Bytes != size || rep.Views != 20 {
			b.Fatalf("sync: %d tables, %d bytes, %d views, errors %v", len(rep.Downloaded), rep.Bytes, rep.Views, rep.Errors)
		}
		_ = os.RemoveAll(cli.local)
	}
	runs := []func(){runGets(false, &plain), runGets(true, &tuned), runSync}
	i := 0
	for b.Loop() {
		// Rotate the order so no side always runs on a warmer cache.
		for k := range runs {
			runs[(i+k)%len(runs)]()
		}
		i++
	}
	b.ReportMetric(float64(size)/1e6, "MB/op")
	b.ReportMetric(float64(size)*float64(b.N)/1e6/plain.Seconds(), "plain_MB/s")
	b.ReportMetric(float64(size)*float64(b.N)/1e6/tuned.Seconds(), "tuned_MB/s")
	b.ReportMetric(float64(size)*float64(b.N)/1e6/synced.Seconds(), "sync_MB/s")
	b.ReportMetric(plain.Seconds()/synced.Seconds(), "ratio")
	b.ReportMetric(tuned.Seconds()/synced.Seconds(), "ratio_tuned")
}

// waitProfiled waits until the server's background profiler has profiled n tables, so it
// does not compete with the timed downloads.
func waitProfiled(tb testing.TB, c *client.Client, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		ts, err := c.CatalogTables(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		done := 0
		for _, t := range ts {
			if t.HasProfile {
				done++
			}
		}
		if done >= n {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	tb.Fatal("the server did not finish profiling")
}

// BenchmarkSyncNoChange1000 is a `da sync` of 1,000 tables that are all up to date: one
// manifest call, 1,000 stat calls, no downloads and no view rebuild.
func BenchmarkSyncNoChange1000(b *testing.B) {
	base := startBenchServer(b, func(dir string) { writeBenchExtract(b, dir, 1000, 10) })
	admin := adminClient(b, base)
	waitProfiled(b, admin, 1000)
	cli := newCLI(b, base)
	cli.vars["DA_TOKEN"] = admin.Token
	if rep := cli.sync("--quiet"); len(rep.Downloaded) != 1000 {
		b.Fatalf("first sync downloaded %d tables (errors %v)", len(rep.Downloaded), rep.Errors)
	}
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		rep := cli.sync("--quiet")
		total += time.Since(start)
		if len(rep.Downloaded) != 0 || len(rep.Skipped) != 1000 {
			b.Fatalf("no-change sync: %d downloaded, %d skipped", len(rep.Downloaded), len(rep.Skipped))
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/sync")
}
