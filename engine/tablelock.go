package engine

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
)

// tableLocks is the per-table critical section of this process: an upload holds it from its
// ownership check through publishing and registering, and deleting a table holds it too, so
// that two uploads of one name, or an upload and a delete, never interleave.
var tableLocks = &keyedLock{m: map[string]*keyedEntry{}}

type keyedLock struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

// lockTable takes the lock of table id under dataDir, or gives up when ctx ends: the
// process's lock and, when replicas share the data directory, the cluster's. The returned
// function releases it.
func (e *Engine) lockTable(ctx context.Context, id string) (func(), error) {
	unlock, err := lockTableLocal(ctx, e.dataDir, id)
	if err != nil || !e.shared() {
		return unlock, err
	}
	unlockCluster, err := e.opt.Coord.Lock(ctx, "table:"+strings.ToLower(id))
	if err != nil {
		unlock()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { unlockCluster(); unlock() }) }, nil
}

func lockTableLocal(ctx context.Context, dataDir, id string) (func(), error) {
	key := filepath.Clean(dataDir) + "\x00" + strings.ToLower(id)
	l := tableLocks
	l.mu.Lock()
	e, ok := l.m[key]
	if !ok {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		var once sync.Once
		return func() {
			once.Do(func() {
				<-e.ch
				release()
			})
		}, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
