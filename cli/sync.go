package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"da/client"
	"da/engine/extract"
	"da/engine/localdb"
)

// syncParallel bounds the number of downloads running at once.
const syncParallel = 4

// syncEntry is one table of sync_state.json. hash/rows/size_bytes are the original CLI's
// fields (size_bytes as the manifest reported it); file_bytes and mtime_ns let a later sync
// notice a local file that was changed or damaged without hashing every file again.
type syncEntry struct {
	Hash      string `json:"hash"`
	Rows      int64  `json:"rows"`
	SizeBytes int64  `json:"size_bytes"`
	FileBytes int64  `json:"file_bytes,omitempty"`
	MtimeNS   int64  `json:"mtime_ns,omitempty"`
}

// syncState is sync_state.json in the config directory.
type syncState struct {
	Tables   map[string]syncEntry `json:"tables"`
	LastSync string               `json:"last_sync"`
}

// workspace holds the local paths of one workspace.
type workspace struct {
	root, parquetDir, dbPath, statePath string
}

// workspace returns the local layout: DA_LOCAL_DIR/server/parquet, user/duckdb and the state
// file in the config directory.
func (e *env) workspace(configDir string) workspace {
	root := e.localDir()
	return workspace{
		root:       root,
		parquetDir: filepath.Join(root, "server", "parquet"),
		dbPath:     filepath.Join(root, "user", "duckdb", "analytics.duckdb"),
		statePath:  filepath.Join(configDir, "sync_state.json"),
	}
}

// tableFile is the local parquet file of a table.
func (w workspace) tableFile(id string) string { return filepath.Join(w.parquetDir, id+".parquet") }

// loadSyncState reads sync_state.json; a missing file is an empty state.
func loadSyncState(path string) (*syncState, error) {
	st := &syncState{Tables: map[string]syncEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, &cliError{code: ExitError, msg: fmt.Sprintf("%s is damaged (%v): delete it and run `da sync` again", path, err)}
	}
	if st.Tables == nil {
		st.Tables = map[string]syncEntry{}
	}
	return st, nil
}

// save writes the state atomically.
func (st *syncState) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

// syncOptions are the flags of `da sync`.
type syncOptions struct {
	table  string
	dryRun bool
	quiet  bool
	json   bool
	verify bool
}

// syncError is a table that failed to sync.
type syncError struct {
	Table string `json:"table"`
	Error string `json:"error"`
	code  int
}

// syncReport is the outcome of a sync (also its --json output).
type syncReport struct {
	Downloaded []string `json:"downloaded"`
	Skipped    []string `json:"skipped"`
	Removed    []string `json:"removed"`
	Remote     []string `json:"remote"`
	// NotSubscribed are readable tables left out because the user subscribes to others;
	// Mode is "all" (no subscriptions: every readable table) or "subscriptions".
	NotSubscribed []string    `json:"not_subscribed"`
	Mode          string      `json:"mode"`
	Errors        []syncError `json:"errors"`
	Bytes         int64       `json:"bytes"`
	DryRun        bool        `json:"dry_run"`
	Views         int         `json:"views"`
	Knowledge     *bundleInfo `json:"knowledge,omitempty"`
	ElapsedMS     int64       `json:"elapsed_ms"`
}

// syncCmd is `da sync`.
func (e *env) syncCmd(args []string) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	var o syncOptions
	fs.StringVar(&o.table, "table", "", "sync only this table")
	fs.BoolVar(&o.dryRun, "dry-run", false, "show what would be downloaded and removed, change nothing")
	fs.BoolVar(&o.quiet, "quiet", false, "print only errors")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.BoolVar(&o.verify, "verify", false, "re-hash every local file, not only those whose size or time changed")
	uploadOnly := fs.Bool("upload-only", false, "only upload CLAUDE.local.md and new session transcripts (as `da push`)")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if *uploadOnly {
		return e.runPushCmd(o.json, false)
	}
	s, c, err := e.authedClient()
	if err != nil {
		return e.fail("sync", err)
	}
	rep, err := e.runSync(context.Background(), s, c, o)
	if err != nil {
		return e.fail("sync", err)
	}
	if o.json {
		if code := e.printJSON(rep); code != ExitOK {
			return code
		}
	} else if !o.quiet {
		e.printSyncSummary(rep)
	}
	for _, se := range rep.Errors {
		if !o.json {
			fmt.Fprintf(e.stderr, "da sync: %s: %s\n", se.Table, se.Error)
		}
	}
	if len(rep.Errors) > 0 {
		return rep.Errors[0].code
	}
	return ExitOK
}

