package query

import (
	"container/list"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"

	"da/engine/extract"
)

// sandbox is one in-memory DuckDB instance that sees exactly one set of tables.
//
// Each table is a view over read_parquet of symlinks in a private directory
// (<dir>/<table>_<n>.parquet). The view reads its file list from a connection variable, so
// view definitions (duckdb_views(), information_schema.views, sqlite_master) show no path,
// and error messages are scrubbed of the private directory and the real files. allowed_paths lists exactly those files; after the views exist external access is
// switched off and the configuration locked, so nothing else is reachable and nothing can
// be changed. Settings, which DuckDB resolves to the real paths, are refused by the gate.
type sandbox struct {
	key  string
	db   *sql.DB
	dir  string
	scrb *strings.Replacer // hides file paths in engine messages

	// turns admits queries in arrival order, sandboxConns at a time. database/sql hands a
	// freed connection to a random waiter, which under load leaves some requests waiting
	// round after round; a channel's blocked senders are served first come, first served.
	turns chan struct{}

	// guarded by cache.mu
	refs    int
	evicted bool
	elem    *list.Element
	ready   chan struct{}
	err     error
}

// sandboxConns is how many queries may run at once on one sandbox.
const sandboxConns = 8

// maxTempSize caps what one sandbox may spill to its private temp directory.
const maxTempSize = "4GB"

