package query

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestLimitsAndTruncation(t *testing.T) {
	r := newTestRunner(t, Options{MaxRows: 50})
	cases := []struct {
		name      string
		sql       string
		limit     int
		rows      int
		truncated bool
		applied   int
	}{
		{"under limit", "SELECT * FROM range(5)", 10, 5, false, 10},
		{"exact limit", "SELECT * FROM range(10)", 10, 10, false, 10},
		{"over limit", "SELECT * FROM range(100)", 10, 10, true, 10},
		{"default is MaxRows", "SELECT * FROM range(100)", 0, 50, true, 50},
		{"clamped to MaxRows", "SELECT * FROM range(100)", 1000, 50, true, 50},
		{"clamped but small result", "SELECT * FROM range(3)", 1000, 3, false, 50},
		{"empty result", "SELECT * FROM range(0)", 10, 0, false, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := mustRun(t, r, Request{SQL: c.sql, Limit: c.limit})
			if res.RowCount != c.rows || len(res.Rows) != c.rows || res.Truncated != c.truncated || res.Limit != c.applied {
				t.Fatalf("rows=%d truncated=%v limit=%d, want %d %v %d", res.RowCount, res.Truncated, res.Limit, c.rows, c.truncated, c.applied)
			}
			if res.Columns[0] != "range" || res.ColumnTypes[0] != "BIGINT" || res.QueryID == "" {
				t.Fatalf("metadata %v %v %q", res.Columns, res.ColumnTypes, res.QueryID)
			}
		})
	}
}

const slowSQL = "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1"

func TestTimeoutInterruptsEngine(t *testing.T) {
	r := newTestRunner(t, Options{Timeout: 500 * time.Millisecond})
	start := time.Now()
	_, err := r.Run(context.Background(), Request{SQL: slowSQL})
	el := time.Since(start)
	if errKind(err) != Timeout || err.Error() != "Query error: timed out after 500ms" {
		t.Fatalf("err = %v (kind %v)", err, errKind(err))
	}
	if el > 1500*time.Millisecond {
		t.Fatalf("returned after %v", el)
	}
	if n := len(r.Running()); n != 0 {
		t.Fatalf("%d queries still listed", n)
	}
	// The sandbox is usable right after.
	if res := mustRun(t, r, Request{SQL: "SELECT 1"}); res.RowCount != 1 {
		t.Fatal("no row")
	}
}

func TestCancelFromAnotherGoroutine(t *testing.T) {
	r := newTestRunner(t, Options{Timeout: 30 * time.Second})
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), Request{QueryID: "q-1", SQL: slowSQL, UserID: "u1", UserEmail: "a@x.io"})
		errc <- err
	}()
	waitRunning(t, r, "q-1")
	list := r.Running()
	if len(list) != 1 || list[0].UserEmail != "a@x.io" || list[0].SQL != slowSQL || list[0].StartedAt.IsZero() {
		t.Fatalf("Running() = %+v", list)
	}
	if _, err := r.Run(context.Background(), Request{QueryID: "q-1", SQL: "SELECT 1"}); errKind(err) != Invalid {
		t.Fatalf("duplicate id: %v", err)
	}
	start := time.Now()
	if !r.Cancel("q-1") {
		t.Fatal("Cancel returned false")
	}
	select {
	case err := <-errc:
		if errKind(err) != Cancelled || err.Error() != "Query error: cancelled" {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("cancel did not stop the query")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("cancel took %v", el)
	}
	if r.Cancel("q-1") || r.Cancel("nope") {
		t.Fatal("Cancel of a finished/unknown query returned true")
	}
}

