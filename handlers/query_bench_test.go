package handlers

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"da/auth"
	"da/engine/extract"
)

// benchRows is the size of the benchmark table.
const benchRows = 1_000_000

// benchEnv is a server with a public 1M-row table "events" and a plain in-memory DuckDB with
// a view of the same name over the same parquet file, for the direct comparison.
type benchEnv struct {
	*testEnv
	token  string
	direct *sql.DB
	file   string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	env := newTestEnvTB(b)
	env.addTables("bench", fxTable{name: "events", public: true, query: fmt.Sprintf(`SELECT range AS id,
		['books', 'games', 'music', 'toys', 'tools', 'food', 'garden', 'sports'][range %% 8 + 1] AS category,
		(range %% 1000) * 0.25 AS amount, DATE '2026-01-01' + (range %% 365)::INTEGER AS day FROM range(%d)`, benchRows)})
	file := filepath.Join(extract.DataDir(filepath.Join(env.srv.engine.DataDir(), "extracts", "bench")), "events.parquet")
	direct, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = direct.Close() })
	// Same thread budget as the sandbox, so the ratio measures our overhead, not parallelism.
	for _, s := range []string{
		"SET threads=" + strconv.Itoa(env.srv.cfg.Query.Threads),
		"CREATE VIEW events AS SELECT * FROM read_parquet('" + strings.ReplaceAll(file, "'", "''") + "')",
	} {
		if _, err := direct.Exec(s); err != nil {
			b.Fatal(err)
		}
	}
	return &benchEnv{testEnv: env, token: env.tokens[auth.RoleAnalyst], direct: direct, file: file}
}

