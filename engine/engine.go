// Package engine is the data plane's orchestrator: it publishes every source under
// DATA_DIR/extracts (the extract contract, see engine/extract) as one catalog of tables and one
// analytics database of views, DATA_DIR/analytics/server.duckdb, rebuilt by atomic swap.
//
// Readers never see a half-built state: the Catalog is an immutable snapshot swapped with an
// atomic pointer after the analytics file is in place, and a failed rebuild leaves the
// previous file and Catalog serving.
package engine

import (
	"context"
	"da/engine/extract"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"da/cluster"
	"da/store"
)

// Table statuses in TableInfo.Status.
const (
	StatusOK = "ok"
	// StatusUnavailablePrefix starts the status of a remote table whose source could not be
	// attached; the reason follows.
	StatusUnavailablePrefix = "source unavailable: "
)

// ErrNotBuilt means no rebuild has succeeded in this process yet.
var ErrNotBuilt = errors.New("engine: the analytics database has not been built yet")

// Options tune an Engine.
type Options struct {
	// HistoryRetention is how long sync_history rows are kept; 0 keeps them all.
	HistoryRetention time.Duration
	// Getenv reads the environment variables named by _remote_attach.token_env; nil means
	// os.Getenv.
	Getenv func(string) string
	// Coord coordinates this engine with the other replicas of the data directory (see
	// cluster.go); nil is a single process.
	Coord cluster.Coordinator
}

// Engine publishes the extracts of DATA_DIR. It is safe for concurrent use; rebuilds run one
// at a time.
type Engine struct {
	dataDir string
	store   *store.Store
	log     *slog.Logger
	opt     Options

	// Rebuilds run one at a time, and the requests that arrive while one runs are coalesced
	// into the single rebuild that starts after it (see Rebuild). rbMu guards the two fields.
	rbMu      sync.Mutex
	rbRunning bool
	rbNext    *rebuildBatch // the rebuild waiting to start; nil when none is waiting
	// beforeRebuild, when set (by tests), runs at the start of every rebuild.
	beforeRebuild func()
	// The fields below are owned by the rebuild in progress.
	gen   uint64
	cache map[string]*tableFacts
	// views describes the views of the published analytics database (nil before the first
	// rebuild), so that the next rebuild can copy it and change only what changed.
	views   map[string]publishedView
	extFail map[string]extFailure

	// primed holds digests of files uploads just published (PrimeDigest); primeMu guards it.
	primeMu sync.Mutex
	primed  map[fileSig]extract.Digest

	catalog atomic.Pointer[Catalog]
	// snapMu guards the snapshot files: OpenAnalytics holds it shared while it opens the
	// current snapshot, a swap holds it exclusively while it replaces and deletes snapshots.
	snapMu sync.RWMutex
	// writeGate orders backups with the writers of DATA_DIR: every step that changes an
	// extract together with the registry (an upload's publish and registration, a sync's
	// extract, a delete) holds it shared, and FreezeWrites holds it exclusively.
	writeGate sync.RWMutex
}

// Catalog is one immutable published state. Never modify it; a rebuild publishes a new one.
type Catalog struct {
	// Generation counts successful rebuilds in this process; 0 is the empty catalog.
	Generation uint64
	BuiltAt    time.Time
	// Tables maps the lower-case table id to the table.
	Tables  map[string]*TableInfo
	Sources []SourceInfo

	snapshot string // this generation's analytics file; "" before the first rebuild
}

// TableInfo describes one published table.
type TableInfo struct {
	ID          string // lower-case name; the id of downloads, permissions and the registry
	Name        string // the name as the source wrote it; the view name in server.duckdb
	Source      string
	Description string
	QueryMode   string // "local" or "remote"
	Rows        int64
	SizeBytes   int64 // parquet bytes on disk (remote: _meta.size_bytes)
	// UncompressedBytes is the parquet data's uncompressed size (0 for remote tables).
	UncompressedBytes int64
	Columns           int
	ExtractedAt       time.Time // _meta.extracted_at; zero when the source did not say
	Files             []string  // absolute parquet paths in order; nil for remote tables
	Hash              string    // changes exactly when the data changes; "" for remote tables
	CRC32C            uint32    // CRC-32C of the files' bytes in order (a download's check)
	Status            string    // StatusOK or StatusUnavailablePrefix + reason
	// EmptyView is, for a local table with no files yet, the body of its typed view with no
	// rows (SELECT CAST(NULL AS type) AS col, ... LIMIT 0); "" otherwise.
	EmptyView string
}