func TestCallerContextCancel(t *testing.T) {
	r := newTestRunner(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := r.Run(ctx, Request{SQL: slowSQL})
	if errKind(err) != Cancelled && errKind(err) != Timeout {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentQueries(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.parquet")
	b := filepath.Join(dir, "b.parquet")
	writeParquet(t, a, "SELECT range AS x FROM range(1000)")
	writeParquet(t, b, "SELECT range * 2 AS x FROM range(500)")
	sets := [][]Table{
		{{Name: "t", Files: []string{a}}},
		{{Name: "t", Files: []string{b}}},
		{{Name: "t", Files: []string{a, b}}},
	}
	want := []string{"[[1000,499500]]", "[[500,249500]]", "[[1500,749000]]"}
	r := newTestRunner(t, Options{CacheSize: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				k := (g + i) % len(sets)
				res, err := r.Run(context.Background(), Request{SQL: "SELECT count(*), sum(x) FROM t", Tables: sets[k]})
				if err != nil {
					errs <- err
					return
				}
				if got := rowsJSON(t, res); got != want[k] {
					errs <- fmt.Errorf("set %d: %s, want %s", k, got, want[k])
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := r.cache.len(); n > 2 {
		t.Fatalf("cache holds %d sandboxes, max 2", n)
	}
}

func TestCacheInvalidation(t *testing.T) {
	dir := t.TempDir()
	orders := filepath.Join(dir, "orders.parquet")
	items := filepath.Join(dir, "items.parquet")
	writeParquet(t, orders, "SELECT range AS id FROM range(10)")
	writeParquet(t, items, "SELECT range AS id FROM range(3)")
	r := newTestRunner(t, Options{})
	count := func(tables []Table, table string) (string, error) {
		res, err := r.Run(context.Background(), Request{SQL: "SELECT count(*) FROM " + table, Tables: tables})
		if err != nil {
			return "", err
		}
		return rowsJSON(t, res), nil
	}
	one := []Table{{Name: "orders", Files: []string{orders}}}
	if got, err := count(one, "orders"); err != nil || got != "[[10]]" {
		t.Fatalf("first: %s %v", got, err)
	}
	// A rebuild replaces the file: the next query sees the new rows.
	writeParquet(t, orders, "SELECT range AS id FROM range(20)")
	future := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(orders, future, future)
	if got, err := count(one, "orders"); err != nil || got != "[[20]]" {
		t.Fatalf("after rebuild: %s %v", got, err)
	}
	// A grant adds a table; a revoke removes it.
	two := []Table{{Name: "orders", Files: []string{orders}}, {Name: "items", Files: []string{items}}}
	if got, err := count(two, "items"); err != nil || got != "[[3]]" {
		t.Fatalf("after grant: %s %v", got, err)
	}
	if _, err := count(one, "items"); errKind(err) != Engine {
		t.Fatalf("after revoke: %v", err)
	}
	// A shard added to a table.
	shard := filepath.Join(dir, "orders2.parquet")
	writeParquet(t, shard, "SELECT range AS id, 'new' AS extra FROM range(5)")
	sharded := []Table{{Name: "orders", Files: []string{orders, shard}}}
	res := mustRun(t, r, Request{SQL: "SELECT count(*), count(extra) FROM orders", Tables: sharded})
	if got := rowsJSON(t, res); got != "[[25,5]]" {
		t.Fatalf("sharded: %s", got)
	}
	// A deleted file is a clear error, not a stale answer.
	if err := os.Remove(items); err != nil {
		t.Fatal(err)
	}
	if _, err := count(two, "items"); errKind(err) != Invalid {
		t.Fatalf("missing file: %v", err)
	}
}

// blockingWriter blocks the first Write until release is closed.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	n       int64
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started); <-w.release })
	w.n += int64(len(p))
	return len(p), nil
}

// TestEvictedSandboxServesRunningQuery evicts a sandbox while an export still reads from it.
func TestEvictedSandboxServesRunningQuery(t *testing.T) {
	dir := t.TempDir()
	r := newTestRunner(t, Options{CacheSize: 1})
	var sets [][]Table
	for i := 0; i < 3; i++ {
		f := filepath.Join(dir, fmt.Sprintf("t%d.parquet", i))
		writeParquet(t, f, fmt.Sprintf("SELECT range AS x FROM range(%d)", 200000+i))
		sets = append(sets, []Table{{Name: "t", Files: []string{f}}})
	}
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	type out struct {
		n   int64
		err error
	}
	done := make(chan out, 1)
	go func() {
		n, err := r.Export(context.Background(), Request{SQL: "SELECT * FROM t", Tables: sets[0]}, "csv", w)
		done <- out{n, err}
	}()
	<-w.started
	for _, s := range sets[1:] {
		mustRun(t, r, Request{SQL: "SELECT count(*) FROM t", Tables: s})
	}
	close(w.release)
	o := <-done
	if o.err != nil || o.n != 200000 {
		t.Fatalf("export on evicted sandbox: %d rows, %v", o.n, o.err)
	}
	if n := r.cache.len(); n != 1 {
		t.Fatalf("cache len %d", n)
	}
}

func TestCloseStopsRunning(t *testing.T) {
	r := NewRunner(Options{TempDir: t.TempDir()}, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), Request{QueryID: "x", SQL: slowSQL})
		errc <- err
	}()
	waitRunning(t, r, "x")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; errKind(err) != Cancelled {
		t.Fatalf("err = %v", err)
	}
	if _, err := r.Run(context.Background(), Request{SQL: "SELECT 1"}); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

// TestCancelBeforeStart covers a cancel that overtakes the request starting its query: the
// query of the same user ends as cancelled when it starts; other users' cancels do nothing.
func TestCancelBeforeStart(t *testing.T) {
	r := newTestRunner(t, Options{Timeout: 30 * time.Second})
	if r.CancelAs("early-1", "u1", false) {
		t.Fatal("a cancel of a query that is not running reported true")
	}
	start := time.Now()
	if _, err := r.Run(context.Background(), Request{QueryID: "early-1", SQL: slowSQL, UserID: "u1"}); errKind(err) != Cancelled {
		t.Fatalf("pre-cancelled query: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("pre-cancelled query ran for %v", el)
	}
	// The pending cancel is used up: the same id runs normally afterwards.
	if res := mustRun(t, r, Request{QueryID: "early-1", SQL: "SELECT 1", UserID: "u1"}); res.RowCount != 1 {
		t.Fatal("no row")
	}
	// Another user's cancel neither stops nor pre-cancels u1's query.
	r.CancelAs("early-2", "u2", false)
	if res := mustRun(t, r, Request{QueryID: "early-2", SQL: "SELECT 1", UserID: "u1"}); res.RowCount != 1 {
		t.Fatal("another user's cancel stopped the query")
	}
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), Request{QueryID: "early-3", SQL: slowSQL, UserID: "u1"})
		errc <- err
	}()
	waitRunning(t, r, "early-3")
	if r.CancelAs("early-3", "u2", false) {
		t.Fatal("another analyst stopped the query")
	}
	if !r.CancelAs("early-3", "admin", true) {
		t.Fatal("an admin could not stop the query")
	}
	if err := <-errc; errKind(err) != Cancelled {
		t.Fatalf("err = %v", err)
	}
	// Junk ids are not remembered.
	if r.CancelAs("not a valid id!", "u1", false) {
		t.Fatal("junk id")
	}
}
