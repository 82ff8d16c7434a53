package cluster

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"da/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newPG(t *testing.T, url, id string) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewPostgres(ctx, url, id, PostgresOptions{ElectEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Two replicas never hold one lock at once, and a waiter gets it when the holder lets go.
func TestPostgresLockExcludesOtherReplicas(t *testing.T) {
	url := pgtest.URL(t)
	a, b := newPG(t, url, "a"), newPG(t, url, "b")
	ctx := context.Background()
	unlock, err := a.Lock(ctx, "rebuild")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.TryLock(ctx, "rebuild"); err != nil || ok {
		t.Fatalf("TryLock on b while a holds it: ok=%v err=%v", ok, err)
	}
	if u, ok, err := b.TryLock(ctx, "other"); err != nil || !ok {
		t.Fatalf("another lock name must be free: ok=%v err=%v", ok, err)
	} else {
		u()
	}
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, err := b.Lock(wctx, "rebuild"); err == nil {
		t.Fatal("Lock on b must wait while a holds the lock, and give up when its context ends")
	}
	cancel()
	got := make(chan func(), 1)
	go func() {
		u, err := b.Lock(ctx, "rebuild")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	unlock()
	unlock() // twice is harmless
	select {
	case u := <-got:
		u()
	case <-time.After(20 * time.Second):
		t.Fatal("b never got the lock a released")
	}
}

// Counting critical sections across replicas: never more than one inside.
func TestPostgresLockSerialisesManyWaiters(t *testing.T) {
	url := pgtest.URL(t)
	cs := []*Postgres{newPG(t, url, "a"), newPG(t, url, "b"), newPG(t, url, "c")}
	var inside, worst atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func(c *Postgres) {
			defer wg.Done()
			unlock, err := c.Lock(context.Background(), "publish:uploads")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > worst.Load() {
				worst.Store(n)
			}
			time.Sleep(5 * time.Millisecond)
			inside.Add(-1)
			unlock()
		}(cs[i%3])
	}
	wg.Wait()
	if worst.Load() != 1 {
		t.Fatalf("%d holders at once, want 1", worst.Load())
	}
}

// An event reaches every replica, its sender included, and Publish returns after it did.
func TestPostgresPublishReachesEveryReplica(t *testing.T) {
	url := pgtest.URL(t)
	a, b := newPG(t, url, "a"), newPG(t, url, "b")
	got := make(chan Event, 4)
	for _, c := range []*Postgres{a, b} {
		c.Subscribe(TopicAuth, func(ev Event) { got <- ev })
	}
	a.Subscribe(TopicGeneration, func(ev Event) { t.Errorf("unexpected %v", ev) })
	if err := a.Publish(context.Background(), TopicAuth, "x"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case ev := <-got:
			if ev.Origin != "a" || ev.Payload != "x" || ev.Resync {
				t.Fatalf("event %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 2 replicas got the event", i)
		}
	}
}

// A lost listening connection comes back, and subscribers hear that they may have missed
// events.
func TestPostgresListenerReconnectsAndResyncs(t *testing.T) {
	url := pgtest.URL(t)
	a, b := newPG(t, url, "a"), newPG(t, url, "b")
	got := make(chan Event, 8)
	b.Subscribe(TopicAuth, func(ev Event) { got <- ev })
	// Kill b's listening session from a's pool.
	if _, err := a.Pool().Exec(context.Background(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for resynced := false; !resynced; {
		select {
		case ev := <-got:
			resynced = ev.Resync
		case <-deadline:
			t.Fatal("no resync after the listening connection was killed")
		}
	}
	// The killed listener of a comes back too; an event from a then reaches b.
	for {
		if err := a.Publish(context.Background(), TopicAuth, "after"); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-got:
			if ev.Payload == "after" {
				return
			}
		case <-deadline:
			t.Fatal("events do not flow after the reconnect")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Exactly one replica leads; when it goes, another takes over.
func TestPostgresElectionFailsOver(t *testing.T) {
	url := pgtest.URL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running atomic.Int32
	var worst atomic.Int32
	leads := make(chan string, 8)
	cs := map[string]*Postgres{}
	cancels := map[string]context.CancelFunc{}
	dones := map[string]chan struct{}{}
	for _, id := range []string{"a", "b", "c"} {
		c := newPG(t, url, id)
		cs[id] = c
		lctx, lcancel := context.WithCancel(ctx)
		cancels[id] = lcancel
		done := make(chan struct{})
		dones[id] = done
		go func(id string) {
			defer close(done)
			c.Lead(lctx, func(ctx context.Context) {
				if n := running.Add(1); n > worst.Load() {
					worst.Store(n)
				}
				leads <- id
				<-ctx.Done()
				running.Add(-1)
			})
		}(id)
	}
	var first string
	select {
	case first = <-leads:
	case <-time.After(20 * time.Second):
		t.Fatal("no leader elected")
	}
	if !cs[first].IsLeader() {
		t.Fatalf("%s runs the leader's work but IsLeader is false", first)
	}
	time.Sleep(time.Second) // the others keep trying meanwhile
	if n := len(leads); n != 0 {
		t.Fatalf("%d more leaders while %s leads", n, first)
	}
	cancels[first]()
	<-dones[first]
	select {
	case second := <-leads:
		if second == first {
			t.Fatalf("the stopped replica %s was elected again", first)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no replica took over")
	}
	if worst.Load() != 1 {
		t.Fatalf("%d leaders at once, want 1", worst.Load())
	}
}

func TestGenerationCounter(t *testing.T) {
	url := pgtest.URL(t)
	a, b := newPG(t, url, "a"), newPG(t, url, "b")
	ctx := context.Background()
	if g, err := b.Generation(ctx, false); err != nil || g != 0 {
		t.Fatalf("fresh generation = %d, %v", g, err)
	}
	g1, err := a.Generation(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := b.Generation(ctx, true)
	if g2 != g1+1 {
		t.Fatalf("generations %d then %d", g1, g2)
	}
	if g, _ := a.Generation(ctx, false); g != g2 {
		t.Fatalf("read %d, want %d", g, g2)
	}
}

// Publish returns only once the other live replicas have handled the event, so a change
// announced by one is in effect everywhere when its request answers.
func TestPostgresPublishWaitsForEveryReplica(t *testing.T) {
	url := pgtest.URL(t)
	a, b := newPG(t, url, "a"), newPG(t, url, "b")
	var handled atomic.Bool
	b.Subscribe(TopicAuth, func(ev Event) {
		time.Sleep(300 * time.Millisecond) // a slow subscriber widens the window
		handled.Store(true)
	})
	// a learns of b from b's first ping.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		_, known := a.peers["b"]
		a.mu.Unlock()
		if known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a never heard of b")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Publish(context.Background(), TopicAuth, ""); err != nil {
		t.Fatal(err)
	}
	if !handled.Load() {
		t.Fatal("Publish returned before b had handled the event")
	}
}
