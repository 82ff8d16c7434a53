package jira

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Queue is the durable per-issue event queue. An accepted event is written to
// raw/webhook_events/ (fsynced) and hard-linked into raw/queue/ before the webhook answers;
// a worker removes the queue link once the event is applied. After a kill -9 the links that
// are left are replayed at start, in arrival order. Events of one issue always go to the same
// worker, so they apply in order; different issues run in parallel. Processing is
// idempotent, so a replay after a crash changes nothing twice.
type Queue struct {
	proc    *Processor
	log     *slog.Logger
	publish func(context.Context) error
	workers []*worker
	seq     atomic.Int64

	dirty   chan struct{}
	stop    context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool

	active       atomic.Int64 // events being handled
	dirtyGen     atomic.Int64 // changes signalled
	publishedGen atomic.Int64 // changes a finished publish covered

	mu        sync.Mutex
	stats     Stats
	published chan struct{} // closed and replaced at every publish
}

// Stats is what the admin page and health show about the queue.
type Stats struct {
	Received    int64     `json:"received"`
	Duplicates  int64     `json:"duplicates"`
	Processed   int64     `json:"processed"`
	Failed      int64     `json:"failed"`
	Pending     int       `json:"pending"`
	LastEventAt time.Time `json:"last_event_at"`
	LastError   string    `json:"last_error,omitempty"`
	Publishes   int64     `json:"publishes"`
	LastPublish time.Time `json:"last_publish_at"`
}

type worker struct {
	mu      sync.Mutex
	pending []string
	signal  chan struct{}
}

// maxAttempts is how often a failing event is retried before it moves to raw/failed/.
const maxAttempts = 5

// NewQueue makes a queue over proc's store with n workers; publish makes the store's
// changes visible (contract + catalog) and runs after each group of changes.
func NewQueue(proc *Processor, n int, publish func(context.Context) error, log *slog.Logger) *Queue {
	if n <= 0 {
		n = 8
	}
	q := &Queue{proc: proc, log: log, publish: publish, dirty: make(chan struct{}, 1), published: make(chan struct{})}
	for range n {
		q.workers = append(q.workers, &worker{signal: make(chan struct{}, 1)})
	}
	proc.Changed = q.markDirty
	return q
}

func (q *Queue) queueDir() string  { return filepath.Join(q.proc.Store.RawDir(), "queue") }
func (q *Queue) eventsDir() string { return filepath.Join(q.proc.Store.RawDir(), "webhook_events") }
func (q *Queue) seenDir() string   { return filepath.Join(q.proc.Store.RawDir(), "seen") }

// ErrDuplicate means the delivery id was accepted before: the event is not queued again.
var ErrDuplicate = errors.New("jira: duplicate delivery")

// envelope is a queued event as stored on disk.
type envelope struct {
	ID         string          `json:"id"`
	ReceivedAt time.Time       `json:"received_at"`
	Event      json.RawMessage `json:"event"`
}

