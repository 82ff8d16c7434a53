package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// DuckDB uses optimistic concurrency: two transactions that touch the same
// row (or the same catalog entry) do not wait for each other; the later one
// fails with "TransactionContext Error: Conflict on tuple deletion!" (or a
// similar "... conflict" message), either at the statement or at COMMIT.
//
// Only one process can open system.duckdb read-write, so writeTx first takes
// a per-Store write semaphore: the store's own write transactions run one at
// a time and never conflict with each other. (Under contention, retries
// alone livelock: 8 goroutines updating one row ran out of 10 attempts.)
// Writers that bypass writeTx, such as the scs session store, can still
// conflict, so writeTx also runs the whole transaction again on a conflict,
// with a short jittered backoff. Any other error is returned at once.
//
// PostgreSQL locks rows instead, so writers wait rather than conflict; what is
// retried there is what it asks to be retried: serialization failures (40001)
// and deadlocks (40P01), which other processes sharing the database can cause.
// The semaphore still keeps one process's writes from queueing on each other.
const (
	maxWriteAttempts = 10
	firstBackoff     = time.Millisecond
	maxBackoff       = 50 * time.Millisecond
)

// writeTx runs fn in a transaction and commits it, one writer at a time,
// retrying on write-write conflicts. fn must be safe to run more than once,
// must not keep tx and must not call writeTx (it would deadlock).
//
// The audit entry that ctx carries (audit_tx.go) is inserted in the same
// transaction after fn; if that insert fails, nothing of fn commits.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case s.writeSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writeSem }()
	rows, committed, err := auditForTx(ctx)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return retryConflicts(ctx, func() error { return runTx(ctx, s.DB, fn) })
	}
	err = retryConflicts(ctx, func() error {
		return runTx(ctx, s.DB, func(tx *sql.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			for _, r := range rows {
				if err := r.insert(ctx, tx); err != nil {
					return fmt.Errorf("store: audit: %w", err)
				}
			}
			return nil
		})
	})
	if err == nil {
		committed()
	}
	return err
}

// writeTxUnaudited is writeTx for the audit log's own writes.
func (s *Store) writeTxUnaudited(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.writeTx(WithoutAudit(ctx), fn)
}

// retryConflicts calls attempt until it succeeds, fails with a non-conflict
// error, the context ends, or maxWriteAttempts is reached.
func retryConflicts(ctx context.Context, attempt func() error) error {
	backoff := firstBackoff
	var err error
	for i := 0; i < maxWriteAttempts; i++ {
		err = attempt()
		if err == nil || !isTxConflict(err) {
			return err
		}
		// Full jitter: sleep somewhere in [backoff/2, backoff).
		d := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
	return err
}

// runTx runs fn in one transaction, rolling back on any error.
func runTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