// Available reports whether the table can be queried.
func (t *TableInfo) Available() bool { return t.Status == StatusOK }

// SourceInfo is what a rebuild did with one directory of DATA_DIR/extracts.
type SourceInfo struct {
	Name    string
	Tables  []string // names of the tables published from this source, in _meta order
	Skipped []Skip   // tables (or, with an empty Table, the whole source) left out
	Err     string   // set when the whole source was skipped
}

// Skip is a table (or a whole source when Table is "") left out of the catalog, and why.
type Skip struct {
	Table  string
	Reason string
}

// Result is the outcome of a rebuild.
type Result struct {
	Catalog  *Catalog
	Sources  []SourceInfo
	Duration time.Duration
}

// New returns an Engine over dataDir that records sync state in st. It publishes nothing
// until the first Rebuild; Catalog is empty until then.
func New(dataDir string, st *store.Store, log *slog.Logger, opt Options) *Engine {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Getenv == nil {
		opt.Getenv = os.Getenv
	}
	e := &Engine{
		dataDir: dataDir,
		store:   st,
		log:     log,
		opt:     opt,
		cache:   map[string]*tableFacts{},
		extFail: map[string]extFailure{},
	}
	e.catalog.Store(&Catalog{Tables: map[string]*TableInfo{}})
	return e
}

// holdWrites takes the write gate shared for one change of DATA_DIR; the returned function
// releases it and may be called more than once.
func (e *Engine) holdWrites() func() {
	e.writeGate.RLock()
	var once sync.Once
	return func() { once.Do(e.writeGate.RUnlock) }
}

// FreezeWrites waits until no upload, sync extract or delete is changing DATA_DIR and holds
// off new ones until the returned function is called, so that a backup copies the extracts
// and the system database as one state. Queries, rebuilds and reads go on meanwhile.
func (e *Engine) FreezeWrites(ctx context.Context) (func(), error) {
	locked := make(chan struct{})
	go func() {
		e.writeGate.Lock()
		close(locked)
	}()
	select {
	case <-locked:
		var once sync.Once
		return func() { once.Do(e.writeGate.Unlock) }, nil
	case <-ctx.Done():
		go func() { <-locked; e.writeGate.Unlock() }()
		return nil, ctx.Err()
	}
}

// DataDir is the absolute DATA_DIR the engine publishes.
func (e *Engine) DataDir() string { return e.dataDir }

// ExtractsDir is DATA_DIR/extracts, where every source writes its extract.
func (e *Engine) ExtractsDir() string { return filepath.Join(e.dataDir, "extracts") }

// AnalyticsPath is DATA_DIR/analytics/server.duckdb, the published analytics database for
// other processes. In this process use OpenAnalytics instead (see there why).
func (e *Engine) AnalyticsPath() string {
	return filepath.Join(e.dataDir, "analytics", "server.duckdb")
}

func (e *Engine) snapshotDir() string { return filepath.Join(e.dataDir, "analytics", "snapshots") }

// Catalog returns the current published snapshot; never nil.
func (e *Engine) Catalog() *Catalog { return e.catalog.Load() }

// Table returns the table with this id, compared case-insensitively.
func (c *Catalog) Table(id string) (*TableInfo, bool) {
	t, ok := c.Tables[strings.ToLower(id)]
	return t, ok
}

// List returns every table sorted by id.
func (c *Catalog) List() []*TableInfo {
	out := make([]*TableInfo, 0, len(c.Tables))
	for _, t := range c.Tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Source returns what the rebuild recorded for one source directory.
func (c *Catalog) Source(name string) (SourceInfo, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return SourceInfo{}, false
}

// OpenAnalytics opens the current analytics database read-only. The caller closes it; it
// keeps showing the generation it opened, whatever later rebuilds publish.
//
// DuckDB caches one database instance per file path in a process, so opening
// server.duckdb by its path while another handle of an older generation is still open here
// would silently return that older instance. Each generation therefore also lives under its
// own path (a hard link in analytics/snapshots), and this opens that one.
// Views of remote tables resolve only after their source and extension are attached.
func (e *Engine) OpenAnalytics(ctx context.Context) (*sql.DB, error) {
	e.snapMu.RLock()
	defer e.snapMu.RUnlock()
	path := e.Catalog().snapshot
	if path == "" {
		return nil, ErrNotBuilt
	}
	db, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err != nil {
		return nil, fmt.Errorf("engine: open analytics database: %w", err)
	}
	// The instance holds the file open from here on, so a later swap may unlink the path.
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("engine: open analytics database: %w", err)
	}
	return db, nil
}