// printSyncSummary prints the human summary of a sync.
func (e *env) printSyncSummary(rep *syncReport) {
	verb := "Downloaded"
	if rep.DryRun {
		verb = "Would download"
	}
	what := "every table you can read"
	if rep.Mode == "subscriptions" {
		what = "the tables you subscribe to"
	}
	fmt.Fprintf(e.stdout, "Syncing %s.\n", what)
	fmt.Fprintf(e.stdout, "%s: %d %s (%s)\n", verb, len(rep.Downloaded), plural(len(rep.Downloaded), "table", "tables"), humanBytes(rep.Bytes))
	fmt.Fprintf(e.stdout, "Skipped (unchanged): %d\n", len(rep.Skipped))
	if len(rep.Removed) > 0 {
		if rep.DryRun {
			fmt.Fprintf(e.stdout, "Would remove (no longer available): %s\n", strings.Join(rep.Removed, ", "))
		} else {
			fmt.Fprintf(e.stdout, "Removed (no longer available): %s\n", strings.Join(rep.Removed, ", "))
		}
	}
	if k := rep.Knowledge; k != nil {
		fmt.Fprintf(e.stdout, "Corporate memory: %d %s written to %s\n", k.Items, plural(k.Items, "item", "items"), k.Path)
	}
	if len(rep.Remote) > 0 {
		fmt.Fprintf(e.stdout, "Remote only (query with --remote): %s\n", strings.Join(rep.Remote, ", "))
	}
	if n := len(rep.NotSubscribed); n > 0 {
		fmt.Fprintf(e.stdout, "Not subscribed (not downloaded): %d %s; subscribe in the catalog, or run `da sync --table %s`\n",
			n, plural(n, "table", "tables"), rep.NotSubscribed[0])
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(e.stdout, "Errors: %d\n", len(rep.Errors))
	}
}

// syncJob is one table to download.
type syncJob struct {
	id   string
	want client.ManifestTable
}

