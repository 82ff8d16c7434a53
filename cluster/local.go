package cluster

import (
	"context"
	"sync"
)

// Local is the coordinator of a single process (DuckDB state): locks are in-process, events
// reach this process's subscribers only, and this process is always the leader.
type Local struct {
	id    string
	locks keyed

	mu   sync.Mutex
	subs map[string][]func(Event)
}

// NewLocal returns the coordinator of a single process called id.
func NewLocal(id string) *Local {
	return &Local{id: id, locks: keyed{m: map[string]*keyedEntry{}}, subs: map[string][]func(Event){}}
}

func (l *Local) Backend() string   { return BackendDuckDB }
func (l *Local) ReplicaID() string { return l.id }
func (l *Local) IsLeader() bool    { return true }
func (l *Local) Close()            {}

func (l *Local) Lock(ctx context.Context, name string) (func(), error) {
	return l.locks.lock(ctx, name)
}

func (l *Local) TryLock(_ context.Context, name string) (func(), bool, error) {
	unlock, ok := l.locks.tryLock(name)
	return unlock, ok, nil
}

func (l *Local) Publish(_ context.Context, topic, payload string) error {
	l.mu.Lock()
	subs := append([]func(Event){}, l.subs[topic]...)
	l.mu.Unlock()
	for _, fn := range subs {
		fn(Event{Topic: topic, Payload: payload, Origin: l.id})
	}
	return nil
}

func (l *Local) Subscribe(topic string, fn func(Event)) {
	l.mu.Lock()
	l.subs[topic] = append(l.subs[topic], fn)
	l.mu.Unlock()
}

func (l *Local) Lead(ctx context.Context, fn func(ctx context.Context)) {
	fn(ctx)
	<-ctx.Done()
}

// keyed is a set of named in-process locks that a waiter can give up on.
type keyed struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

func (k *keyed) entry(name string) (*keyedEntry, func()) {
	k.mu.Lock()
	e, ok := k.m[name]
	if !ok {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[name] = e
	}
	e.refs++
	k.mu.Unlock()
	return e, func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, name)
		}
		k.mu.Unlock()
	}
}

func (k *keyed) lock(ctx context.Context, name string) (func(), error) {
	e, release := k.entry(name)
	select {
	case e.ch <- struct{}{}:
		return onceFunc(func() { <-e.ch; release() }), nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

func (k *keyed) tryLock(name string) (func(), bool) {
	e, release := k.entry(name)
	select {
	case e.ch <- struct{}{}:
		return onceFunc(func() { <-e.ch; release() }), true
	default:
		release()
		return nil, false
	}
}

// onceFunc is fn made safe to call more than once.
func onceFunc(fn func()) func() {
	var once sync.Once
	return func() { once.Do(fn) }
}
