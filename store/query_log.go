package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// QueryLog records finished queries — the history row and the audit entry together — with
// group commit: concurrent callers share one transaction, so recording costs one write per
// batch instead of two per query, and every caller still returns only once its rows are
// stored.
type QueryLog struct {
	s       *Store
	ch      chan *queryRecord
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

type queryRecord struct {
	run   *QueryRun
	audit *auditRow
	done  chan error
}

// maxQueryBatch bounds how many queries one transaction records.
const maxQueryBatch = 256

// ErrQueryLogClosed is returned by Record after Close.
var ErrQueryLogClosed = errors.New("store: query log is closed")

// NewQueryLog starts the writer of a query log; Close stops it after the pending records.
func (s *Store) NewQueryLog() *QueryLog {
	l := &QueryLog{s: s, ch: make(chan *queryRecord, maxQueryBatch), stop: make(chan struct{}), stopped: make(chan struct{})}
	go l.run()
	return l
}

// Record stores run and audit (either may be nil) and returns once they are committed. The
// audit entry is prepared in ctx, so the request's audit hook sees it.
func (l *QueryLog) Record(ctx context.Context, run *QueryRun, audit *AuditEntry) error {
	rec := &queryRecord{run: run, done: make(chan error, 1)}
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
	select {
	case <-l.stop:
		return ErrQueryLogClosed
	default:
	}
	select {
	case l.ch <- rec:
	case <-l.stop:
		return ErrQueryLogClosed
	}
	return <-rec.done
}

// Close writes what is queued and stops the writer.
func (l *QueryLog) Close() {
	l.once.Do(func() { close(l.stop) })
	<-l.stopped
}

func (l *QueryLog) run() {
	defer close(l.stopped)
	for {
		select {
		case rec := <-l.ch:
			l.write(l.collect(rec))
		case <-l.stop:
			for {
				select {
				case rec := <-l.ch:
					l.write(l.collect(rec))
				default:
					return
				}
			}
		}
	}
}

// collect takes first plus whatever else is already waiting, up to maxQueryBatch.
func (l *QueryLog) collect(first *queryRecord) []*queryRecord {
	batch := []*queryRecord{first}
	for len(batch) < maxQueryBatch {
		select {
		case rec := <-l.ch:
			batch = append(batch, rec)
		default:
			return batch
		}
	}
	return batch
}

func (l *QueryLog) write(batch []*queryRecord) {
	ctx := context.Background()
	err := l.s.writeTx(ctx, func(tx *sql.Tx) error {
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
	for _, rec := range batch {
		rec.done <- err
	}
}