// runSync compares the manifest with the local state, downloads what changed, removes what
// is no longer readable, saves the state and rebuilds the local database's views.
func (e *env) runSync(ctx context.Context, s *session, c *client.Client, o syncOptions) (*syncReport, error) {
	started := time.Now()
	ws := e.workspace(s.configDir)
	if err := checkCanDownload(ctx, c); err != nil {
		return nil, err
	}
	man, err := c.Manifest(ctx)
	if err != nil {
		return nil, err
	}
	// The user's subscriptions choose the tables; with none, every readable table.
	var subscribed map[string]bool
	if o.table == "" {
		subscribed, err = subscriptions(ctx, c)
		if err != nil {
			return nil, err
		}
	}
	st, err := loadSyncState(ws.statePath)
	if err != nil {
		return nil, err
	}
	rep := &syncReport{Downloaded: []string{}, Skipped: []string{}, Removed: []string{}, Remote: []string{}, NotSubscribed: []string{},
		Errors: []syncError{}, DryRun: o.dryRun, Mode: "all"}
	if len(subscribed) > 0 {
		rep.Mode = "subscriptions"
	}
	ids := make([]string, 0, len(man.Tables))
	for id := range man.Tables {
		switch {
		case o.table != "":
			if strings.EqualFold(id, o.table) {
				ids = append(ids, id)
			}
		case len(subscribed) > 0 && !subscribed[strings.ToLower(id)]:
			rep.NotSubscribed = append(rep.NotSubscribed, id)
		default:
			ids = append(ids, id)
		}
	}
	sort.Strings(rep.NotSubscribed)
	if o.table != "" && len(ids) == 0 {
		return nil, &cliError{code: ExitNotFound, msg: fmt.Sprintf("table %q is not available to you (it does not exist or you have no access): see `da explore`, or run `da request-access %s`", o.table, o.table)}
	}
	sort.Strings(ids)

	var jobs []syncJob
	for _, id := range ids {
		mt := man.Tables[id]
		if !extract.ValidIdent(id) {
			rep.Errors = append(rep.Errors, syncError{Table: id, Error: "table id is not a valid identifier; skipped", code: ExitError})
			continue
		}
		if !mt.CanDownload() {
			rep.Remote = append(rep.Remote, id)
			continue
		}
		if e.upToDate(ws, st, id, mt, o.verify, o.dryRun) {
			rep.Skipped = append(rep.Skipped, id)
			continue
		}
		jobs = append(jobs, syncJob{id: id, want: mt})
	}
	// Tables synced before that the manifest no longer lists were deleted or revoked; those
	// the user no longer subscribes to go too, so the local copy is what the user chose.
	var gone []string
	if o.table == "" {
		for id := range st.Tables {
			mt, ok := man.Tables[id]
			if !ok || !mt.CanDownload() || (len(subscribed) > 0 && !subscribed[strings.ToLower(id)]) {
				gone = append(gone, id)
			}
		}
		sort.Strings(gone)
	}

	if o.dryRun {
		for _, j := range jobs {
			rep.Downloaded = append(rep.Downloaded, j.id)
			rep.Bytes += j.want.SizeBytes
		}
		rep.Removed = append(rep.Removed, gone...)
		rep.ElapsedMS = time.Since(started).Milliseconds()
		return rep, nil
	}

	if len(jobs) > 0 {
		if err := os.MkdirAll(ws.parquetDir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", ws.parquetDir, err)
		}
	}
	prog := e.newProgress(jobs, o)
	results := e.downloadAll(ctx, c, ws, jobs, prog)
	prog.finish()
	for _, r := range results {
		if r.err != nil {
			code, msg := describeError(r.err)
			if client.StatusOf(r.err) == 403 {
				var ae *client.Error
				if errors.As(r.err, &ae) {
					msg = ae.Detail + ": " + forbiddenHint(ae.Detail, r.job.id)
				}
			}
			rep.Errors = append(rep.Errors, syncError{Table: r.job.id, Error: strings.ReplaceAll(msg, "\n", " "), code: code})
			continue
		}
		fi, err := os.Stat(ws.tableFile(r.job.id))
		if err != nil {
			rep.Errors = append(rep.Errors, syncError{Table: r.job.id, Error: err.Error(), code: ExitError})
			continue
		}
		st.Tables[r.job.id] = syncEntry{Hash: r.res.Hash, Rows: r.job.want.Rows, SizeBytes: r.job.want.SizeBytes,
			FileBytes: fi.Size(), MtimeNS: fi.ModTime().UnixNano()}
		rep.Downloaded = append(rep.Downloaded, r.job.id)
		rep.Bytes += r.res.Fetched
	}
	sort.Strings(rep.Downloaded)
	for _, id := range gone {
		f := ws.tableFile(id)
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			rep.Errors = append(rep.Errors, syncError{Table: id, Error: "remove revoked table: " + err.Error(), code: ExitError})
			continue
		}
		_ = os.Remove(client.PartPath(f))
		delete(st.Tables, id)
		rep.Removed = append(rep.Removed, id)
	}
	st.LastSync = time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")
	if err := st.save(ws.statePath); err != nil {
		return nil, fmt.Errorf("save %s: %w", ws.statePath, err)
	}

	_, dbErr := os.Stat(ws.dbPath)
	if len(rep.Downloaded) > 0 || len(rep.Removed) > 0 || errors.Is(dbErr, os.ErrNotExist) {
		n, err := rebuildLocalViews(ctx, ws, rep.Downloaded)
		if err != nil {
			return nil, fmt.Errorf("%w\n  the parquet files are up to date; run `da sync` again to rebuild the views", err)
		}
		rep.Views = n
	}
	if !o.dryRun {
		kb, err := e.writeBundle(ctx, c, ws.root)
		switch {
		case err == nil:
			rep.Knowledge = kb
		case client.StatusOf(err) == 404: // a server without the knowledge bundle
		default:
			code, msg := describeError(err)
			rep.Errors = append(rep.Errors, syncError{Table: "corporate-memory", Error: strings.ReplaceAll(msg, "\n", " "), code: code})
		}
	}
	rep.ElapsedMS = time.Since(started).Milliseconds()
	return rep, nil
}

// upToDate reports whether the local copy of a table matches the manifest. A file whose size
// or modification time differs from what the last sync recorded (or every file with verify)
// is hashed again, so a damaged file is fetched again.
func (e *env) upToDate(ws workspace, st *syncState, id string, mt client.ManifestTable, verify, dryRun bool) bool {
	prev, ok := st.Tables[id]
	if !ok || mt.Hash == "" || prev.Hash != mt.Hash {
		return false
	}
	fi, err := os.Stat(ws.tableFile(id))
	if err != nil {
		return false
	}
	if !verify && prev.FileBytes == fi.Size() && prev.MtimeNS == fi.ModTime().UnixNano() {
		return true
	}
	h, err := client.HashFile(ws.tableFile(id))
	if err != nil || !strings.EqualFold(h, mt.Hash) {
		return false
	}
	if !dryRun {
		prev.FileBytes, prev.MtimeNS = fi.Size(), fi.ModTime().UnixNano()
		st.Tables[id] = prev
	}
	return true
}

// downloadResult is the outcome of one job.
type downloadResult struct {
	job syncJob
	res *client.DownloadResult
	err error
}

// downloadAll runs the jobs, at most syncParallel at a time.
func (e *env) downloadAll(ctx context.Context, c *client.Client, ws workspace, jobs []syncJob, prog *progress) []downloadResult {
	out := make([]downloadResult, len(jobs))
	sem := make(chan struct{}, syncParallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := c.Download(ctx, j.id, ws.tableFile(j.id), client.DownloadOptions{Hash: j.want.Hash, Progress: prog.add})
			out[i] = downloadResult{job: j, res: res, err: err}
			prog.done(j.id, res, err)
		}()
	}
	wg.Wait()
	return out
}

