package engine

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSweepTemp: every spool, staging directory and temporary file a crash can leave is
// removed and counted; table data, databases and user files next to them are kept.
func TestSweepTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel string, size int) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	garbage := []string{
		"tmp/upload-123",
		"tmp/da-query-9/tmp/spill.bin",
		"extracts/uploads/.upload-55/input.csv",
		"extracts/keboola/.sync-7/orders.parquet",
		"extracts/demo/.demo-gen-1/x.parquet",
		"extracts/uploads/.extract.duckdb.tmp-42",
		"extracts/uploads/.extract.duckdb.tmp-42.wal",
		"extracts/uploads/data/.orders.parquet.tmp-3",
		"analytics/server.duckdb.991.tmp",
		"analytics/server.duckdb.991.tmp.wal",
		"state/.system.duckdb.tmp-8",
		"state/jwt_secret.tmp-77",
	}
	keep := []string{
		"tmp/notes.txt",
		"extracts/uploads/extract.duckdb",
		"extracts/uploads/data/orders.parquet",
		"extracts/uploads/data/upload-orders.parquet",
		"extracts/keboola/data/sync-log.parquet",
		"analytics/server.duckdb",
		"analytics/snapshots/server-1-1.duckdb",
		"state/system.duckdb",
		"state/system.duckdb.wal",
		"state/jwt_secret",
	}
	for _, p := range garbage {
		write(p, 100)
	}
	for _, p := range keep {
		write(p, 10)
	}

	removed, bytes := SweepTemp(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Directories count once each: tmp/da-query-9, .upload-55, .sync-7, .demo-gen-1.
	if removed != len(garbage) || bytes != int64(100*len(garbage)) {
		t.Errorf("SweepTemp = %d entries, %d bytes; want %d, %d", removed, bytes, len(garbage), 100*len(garbage))
	}
	var left []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(left)
	want := slices.Clone(keep)
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("files after the sweep:\n got %v\nwant %v", left, want)
	}
	if l := FindTemp(dir); len(l) != 0 {
		t.Errorf("FindTemp after the sweep = %v", l)
	}
}
