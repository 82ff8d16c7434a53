package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestQueryLogGroupCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		u := &User{Email: "q@example.com", Role: "analyst"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		l := s.QueryLog()
		var failed []error
		l.SetErrorHandler(func(err error) { failed = append(failed, err) })
		hooked := WithAuditHook(ctx, func(e *AuditEntry) { e.ClientIP = "203.0.113.7" })

		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := &QueryRun{UserID: u.ID, SQL: "SELECT 1", Status: QueryOK, RowCount: int64(i)}
				audit := &AuditEntry{UserID: u.ID, Action: "query", Resource: "q", Params: map[string]any{"sql": "SELECT 1", "api_token": "x"}}
				errs <- l.Record(hooked, run, audit)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Reads wait for what was recorded before them.
		runs, err := s.ListQueryRuns(ctx, u.ID, 500)
		if err != nil || len(runs) != n {
			t.Fatalf("history rows = %d, %v", len(runs), err)
		}
		entries, err := s.QueryAudit(ctx, AuditFilter{UserID: u.ID, Action: "query", Limit: 500})
		if err != nil || len(entries) != n {
			t.Fatalf("audit rows = %d, %v", len(entries), err)
		}
		for _, e := range entries {
			if e.ClientIP != "203.0.113.7" {
				t.Fatalf("the request hook did not run: %+v", e)
			}
			if _, leaked := e.Params["api_token"]; leaked {
				t.Fatalf("a secret parameter was stored: %+v", e.Params)
			}
		}
		if err := l.Record(ctx, nil, &AuditEntry{}); err == nil {
			t.Fatal("an audit entry without an action was accepted")
		}
		// Close drains the queue: a record made just before it is stored.
		if err := l.Record(ctx, &QueryRun{UserID: u.ID, SQL: "SELECT last", Status: QueryOK}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Record(ctx, &QueryRun{UserID: u.ID, SQL: "SELECT 2", Status: QueryOK}, nil); !errors.Is(err, ErrQueryLogClosed) {
			t.Fatalf("record after close: %v", err)
		}
		s2 := reopenTestStore(t, s)
		runs, _ = s2.ListQueryRuns(ctx, u.ID, 500)
		found := false
		for _, r := range runs {
			found = found || r.SQL == "SELECT last"
		}
		if len(runs) != n+1 || !found {
			t.Fatalf("after close: %d runs, the last record stored = %v", len(runs), found)
		}
		if len(failed) > 0 {
			t.Fatalf("batch writes failed: %v", failed)
		}
	})
}

// TestQueryLogCountsLostRecords makes the batch write fail: the records are not silently
// dropped but counted and reported to the error handler.
func TestQueryLogCountsLostRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		l := s.QueryLog()
		var reported atomic.Int32
		l.SetErrorHandler(func(error) { reported.Add(1) })
		if _, err := s.DB.ExecContext(ctx, `ALTER TABLE audit_log RENAME TO audit_log_away`); err != nil {
			t.Fatal(err)
		}
		if err := l.Record(ctx, &QueryRun{UserID: "u", SQL: "SELECT 1", Status: QueryOK}, &AuditEntry{Action: "query"}); err != nil {
			t.Fatal(err)
		}
		l.Sync()
		if l.Lost() != 2 || reported.Load() != 1 {
			t.Fatalf("lost %d records, %d reports; want 2 and 1", l.Lost(), reported.Load())
		}
	})
}

// TestQueryLogBatchKeepsFirstOfDuplicateIDs records two runs with one id (a client may reuse
// its query_id) into one batch: the batch is written, the first run kept, and the audit
// entries of both stored.
func TestQueryLogBatchKeepsFirstOfDuplicateIDs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		u := &User{Email: "dup@example.com", Role: "analyst"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		l := s.QueryLog()
		var mu sync.Mutex
		var failed []error
		l.SetErrorHandler(func(err error) { mu.Lock(); failed = append(failed, err); mu.Unlock() })
		for _, text := range []string{"SELECT 'first'", "SELECT 'second'"} {
			run := &QueryRun{ID: "same-id", UserID: u.ID, SQL: text, Status: QueryOK}
			audit := &AuditEntry{UserID: u.ID, Action: "query", Resource: "same-id", Params: map[string]any{"sql": text}}
			if err := l.Record(ctx, run, audit); err != nil {
				t.Fatal(err)
			}
		}
		runs, err := s.ListQueryRuns(ctx, u.ID, 10)
		if err != nil || len(runs) != 1 || runs[0].SQL != "SELECT 'first'" {
			t.Fatalf("runs = %+v, %v", runs, err)
		}
		entries, err := s.QueryAudit(ctx, AuditFilter{UserID: u.ID, Action: "query", Limit: 10})
		if err != nil || len(entries) != 2 {
			t.Fatalf("audit rows = %d, %v", len(entries), err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(failed) != 0 {
			t.Fatalf("batch write failed: %v", failed)
		}
	})
}

// TestQueryLogWritesLargeBatchesWhole queues more records than one multi-row INSERT holds:
// every history row and audit entry arrives, each with its own values in the right columns.
func TestQueryLogWritesLargeBatchesWhole(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		u := &User{Email: "big@example.com", Role: "analyst"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		l := s.QueryLog()
		const n = 3*rowsPerInsert + 5
		for i := range n {
			run := &QueryRun{UserID: u.ID, SQL: fmt.Sprintf("SELECT %d", i), Status: QueryOK, RowCount: int64(i), ElapsedMS: int64(i)}
			audit := &AuditEntry{UserID: u.ID, Action: "query", Resource: fmt.Sprintf("q-%d", i), Result: "success",
				DurationMS: i + 1, ClientIP: "198.51.100.1", Params: map[string]any{"i": i}}
			if err := l.Record(ctx, run, audit); err != nil {
				t.Fatal(err)
			}
		}
		runs, err := s.ListQueryRuns(ctx, u.ID, 500)
		if err != nil || len(runs) != n {
			t.Fatalf("history rows = %d, %v", len(runs), err)
		}
		for _, r := range runs {
			if r.SQL != fmt.Sprintf("SELECT %d", r.RowCount) || r.ElapsedMS != r.RowCount {
				t.Fatalf("history row mixed up: %+v", r)
			}
		}
		entries, err := s.QueryAudit(ctx, AuditFilter{UserID: u.ID, Action: "query", Limit: 500})
		if err != nil || len(entries) != n {
			t.Fatalf("audit rows = %d, %v", len(entries), err)
		}
		seen := map[string]bool{}
		for _, e := range entries {
			i, _ := e.Params["i"].(float64)
			if e.Resource != fmt.Sprintf("q-%d", int(i)) || e.DurationMS != int(i)+1 || e.Result != "success" || e.ClientIP != "198.51.100.1" {
				t.Fatalf("audit entry mixed up: %+v", e)
			}
			seen[e.Resource] = true
		}
		if len(seen) != n {
			t.Fatalf("%d distinct audit entries, want %d", len(seen), n)
		}
	})
}
