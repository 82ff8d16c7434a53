package engine

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
)

// TempGlobs are the names, relative to DATA_DIR, of every spool, staging directory and
// temporary file that da itself creates there. Each is renamed into place or removed when its
// work ends, so what matches after a crash is garbage. Table data never matches: staging names
// start with a dot or sit under tmp/, and no table id can.
var TempGlobs = []string{
	"tmp/upload-*",                     // upload request bodies being received
	"tmp/da-query-*",                   // query sandboxes
	"tmp/backup-*",                     // backups being collected
	".restore-*",                       // a restore being unpacked
	"backups/.partial-*",               // scheduled backups being written
	"extracts/*/.upload-*",             // upload staging
	"extracts/*/.sync-*",               // sync staging
	"extracts/*/.demo-gen-*",           // demo data staging
	"extracts/*/.extract.duckdb.tmp-*", // extract.duckdb being rebuilt (and its WAL)
	"extracts/*/data/.*.parquet.tmp-*", // parquet copied across file systems
	"analytics/server.duckdb.*.tmp*",   // analytics database being rebuilt (and its WAL)
	"cache/openmetadata/tables/.tmp-*", // OpenMetadata cache entries being written
	"docs/.tmp-*",                      // catalog export files being written
	"docs/*/.tmp-*",
	"docs/*/*/.tmp-*",
	"state/.system.duckdb.tmp-*", // system database being migrated (and its WAL)
	"state/*_secret.tmp-*",       // generated secrets being written
}

// Leftover is one temporary file or directory found by FindTemp.
type Leftover struct {
	Path  string
	Bytes int64
}

// FindTemp lists what matches TempGlobs under dataDir, with sizes (directories counted whole).
func FindTemp(dataDir string) []Leftover {
	var out []Leftover
	for _, g := range TempGlobs {
		matches, _ := filepath.Glob(filepath.Join(dataDir, filepath.FromSlash(g)))
		for _, m := range matches {
			out = append(out, Leftover{Path: m, Bytes: diskUsage(m)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// SweepTemp removes every leftover of FindTemp and logs what it reclaimed. Call it at start,
// once this process holds the system database (so no other da serves this DATA_DIR) and
// before anything begins new work.
func SweepTemp(dataDir string, log *slog.Logger) (removed int, bytes int64) {
	for _, l := range FindTemp(dataDir) {
		if err := os.RemoveAll(l.Path); err != nil {
			log.Warn("cannot remove temporary data left by an earlier run", "path", l.Path, "error", err)
			continue
		}
		log.Info("removed temporary data left by an earlier run", "path", l.Path, "bytes", l.Bytes)
		removed++
		bytes += l.Bytes
	}
	if removed > 0 {
		log.Info("reclaimed temporary data", "entries", removed, "bytes", bytes)
	}
	return removed, bytes
}

// diskUsage is the size of a file, or of every regular file under a directory.
func diskUsage(path string) int64 {
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