func (s *sandbox) close() {
	if s.db != nil {
		_ = s.db.Close()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// scrub removes server paths from an engine message.
func (s *sandbox) scrub(msg string) string {
	if s == nil || s.scrb == nil {
		return msg
	}
	return s.scrb.Replace(msg)
}

// sandboxKey identifies a table set by names, files and each file's size and mtime, so an
// upload, rebuild or permission change yields a new key and a fresh sandbox.
func sandboxKey(tables []Table) (string, []Table, error) {
	ts := make([]Table, len(tables))
	copy(ts, tables)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	h := sha256.New()
	seen := map[string]bool{}
	for _, t := range ts {
		if !extract.ValidIdent(t.Name) {
			return "", nil, fmt.Errorf("invalid table name %q", t.Name)
		}
		low := strings.ToLower(t.Name)
		if seen[low] {
			return "", nil, fmt.Errorf("table %q is listed twice", t.Name)
		}
		seen[low] = true
		if len(t.Files) == 0 && t.Empty == "" {
			return "", nil, fmt.Errorf("table %q has no files", t.Name)
		}
		fmt.Fprintf(h, "t\x00%s\x00%s\x00", t.Name, t.Empty)
		for _, f := range t.Files {
			if !filepath.IsAbs(f) {
				return "", nil, fmt.Errorf("table %q: file path is not absolute", t.Name)
			}
			fi, err := os.Stat(f)
			if err != nil {
				return "", nil, fmt.Errorf("table %q: a data file is missing", t.Name)
			}
			if !fi.Mode().IsRegular() {
				return "", nil, fmt.Errorf("table %q: a data file is not a regular file", t.Name)
			}
			fmt.Fprintf(h, "f\x00%s\x00%d\x00%d\x00", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil)), ts, nil
}

// buildSandbox creates and locks a sandbox for tables (sorted, validated by sandboxKey).
//
// With exportFile set (a file name, no directory) it builds a one-off export sandbox: the
// file <dir>/<exportFile>, which must not exist yet, is the only allowed path besides the
// table links, and the sequence exportSeq counts exported rows; see exportCopy.
func buildSandbox(opt Options, key string, tables []Table, exportFile string) (s *sandbox, err error) {
	if opt.TempDir != "" {
		// A fresh DATA_DIR has no tmp/ yet.
		if err := os.MkdirAll(opt.TempDir, 0o700); err != nil {
			return nil, fmt.Errorf("query: sandbox dir: %w", err)
		}
	}
	dir, err := os.MkdirTemp(opt.TempDir, "da-query-")
	if err != nil {
		return nil, fmt.Errorf("query: sandbox dir: %w", err)
	}
	s = &sandbox{key: key, dir: dir}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("query: sandbox temp dir: %w", err)
	}
	var pairs []string
	var allowed []string
	var views []string
	var vars []string // per-connection variables that hold each view's file list
	for ti, t := range tables {
		if len(t.Files) == 0 {
			views = append(views, fmt.Sprintf("CREATE VIEW %s AS %s", quoteIdent(t.Name), t.Empty))
			continue
		}
		var lits []string
		for i, f := range t.Files {
			link := filepath.Join(dir, t.Name+"_"+strconv.Itoa(i)+".parquet")
			if err := os.Symlink(f, link); err != nil {
				return nil, fmt.Errorf("query: sandbox link: %w", err)
			}
			allowed = append(allowed, quoteLiteral(link))
			lits = append(lits, quoteLiteral(link))
			pairs = append(pairs, f, "<"+t.Name+" file>")
			if real, err := filepath.EvalSymlinks(f); err == nil && real != f {
				pairs = append(pairs, real, "<"+t.Name+" file>")
			}
		}
		// union_by_name reconciles the schemas of several files; one file needs no such pass.
		opts := ", union_by_name=true"
		if len(lits) == 1 {
			opts = ""
		}
		v := "da_files_" + strconv.Itoa(ti)
		vars = append(vars, fmt.Sprintf("SET VARIABLE %s = [%s]", v, strings.Join(lits, ", ")))
		views = append(views, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet(getvariable(%s)%s)",
			quoteIdent(t.Name), quoteLiteral(v), opts))
	}
	var exportSetup []string
	if exportFile != "" {
		if exportFile != filepath.Base(exportFile) || strings.ContainsAny(exportFile, "'\"") {
			return nil, fmt.Errorf("query: bad export file name %q", exportFile)
		}
		out := filepath.Join(dir, exportFile)
		if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("query: export file already exists")
		}
		allowed = append(allowed, quoteLiteral(out))
		exportSetup = []string{"CREATE SCHEMA " + exportSchema, "CREATE SEQUENCE " + exportSeq}
	}
	pairs = append(pairs, dir, "<sandbox>")
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		pairs = append(pairs, real, "<sandbox>")
	}
	s.scrb = newScrubber(pairs)

	// Views read their files through variables set on every connection, so a view's text
	// (duckdb_views(), information_schema.views, sqlite_master) names no path at all; the
	// gate refuses getvariable and duckdb_variables.
	c, err := duckdb.NewConnector("", func(ex driver.ExecerContext) error {
		for _, st := range vars {
			if _, err := ex.ExecContext(context.Background(), st, nil); err != nil {
				return fmt.Errorf("query: sandbox setup: %s", s.scrub(cleanEngineMessage(err.Error())))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query: sandbox open: %w", err)
	}
	s.db = sql.OpenDB(c)
	s.db.SetMaxOpenConns(sandboxConns)
	s.db.SetMaxIdleConns(sandboxConns)

	stmts := []string{
		"SET autoload_known_extensions=false",
		"SET autoinstall_known_extensions=false",
		"SET allow_community_extensions=false",
		"SET enable_progress_bar=false",
		// A cached sandbox serves many queries over the same files: keep their footers
		// (schema, row-group statistics) instead of reading them for every query. A changed
		// file makes a new sandbox key anyway, and DuckDB checks the file's mtime too.
		"SET parquet_metadata_cache=true",
		"SET memory_limit=" + quoteLiteral(opt.MemoryLimit),
		"SET threads=" + strconv.Itoa(opt.Threads),
		"SET temp_directory=" + quoteLiteral(filepath.Join(dir, "tmp")),
		"SET max_temp_directory_size=" + quoteLiteral(maxTempSize),
		"SET allowed_paths=[" + strings.Join(allowed, ", ") + "]",
	}
	stmts = append(stmts, views...)
	stmts = append(stmts, exportSetup...)
	stmts = append(stmts, "SET enable_external_access=false", "SET lock_configuration=true")
	for _, st := range stmts {
		if _, err := s.db.Exec(st); err != nil {
			return nil, fmt.Errorf("query: sandbox setup: %s", s.scrub(cleanEngineMessage(err.Error())))
		}
	}
	return s, nil
}

// newScrubber replaces the longest paths first so a directory never eats part of a file name.
func newScrubber(pairs []string) *strings.Replacer {
	type kv struct{ k, v string }
	var kvs []kv
	for i := 0; i+1 < len(pairs); i += 2 {
		kvs = append(kvs, kv{pairs[i], pairs[i+1]})
	}
	sort.SliceStable(kvs, func(i, j int) bool { return len(kvs[i].k) > len(kvs[j].k) })
	var args []string
	for _, p := range kvs {
		args = append(args, p.k, p.v)
	}
	return strings.NewReplacer(args...)
}

// cache keeps the most recently used sandboxes ready. A sandbox leaves the cache when it is
// evicted, but closes only when its last query releases it.
type cache struct {
	mu    sync.Mutex
	opt   Options
	max   int
	byKey map[string]*sandbox
	lru   *list.List // front = most recent; values are *sandbox
	shut  bool
	// hits and misses count acquisitions that found a sandbox or built one (guarded by mu).
	hits, misses uint64
}

func newCache(opt Options, max int) *cache {
	return &cache{opt: opt, max: max, byKey: map[string]*sandbox{}, lru: list.New()}
}

var errClosed = errors.New("query: runner is closed")

// acquire returns a ready sandbox for tables with a reference the caller must release.
func (c *cache) acquire(tables []Table) (*sandbox, error) {
	key, sorted, err := sandboxKey(tables)
	if err != nil {
		return nil, invalid(err.Error())
	}
	c.mu.Lock()
	if c.shut {
		c.mu.Unlock()
		return nil, errClosed
	}
	if s, ok := c.byKey[key]; ok {
		c.hits++
		s.refs++
		c.lru.MoveToFront(s.elem)
		c.mu.Unlock()
		<-s.ready
		if s.err != nil {
			c.release(s)
			return nil, s.err
		}
		return s, nil
	}
	c.misses++
	s := &sandbox{key: key, refs: 1, ready: make(chan struct{}), turns: make(chan struct{}, sandboxConns)}
	s.elem = c.lru.PushFront(s)
	c.byKey[key] = s
	victims := c.evictLocked()
	c.mu.Unlock()
	for _, v := range victims {
		v.close()
	}

	built, err := buildSandbox(c.opt, key, sorted, "")
	c.mu.Lock()
	if err != nil {
		s.err = err
		if c.byKey[key] == s {
			delete(c.byKey, key)
			c.lru.Remove(s.elem)
		}
		s.evicted = true
	} else {
		s.db, s.dir, s.scrb = built.db, built.dir, built.scrb
	}
	close(s.ready)
	c.mu.Unlock()
	if err != nil {
		c.release(s)
		return nil, err
	}
	return s, nil
}

// evictLocked drops the least recently used sandboxes beyond max and returns those that no
// query uses any more, for the caller to close outside the lock.
func (c *cache) evictLocked() []*sandbox {
	var closeNow []*sandbox
	for c.lru.Len() > c.max {
		e := c.lru.Back()
		v := e.Value.(*sandbox)
		c.lru.Remove(e)
		delete(c.byKey, v.key)
		v.evicted = true
		if v.refs == 0 {
			closeNow = append(closeNow, v)
		}
	}
	return closeNow
}

// release drops a reference and closes the sandbox when it was evicted and is now unused.
func (c *cache) release(s *sandbox) {
	c.mu.Lock()
	s.refs--
	closeIt := s.refs == 0 && s.evicted
	c.mu.Unlock()
	if closeIt {
		s.close()
	}
}

// len reports how many sandboxes the cache holds.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// closeAll evicts everything; sandboxes in use close when released.
func (c *cache) closeAll() {
	c.mu.Lock()
	c.shut = true
	c.max = 0
	victims := c.evictLocked()
	c.mu.Unlock()
	for _, v := range victims {
		<-v.ready
		v.close()
	}
}