// rebuildLocalViews makes analytics.duckdb hold one view per parquet file under
// server/parquet (user base tables win) and returns the number of views. Only the views of
// the fresh (just downloaded), new and removed tables are touched.
func rebuildLocalViews(ctx context.Context, ws workspace, fresh []string) (int, error) {
	entries, err := os.ReadDir(ws.parquetDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	tables := map[string]string{}
	for _, de := range entries {
		name, ok := strings.CutSuffix(de.Name(), ".parquet")
		if !ok || de.IsDir() || !extract.ValidIdent(name) {
			continue
		}
		tables[name] = filepath.Join(ws.parquetDir, de.Name())
	}
	isFresh := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		isFresh[id] = true
	}
	res, err := localdb.RebuildViews(ctx, ws.dbPath, tables, isFresh)
	if err != nil {
		return 0, err
	}
	return len(res.Views), nil
}

// progress shows downloads: a redrawn bar on a terminal, one line per table otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	quiet   bool
	total   int64
	tables  int
	got     atomic.Int64
	done_   atomic.Int64
	mu      sync.Mutex
	last    time.Time
	started time.Time
}

// newProgress prepares the progress display for jobs.
func (e *env) newProgress(jobs []syncJob, o syncOptions) *progress {
	p := &progress{w: e.stderr, quiet: o.quiet || o.json, tables: len(jobs), started: time.Now()}
	for _, j := range jobs {
		p.total += j.want.SizeBytes
	}
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// add counts n more bytes.
func (p *progress) add(n int64) {
	p.got.Add(n)
	if p.tty && !p.quiet {
		p.mu.Lock()
		if time.Since(p.last) > 100*time.Millisecond {
			p.last = time.Now()
			p.draw()
		}
		p.mu.Unlock()
	}
}

// done records a finished table.
func (p *progress) done(id string, res *client.DownloadResult, err error) {
	p.done_.Add(1)
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.draw()
		return
	}
	switch {
	case err != nil:
		fmt.Fprintf(p.w, "failed      %s\n", id)
	case res.Resumed:
		fmt.Fprintf(p.w, "downloaded  %s (%s, resumed)\n", id, humanBytes(res.Bytes))
	default:
		fmt.Fprintf(p.w, "downloaded  %s (%s)\n", id, humanBytes(res.Bytes))
	}
}

// draw redraws the bar; the caller holds mu.
func (p *progress) draw() {
	got := p.got.Load()
	frac := 0.0
	if p.total > 0 {
		frac = min(float64(got)/float64(p.total), 1)
	}
	const width = 30
	n := int(frac * width)
	rate := float64(got) / max(time.Since(p.started).Seconds(), 0.001)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %s / %s  %d/%d tables  %s/s ", strings.Repeat("#", n), strings.Repeat(" ", width-n),
		frac*100, humanBytes(got), humanBytes(p.total), p.done_.Load(), p.tables, humanBytes(int64(rate)))
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.tty && !p.quiet && p.tables > 0 {
		p.mu.Lock()
		p.draw()
		fmt.Fprintln(p.w)
		p.mu.Unlock()
	}
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// checkCanDownload refuses, in one line, a sync by a user whose role may not download
// (viewers): a grant cannot fix that, only an admin changing the role. A server without
// GET /api/me is not asked.
func checkCanDownload(ctx context.Context, c *client.Client) error {
	me, err := c.Me(ctx)
	if err != nil {
		if st := client.StatusOf(err); st == 404 || st == 405 {
			return nil
		}
		return err
	}
	if me.Role != "viewer" {
		return nil
	}
	who := "an admin"
	if len(me.Admins) > 0 {
		who += " (" + strings.Join(me.Admins, ", ") + ")"
	}
	return &cliError{code: ExitNotFound, msg: "downloading tables needs the analyst role and you are a viewer: ask " + who +
		" to change your role; meanwhile `da explore --remote` shows the catalog"}
}

// subscriptions returns the tables the user subscribes to (lower-case ids); empty means
// every readable table. A server without sync settings counts as no subscriptions.
func subscriptions(ctx context.Context, c *client.Client) (map[string]bool, error) {
	set, err := c.SyncSettings(ctx)
	if err != nil {
		if st := client.StatusOf(err); st == 404 || st == 405 {
			return nil, nil
		}
		return nil, err
	}
	out := make(map[string]bool, len(set.EnabledDatasets))
	for _, d := range set.EnabledDatasets {
		out[strings.ToLower(d)] = true
	}
	return out, nil
}

// plural picks the singular or plural noun for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
