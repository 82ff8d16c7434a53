package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"da/engine/extract"
	"da/store"
)

// extRetryAfter is how long a failed INSTALL/LOAD of a remote extension is remembered, so
// that an offline server does not try the network again on every rebuild.
const extRetryAfter = 10 * time.Minute

// extFailure is a remembered extension failure.
type extFailure struct {
	at     time.Time
	reason string
}

// fileSig identifies one version of a file without reading it.
type fileSig struct {
	path  string
	size  int64
	mtime int64 // ns
}

// tableFacts is what a rebuild learnt from a local table's files; it is reused while the
// files' signatures do not change.
type tableFacts struct {
	sigs         []fileSig
	hash         string
	crc32c       uint32
	rows         int64
	uncompressed int64
	size         int64
	columns      int
}

// metaRow is one row of a source's _meta.
type metaRow struct {
	name, description, mode string
	rows, size              int64
	extractedAt             time.Time
}

// built is the work of one rebuild before it is published.
type built struct {
	tables   map[string]*TableInfo
	sources  []SourceInfo
	duration map[string]time.Duration // per table, for sync_history
	views    []view                   // in publication order
}

// view is one view of the analytics database: CREATE VIEW name AS body. key says what the
// view was bound to (its body and its files' signatures): a view of the previous analytics
// database with the same key is kept as it is. An empty key is never kept (remote views).
type view struct{ name, body, key string }

// publishedView is a view of the published analytics database, by lower-case name.
type publishedView struct{ name, key string }

// outAlias is the name the analytics file is attached under while it is written. A source
// directory of this name is refused by ATTACH and recorded as skipped.
const outAlias = "__da_analytics_out"

// Rebuild publishes every source under DATA_DIR/extracts as a new analytics database and
// Catalog. A bad source or table is skipped with its reason recorded in the Result; every
// other one is still published. An error means nothing changed: the previous analytics
// database, Catalog and sync_state keep serving.
//
// Rebuilds run one at a time, and every request that arrives while one runs joins the one
// rebuild that starts when it ends: that rebuild begins after each of them asked, so it sees
// every change they made before asking, and all of them get its Result. Under many
// concurrent uploads each waits for at most two rebuilds, however many others are waiting.
// A caller whose ctx ends stops waiting; the rebuild it joined still runs for the others.
func (e *Engine) Rebuild(ctx context.Context) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("engine: rebuild: %w", err)
	}
	b := e.joinRebuild(false)
	select {
	case <-b.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("engine: rebuild: %w", ctx.Err())
	}
	if b.err != nil {
		return nil, b.err
	}
	res := *b.res // each caller may trim its own copy (RebuildSource does)
	return &res, nil
}

// joinRebuild joins the waiting rebuild, or queues a new one; follow says the caller only
// follows another replica.
func (e *Engine) joinRebuild(follow bool) *rebuildBatch {
	e.rbMu.Lock()
	defer e.rbMu.Unlock()
	b := e.rbNext
	if b == nil {
		b = &rebuildBatch{done: make(chan struct{}), follow: follow}
		e.rbNext = b
	} else if !follow {
		b.follow = false // still waiting: nothing reads it yet
	}
	b.joined++
	if !e.rbRunning {
		e.startRebuildLocked()
	}
	return b
}

// rebuildBatch is one rebuild shared by every request that joined it before it started.
type rebuildBatch struct {
	done chan struct{} // closed when res and err are set
	res  *Result
	err  error
	// joined counts the requests that share this rebuild.
	joined int
	// follow is set while every request that joined only follows another replica's
	// generation (Follow): such a rebuild neither moves the cluster's generation on nor
	// announces itself.
	follow bool
}

// startRebuildLocked starts the waiting batch; the caller holds rbMu.
func (e *Engine) startRebuildLocked() {
	b := e.rbNext
	e.rbNext, e.rbRunning = nil, true
	go e.runRebuild(b)
}