// apiQuery runs sql through POST /api/query (the full echo stack) and checks the row count.
func (be *benchEnv) apiQuery(b *testing.B, sqlText string, wantRows int) {
	rec := be.do(request{method: "POST", path: "/api/query", token: be.token, body: sqlBody(sqlText)})
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, truncate(rec.Body.String()))
	}
	var res struct {
		RowCount int `json:"row_count"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.RowCount != wantRows {
		b.Fatalf("row_count %d (want %d): %v", res.RowCount, wantRows, err)
	}
}

// directQuery runs sql on the plain DuckDB and reads every value.
func (be *benchEnv) directQuery(b *testing.B, sqlText string, wantRows int) {
	rows, err := be.direct.Query(sqlText)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != wantRows {
		b.Fatalf("%d rows (want %d): %v", n, wantRows, err)
	}
}

// BenchmarkQueryAPI compares POST /api/query end to end (HTTP through echo, auth, gate,
// sandbox, typed JSON, audit) with the same SQL on a plain DuckDB over the same parquet
// file. The two alternate in each iteration, so load on the machine hits both alike.
func BenchmarkQueryAPI(b *testing.B) {
	be := newBenchEnv(b)
	cases := []struct {
		name, sql string
		rows      int
	}{
		{"aggregation_1M", "SELECT category, count(*) AS n, sum(amount) AS total, avg(amount) AS mean, min(day) AS first_day FROM events GROUP BY category ORDER BY category", 8},
		{"lookup_10", "SELECT id, category, amount, day FROM events WHERE id BETWEEN 500000 AND 500009 ORDER BY id", 10},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			be.apiQuery(b, tc.sql, tc.rows) // warm: sandbox built, gate verdict cached
			be.directQuery(b, tc.sql, tc.rows)
			b.ResetTimer()
			var api, direct time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				be.apiQuery(b, tc.sql, tc.rows)
				t1 := time.Now()
				be.directQuery(b, tc.sql, tc.rows)
				api += t1.Sub(t0)
				direct += time.Since(t1)
			}
			b.ReportMetric(ms(api)/float64(b.N), "api_ms/op")
			b.ReportMetric(ms(direct)/float64(b.N), "duckdb_ms/op")
			b.ReportMetric(ms(api-direct)/float64(b.N), "overhead_ms/op")
			b.ReportMetric(float64(api)/float64(direct), "ratio")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// discardResponse is an http.ResponseWriter that counts the body instead of keeping it, so
// that a large download does not sit in the benchmark's memory.
type discardResponse struct {
	header http.Header
	code   int
	bytes  int64
	lines  int64
}

func (d *discardResponse) Header() http.Header { return d.header }
func (d *discardResponse) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardResponse) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.bytes += int64(len(p))
	d.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// memPeak samples the Go heap (HeapInuse) and the process's resident memory (which includes
// DuckDB's own allocations) until stop is called.
type memPeak struct {
	heap, rss atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
}

func startMemPeak() *memPeak {
	m := &memPeak{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > m.heap.Load() {
				m.heap.Store(ms.HeapInuse)
			}
			if r := residentBytes(); r > m.rss.Load() {
				m.rss.Store(r)
			}
			select {
			case <-m.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return m
}

func (m *memPeak) finish() (heapMB, rssMB float64) {
	close(m.stop)
	<-m.done
	return float64(m.heap.Load()) / 1e6, float64(m.rss.Load()) / 1e6
}

// residentBytes reads the resident set size from /proc (0 where there is none).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// BenchmarkExportCSVAPI compares a CSV export of 1M rows through POST /api/query/export (full
// echo stack, body streamed to a counting writer) with DuckDB's own COPY ... TO of the same
// query on the plain DuckDB, and reports the peak Go heap and resident memory of the API run.
func BenchmarkExportCSVAPI(b *testing.B) {
	be := newBenchEnv(b)
	const q = "SELECT * FROM events"
	out := filepath.Join(b.TempDir(), "direct.csv")
	copySQL := "COPY (" + q + ") TO '" + strings.ReplaceAll(out, "'", "''") + "' (FORMAT csv, HEADER)"
	body, _ := json.Marshal(map[string]string{"sql": q, "format": "csv"})
	export := func() *discardResponse {
		req := httptest.NewRequest("POST", "/api/query/export", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+be.token)
		w := &discardResponse{header: http.Header{}}
		be.e.ServeHTTP(w, req)
		if w.code != http.StatusOK || w.lines != benchRows+1 {
			b.Fatalf("status %d, %d lines", w.code, w.lines)
		}
		return w
	}
	export()
	if _, err := be.direct.Exec(copySQL); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var api, direct time.Duration
	var heap, rss, mb float64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		peak := startMemPeak()
		t0 := time.Now()
		w := export()
		t1 := time.Now()
		h, r := peak.finish()
		heap, rss, mb = max(heap, h), max(rss, r), float64(w.bytes)/1e6
		t2 := time.Now()
		if _, err := be.direct.Exec(copySQL); err != nil {
			b.Fatal(err)
		}
		api += t1.Sub(t0)
		direct += time.Since(t2)
	}
	b.ReportMetric(ms(api)/float64(b.N), "api_ms/op")
	b.ReportMetric(ms(direct)/float64(b.N), "copy_ms/op")
	b.ReportMetric(float64(api)/float64(direct), "ratio")
	b.ReportMetric(heap, "peak_heap_MB")
	b.ReportMetric(rss, "peak_rss_MB")
	b.ReportMetric(mb, "csv_MB")
}

// concurrentDuration is how long BenchmarkConcurrentClients runs: DA_BENCH_CONCURRENT_DURATION
// (a Go duration), else 30 s. Like every benchmark it runs only when asked for with -bench.
func concurrentDuration(b *testing.B) time.Duration {
	if v := os.Getenv("DA_BENCH_CONCURRENT_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("DA_BENCH_CONCURRENT_DURATION=%q: want a positive duration such as 30s", v)
		}
		return d
	}
	return 30 * time.Second
}

// BenchmarkConcurrentClients runs 32 clients against a real HTTP server (httptest.NewServer
// over the echo instance) for concurrentDuration, each sending 10-row lookups at random ids
// through POST /api/query back to back, and reports throughput, p50/p99 latency and errors
// (which must be zero). The load test runs once whatever b.N is.
func BenchmarkConcurrentClients(b *testing.B) {
	be := newBenchEnv(b)
	srv := httptest.NewServer(be.e)
	defer srv.Close()
	const clients = 32
	dur := concurrentDuration(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: time.Minute}
	send := func(id int) error {
		q := fmt.Sprintf("SELECT id, category, amount, day FROM events WHERE id BETWEEN %d AND %d ORDER BY id", id, id+9)
		req, _ := http.NewRequest("POST", srv.URL+"/api/query", strings.NewReader(sqlBody(q)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+be.token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var res struct {
			RowCount int `json:"row_count"`
		}
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, truncate(string(data)))
		}
		if err := json.Unmarshal(data, &res); err != nil || res.RowCount != 10 {
			return fmt.Errorf("row_count %d: %v", res.RowCount, err)
		}
		return nil
	}
	if err := send(0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var mu sync.Mutex
		var lat []time.Duration
		var errs atomic.Int64
		var firstErr atomic.Value
		deadline := time.Now().Add(dur)
		var wg sync.WaitGroup
		start := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				var mine []time.Duration
				for k := 0; time.Now().Before(deadline); k++ {
					t0 := time.Now()
					if err := send((c*7919 + k*104729) % (benchRows - 10)); err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}(c)
		}
		wg.Wait()
		elapsed := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) == 0 {
			b.Fatalf("no query succeeded; first error: %v", firstErr.Load())
		}
		pct := func(p float64) float64 { return ms(lat[int(p*float64(len(lat)-1))]) }
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "queries/s")
		b.ReportMetric(pct(0.50), "p50_ms")
		b.ReportMetric(pct(0.99), "p99_ms")
		b.ReportMetric(float64(errs.Load()), "errors")
		b.ReportMetric(float64(len(lat)), "queries")
		if errs.Load() != 0 {
			b.Errorf("%d errors; first: %v", errs.Load(), firstErr.Load())
		}
	}
}
