package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// QueryLog records finished queries — the history row and the audit entry — off the request
// path. Records are written in arrival order by one writer that groups whatever is waiting
// into a single transaction, so a busy server pays one commit per batch rather than two per
// query. Reads of query history and of the audit log first wait for what was recorded
// before them (read-your-writes), and Close drains the queue, so nothing is lost on a clean
// shutdown.
type QueryLog struct {
	s       *Store
	ch      chan *queryRecord
	stopped chan struct{}

	mu     sync.Mutex // orders enqueueing: seq and channel order agree
	seq    uint64
	closed bool

	cmu       sync.Mutex
	committed uint64
	cond      *sync.Cond
	onError   func(error)

	// lost counts records (history rows and audit entries) whose batch failed to commit.
	lost atomic.Uint64
	// A reader waiting in Sync asks for its records now instead of after the linger.
	wantFlush atomic.Uint64 // highest seq a reader waits for
	flush     chan struct{} // wakes a lingering writer; capacity 1
}

// Lost returns how many records were lost to failed batch writes since the store opened.
// Queries change no state, so a failed write does not fail them; it is counted here and
// reported to the error handler instead of vanishing.
func (l *QueryLog) Lost() uint64 { return l.lost.Load() }

type queryRecord struct {
	seq   uint64
	run   *QueryRun
	audit *auditRow
}

// queryLogQueue bounds how many records may wait; a full queue makes callers wait
// (backpressure) instead of growing memory.
const queryLogQueue = 1024

// maxQueryBatch bounds how many records one transaction writes.
const maxQueryBatch = 256

// queryLogLinger is how long the writer waits for more records before it commits a batch:
// a commit of system.duckdb costs milliseconds of CPU, which a server answering one query
// after another would otherwise pay for every query. Readers (Sync) do not wait for it.
const queryLogLinger = 100 * time.Millisecond

// ErrQueryLogClosed is returned by Record after the store was closed.
var ErrQueryLogClosed = errors.New("store: query log is closed")

// QueryLog returns the store's query log, starting its writer on first use. onError, when
// set on first use, hears about failed batch writes.
func (s *Store) QueryLog() *QueryLog {
	s.qlogOnce.Do(func() {
		l := &QueryLog{s: s, ch: make(chan *queryRecord, queryLogQueue), stopped: make(chan struct{}),
			flush: make(chan struct{}, 1)}
		l.cond = sync.NewCond(&l.cmu)
		go l.run()
		s.qlog.Store(l)
	})
	return s.qlog.Load()
}

// SetErrorHandler sets the function told about failed batch writes (for logging).
func (l *QueryLog) SetErrorHandler(fn func(error)) {
	l.cmu.Lock()
	l.onError = fn
	l.cmu.Unlock()
}

// Record queues run and audit (either may be nil) and returns without waiting for the
// write. The audit entry is prepared in ctx, so the request's audit hook sees it.
func (l *QueryLog) Record(ctx context.Context, run *QueryRun, audit *AuditEntry) error {
	rec := &queryRecord{run: run}
	if run != nil {
		prepareQueryRun(run)
	}
	if audit != nil {
		row, err := prepareAudit(ctx, audit)
		if err != nil {
			return err
		}
		rec.audit = row
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrQueryLogClosed
	}
	l.seq++
	rec.seq = l.seq
	l.ch <- rec
	if audit != nil {
		markRecorded(ctx)
	}
	return nil
}

// Sync waits until every record queued before the call is written.
func (l *QueryLog) Sync() {
	l.mu.Lock()
	target := l.seq
	l.mu.Unlock()
	for {
		cur := l.wantFlush.Load()
		if cur >= target || l.wantFlush.CompareAndSwap(cur, target) {
			break
		}
	}
	select {
	case l.flush <- struct{}{}:
	default:
	}
	l.cmu.Lock()
	for l.committed < target {
		l.cond.Wait()
	}
	l.cmu.Unlock()
}

// close writes what is queued and stops the writer.
func (l *QueryLog) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.stopped
}

func (l *QueryLog) run() {
	defer close(l.stopped)
	linger := time.NewTimer(queryLogLinger)
	defer linger.Stop()
	for rec := range l.ch {
		batch := []*queryRecord{rec}
		linger.Reset(queryLogLinger)
		lingering := l.wantFlush.Load() < rec.seq
	collect:
		for len(batch) < maxQueryBatch {
			if !lingering {
				select {
				case more, ok := <-l.ch:
					if !ok {
						break collect
					}
					batch = append(batch, more)
					continue
				default:
					break collect
				}
			}
			select {
			case more, ok := <-l.ch:
				if !ok {
					break collect
				}
				batch = append(batch, more)
			case <-l.flush:
				lingering = false
			case <-linger.C:
				lingering = false
			}
		}
		err := l.write(batch)
		if err != nil {
			var n uint64
			for _, r := range batch {
				if r.run != nil {
					n++
				}
				if r.audit != nil {
					n++
				}
			}
			total := l.lost.Add(n)
			err = fmt.Errorf("store: query log: %d records of %d queries lost (%d since start): %w", n, len(batch), total, err)
		}
		if err != nil {
			// Reported before waiters are released: Sync returns once the records are
			// written or reported lost.
			l.cmu.Lock()
			onError := l.onError
			l.cmu.Unlock()
			if onError == nil {
				onError = func(err error) { slog.Error("recording queries failed", "error", err) }
			}
			onError(err)
		}
		l.cmu.Lock()
		l.committed = batch[len(batch)-1].seq
		l.cond.Broadcast()
		l.cmu.Unlock()
	}
}

func (l *QueryLog) write(batch []*queryRecord) error {
	ctx := context.Background()
	var runs []*QueryRun
	var audits []*auditRow
	for _, rec := range batch {
		if rec.run != nil {
			runs = append(runs, rec.run)
		}
		if rec.audit != nil {
			audits = append(audits, rec.audit)
		}
	}
	return l.s.writeTxUnaudited(ctx, func(tx *sql.Tx) error {
		if err := insertQueryRuns(ctx, tx, runs); err != nil {
			return err
		}
		if err := insertAuditRows(ctx, tx, audits); err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
		return nil
	})
}

// rowsPerInsert bounds the rows of one multi-row INSERT of query history: one statement per
// batch costs DuckDB one parse, plan and conflict check instead of one per row.
const rowsPerInsert = 64

// insertQueryRuns adds runs (prepared by prepareQueryRun) to query_history, as
// insertQueryRun does for one.
func insertQueryRuns(ctx context.Context, tx *sql.Tx, runs []*QueryRun) error {
	for len(runs) > 0 {
		chunk := runs[:min(len(runs), rowsPerInsert)]
		runs = runs[len(chunk):]
		args := make([]any, 0, 8*len(chunk))
		for _, q := range chunk {
			args = append(args, q.ID, q.UserID, q.SQL, q.StartedAt.UTC(), q.ElapsedMS, q.RowCount, q.Status, nullString(q.Error))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO query_history (id, user_id, sql, started_at, elapsed_ms, row_count, status, error)
		VALUES `+valueTuples(len(chunk), 8)+` ON CONFLICT (id) DO NOTHING`, args...)
		if err != nil {
			return fmt.Errorf("store: add query run: %w", err)
		}
	}
	return nil
}

// valueTuples is "(?, ?), (?, ?)" for rows tuples of cols placeholders.
func valueTuples(rows, cols int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ")
}

// syncQueryLog gives reads of history and audit the records queued before them.
func (s *Store) syncQueryLog() {
	if l := s.qlog.Load(); l != nil {
		l.Sync()
	}
}
