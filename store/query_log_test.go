package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestQueryLogGroupCommit(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := &User{Email: "q@example.com", Role: "analyst"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	l := s.NewQueryLog()
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
	// Record returns only after its rows are committed.
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
	l.Close()
	if err := l.Record(ctx, &QueryRun{UserID: u.ID, SQL: "SELECT 2", Status: QueryOK}, nil); !errors.Is(err, ErrQueryLogClosed) {
		t.Fatalf("record after close: %v", err)
	}
	if err := l.Record(ctx, nil, &AuditEntry{}); err == nil {
		t.Fatal("an audit entry without an action was accepted")
	}
}
