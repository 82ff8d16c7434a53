package engine

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Requests that arrive while a rebuild runs share the one rebuild that starts after it, and
// each of them gets a catalog that has its own change.
func TestRebuildRequestsCoalesce(t *testing.T) {
	e, _, dir := testEngine(t, Options{})
	writeSource(t, dir, "base", []fxTable{{name: "b0", query: rangeQuery(1)}})
	first := mustRebuild(t, e)

	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	e.beforeRebuild = func() {
		entered <- struct{}{}
		<-release
	}
	// The blocked rebuild: it started before any of the changes below.
	blocked := make(chan error, 1)
	go func() {
		_, err := e.Rebuild(context.Background())
		blocked <- err
	}()
	<-entered

	const callers = 12
	type outcome struct {
		res *Result
		err error
	}
	outs := make([]outcome, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeSource(t, dir, fmt.Sprintf("src_%02d", i), []fxTable{{name: fmt.Sprintf("t_%02d", i), query: rangeQuery(i + 1)}})
			res, err := e.Rebuild(context.Background())
			outs[i] = outcome{res, err}
		}()
	}
	// Wait until every caller has joined the waiting rebuild, then let the first one finish.
	for deadline := time.Now().Add(time.Minute); ; {
		e.rbMu.Lock()
		joined := 0
		if e.rbNext != nil {
			joined = e.rbNext.joined
		}
		e.rbMu.Unlock()
		if joined == callers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers joined the waiting rebuild", joined, callers)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Fatalf("the first rebuild: %v", err)
	}
	<-entered // the coalesced rebuild started
	wg.Wait()

	var gen uint64
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("caller %d: %v", i, o.err)
		}
		if _, ok := o.res.Catalog.Table(fmt.Sprintf("t_%02d", i)); !ok {
			t.Errorf("caller %d returned before its table was published", i)
		}
		if gen == 0 {
			gen = o.res.Catalog.Generation
		} else if o.res.Catalog.Generation != gen {
			t.Errorf("caller %d got generation %d, another got %d: the requests were not coalesced", i, o.res.Catalog.Generation, gen)
		}
	}
	if want := first.Catalog.Generation + 2; gen != want {
		t.Errorf("%d callers were served by generation %d, want %d (one rebuild after the blocked one)", callers, gen, want)
	}
	if e.Catalog().Generation != gen || len(e.Catalog().Tables) != callers+1 {
		t.Errorf("published generation %d with %d tables, want %d with %d", e.Catalog().Generation, len(e.Catalog().Tables), gen, callers+1)
	}
	// Each caller may trim its own Result without touching the others'.
	outs[0].res.Sources = nil
	if len(outs[1].res.Sources) == 0 {
		t.Error("callers share one Result value")
	}
	// A caller that has already given up does not start or join a rebuild.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Rebuild(ctx); err == nil {
		t.Error("Rebuild with a cancelled context succeeded")
	}
	select {
	case <-entered:
		t.Error("a cancelled request started a rebuild")
	default:
	}
}

// A rebuild after the first copies the published analytics database and changes only the
// views that changed; what it publishes is the same as a rebuild from scratch would be, even
// when a file is replaced under the same name with other columns.
func TestIncrementalRebuildMatchesFullRebuild(t *testing.T) {
	e, st, dir := testEngine(t, Options{})
	var logs strings.Builder
	var logMu sync.Mutex
	e.log = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	ctx := context.Background()
	writeSource(t, dir, "src", []fxTable{{name: "t", query: rangeQuery(3)}, {name: "u", query: rangeQuery(1)},
		{name: "same", query: rangeQuery(7)}})
	writeSource(t, dir, "other", []fxTable{{name: "o", query: rangeQuery(2)}})
	mustRebuild(t, e)

	// t gets other columns in a file of the same name, u goes, Vee comes, same and o stay.
	writeSource(t, dir, "src", []fxTable{{name: "t", query: "SELECT 'x' AS label, 2.5 AS amount FROM range(4)"},
		{name: "same", query: rangeQuery(7)}, {name: "Vee", query: rangeQuery(5)}})
	res := mustRebuild(t, e)
	logMu.Lock()
	if strings.Contains(logs.String(), "from scratch") {
		t.Errorf("the second rebuild was not incremental: %s", logs.String())
	}
	logMu.Unlock()

	check := func(label string, db *sql.DB) {
		t.Helper()
		if n := countRows(t, db, "SELECT count(*) FROM duckdb_views() WHERE NOT internal"); n != 4 {
			t.Errorf("%s: %d views, want 4 (t, same, Vee, o)", label, n)
		}
		if n := countRows(t, db, "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND view_name = 'u'"); n != 0 {
			t.Errorf("%s: the removed table u is still a view", label)
		}
		if n := countRows(t, db, "SELECT count(*) FROM t WHERE label = 'x' AND amount = 2.5"); n != 4 {
			t.Errorf("%s: t does not show its new columns: %d rows", label, n)
		}
		for q, want := range map[string]int64{"SELECT count(*) FROM same": 7, `SELECT count(*) FROM "Vee"`: 5, "SELECT count(*) FROM o": 2} {
			if n := countRows(t, db, q); n != want {
				t.Errorf("%s: %s = %d, want %d", label, q, n, want)
			}
		}
	}
	db, err := e.OpenAnalytics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("incremental", db)
	_ = db.Close()
	if len(res.Catalog.Tables) != 4 {
		t.Errorf("catalog has %d tables, want 4", len(res.Catalog.Tables))
	}

	// A new engine (a restart) writes from scratch and must publish the same.
	fresh := New(dir, st, nil, Options{Getenv: func(string) string { return "" }})
	mustRebuild(t, fresh)
	db2, err := fresh.OpenAnalytics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("from scratch", db2)
	_ = db2.Close()
}

// lockedWriter serialises writes to a shared builder.
type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
