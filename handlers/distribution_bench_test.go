package handlers

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/engine/extract"
	"da/store"
)

// writeBenchTables writes n tables of rows rows each under one source, registers them and
// rebuilds once.
func writeBenchTables(b *testing.B, env *testEnv, n int) {
	b.Helper()
	ctx := context.Background()
	dir := filepath.Join(env.srv.engine.DataDir(), "extracts", "bench")
	if err := os.MkdirAll(extract.DataDir(dir), 0o755); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var tables []extract.Table
	for i := range n {
		name := fmt.Sprintf("t%05d", i)
		path := filepath.Join(extract.DataDir(dir), name+".parquet")
		if _, err := db.Exec(fmt.Sprintf(`COPY (SELECT range AS id, 'v' || range AS label FROM range(10)) TO '%s' (FORMAT parquet)`, path)); err != nil {
			b.Fatal(err)
		}
		tables = append(tables, extract.Table{Name: name, Rows: 10})
		if err := env.store.RegisterTable(ctx, &store.Table{ID: name, Name: name, SourceType: "bench", Folder: fmt.Sprintf("f%02d", i%20),
			Description: "benchmark table " + name, IsPublic: i%2 == 0}); err != nil {
			b.Fatal(err)
		}
	}
	if err := extract.Write(dir, &extract.Extract{Tables: tables}); err != nil {
		b.Fatal(err)
	}
	if _, err := env.srv.engine.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDownloadVsServeFile downloads a ~500 MB parquet table through the full stack and
// the same file through a bare http.ServeFile, over loopback TCP; ratio = ours/ServeFile
// throughput (target ≥ 0.9).
func BenchmarkDownloadVsServeFile(b *testing.B) {
	env := newTestEnvTB(b)
	ctx := context.Background()
	dir := filepath.Join(env.srv.engine.DataDir(), "extracts", "big")
	if err := os.MkdirAll(extract.DataDir(dir), 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(extract.DataDir(dir), "bigfile.parquet")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	// Random, incompressible strings: about 500 MB of parquet.
	if _, err := db.Exec(fmt.Sprintf(`COPY (SELECT md5(range::VARCHAR) || md5((range*7)::VARCHAR) || md5((range*13)::VARCHAR) AS s FROM range(5200000)) TO '%s' (FORMAT parquet, COMPRESSION uncompressed)`, path)); err != nil {
		b.Fatal(err)
	}
	db.Close()
	if err := extract.Write(dir, &extract.Extract{Tables: []extract.Table{{Name: "bigfile", Rows: 5200000}}}); err != nil {
		b.Fatal(err)
	}
	if err := env.store.RegisterTable(ctx, &store.Table{ID: "bigfile", Name: "bigfile", SourceType: "big", IsPublic: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := env.srv.engine.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	ours := httptest.NewServer(env.e)
	defer ours.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }))
	defer plain.Close()
	fetch := func(url, token string) time.Duration {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != fi.Size() || resp.StatusCode != 200 {
			b.Fatalf("fetch %s: %d bytes, status %d, %v", url, n, resp.StatusCode, err)
		}
		return time.Since(start)
	}
	tok := env.tokens[auth.RoleAnalyst]
	fetch(ours.URL+"/api/data/bigfile/download", tok) // warm the page cache
	var oursT, plainT time.Duration
	b.ResetTimer()
	for range b.N {
		plainT += fetch(plain.URL, "")
		oursT += fetch(ours.URL+"/api/data/bigfile/download", tok)
	}
	b.StopTimer()
	mb := float64(fi.Size()) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/oursT.Seconds(), "ours_MB/s")
	b.ReportMetric(mb/plainT.Seconds(), "servefile_MB/s")
	b.ReportMetric(plainT.Seconds()/oursT.Seconds(), "throughput_ratio")
	b.ReportMetric(float64(fi.Size())/(1<<20), "file_MB")
}

// BenchmarkManifestAndCatalog5000 measures GET /api/sync/manifest and the /catalog page with
// 5,000 served tables for a non-admin analyst (the access rule runs on every request).
func BenchmarkManifestAndCatalog5000(b *testing.B) {
	env := newTestEnvTB(b)
	writeBenchTables(b, env, 5000)
	tok := env.tokens[auth.RoleAnalyst]
	measure := func(path string, n int, check string) []time.Duration {
		var out []time.Duration
		for range n {
			start := time.Now()
			rec := env.do(request{method: "GET", path: path, token: tok})
			out = append(out, time.Since(start))
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), check) {
				b.Fatalf("%s: %d", path, rec.Code)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	b.ResetTimer()
	var man, page []time.Duration
	for range b.N {
		man = append(man, measure("/api/sync/manifest", 20, `"t04998"`)...)
		page = append(page, measure("/catalog", 20, "t04999")...)
	}
	b.StopTimer()
	sort.Slice(man, func(i, j int) bool { return man[i] < man[j] })
	sort.Slice(page, func(i, j int) bool { return page[i] < page[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(man[len(man)/2]), "manifest_p50_ms")
	b.ReportMetric(ms(page[len(page)/2]), "catalog_p50_ms")
	b.ReportMetric(ms(page[len(page)*99/100]), "catalog_p99_ms")
}

// BenchmarkDownloadSmallVsServeFile compares GET /api/data/{id}/download of a small table
// (the full echo stack with an analyst's JWT: authentication, access check, ETag) with
// http.ServeFile of the same file, both over loopback HTTP, alternating.
func BenchmarkDownloadSmallVsServeFile(b *testing.B) {
	env := newTestEnvTB(b)
	env.queryFixtures()
	info, ok := env.srv.engine.Catalog().Table("sales")
	if !ok || len(info.Files) != 1 {
		b.Fatal("no served file for sales")
	}
	path := info.Files[0]
	ours := httptest.NewServer(env.e)
	defer ours.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }))
	defer plain.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	fetch := func(url, token string) time.Duration {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("fetch %s: status %d, %v", url, resp.StatusCode, err)
		}
		return time.Since(start)
	}
	tok := env.tokens[auth.RoleAnalyst]
	fetch(ours.URL+"/api/data/sales/download", tok)
	var oursT, plainT time.Duration
	b.ResetTimer()
	for range b.N {
		plainT += fetch(plain.URL, "")
		oursT += fetch(ours.URL+"/api/data/sales/download", tok)
	}
	b.StopTimer()
	b.ReportMetric(ms(oursT)/float64(b.N), "ours_ms/op")
	b.ReportMetric(ms(plainT)/float64(b.N), "servefile_ms/op")
	b.ReportMetric(plainT.Seconds()/oursT.Seconds(), "speed_ratio")
}
