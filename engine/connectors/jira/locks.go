package jira

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// flock takes an exclusive, blocking advisory lock on path (created with its directory on
// demand; lock files stay after release). Each call opens its own file description, so the
// lock also excludes other goroutines of this process, not only other processes.
func flock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("jira: lock dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("jira: open lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("jira: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// issueLock is the outer lock of one issue (webhooks, SLA poll, backfill).
func (s *Store) issueLock(key string) (func(), error) {
	return flock(filepath.Join(s.issuesDir(), ".locks", key+".lock"))
}

// monthLock is the inner lock of one month across all six tables; always taken after the
// issue lock, never two months at once.
func (s *Store) monthLock(month string) (func(), error) {
	return flock(filepath.Join(s.DataDir(), ".locks", "parquet-"+month+".lock"))
}
