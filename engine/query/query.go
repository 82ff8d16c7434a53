// Package query runs analysts' SQL in a sandbox whose safety comes from what the engine can
// see, not from matching text:
//
//   - a gate on DuckDB's own parser (json_serialize_sql, which executes nothing) admits exactly
//     one SELECT-like statement and refuses the few functions that read engine internals;
//   - the statement runs on an in-memory DuckDB instance that holds only views of the caller's
//     readable tables, with external access off (allowed paths = exactly those parquet files),
//     extension autoload/install off, memory/thread/temp limits and the configuration locked;
//   - a server-side timeout and Cancel interrupt the engine.
//
// Sandboxes are cached by table set (names, files, sizes, mtimes), so permission changes,
// uploads and rebuilds take effect on the next query.
package query

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Table is a view name the caller may query and the absolute parquet files behind it.
type Table struct {
	Name  string
	Files []string
	// Empty, for a table without files, is the engine's typed view body with no rows
	// (CAST(NULL AS type) columns only: it reads nothing).
	Empty string
}

// Options are the sandbox limits; zero values take the defaults noted per field.
type Options struct {
	Timeout       time.Duration // per query; default 30s
	MemoryLimit   string        // DuckDB size per sandbox, e.g. "1GB"; default "1GB"
	Threads       int           // DuckDB threads per sandbox; default 2
	MaxRows       int           // hard cap of rows Run returns; default 10,000
	ExportMaxRows int           // rows Export writes at most; default 1,000,000
	TempDir       string        // parent of the sandboxes' private directories; default os.TempDir()
	CacheSize     int           // ready sandboxes kept; default 32
}

// Defaults for Options.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMemoryLimit   = "1GB"
	DefaultThreads       = 2
	DefaultMaxRows       = 10_000
	DefaultExportMaxRows = 1_000_000
	DefaultCacheSize     = 32
)

var memoryLimitRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$`)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if !memoryLimitRE.MatchString(strings.TrimSpace(o.MemoryLimit)) {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.Threads <= 0 {
		o.Threads = DefaultThreads
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.ExportMaxRows <= 0 {
		o.ExportMaxRows = DefaultExportMaxRows
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	return o
}

// Kind classifies an Error for the caller's status code.
type Kind int

// Error kinds: Invalid and Engine map to 400, Timeout to 408, Cancelled to 409.
const (
	Invalid Kind = iota + 1
	Timeout
	Cancelled
	Engine
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case Timeout:
		return "timeout"
	case Cancelled:
		return "cancelled"
	case Engine:
		return "engine"
	}
	return "unknown"
}

// Error is a query failure that is safe to show the caller; Msg starts with "Query error: ".
type Error struct {
	Kind Kind
	Msg  string
	// MissingTable is the name the statement used for a table the caller's sandbox does not
	// hold (it may not exist, or the caller may not read it); "" for other errors.
	MissingTable string
	// DeniedTable is set by the caller that knows the registry when MissingTable is a table
	// the caller may not read.
	DeniedTable string
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

func invalid(msg string) *Error { return &Error{Kind: Invalid, Msg: "Query error: " + msg} }

// ErrExportTruncated is returned by Export, with the row count, after a complete and valid
// file of ExportMaxRows rows was written while the result had more rows.
var ErrExportTruncated = errors.New("query: export stopped at the row limit")

// Request is one query.
type Request struct {
	QueryID   string  // optional; generated when empty; letters, digits, '.', '_', ':', '-'
	SQL       string  // one read-only statement
	Limit     int     // rows wanted from Run; 0 means MaxRows; larger than MaxRows is clamped
	Tables    []Table // what the caller may read (admin: all)
	UserID    string  // for Running
	UserEmail string  // for Running
}

// Result is what Run returns; Rows hold JSON-ready values (see jsonValue).
type Result struct {
	QueryID     string
	Columns     []string
	ColumnTypes []string // DuckDB type names, e.g. "DECIMAL(10,2)", "VARCHAR[]"
	Rows        [][]any
	RowCount    int
	Truncated   bool // more rows exist than were returned
	Limit       int  // the limit applied after clamping to MaxRows
	Elapsed     time.Duration
}

// Running describes a query in progress.
type Running struct {
	QueryID   string
	UserID    string
	UserEmail string
	SQL       string
	StartedAt time.Time
}

type live struct {
	info      Running
	cancel    context.CancelFunc
	cancelled bool // by Cancel; guarded by Runner.mu
}

// Runner runs queries; it is safe for concurrent use.
type Runner struct {
	opt   Options
	log   *slog.Logger
	gate  *gate
	cache *cache

	mu      sync.Mutex
	running map[string]*live
	pending map[string]pendingCancel // cancels that arrived before their query started
	gateErr error

	exportSlots chan struct{} // one token per engine-written export in progress
}

// NewRunner returns a Runner with opt's limits (zero fields take defaults).
func NewRunner(opt Options, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.Default()
	}
	opt = opt.withDefaults()
	r := &Runner{opt: opt, log: log, cache: newCache(opt, opt.CacheSize), running: map[string]*live{},
		pending: map[string]pendingCancel{}, exportSlots: make(chan struct{}, maxConcurrentExports)}
	g, err := newGate()
	if err != nil {
		// Every query will fail with this error; the server keeps serving everything else.
		log.Error("query gate unavailable", "err", err)
		r.gateErr = err
	}
	r.gate = g
	return r
}

// CacheStats returns how many queries found their sandbox in the cache and how many had to
// build one.
func (r *Runner) CacheStats() (hits, misses uint64) {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	return r.cache.hits, r.cache.misses
}

// Close cancels running queries and closes every sandbox once its queries have returned.
func (r *Runner) Close() error {
	r.mu.Lock()
	for _, l := range r.running {
		l.cancelled = true
		l.cancel()
	}
	r.mu.Unlock()
	r.cache.closeAll()
	if r.gate != nil {
		return r.gate.db.Close()
	}
	return nil
}

// Cancel stops a running query; it reports whether the query was running.
func (r *Runner) Cancel(queryID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.running[queryID]
	if !ok {
		return false
	}
	l.cancelled = true
	l.cancel()
	return true
}

// pendingCancel is a cancel for a query id that was not running yet: a browser sends its
// cancel on its own connection, which can overtake the request that starts the query.
type pendingCancel struct {
	userID string
	at     time.Time
}

// Limits of the pending cancels.
const (
	pendingCancelTTL = 30 * time.Second
	pendingCancelMax = 1024
)

// CancelAs stops the running query id on behalf of userID: its owner may stop it, and an
// admin any query. When no query with that id runs yet, the cancel is remembered for
// pendingCancelTTL and a query of userID that then starts with the id ends at once as
// cancelled. It reports whether a running query was stopped.
func (r *Runner) CancelAs(queryID, userID string, admin bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.running[queryID]; ok {
		if l.info.UserID != userID && !admin {
			return false // other users' queries look like queries that are not running
		}
		l.cancelled = true
		l.cancel()
		return true
	}
	if !queryIDRE.MatchString(queryID) || userID == "" {
		return false
	}
	now := time.Now()
	if len(r.pending) >= pendingCancelMax {
		for id, p := range r.pending {
			if now.Sub(p.at) > pendingCancelTTL {
				delete(r.pending, id)
			}
		}
		if len(r.pending) >= pendingCancelMax {
			return false
		}
	}
	r.pending[queryID] = pendingCancel{userID: userID, at: now}
	return false
}

// Running lists the queries in progress, oldest first.
func (r *Runner) Running() []Running {
	r.mu.Lock()
	out := make([]Running, 0, len(r.running))
	for _, l := range r.running {
		out = append(out, l.info)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out
}

var queryIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func newQueryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// execution is a query admitted by the gate, running on a sandbox connection.
type execution struct {
	r       *Runner
	id      string
	ctx     context.Context
	sb      *sandbox
	conn    *sql.Conn
	rows    *sql.Rows
	cleanup []func() // run by done, last first, after rows and conn are closed
	done    func()
	tables  []string // the names the caller may query, for error messages
}

// begin validates the query id, registers req as running (with its timeout) and passes its
// text through the gate. The caller must end the execution with done or fail.
func (r *Runner) begin(ctx context.Context, req Request) (*execution, error) {
	if r.gateErr != nil {
		return nil, &Error{Kind: Engine, Msg: "Query error: the query engine is unavailable"}
	}
	id := req.QueryID
	if id == "" {
		id = newQueryID()
	} else if !queryIDRE.MatchString(id) {
		return nil, invalid("query_id must be 1-64 letters, digits, '.', '_', ':' or '-'")
	}

	qctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	l := &live{info: Running{QueryID: id, UserID: req.UserID, UserEmail: req.UserEmail, SQL: req.SQL,
		StartedAt: time.Now().UTC()}, cancel: cancel}
	r.mu.Lock()
	if _, dup := r.running[id]; dup {
		r.mu.Unlock()
		cancel()
		return nil, invalid(fmt.Sprintf("a query with id %q is already running", id))
	}
	if p, ok := r.pending[id]; ok {
		delete(r.pending, id)
		if p.userID == req.UserID && time.Since(p.at) <= pendingCancelTTL {
			r.mu.Unlock()
			cancel()
			return nil, &Error{Kind: Cancelled, Msg: "Query error: cancelled"}
		}
	}
	r.running[id] = l
	r.mu.Unlock()

	ex := &execution{r: r, id: id, ctx: qctx, tables: tableNames(req.Tables)}
	ex.done = func() {
		if ex.rows != nil {
			_ = ex.rows.Close()
		}
		if ex.conn != nil {
			_ = ex.conn.Close()
		}
		for i := len(ex.cleanup) - 1; i >= 0; i-- {
			ex.cleanup[i]()
		}
		cancel()
		r.mu.Lock()
		if r.running[id] == l {
			delete(r.running, id)
		}
		r.mu.Unlock()
	}
	if err := r.gate.check(qctx, req.SQL); err != nil {
		return nil, ex.fail(err)
	}
	return ex, nil
}

// start gates req, registers it as running and opens its result set on a cached sandbox.
func (r *Runner) start(ctx context.Context, req Request) (*execution, error) {
	ex, err := r.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	sb, err := r.cache.acquire(req.Tables)
	if err != nil {
		return nil, ex.fail(err)
	}
	ex.sb = sb
	ex.cleanup = append(ex.cleanup, func() { r.cache.release(sb) })
	select {
	case sb.turns <- struct{}{}:
		ex.cleanup = append(ex.cleanup, func() { <-sb.turns })
	case <-ex.ctx.Done():
		return nil, ex.fail(ex.ctx.Err())
	}
	ex.conn, err = sb.db.Conn(ex.ctx)
	if err != nil {
		return nil, ex.fail(err)
	}
	ex.rows, err = ex.conn.QueryContext(ex.ctx, req.SQL)
	if err != nil {
		return nil, ex.fail(err)
	}
	return ex, nil
}

// Check gates and binds req.SQL on the caller's sandbox without running it, so that an
// unknown table or column, a syntax error or a refused statement is found before a
// download starts. Errors that only show while rows are computed are not found.
func (r *Runner) Check(ctx context.Context, req Request) error {
	ex, err := r.begin(ctx, req)
	if err != nil {
		return err
	}
	sb, err := r.cache.acquire(req.Tables)
	if err != nil {
		return ex.fail(err)
	}
	ex.sb = sb
	ex.cleanup = append(ex.cleanup, func() { r.cache.release(sb) })
	ex.conn, err = sb.db.Conn(ex.ctx)
	if err != nil {
		return ex.fail(err)
	}
	stmt, err := ex.conn.PrepareContext(ex.ctx, req.SQL)
	if err != nil {
		return ex.fail(err)
	}
	_ = stmt.Close()
	ex.done()
	return nil
}

// fail converts an error met while reading rows and ends the execution.
func (ex *execution) fail(err error) error {
	l := ex.r.liveOf(ex.id)
	err = ex.r.classify(ex.ctx, l, ex.sb, err)
	var qe *Error
	if errors.As(err, &qe) && qe.Kind == Engine {
		qe.Msg, qe.MissingTable = explainMissingTable(qe.Msg, ex.tables)
	}
	ex.done()
	return err
}

func (r *Runner) liveOf(id string) *live {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[id]
}

// classify turns any error into an *Error the caller may show.
func (r *Runner) classify(ctx context.Context, l *live, sb *sandbox, err error) error {
	var qe *Error
	if errors.As(err, &qe) {
		return qe
	}
	if errors.Is(err, errClosed) {
		return &Error{Kind: Cancelled, Msg: "Query error: cancelled (the server is shutting down)"}
	}
	cancelled := false
	if l != nil {
		r.mu.Lock()
		cancelled = l.cancelled
		r.mu.Unlock()
	}
	switch {
	case cancelled:
		return &Error{Kind: Cancelled, Msg: "Query error: cancelled"}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: Timeout, Msg: "Query error: timed out after " + fmtDuration(r.opt.Timeout)}
	case ctx.Err() != nil:
		return &Error{Kind: Cancelled, Msg: "Query error: cancelled"}
	}
	msg := cleanEngineMessage(err.Error())
	if sb != nil {
		msg = sb.scrub(msg)
	}
	if strings.HasPrefix(err.Error(), "query: ") {
		// Our own setup failures: log the detail, show a neutral message.
		r.log.Error("query sandbox failed", "err", msg)
		return &Error{Kind: Engine, Msg: "Query error: the query sandbox could not be prepared"}
	}
	return &Error{Kind: Engine, Msg: "Query error: " + msg}
}

// cleanEngineMessage keeps DuckDB's own message (type prefix such as "Binder Error:" included), trimmed.
func cleanEngineMessage(s string) string {
	s = strings.TrimSpace(s)
	return s
}

func fmtDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return d.String()
}

// Run executes req.SQL and returns at most the effective limit of rows.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	if req.Limit < 0 {
		return nil, invalid("limit must not be negative")
	}
	limit := req.Limit
	if limit == 0 || limit > r.opt.MaxRows {
		limit = r.opt.MaxRows
	}
	started := time.Now()
	ex, err := r.start(ctx, req)
	if err != nil {
		return nil, err
	}
	cols, err := ex.rows.Columns()
	if err != nil {
		return nil, ex.fail(err)
	}
	cts, err := ex.rows.ColumnTypes()
	if err != nil {
		return nil, ex.fail(err)
	}
	res := &Result{QueryID: ex.id, Columns: cols, ColumnTypes: make([]string, len(cts)), Rows: [][]any{}, Limit: limit}
	types := make([]*colType, len(cts))
	for i, ct := range cts {
		res.ColumnTypes[i] = ct.DatabaseTypeName()
		types[i] = parseType(res.ColumnTypes[i])
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for ex.rows.Next() {
		if len(res.Rows) == limit {
			res.Truncated = true
			break
		}
		if err := ex.rows.Scan(ptrs...); err != nil {
			return nil, ex.fail(err)
		}
		row := make([]any, len(cols))
		for i, v := range vals {
			row[i] = jsonValue(v, types[i])
		}
		res.Rows = append(res.Rows, row)
	}
	if !res.Truncated {
		if err := ex.rows.Err(); err != nil {
			return nil, ex.fail(err)
		}
	}
	if err := ex.ctx.Err(); err != nil && !res.Truncated {
		return nil, ex.fail(err)
	}
	ex.done()
	res.RowCount = len(res.Rows)
	res.Elapsed = time.Since(started)
	return res, nil
}