// runRebuild runs one batch and then the next one, if requests arrived meanwhile. The rebuild
// does not run under any caller's context: it serves all of them.
func (e *Engine) runRebuild(b *rebuildBatch) {
	defer func() {
		if p := recover(); p != nil {
			b.res, b.err = nil, fmt.Errorf("engine: rebuild: panic: %v", p)
			e.log.Error("rebuild panicked", "panic", p)
		}
		close(b.done)
		e.rbMu.Lock()
		if e.rbNext != nil {
			e.startRebuildLocked()
		} else {
			e.rbRunning = false
		}
		e.rbMu.Unlock()
	}()
	if e.beforeRebuild != nil {
		e.beforeRebuild()
	}
	ctx := context.Background()
	unlock, err := e.clusterLock(ctx, rebuildLock)
	if err != nil {
		b.err = fmt.Errorf("engine: rebuild: %w", err)
		return
	}
	defer unlock()
	gen, err := e.nextGeneration(ctx, !b.follow)
	if err != nil {
		b.err = fmt.Errorf("engine: rebuild: %w", err)
		return
	}
	b.res, b.err = e.rebuild(ctx, gen)
	if b.err == nil && !b.follow {
		e.announce(ctx, b.res.Catalog.Generation)
	}
}

// RebuildSource rebuilds the catalog (every source is looked at; only the views that changed
// are written) and reports only the named source in Result.Sources. When that source was skipped as a
// whole, or is not there, it returns the Result together with an error naming the reason;
// the rest of the new catalog is published all the same.
func (e *Engine) RebuildSource(ctx context.Context, source string) (*Result, error) {
	if !extract.ValidIdent(source) {
		return nil, fmt.Errorf("engine: invalid source name %q", source)
	}
	res, err := e.Rebuild(ctx)
	if err != nil {
		return nil, err
	}
	all := res.Sources
	res.Sources = nil
	for _, s := range all {
		if s.Name == source {
			res.Sources = []SourceInfo{s}
			if s.Err != "" {
				return res, fmt.Errorf("engine: source %q was not published: %s", source, s.Err)
			}
			return res, nil
		}
	}
	return res, fmt.Errorf("engine: source %q not found in %s", source, e.ExtractsDir())
}

func (e *Engine) rebuild(ctx context.Context, gen uint64) (*Result, error) {
	start := time.Now()
	analyticsDir := filepath.Dir(e.AnalyticsPath())
	if err := os.MkdirAll(e.snapshotDir(), 0o750); err != nil {
		return nil, fmt.Errorf("engine: rebuild: %w", err)
	}
	// The temporary file is per process, so that nothing another process writes can be
	// swapped in by mistake; ones left behind by a crash are cleared after a while.
	tmp := fmt.Sprintf("%s.%d.tmp", e.AnalyticsPath(), os.Getpid())
	removeDB(tmp)
	defer removeDB(tmp) // after a successful swap it is already gone
	removeStaleTemps(e.AnalyticsPath())

	b, err := e.build(ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("engine: rebuild: %w", err)
	}
	built := time.Now()
	if err := e.recordSyncState(ctx, b); err != nil {
		return nil, fmt.Errorf("engine: rebuild: %w", err)
	}
	recorded := time.Now()
	cat, err := e.publish(tmp, analyticsDir, b, gen)
	if err != nil {
		return nil, fmt.Errorf("engine: rebuild: %w", err)
	}
	published := time.Now()
	if e.opt.HistoryRetention > 0 {
		if n, err := e.store.PruneSyncHistory(ctx, time.Now().Add(-e.opt.HistoryRetention)); err != nil {
			e.log.Warn("pruning sync history failed", "error", err)
		} else if n > 0 {
			e.log.Info("pruned sync history", "rows", n)
		}
	}
	res := &Result{Catalog: cat, Sources: cat.Sources, Duration: time.Since(start)}
	skipped := 0
	for _, s := range cat.Sources {
		skipped += len(s.Skipped)
		if s.Err != "" {
			e.log.Warn("source skipped", "source", s.Name, "reason", s.Err)
		}
		for _, sk := range s.Skipped {
			if sk.Table != "" {
				e.log.Warn("table skipped", "source", s.Name, "table", sk.Table, "reason", sk.Reason)
			}
		}
	}
	e.log.Info("catalog rebuilt", "generation", cat.Generation, "tables", len(cat.Tables),
		"sources", len(cat.Sources), "skipped", skipped, "duration_ms", res.Duration.Milliseconds(),
		"build_ms", built.Sub(start).Milliseconds(), "sync_state_ms", recorded.Sub(built).Milliseconds(),
		"swap_ms", published.Sub(recorded).Milliseconds())
	return res, nil
}

