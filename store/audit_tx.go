package store

import (
	"context"
	"sync/atomic"
)

// An audit row commits with the change it records, or neither commits. A handler about to
// make a change puts its entry in the context (WithAuditEntry); the store's next write
// transaction under that context inserts the entry before it commits, and a failing insert
// rolls the change back. For requests whose handler names no entry, the HTTP layer opens an
// AuditScope with a generic entry, which the first write transaction of the request inserts
// the same way.

// pendingAudit is an entry waiting for the write transaction that records it.
type pendingAudit struct {
	e    *AuditEntry
	done atomic.Bool
}

type auditEntryKey struct{}
type auditScopeKey struct{}
type noAuditKey struct{}

// WithAuditEntry returns ctx carrying e: the next write transaction made under the returned
// context inserts e in that same transaction (once; later ones do not repeat it). A store
// call that creates a row fills an empty e.Resource with the new row's id.
func WithAuditEntry(ctx context.Context, e *AuditEntry) context.Context {
	return context.WithValue(ctx, auditEntryKey{}, &pendingAudit{e: e})
}

// AuditScope follows one request that may change state but whose handler may name no entry.
type AuditScope struct {
	generic  func() *AuditEntry
	recorded atomic.Bool
}

// WithAuditScope returns ctx carrying a scope: the first write transaction under it that
// records no entry of its own inserts generic() instead.
func WithAuditScope(ctx context.Context, generic func() *AuditEntry) (context.Context, *AuditScope) {
	sc := &AuditScope{generic: generic}
	return context.WithValue(ctx, auditScopeKey{}, sc), sc
}

// Recorded reports whether a write under the scope committed an audit row with it.
func (sc *AuditScope) Recorded() bool { return sc.recorded.Load() }

// WithoutAudit returns ctx for bookkeeping writes that are not the change being audited
// (such as a token's last-used time): they record no entry and consume none.
func WithoutAudit(ctx context.Context) context.Context {
	return context.WithValue(ctx, noAuditKey{}, true)
}

// auditForTx returns the rows the next write transaction under ctx must insert, and the
// function to call once it committed. Runs under the write semaphore.
func auditForTx(ctx context.Context) ([]*auditRow, func(), error) {
	if ctx.Value(noAuditKey{}) != nil {
		return nil, func() {}, nil
	}
	sc, _ := ctx.Value(auditScopeKey{}).(*AuditScope)
	if p, ok := ctx.Value(auditEntryKey{}).(*pendingAudit); ok && !p.done.Load() {
		row, err := prepareAudit(ctx, p.e)
		if err != nil {
			return nil, nil, err
		}
		return []*auditRow{row}, func() {
			p.done.Store(true)
			if sc != nil {
				sc.recorded.Store(true)
			}
		}, nil
	}
	if sc != nil && !sc.recorded.Load() && sc.generic != nil {
		row, err := prepareAudit(ctx, sc.generic())
		if err != nil {
			return nil, nil, err
		}
		return []*auditRow{row}, func() { sc.recorded.Store(true) }, nil
	}
	return nil, func() {}, nil
}

// markRecorded notes that the request of ctx has its audit row (written by LogAudit, or
// queued with a query's history).
func markRecorded(ctx context.Context) {
	if sc, ok := ctx.Value(auditScopeKey{}).(*AuditScope); ok {
		sc.recorded.Store(true)
	}
}

// NoteAudit adds a detail to the audit entry pending in ctx (if any), for what is learnt
// between naming the entry and writing the change: counts of removed rows, changed fields.
func NoteAudit(ctx context.Context, key string, value any) {
	if p, ok := ctx.Value(auditEntryKey{}).(*pendingAudit); ok && !p.done.Load() {
		if p.e.Params == nil {
			p.e.Params = map[string]any{}
		}
		p.e.Params[key] = value
	}
}

// auditResource fills the resource of the entry pending in ctx with the id of the row a
// create just made, when the handler could not know it beforehand.
func auditResource(ctx context.Context, id string) {
	if p, ok := ctx.Value(auditEntryKey{}).(*pendingAudit); ok && !p.done.Load() && p.e.Resource == "" {
		p.e.Resource = id
	}
}
