package jira

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"da/engine/extract"

	_ "github.com/duckdb/duckdb-go/v2" // DuckDB driver for shard rewrites
)

// Source is the extract directory name and registry source type of the connector.
const Source = "jira"

// keyRE is what an issue key must look like before it names a file.
var keyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,31}-[0-9]{1,12}$`)

// ValidKey reports whether key is a Jira issue key (PROJ-123).
func ValidKey(key string) bool { return keyRE.MatchString(key) }

var monthRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

// Store owns DATA_DIR/extracts/jira: raw/issues/<KEY>.json, raw/webhook_events/,
// raw/queue/ and data/<table>/<YYYY-MM>.parquet, and keeps extract.duckdb in step.
type Store struct {
	dir  string
	site string
	db   *sql.DB
	seq  atomic.Int64

	groupsMu sync.Mutex
	groups   map[string]*monthGroup
}

// OpenStore opens the connector's files under dir (DATA_DIR/extracts/jira). site is the
// Jira host used in issue_url.
func OpenStore(dir, site string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "raw", "issues"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("jira: create %s: %w", d, err)
		}
	}
	db, err := sql.Open("duckdb", "?threads=1&autoinstall_known_extensions=false&autoload_known_extensions=false")
	if err != nil {
		return nil, fmt.Errorf("jira: open duckdb: %w", err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{dir: dir, site: site, db: db}
	s.sweepTemps()
	return s, nil
}

// Close releases the store's DuckDB.
func (s *Store) Close() error { return s.db.Close() }

// Dir is DATA_DIR/extracts/jira.
func (s *Store) Dir() string { return s.dir }

// RawDir is DATA_DIR/extracts/jira/raw.
func (s *Store) RawDir() string { return filepath.Join(s.dir, "raw") }

// DataDir is DATA_DIR/extracts/jira/data.
func (s *Store) DataDir() string { return filepath.Join(s.dir, "data") }

func (s *Store) issuesDir() string { return filepath.Join(s.RawDir(), "issues") }

func (s *Store) shardPath(table, month string) string {
	return filepath.Join(s.DataDir(), table, month+".parquet")
}

// sweepTemps removes temporary files left by a killed writer.
func (s *Store) sweepTemps() {
	_ = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), ".tmp") {
			_ = os.Remove(p)
		}
		return nil
	})
}

// LoadIssue reads raw/issues/<KEY>.json; a missing file gives fs.ErrNotExist.
func (s *Store) LoadIssue(key string) (Issue, error) {
	b, err := os.ReadFile(filepath.Join(s.issuesDir(), key+".json"))
	if err != nil {
		return nil, err
	}
	return ParseIssue(b)
}

// saveIssue writes raw/issues/<KEY>.json atomically (temp file, fsync, rename).
func (s *Store) saveIssue(is Issue) error {
	b, err := json.Marshal(is)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.issuesDir(), is.Key()+".json"), b)
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + fmt.Sprintf(".%d.tmp", time.Now().UnixNano())
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o660)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// IssueKeys lists the keys of raw/issues/*.json that are not marked deleted.
func (s *Store) IssueKeys() ([]string, error) {
	ents, err := os.ReadDir(s.issuesDir())
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range ents {
		k, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidKey(k) {
			continue
		}
		is, err := s.LoadIssue(k)
		if err != nil || is["_deleted_at"] != nil {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// months lists the months that have a shard of any table.
func (s *Store) months() []string {
	seen := map[string]bool{}
	for _, t := range Tables {
		files, _ := filepath.Glob(filepath.Join(s.DataDir(), t.Name, "*.parquet"))
		for _, f := range files {
			m := strings.TrimSuffix(filepath.Base(f), ".parquet")
			if monthRE.MatchString(m) {
				seen[m] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// monthGroup gathers the writes of one month that wait for its lock, so that they are
// applied together in one rewrite per shard (a group commit): N waiting issues cost one
// rewrite and one fsync per table instead of N.
type monthGroup struct {
	mu      sync.Mutex
	pending []*monthWrite
	running bool
}

type monthWrite struct {
	key    string
	rows   Rows            // nil: remove the key
	tables map[string]bool // tables whose rows of key change; nil: all
	found  bool
	err    error
	done   chan struct{}
}

func (s *Store) group(month string) *monthGroup {
	s.groupsMu.Lock()
	defer s.groupsMu.Unlock()
	if s.groups == nil {
		s.groups = map[string]*monthGroup{}
	}
	g := s.groups[month]
	if g == nil {
		g = &monthGroup{}
		s.groups[month] = g
	}
	return g
}

// writeMonth replaces the rows of key in every table's shard of month with rows (nil rows:
// remove the key), under the month lock, together with the other writes of that month that
// wait at the same time. Each shard is written to a temporary file and renamed over the old
// one; a shard left with no rows is deleted. It reports whether any shard held the key.
func (s *Store) writeMonth(ctx context.Context, month, key string, rows Rows) (bool, error) {
	return s.writeMonthTables(ctx, month, key, rows, nil)
}

// writeMonthTables is writeMonth that rewrites only the named tables (nil: all): the rows
// of key in the others are known to be unchanged.
func (s *Store) writeMonthTables(ctx context.Context, month, key string, rows Rows, tables map[string]bool) (bool, error) {
	w := &monthWrite{key: key, rows: rows, tables: tables, done: make(chan struct{})}
	g := s.group(month)
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if g.running {
		g.mu.Unlock()
		<-w.done
		return w.found, w.err
	}
	g.running = true
	g.mu.Unlock()
	for {
		g.mu.Lock()
		batch := g.pending
		g.pending = nil
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			break
		}
		g.mu.Unlock()
		found, err := s.writeMonthBatch(context.WithoutCancel(ctx), month, batch)
		for _, b := range batch {
			b.found, b.err = found[b.key], err
			close(b.done)
		}
	}
	return w.found, w.err
}

func (s *Store) writeMonthBatch(ctx context.Context, month string, batch []*monthWrite) (map[string]bool, error) {
	unlock, err := s.monthLock(month)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The last write of a key wins (they arrive in order for one key: its issue lock).
	last := map[string]*monthWrite{}
	var keys []string
	for _, b := range batch {
		if last[b.key] == nil {
			keys = append(keys, b.key)
		}
		last[b.key] = b
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	found := map[string]bool{}
	removal := false
	for _, k := range keys {
		removal = removal || last[k].rows == nil
	}
	for _, t := range Tables {
		var rows [][]any
		var tkeys []string
		for _, k := range keys {
			if w := last[k]; w.tables == nil || w.tables[t.Name] {
				tkeys = append(tkeys, k)
				rows = append(rows, w.rows[t.Name]...)
			}
		}
		if len(tkeys) == 0 {
			continue
		}
		if err := s.writeShard(ctx, conn, t, month, tkeys, rows, found, removal); err != nil {
			return found, fmt.Errorf("jira: write %s/%s: %w", t.Name, month, err)
		}
	}
	return found, nil
}

// writeShard rewrites one shard without keys' old rows plus rows. Only when the batch
// removes an issue (removal) does it record which keys the shard held (for "found").
func (s *Store) writeShard(ctx context.Context, conn *sql.Conn, t Table, month string, keys []string, rows [][]any, found map[string]bool, removal bool) error {
	path := s.shardPath(t.Name, month)
	_, statErr := os.Stat(path)
	exists := statErr == nil
	if !exists && len(rows) == 0 {
		return nil
	}
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = sqlString(k)
	}
	in := "(" + strings.Join(quoted, ", ") + ")"
	name := fmt.Sprintf("shard_%d", s.seq.Add(1))
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE "+name+" ("+t.Schema()+")"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+name) //nolint:errcheck
	colList := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		colList[i] = `"` + c.Name + `"`
	}
	if exists && removal {
		hit, err := conn.QueryContext(ctx, "SELECT DISTINCT issue_key FROM read_parquet("+sqlString(path)+") WHERE issue_key IN "+in)
		if err == nil {
			any := false
			for hit.Next() {
				var k string
				if hit.Scan(&k) == nil {
					found[k], any = true, true
				}
			}
			err = hit.Err()
			hit.Close()
			if err == nil && !any && len(rows) == 0 {
				return nil
			}
		}
		if err != nil {
			// An unreadable shard is treated as absent (it is rewritten from these issues only).
			exists = false
		}
	}
	if exists {
		if _, err := conn.ExecContext(ctx, "INSERT INTO "+name+" SELECT "+strings.Join(colList, ", ")+
			" FROM read_parquet("+sqlString(path)+", union_by_name = true) WHERE issue_key IS NULL OR issue_key NOT IN "+in); err != nil {
			if removal {
				return err
			}
			// An unreadable shard is rewritten from these issues only.
		}
	}
	if len(rows) > 0 {
		ph := make([]string, len(t.Columns))
		for i := range ph {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		stmt, err := conn.PrepareContext(ctx, "INSERT INTO "+name+" VALUES ("+strings.Join(ph, ", ")+")")
		if err != nil {
			return err
		}
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r...); err != nil {
				_ = stmt.Close()
				return err
			}
		}
		_ = stmt.Close()
	}
	n := int64(len(rows))
	if n == 0 {
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+name).Scan(&n); err != nil {
			return err
		}
	}
	if n == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		syncDir(filepath.Dir(path))
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d.tmp", month, s.seq.Add(1)))
	if _, err := conn.ExecContext(ctx, "COPY (SELECT * FROM "+name+" ORDER BY issue_key) TO "+sqlString(tmp)+" (FORMAT parquet)"); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := fsyncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func fsyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ParquetKeys lists the distinct issue keys in the issues shards.
func (s *Store) ParquetKeys(ctx context.Context) ([]string, error) {
	files, _ := filepath.Glob(filepath.Join(s.DataDir(), "issues", "*.parquet"))
	if len(files) == 0 {
		return nil, nil
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = sqlString(f)
	}
	rs, err := s.db.QueryContext(ctx, "SELECT DISTINCT issue_key FROM read_parquet(["+strings.Join(quoted, ", ")+"]) ORDER BY 1")
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var keys []string
	for rs.Next() {
		var k string
		if err := rs.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rs.Err()
}

// WriteContract rewrites extract.duckdb with the six tables: each with a view over its
// shards, or a typed empty view when it has none. It holds a cross-process lock so two
// writers never race on the file.
func (s *Store) WriteContract(ctx context.Context) error {
	unlock, err := flock(filepath.Join(s.DataDir(), ".locks", "extract.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	x := &extract.Extract{}
	now := time.Now().UTC()
	for _, t := range Tables {
		files := extract.TableFiles(s.dir, t.Name)
		row := extract.Table{Name: t.Name, Description: "Jira " + t.Name, ExtractedAt: now, EmptySchema: t.Schema()}
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				row.SizeBytes += fi.Size()
			}
		}
		if len(files) > 0 {
			quoted := make([]string, len(files))
			for i, f := range files {
				quoted[i] = sqlString(f)
			}
			_ = s.db.QueryRowContext(ctx, "SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(["+
				strings.Join(quoted, ", ")+"])").Scan(&row.Rows)
		}
		x.Tables = append(x.Tables, row)
	}
	return extract.Write(s.dir, x)
}

func readFileLimit(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > 16<<20 {
		return nil, fmt.Errorf("jira: %s is too large", path)
	}
	return os.ReadFile(path)
}