// build works out the new catalog in an in-memory database (where each view is created and
// so checked on its own, cheaply) and then writes the analytics database at path with every
// view in one transaction.
func (e *Engine) build(ctx context.Context, path string) (b *built, err error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("open a build database: %w", err)
	}
	db := sql.OpenDB(connector)
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the build database: %w", cerr)
		}
	}()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open a build database: %w", err)
	}
	defer conn.Close()
	// Extensions are only ever installed on purpose (for _remote_attach), never behind our
	// back; parquet footers are read once although views are bound twice; timestamps are UTC.
	for _, q := range []string{"SET autoinstall_known_extensions = false", "SET parquet_metadata_cache = true",
		"SET TimeZone = 'UTC'"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}

	b = &built{tables: map[string]*TableInfo{}, duration: map[string]time.Duration{}}
	entries, err := os.ReadDir(e.ExtractsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", e.ExtractsDir(), err)
	}
	attachedAliases := map[string]bool{}
	seen := map[string]bool{}
	for _, ent := range entries { // os.ReadDir sorts by name
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src := SourceInfo{Name: ent.Name()}
		switch {
		case !ent.IsDir():
			src.Err = "not a directory"
		case !extract.ValidIdent(ent.Name()):
			src.Err = "invalid source name: it must match ^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"
		case seen[strings.ToLower(ent.Name())]:
			src.Err = "another source directory has the same name in another letter case"
		default:
			seen[strings.ToLower(ent.Name())] = true
			e.buildSource(ctx, conn, &src, b, attachedAliases)
		}
		if src.Err != "" {
			src.Skipped = append(src.Skipped, Skip{Reason: src.Err})
		}
		b.sources = append(b.sources, src)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.pruneCache(b)
	if prev := e.Catalog().snapshot; prev != "" && e.views != nil {
		err := updateAnalytics(ctx, conn, prev, path, b, e.views)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		e.log.Warn("updating a copy of the analytics database failed; writing it from scratch", "error", err)
		removeDB(path)
	}
	if err := writeAnalytics(ctx, conn, path, b); err != nil {
		return nil, err
	}
	return b, nil
}

// viewKey identifies what a local table's view is bound to: its body and the signatures of
// its files (a file replaced under the same name may have other columns, and DuckDB checks
// a view's columns against the ones it was created with).
func viewKey(body string, f *tableFacts) string {
	if f == nil {
		return ""
	}
	var k strings.Builder
	k.WriteString(body)
	for _, s := range f.sigs {
		fmt.Fprintf(&k, "\x00%s\x00%d\x00%d", s.path, s.size, s.mtime)
	}
	return k.String()
}

// newViews is the published-view index of b.
func newViews(b *built) map[string]publishedView {
	out := make(map[string]publishedView, len(b.views))
	for _, v := range b.views {
		out[strings.ToLower(v.name)] = publishedView{name: v.name, key: v.key}
	}
	return out
}

