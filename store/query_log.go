package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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

// ErrQueryLogClosed is returned by Record after the store was closed.
var ErrQueryLogClosed = errors.New("store: query log is closed")

// QueryLog returns the store's query log, starting its writer on first use. onError, when
// set on first use, hears about failed batch writes.
func (s *Store) QueryLog() *QueryLog {
	s.qlogOnce.Do(func() {
		l := &QueryLog{s: s, ch: make(chan *queryRecord, queryLogQueue), stopped: make(chan struct{})}
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
	for rec := range l.ch {
		batch := []*queryRecord{rec}
	collect:
		for len(batch) < maxQueryBatch {
			select {
			case more, ok := <-l.ch:
				if !ok {
					break collect
				}
				batch = append(batch, more)
			default:
				break collect
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
	return l.s.writeTxUnaudited(ctx, func(tx *sql.Tx) error {
		for _, rec := range batch {
			if rec.run != nil {
				if err := insertQueryRun(ctx, tx, rec.run); err != nil {
					return err
				}
			}
			if rec.audit != nil {
				if err := rec.audit.insert(ctx, tx); err != nil {
					return fmt.Errorf("store: audit: %w", err)
				}
			}
		}
		return nil
	})
}

// syncQueryLog gives reads of history and audit the records queued before them.
func (s *Store) syncQueryLog() {
	if l := s.qlog.Load(); l != nil {
		l.Sync()
	}
}