// Enqueue persists one event (body is the raw webhook JSON, name its webhookEvent) and hands
// it to its issue's worker. id is the delivery identifier; an id seen before gives
// ErrDuplicate and changes nothing. It returns once the event is on disk.
func (q *Queue) Enqueue(id, name string, body []byte) error {
	if id == "" {
		sum := sha256.Sum256(body)
		id = "body-" + hex.EncodeToString(sum[:])
	}
	mark := q.markPath(id)
	if _, err := os.Stat(mark); err == nil {
		q.count(func(s *Stats) { s.Duplicates++ })
		return ErrDuplicate
	}
	env, err := json.Marshal(envelope{ID: id, ReceivedAt: time.Now().UTC(), Event: body})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	base := fmt.Sprintf("%s_%09d_%06d_%s.json", now.Format("20060102_150405"), now.Nanosecond(), q.seq.Add(1)%1000000,
		safeName(strings.ReplaceAll(name, ":", "_")))
	raw := filepath.Join(q.eventsDir(), base)
	if err := writeAtomic(raw, env); err != nil {
		return fmt.Errorf("jira: persist event: %w", err)
	}
	if err := os.MkdirAll(q.queueDir(), 0o750); err != nil {
		return err
	}
	if err := os.Link(raw, filepath.Join(q.queueDir(), base)); err != nil {
		return fmt.Errorf("jira: queue event: %w", err)
	}
	syncDir(q.queueDir())
	// The marker comes last and needs no fsync: a crash that loses it lets Jira's retry
	// queue the event again, which is harmless; the other order could lose the event.
	if err := os.MkdirAll(filepath.Dir(mark), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(mark, nil, 0o640); err != nil {
		return err
	}
	q.count(func(s *Stats) { s.Received++; s.LastEventAt = now })
	q.dispatch(base, body)
	return nil
}

func (q *Queue) markPath(id string) string {
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(q.seenDir(), h[:2], h)
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// routeKey is what orders events: the issue key, or the link's source id.
func routeKey(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	if k := EventKey(m); k != "" {
		return k
	}
	return str(dig(m, "issueLink", "sourceIssueId"))
}

func (q *Queue) dispatch(name string, body []byte) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(routeKey(body)))
	w := q.workers[int(h.Sum32())%len(q.workers)]
	w.mu.Lock()
	w.pending = append(w.pending, name)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Start replays what a previous process left in the queue, publishes once (a crash may have
// left written shards unpublished) and starts the workers and the publisher.
func (q *Queue) Start(ctx context.Context) error {
	if !q.started.CompareAndSwap(false, true) {
		return nil
	}
	ctx, q.stop = context.WithCancel(ctx)
	q.markDirty()
	q.wg.Add(1)
	go q.publisher(ctx)
	for _, w := range q.workers {
		q.wg.Add(1)
		go q.run(ctx, w)
	}
	ents, err := os.ReadDir(q.queueDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		env, err := q.read(n)
		if err != nil {
			q.fail(n, err)
			continue
		}
		q.dispatch(n, env.Event)
	}
	return nil
}

// Stop ends the workers after their current event; queued events stay for the next start.
func (q *Queue) Stop() {
	if q.stop != nil {
		q.stop()
	}
	q.wg.Wait()
}

func (q *Queue) read(name string) (*envelope, error) {
	b, err := os.ReadFile(filepath.Join(q.queueDir(), name))
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("jira: queued event %s: %w", name, err)
	}
	return &env, nil
}

func (q *Queue) run(ctx context.Context, w *worker) {
	defer q.wg.Done()
	for {
		w.mu.Lock()
		batch := w.pending
		w.pending = nil
		w.mu.Unlock()
		for _, name := range batch {
			if ctx.Err() != nil {
				return
			}
			q.handle(ctx, name)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.signal:
		}
	}
}

// handle applies one queued event, retrying transient errors with backoff.
func (q *Queue) handle(ctx context.Context, name string) {
	q.active.Add(1)
	defer q.active.Add(-1)
	env, err := q.read(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			q.fail(name, err)
		}
		return
	}
	d := json.NewDecoder(strings.NewReader(string(env.Event)))
	d.UseNumber()
	var body map[string]any
	if err := d.Decode(&body); err != nil {
		q.fail(name, err)
		return
	}
	ev := Event{Name: str(body["webhookEvent"]), Body: body}
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(attempt*attempt) * 200 * time.Millisecond):
			}
		}
		_, lastErr = q.proc.Process(ctx, ev)
		if lastErr == nil || ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return // stays queued for the next start
	}
	if lastErr != nil {
		q.fail(name, lastErr)
		return
	}
	_ = os.Remove(filepath.Join(q.queueDir(), name))
	q.count(func(s *Stats) { s.Processed++ })
}

// fail moves a queued event that cannot be applied to raw/failed/ (kept for a backfill or a
// look by hand) and records the error.
func (q *Queue) fail(name string, err error) {
	dir := filepath.Join(q.proc.Store.RawDir(), "failed")
	_ = os.MkdirAll(dir, 0o750)
	if rerr := os.Rename(filepath.Join(q.queueDir(), name), filepath.Join(dir, name)); rerr != nil {
		_ = os.Remove(filepath.Join(q.queueDir(), name))
	}
	if q.log != nil {
		q.log.Warn("jira event failed", "event_file", name, "err", err)
	}
	q.count(func(s *Stats) { s.Failed++; s.LastError = err.Error() })
}

func (q *Queue) count(fn func(*Stats)) {
	q.mu.Lock()
	fn(&q.stats)
	q.mu.Unlock()
}

// Stats returns a snapshot of the counters and the number of events waiting.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	s := q.stats
	q.mu.Unlock()
	for _, w := range q.workers {
		w.mu.Lock()
		s.Pending += len(w.pending)
		w.mu.Unlock()
	}
	if ents, err := os.ReadDir(q.queueDir()); err == nil {
		s.Pending = len(ents)
	}
	return s
}

// Idle reports whether nothing is queued, being applied or waiting to be published.
func (q *Queue) Idle() bool {
	if q.active.Load() > 0 || q.publishedGen.Load() != q.dirtyGen.Load() {
		return false
	}
	for _, w := range q.workers {
		w.mu.Lock()
		n := len(w.pending)
		w.mu.Unlock()
		if n > 0 {
			return false
		}
	}
	ents, _ := os.ReadDir(q.queueDir())
	return len(ents) == 0 && q.active.Load() == 0 && q.publishedGen.Load() == q.dirtyGen.Load()
}

func (q *Queue) markDirty() {
	q.dirtyGen.Add(1)
	select {
	case q.dirty <- struct{}{}:
	default:
	}
}

// Published returns a channel closed at the next completed publish.
func (q *Queue) Published() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.published
}

// publisher republishes after changes; changes that arrive during a publish are taken by
// the next one, so a burst costs a few publishes, not one per event.
func (q *Queue) publisher(ctx context.Context) {
	defer q.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.dirty:
		}
		gen := q.dirtyGen.Load()
		err := q.proc.Store.WriteContract(ctx)
		if err == nil && q.publish != nil {
			err = q.publish(ctx)
		}
		q.mu.Lock()
		if err != nil {
			q.stats.LastError = "publish: " + err.Error()
		} else {
			q.stats.Publishes++
			q.stats.LastPublish = time.Now().UTC()
		}
		close(q.published)
		q.published = make(chan struct{})
		q.mu.Unlock()
		q.publishedGen.Store(gen)
		if err != nil && q.log != nil && ctx.Err() == nil {
			q.log.Warn("jira publish failed", "err", err)
		}
	}
}