// updateAnalytics writes the analytics database at path as a copy of the published one (prev,
// whose views old describes) in which only the views that are new, changed or gone are
// created or dropped, in one transaction. Binding a view reads its parquet footers, so this
// keeps a rebuild's cost to what changed instead of the whole catalog.
func updateAnalytics(ctx context.Context, conn *sql.Conn, prev, path string, b *built, old map[string]publishedView) error {
	if err := copyFileSynced(prev, path); err != nil {
		return fmt.Errorf("copy %s: %w", prev, err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ATTACH %s AS %s", quoteString(path), outAlias)); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	detached := false
	defer func() {
		if !detached {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DETACH "+outAlias)
		}
	}()
	want := newViews(b)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fail := func(err error) error {
		_ = tx.Rollback()
		return err
	}
	for id, o := range old {
		if w, ok := want[id]; ok && w.key != "" && w.key == o.key && w.name == o.name {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DROP VIEW IF EXISTS %s.main.%s", outAlias, quoteIdent(o.name))); err != nil {
			return fail(fmt.Errorf("drop view %s in %s: %w", o.name, path, err))
		}
	}
	for _, v := range b.views {
		if o, ok := old[strings.ToLower(v.name)]; ok && v.key != "" && v.key == o.key && v.name == o.name {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE VIEW %s.main.%s AS %s", outAlias, quoteIdent(v.name), v.body)); err != nil {
			return fail(fmt.Errorf("write view %s to %s: %w", v.name, path, err))
		}
	}
	// The copy must hold exactly the new views, whatever the previous file held.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_views() WHERE database_name = ? AND NOT internal`, outAlias).Scan(&n); err != nil {
		return fail(fmt.Errorf("count views in %s: %w", path, err))
	}
	if n != len(b.views) {
		return fail(fmt.Errorf("%s holds %d views, want %d", path, n, len(b.views)))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := conn.ExecContext(ctx, "CHECKPOINT "+outAlias); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	detached = true
	if _, err := conn.ExecContext(ctx, "DETACH "+outAlias); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// copyFileSynced copies src to a new file dst and syncs it.
func copyFileSynced(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		_ = os.Remove(dst)
		return err
	}
	return out.Close()
}

// writeAnalytics creates the analytics database file at path with b's views, in one
// transaction, and checkpoints it so that the file is complete without a WAL.
func writeAnalytics(ctx context.Context, conn *sql.Conn, path string, b *built) error {
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ATTACH %s AS %s", quoteString(path), outAlias)); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	detached := false
	defer func() {
		if !detached {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DETACH "+outAlias)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	for _, v := range b.views {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE VIEW %s.main.%s AS %s", outAlias, quoteIdent(v.name), v.body)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("write view %s to %s: %w", v.name, path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := conn.ExecContext(ctx, "CHECKPOINT "+outAlias); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	detached = true
	if _, err := conn.ExecContext(ctx, "DETACH "+outAlias); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// buildSource attaches one source, creates the views of its tables and records what it
// skipped. It never fails the rebuild: problems end up in src.
func (e *Engine) buildSource(ctx context.Context, conn *sql.Conn, src *SourceInfo, b *built, aliases map[string]bool) {
	dir := filepath.Join(e.ExtractsDir(), src.Name)
	dbFile := filepath.Join(dir, extract.FileName)
	if fi, err := os.Stat(dbFile); err != nil || !fi.Mode().IsRegular() {
		src.Err = extract.FileName + " is missing"
		return
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ATTACH %s AS %s (READ_ONLY)", quoteString(dbFile), quoteIdent(src.Name))); err != nil {
		src.Err = "cannot open " + extract.FileName + ": " + duckMessage(err)
		return
	}
	meta, err := readMeta(ctx, conn, src.Name)
	if err != nil {
		src.Err = "cannot read _meta: " + duckMessage(err)
		return
	}
	remoteReason := ""
	if slices.ContainsFunc(meta, func(m metaRow) bool { return m.mode == extract.ModeRemote }) {
		remoteReason = e.attachRemote(ctx, conn, src.Name, aliases)
	}
	inSource := map[string]bool{}
	for _, m := range meta {
		started := time.Now()
		skip := func(reason string) { src.Skipped = append(src.Skipped, Skip{Table: m.name, Reason: reason}) }
		id := strings.ToLower(m.name)
		switch {
		case !extract.ValidIdent(m.name):
			skip("invalid table name: it must match ^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
			continue
		case inSource[id]:
			skip("listed more than once in _meta")
			continue
		case b.tables[id] != nil:
			skip(fmt.Sprintf("a table with this name is already published by source %q", b.tables[id].Source))
			continue
		case id == "_meta" || id == "_remote_attach":
			skip("reserved name")
			continue
		}
		inSource[id] = true
		info := &TableInfo{ID: id, Name: m.name, Source: src.Name, Description: m.description, QueryMode: m.mode,
			ExtractedAt: m.extractedAt, Status: StatusOK}
		switch m.mode {
		case extract.ModeLocal:
			body, reason := e.buildLocal(ctx, conn, dir, info)
			if reason != "" {
				skip(reason)
				continue
			}
			b.views = append(b.views, view{name: m.name, body: body, key: viewKey(body, e.cache[info.Source+"/"+info.ID])})
		case extract.ModeRemote:
			info.Rows, info.SizeBytes = m.rows, m.size
			body := "SELECT * FROM " + quoteIdent(src.Name) + "." + quoteIdent(m.name)
			if _, err := conn.ExecContext(ctx, "CREATE VIEW "+quoteIdent(m.name)+" AS "+body); err != nil {
				reason := remoteReason
				if reason == "" {
					reason = duckMessage(err)
				}
				info.Status = StatusUnavailablePrefix + reason
			} else {
				b.views = append(b.views, view{name: m.name, body: body})
				_ = conn.QueryRowContext(ctx, "SELECT count(*)::INTEGER FROM (DESCRIBE "+quoteIdent(m.name)+")").Scan(&info.Columns)
			}
		default:
			skip(fmt.Sprintf("unknown query_mode %q (want %q or %q)", m.mode, extract.ModeLocal, extract.ModeRemote))
			continue
		}
		b.tables[id] = info
		b.duration[id] = time.Since(started)
		src.Tables = append(src.Tables, m.name)
	}
}

// buildLocal works out a local table's view over its parquet files and its facts. It
// returns the view's body, or why the table must be skipped. Files seen before with the same
// size and modification time are not read again.
func (e *Engine) buildLocal(ctx context.Context, conn *sql.Conn, dir string, info *TableInfo) (body, reason string) {
	files := extract.TableFiles(dir, info.Name)
	if len(files) == 0 {
		if body, n := emptyTypedView(ctx, conn, info); body != "" {
			if _, err := conn.ExecContext(ctx, "CREATE VIEW "+quoteIdent(info.Name)+" AS "+body); err == nil {
				info.Columns, info.EmptyView = n, body
				return body, ""
			}
		}
		return "", fmt.Sprintf("data file missing: neither data/%s.parquet nor data/%s/*.parquet exists", info.Name, info.Name)
	}
	// The view reads the files directly, so server.duckdb works without the extracts attached.
	body = "SELECT * FROM read_parquet(" + parquetList(files) + ")"
	sigs := make([]fileSig, len(files))
	var size int64
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", "data file missing: " + err.Error()
		}
		sigs[i] = fileSig{path: f, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		size += fi.Size()
	}
	key := info.Source + "/" + info.ID
	facts := e.cache[key]
	if facts == nil || !slices.Equal(facts.sigs, sigs) {
		// Creating the view binds it, which reads every file's schema: a broken file shows here.
		if _, err := conn.ExecContext(ctx, "CREATE VIEW "+quoteIdent(info.Name)+" AS "+body); err != nil {
			return "", "cannot read its parquet data: " + duckMessage(err)
		}
		f, err := e.readFacts(ctx, conn, info.Name, files, sigs, size)
		if err != nil {
			return "", "cannot read its parquet data: " + duckMessage(err)
		}
		facts = f
		e.cache[key] = f
	}
	info.Files = files
	info.Hash, info.Rows, info.UncompressedBytes, info.SizeBytes = facts.hash, facts.rows, facts.uncompressed, facts.size
	info.CRC32C = facts.crc32c
	info.Columns = facts.columns
	return body, ""
}

// emptyTypedView is the body of a view with no rows and the columns of the source's own
// view of a local table that has no parquet files yet (a connector that declares its schema
// before the first row arrives), or "" when the source has no such view.
func emptyTypedView(ctx context.Context, conn *sql.Conn, info *TableInfo) (string, int) {
	rows, err := conn.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE "+
		quoteIdent(info.Source)+"."+quoteIdent(info.Name)+")")
	if err != nil {
		return "", 0
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return "", 0
		}
		cols = append(cols, "CAST(NULL AS "+typ+") AS "+quoteIdent(name))
	}
	if rows.Err() != nil || len(cols) == 0 {
		return "", 0
	}
	return "SELECT " + strings.Join(cols, ", ") + " LIMIT 0", len(cols)
}

// parquetList is the read_parquet argument for files; shards are combined by column name.
func parquetList(files []string) string {
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = quoteString(f)
	}
	if len(files) == 1 {
		return quoted[0]
	}
	return "[" + strings.Join(quoted, ", ") + "], union_by_name = true"
}

// readFacts hashes a table's files and reads its row count and sizes from the parquet footers
// and its column count from its (just created) view.
func (e *Engine) readFacts(ctx context.Context, conn *sql.Conn, name string, files []string, sigs []fileSig, size int64) (*tableFacts, error) {
	hash, crc, err := e.hashFiles(sigs)
	if err != nil {
		return nil, err
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = quoteString(f)
	}
	list := "[" + strings.Join(quoted, ", ") + "]"
	f := &tableFacts{sigs: sigs, hash: hash, crc32c: crc, size: size}
	// One pass over the footers: every column chunk carries its row group's row count, so
	// the first leaf column's chunks add up to the table's rows.
	err = conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT
		coalesce(sum(row_group_num_rows) FILTER (WHERE column_id = 0), 0)::BIGINT,
		coalesce(sum(total_uncompressed_size), 0)::BIGINT,
		(SELECT count(*)::INTEGER FROM (DESCRIBE %s))
		FROM parquet_metadata(%s)`, quoteIdent(name), list)).
		Scan(&f.rows, &f.uncompressed, &f.columns)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// pruneCache forgets the tables that are no longer published.
func (e *Engine) pruneCache(b *built) {
	for key := range e.cache {
		src, id, _ := strings.Cut(key, "/")
		if t := b.tables[id]; t == nil || t.Source != src {
			delete(e.cache, key)
		}
	}
}

// hashFiles returns the files' content hash and CRC-32C (extract.HashFiles), or the digest
// an upload computed while it published the file (PrimeDigest), if the file is unchanged.
func (e *Engine) hashFiles(sigs []fileSig) (string, uint32, error) {
	if len(sigs) == 1 {
		e.primeMu.Lock()
		d, ok := e.primed[sigs[0]]
		delete(e.primed, sigs[0])
		e.primeMu.Unlock()
		if ok {
			return d.Hash, d.CRC32C, nil
		}
	}
	files := make([]string, len(sigs))
	for i, s := range sigs {
		files[i] = s.path
	}
	d, err := extract.HashFiles(files...)
	return d.Hash, d.CRC32C, err
}

// PrimeDigest hands the next rebuild the digest of a file just published at path, computed
// while the file was written out, so that the rebuild need not read the file again. It is
// used only if the file's size and modification time are still what they are now.
func (e *Engine) PrimeDigest(path string, d extract.Digest) {
	fi, err := os.Stat(path)
	if err != nil || d.Hash == "" {
		return
	}
	e.primeMu.Lock()
	defer e.primeMu.Unlock()
	if e.primed == nil || len(e.primed) >= 64 { // digests of files replaced again unread
		e.primed = map[fileSig]extract.Digest{}
	}
	e.primed[fileSig{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano()}] = d
}

// readMeta reads a source's _meta rows in their stored order.
func readMeta(ctx context.Context, conn *sql.Conn, source string) ([]metaRow, error) {
	rows, err := conn.QueryContext(ctx, fmt.Sprintf(`SELECT table_name, coalesce(description, ''),
		coalesce("rows", 0)::BIGINT, coalesce(size_bytes, 0)::BIGINT, extracted_at::TIMESTAMP,
		lower(trim(coalesce(query_mode, '')))
		FROM %s._meta`, quoteIdent(source)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []metaRow
	for rows.Next() {
		var m metaRow
		var name sql.NullString
		var at sql.NullTime
		if err := rows.Scan(&name, &m.description, &m.rows, &m.size, &at, &m.mode); err != nil {
			return nil, err
		}
		m.name = name.String
		if at.Valid {
			m.extractedAt = at.Time.UTC()
		}
		if m.mode == "" {
			m.mode = extract.ModeLocal
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// attachRemote handles a source's _remote_attach rows: it loads each extension (installing it
// when needed) and attaches each external catalog. It returns "" when everything is
// attached, or why something is not; the source's remote tables then report it.
func (e *Engine) attachRemote(ctx context.Context, conn *sql.Conn, source string, aliases map[string]bool) string {
	var n int
	err := conn.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables()
		WHERE database_name = ? AND schema_name = 'main' AND table_name = '_remote_attach'`, source).Scan(&n)
	if err != nil {
		return "cannot read _remote_attach: " + duckMessage(err)
	}
	if n == 0 {
		return ""
	}
	type remote struct{ alias, ext, url, tokenEnv string }
	var remotes []remote
	rows, err := conn.QueryContext(ctx, fmt.Sprintf(`SELECT coalesce(alias, ''), coalesce(extension, ''),
		coalesce(url, ''), coalesce(token_env, '') FROM %s._remote_attach`, quoteIdent(source)))
	if err != nil {
		return "cannot read _remote_attach: " + duckMessage(err)
	}
	for rows.Next() {
		var r remote
		if err := rows.Scan(&r.alias, &r.ext, &r.url, &r.tokenEnv); err != nil {
			rows.Close()
			return "cannot read _remote_attach: " + duckMessage(err)
		}
		remotes = append(remotes, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "cannot read _remote_attach: " + duckMessage(err)
	}

	var reasons []string
	for _, r := range remotes {
		switch {
		case !extract.ValidIdent(r.alias):
			reasons = append(reasons, fmt.Sprintf("invalid remote alias %q", r.alias))
			continue
		case !extract.ValidIdent(r.ext):
			reasons = append(reasons, fmt.Sprintf("invalid extension name %q", r.ext))
			continue
		case aliases[strings.ToLower(r.alias)]:
			continue // attached for an earlier source
		}
		token := ""
		if r.tokenEnv != "" {
			if token = e.opt.Getenv(r.tokenEnv); token == "" {
				reasons = append(reasons, fmt.Sprintf("environment variable %s (the token for %s) is not set", r.tokenEnv, r.alias))
				continue
			}
		}
		if reason := e.loadExtension(ctx, conn, r.ext); reason != "" {
			reasons = append(reasons, reason)
			continue
		}
		opts := "TYPE " + r.ext + ", READ_ONLY"
		if token != "" {
			opts = "TYPE " + r.ext + ", TOKEN " + quoteString(token)
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("ATTACH %s AS %s (%s)", quoteString(r.url), quoteIdent(r.alias), opts)); err != nil {
			msg := duckMessage(err)
			if token != "" {
				msg = strings.ReplaceAll(msg, token, "***")
			}
			reasons = append(reasons, fmt.Sprintf("cannot attach %s: %s", r.alias, msg))
			continue
		}
		aliases[strings.ToLower(r.alias)] = true
	}
	return strings.Join(reasons, "; ")
}

// loadExtension loads ext, installing it from the community repository when it is not
// installed. A failure is remembered for extRetryAfter.
func (e *Engine) loadExtension(ctx context.Context, conn *sql.Conn, ext string) string {
	if f, ok := e.extFail[ext]; ok && time.Since(f.at) < extRetryAfter {
		return f.reason
	}
	if _, err := conn.ExecContext(ctx, "LOAD "+ext); err == nil {
		delete(e.extFail, ext)
		return ""
	}
	if _, err := conn.ExecContext(ctx, "INSTALL "+ext+" FROM community"); err != nil {
		reason := fmt.Sprintf("extension %s is not available: %s", ext, duckMessage(err))
		e.extFail[ext] = extFailure{at: time.Now(), reason: reason}
		return reason
	}
	if _, err := conn.ExecContext(ctx, "LOAD "+ext); err != nil {
		reason := fmt.Sprintf("extension %s cannot be loaded: %s", ext, duckMessage(err))
		e.extFail[ext] = extFailure{at: time.Now(), reason: reason}
		return reason
	}
	delete(e.extFail, ext)
	return ""
}

// recordSyncState brings sync_state in line with the new catalog in one transaction: one
// row per published table, none for the others, and a sync_history row for every table that
// is new or whose data changed.
func (e *Engine) recordSyncState(ctx context.Context, b *built) error {
	old, err := e.store.ListSyncStates(ctx)
	if err != nil {
		return err
	}
	prev := make(map[string]store.SyncState, len(old))
	for _, s := range old {
		prev[s.TableID] = s
	}
	now := time.Now().UTC()
	var ch store.SyncChanges
	for id, t := range b.tables {
		st := store.SyncState{TableID: id, LastSync: t.ExtractedAt, Rows: t.Rows, FileSizeBytes: t.SizeBytes,
			UncompressedSizeBytes: t.UncompressedBytes, Columns: t.Columns, Hash: t.Hash, Status: store.SyncStatusOK}
		if !t.Available() {
			st.Status, st.Error = store.SyncStatusUnavailable, strings.TrimPrefix(t.Status, StatusUnavailablePrefix)
		}
		p, existed := prev[id]
		changed := !existed || p.Hash != st.Hash
		if st.LastSync.IsZero() {
			st.LastSync = p.LastSync
			if changed || st.LastSync.IsZero() {
				st.LastSync = now
			}
		}
		if changed {
			ch.History = append(ch.History, store.SyncHistory{TableID: id, SyncedAt: now, Rows: st.Rows,
				DurationMS: b.duration[id].Milliseconds(), Status: st.Status, Error: st.Error})
		}
		if !existed || !sameState(p, st) {
			ch.Upsert = append(ch.Upsert, st)
		}
	}
	for id := range prev {
		if b.tables[id] == nil {
			ch.Delete = append(ch.Delete, id)
		}
	}
	slices.SortFunc(ch.Upsert, func(a, b store.SyncState) int { return strings.Compare(a.TableID, b.TableID) })
	slices.Sort(ch.Delete)
	return e.store.ApplySyncChanges(ctx, ch)
}

// sameState compares two rows as stored (microsecond timestamps).
func sameState(a, b store.SyncState) bool {
	a.LastSync, b.LastSync = a.LastSync.Truncate(time.Microsecond), b.LastSync.Truncate(time.Microsecond)
	return a == b
}

// publish swaps the built file in as server.duckdb and as a new generation's snapshot, then
// publishes the catalog. On error nothing was swapped.
func (e *Engine) publish(tmp, analyticsDir string, b *built, gen uint64) (*Catalog, error) {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	if gen == 0 {
		gen = e.gen + 1
	}
	now := time.Now().UTC()
	snap := filepath.Join(e.snapshotDir(), fmt.Sprintf("server-%s%d-%d.duckdb", e.snapshotTag(), now.UnixNano(), gen))
	if err := linkOrCopy(tmp, snap); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", snap, err)
	}
	target := e.AnalyticsPath()
	// A stale WAL next to the new file would be replayed into it.
	if err := os.Remove(target + ".wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(snap)
		return nil, err
	}
	if err := os.Rename(tmp, target); err != nil {
		_ = os.Remove(snap)
		return nil, fmt.Errorf("swap %s: %w", target, err)
	}
	syncDir(analyticsDir)
	e.gen = gen
	e.views = newViews(b)
	cat := &Catalog{Generation: gen, BuiltAt: now, Tables: b.tables, Sources: b.sources, snapshot: snap}
	e.catalog.Store(cat)
	// Older snapshots go; a reader that has one open keeps its file until it closes it.
	if ents, err := os.ReadDir(e.snapshotDir()); err == nil {
		for _, ent := range ents {
			if p := filepath.Join(e.snapshotDir(), ent.Name()); p != snap && e.ownSnapshot(ent.Name()) {
				removeDB(p)
			}
		}
	}
	return cat, nil
}

// linkOrCopy makes dst a hard link of src, or a copy where links are not supported.
func linkOrCopy(src, dst string) error {
	removeDB(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFileSynced(src, dst)
}

// removeStaleTemps deletes temporary analytics files that no rebuild has touched for an hour.
func removeStaleTemps(target string) {
	matches, _ := filepath.Glob(target + ".*.tmp*")
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.Remove(m)
		}
	}
}

// syncDir makes a rename in dir durable; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// removeDB deletes a DuckDB file and its WAL, if present.
func removeDB(path string) {
	_ = os.Remove(path)
	_ = os.Remove(path + ".wal")
}

// quoteIdent quotes an identifier (already checked with extract.ValidIdent) for SQL.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString is s as an SQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// duckMessage is the first line of DuckDB's own message for err (the rest is SQL context and
// hints, too long for a status line).
func duckMessage(err error) string {
	msg := err.Error()
	var de *duckdb.Error
	if errors.As(err, &de) && de.Msg != "" {
		msg = de.Msg
	}
	msg = strings.TrimSpace(msg)
	if first, _, ok := strings.Cut(msg, "\n"); ok {
		msg = strings.TrimSpace(first)
	}
	return msg
}
