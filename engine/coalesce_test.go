package engine

import (
	"context"
	"fmt"
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
