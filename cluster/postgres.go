package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// channel is the one LISTEN/NOTIFY channel of the cluster; events carry their topic.
const channel = "da_cluster"

// leaderLock is the advisory lock whose holder is the leader.
const leaderLock = "leader"

// PostgresOptions tune a Postgres coordinator; zero values are the defaults.
type PostgresOptions struct {
	// ElectEvery is how often a follower tries to become the leader, and how often the
	// leader checks that it still holds the lock (default 2 s). A dead leader is replaced
	// within about twice this, plus the time PostgreSQL takes to notice the lost session.
	ElectEvery time.Duration
	// EchoWait bounds how long Publish waits for the other replicas to confirm an event
	// (default 2 s).
	EchoWait time.Duration
	Log      *slog.Logger
}

// Postgres coordinates replicas through one PostgreSQL database: session-level advisory locks
// (each held on a connection of its own, so a replica that dies releases them with its
// sessions), LISTEN/NOTIFY on a dedicated connection that reconnects with backoff, and an
// election by an advisory lock held on another dedicated connection.
type Postgres struct {
	id   string
	url  string
	opt  PostgresOptions
	log  *slog.Logger
	pool *pgxpool.Pool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	subs map[string][]func(Event)
	// pending are the events this replica published that wait for confirmations, by seq.
	pending map[uint64]*pendingEvent
	// peers is when each other replica was last heard from (any message, or its ping).
	peers map[string]time.Time
	seq   atomic.Uint64

	local keyed // the process's side of every lock

	leader atomic.Bool
	// listening is closed once the first LISTEN is in place.
	listening chan struct{}
}

// NewPostgres connects to url and starts listening; it returns once events can be received.
func NewPostgres(ctx context.Context, url, replicaID string, opt PostgresOptions) (*Postgres, error) {
	if opt.ElectEvery <= 0 {
		opt.ElectEvery = 2 * time.Second
	}
	if opt.EchoWait <= 0 {
		opt.EchoWait = 2 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("cluster: database URL: %w", err)
	}
	// Every held lock pins a connection (one per distinct name held or awaited).
	cfg.MaxConns = 64
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cluster: connect: %w", err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	p := &Postgres{id: replicaID, url: url, opt: opt, log: opt.Log, pool: pool, ctx: cctx, cancel: cancel,
		local: keyed{m: map[string]*keyedEntry{}}, subs: map[string][]func(Event){}, pending: map[uint64]*pendingEvent{}, peers: map[string]time.Time{}, listening: make(chan struct{})}
	p.wg.Add(2)
	go p.listen()
	go p.ping()
	select {
	case <-p.listening:
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("cluster: listen: %w", ctx.Err())
	}
	return p, nil
}

func (p *Postgres) Backend() string   { return BackendPostgres }
func (p *Postgres) ReplicaID() string { return p.id }
func (p *Postgres) IsLeader() bool    { return p.leader.Load() }

// Pool is the coordinator's connection pool (for the replica heartbeat and tests).
func (p *Postgres) Pool() *pgxpool.Pool { return p.pool }

// Close stops listening and campaigning and closes every connection.
func (p *Postgres) Close() {
	p.cancel()
	p.wg.Wait()
	p.pool.Close()
}

// lockKey maps a lock name to the advisory lock's 64-bit key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("da:" + name))
	return int64(h.Sum64())
}

// Lock takes the process's lock of name first, so that waiters of one name in this process
// queue here and hold no connection: connections are pinned only by distinct names.
func (p *Postgres) Lock(ctx context.Context, name string) (func(), error) {
	local, err := p.local.lock(ctx, name)
	if err != nil {
		return nil, err
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		local()
		return nil, fmt.Errorf("cluster: lock %s: %w", name, err)
	}
	key := lockKey(name)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		// A cancelled wait may have left the session in any state: drop it.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		local()
		return nil, fmt.Errorf("cluster: lock %s: %w", name, err)
	}
	return p.unlocker(conn, key, local), nil
}

func (p *Postgres) TryLock(ctx context.Context, name string) (func(), bool, error) {
	local, ok := p.local.tryLock(name)
	if !ok {
		return nil, false, nil
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		local()
		return nil, false, fmt.Errorf("cluster: lock %s: %w", name, err)
	}
	key := lockKey(name)
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		local()
		return nil, false, fmt.Errorf("cluster: lock %s: %w", name, err)
	}
	if !ok {
		conn.Release()
		local()
		return nil, false, nil
	}
	return p.unlocker(conn, key, local), true, nil
}

// unlocker releases the lock on its connection; when that fails the connection is closed,
// which releases it too.
func (p *Postgres) unlocker(conn *pgxpool.Conn, key int64, local func()) func() {
	return onceFunc(func() {
		defer local()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	})
}

// wire is an event as sent through NOTIFY. An event with Topic topicAck confirms event Seq
// of replica To; topicPing only says that its sender listens.
type wire struct {
	Topic   string `json:"t"`
	Payload string `json:"p,omitempty"`
	Origin  string `json:"o"`
	Seq     uint64 `json:"s"`
	To      string `json:"to,omitempty"`
}

const (
	topicAck  = "_ack"
	topicPing = "_ping"
	// pingEvery is how often a replica says that it listens; a peer silent for peerSilence
	// is no longer waited for.
	pingEvery   = 2 * time.Second
	peerSilence = 3 * pingEvery
)

// pendingEvent is a published event waiting for the replicas that must confirm it.
type pendingEvent struct {
	self bool            // this replica's own listener has seen it
	need map[string]bool // peers yet to confirm
	done chan struct{}
}

// Publish sends the event and waits until every replica heard from recently, this one
// included, has handled it (their subscribers have run), or EchoWait has passed. So a change
// announced by one replica is in effect on every live replica when Publish returns.
func (p *Postgres) Publish(ctx context.Context, topic, payload string) error {
	seq := p.seq.Add(1)
	msg, err := json.Marshal(wire{Topic: topic, Payload: payload, Origin: p.id, Seq: seq})
	if err != nil {
		return err
	}
	pe := &pendingEvent{need: map[string]bool{}, done: make(chan struct{})}
	now := time.Now()
	p.mu.Lock()
	for id, at := range p.peers {
		if now.Sub(at) < peerSilence {
			pe.need[id] = true
		}
	}
	p.pending[seq] = pe
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, seq)
		p.mu.Unlock()
	}()
	if _, err := p.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(msg)); err != nil {
		return fmt.Errorf("cluster: publish %s: %w", topic, err)
	}
	t := time.NewTimer(p.opt.EchoWait)
	defer t.Stop()
	select {
	case <-pe.done:
	case <-t.C:
		p.mu.Lock()
		missing := make([]string, 0, len(pe.need))
		for id := range pe.need {
			missing = append(missing, id)
		}
		p.mu.Unlock()
		p.log.Warn("cluster: replicas did not confirm an event in time; they may apply it late", "topic", topic, "replicas", missing)
	case <-ctx.Done():
	}
	return nil
}

// confirmed notes that replica from (or this one, when self) has handled event seq.
func (p *Postgres) confirmed(seq uint64, from string, self bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pe, ok := p.pending[seq]
	if !ok {
		return
	}
	if self {
		pe.self = true
	} else {
		delete(pe.need, from)
	}
	if pe.self && len(pe.need) == 0 {
		close(pe.done)
		delete(p.pending, seq)
	}
}

// notifyRaw sends one message as it is.
func (p *Postgres) notifyRaw(ctx context.Context, w wire) {
	msg, err := json.Marshal(w)
	if err != nil {
		return
	}
	if _, err := p.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(msg)); err != nil && p.ctx.Err() == nil {
		p.log.Debug("cluster: sending a confirmation failed", "error", err)
	}
}

// ping says every pingEvery that this replica listens, until the coordinator closes.
func (p *Postgres) ping() {
	defer p.wg.Done()
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	p.notifyRaw(p.ctx, wire{Topic: topicPing, Origin: p.id})
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.notifyRaw(p.ctx, wire{Topic: topicPing, Origin: p.id})
		}
	}
}

func (p *Postgres) Subscribe(topic string, fn func(Event)) {
	p.mu.Lock()
	p.subs[topic] = append(p.subs[topic], fn)
	p.mu.Unlock()
}

func (p *Postgres) deliver(ev Event) {
	p.mu.Lock()
	subs := append([]func(Event){}, p.subs[ev.Topic]...)
	p.mu.Unlock()
	for _, fn := range subs {
		fn(ev)
	}
}

// resyncAll tells every subscriber that events may have been missed.
func (p *Postgres) resyncAll() {
	p.mu.Lock()
	topics := make([]string, 0, len(p.subs))
	for t := range p.subs {
		topics = append(topics, t)
	}
	p.mu.Unlock()
	for _, t := range topics {
		p.deliver(Event{Topic: t, Resync: true, Origin: p.id})
	}
}

// listen keeps a LISTEN connection open and delivers what arrives. After a lost connection
// it reconnects with backoff and, once listening again, tells every subscriber to resync.
func (p *Postgres) listen() {
	defer p.wg.Done()
	first := true
	backoff := 100 * time.Millisecond
	for p.ctx.Err() == nil {
		conn, err := pgx.Connect(p.ctx, p.url)
		if err == nil {
			_, err = conn.Exec(p.ctx, "LISTEN "+channel)
		}
		if err != nil {
			if conn != nil {
				_ = conn.Close(context.Background())
			}
			if p.ctx.Err() != nil {
				return
			}
			p.log.Warn("cluster: cannot listen for events; retrying", "error", err, "retry_in", backoff.String())
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if first {
			first = false
			close(p.listening)
		} else {
			p.log.Info("cluster: listening for events again; treating cached state as stale")
			p.resyncAll()
		}
		for {
			n, err := conn.WaitForNotification(p.ctx)
			if err != nil {
				if p.ctx.Err() == nil {
					p.log.Warn("cluster: the event connection was lost", "error", err)
				}
				break
			}
			var w wire
			if json.Unmarshal([]byte(n.Payload), &w) != nil || w.Topic == "" || w.Origin == "" {
				continue
			}
			if w.Origin != p.id {
				p.mu.Lock()
				p.peers[w.Origin] = time.Now()
				p.mu.Unlock()
			}
			switch {
			case w.Topic == topicPing:
			case w.Topic == topicAck:
				if w.To == p.id {
					p.confirmed(w.Seq, w.Origin, false)
				}
			case w.Origin == p.id:
				p.deliver(Event{Topic: w.Topic, Payload: w.Payload, Origin: w.Origin})
				p.confirmed(w.Seq, p.id, true)
			default:
				p.deliver(Event{Topic: w.Topic, Payload: w.Payload, Origin: w.Origin})
				go p.notifyRaw(p.ctx, wire{Topic: topicAck, Origin: p.id, To: w.Origin, Seq: w.Seq})
			}
		}
		_ = conn.Close(context.Background())
	}
}

// Lead campaigns for the leader lock on a dedicated connection. The leader checks every
// ElectEvery that its connection (and so its lock) is still alive, and steps down at once
// when it is not; PostgreSQL releases the lock of a dead session, so a follower takes over.
func (p *Postgres) Lead(ctx context.Context, fn func(ctx context.Context)) {
	key := lockKey(leaderLock)
	for ctx.Err() == nil {
		conn, err := p.electionConn(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("cluster: cannot reach the database to elect a leader; retrying", "error", err)
			}
			sleep(ctx, p.opt.ElectEvery)
			continue
		}
		p.campaign(ctx, conn, key, fn)
		_ = conn.Close(context.Background())
	}
}

// electionConn opens the election's connection. TCP keepalives let PostgreSQL notice a
// leader whose machine vanished, and so release its lock.
func (p *Postgres) electionConn(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.url)
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	cfg.RuntimeParams["application_name"] = "da " + p.id
	return pgx.ConnectConfig(ctx, cfg)
}

// campaign tries for the lock on conn until the connection fails or ctx ends; while it holds
// the lock it runs fn.
func (p *Postgres) campaign(ctx context.Context, conn *pgx.Conn, key int64, fn func(context.Context)) {
	for ctx.Err() == nil {
		var ok bool
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok)
		cancel()
		if err != nil {
			return
		}
		if !ok {
			sleep(ctx, p.opt.ElectEvery)
			continue
		}
		p.lead(ctx, conn, fn)
		return
	}
}

// lead runs fn while conn stays alive; the lock goes with the connection when it ends.
func (p *Postgres) lead(ctx context.Context, conn *pgx.Conn, fn func(context.Context)) {
	lctx, stop := context.WithCancel(ctx)
	p.leader.Store(true)
	p.log.Info("cluster: this replica is the leader; it runs the scheduled jobs", "replica", p.id)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(lctx)
	}()
	t := time.NewTicker(p.opt.ElectEvery)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-done:
			// fn returned early: keep the lock until ctx ends, so that no one else runs it.
			done = nil
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, p.opt.ElectEvery)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				p.log.Warn("cluster: lost the leader's connection; stepping down", "error", err)
				break loop
			}
		}
	}
	p.leader.Store(false)
	stop()
	if done != nil {
		<-done
	}
	if ctx.Err() == nil {
		return
	}
	uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", lockKey(leaderLock))
}

// Generation returns the cluster's generation counter: moved on by one with bump (by a
// replica about to publish a rebuild it started), else read as it is.
func (p *Postgres) Generation(ctx context.Context, bump bool) (uint64, error) {
	if err := p.ensureGenerationSeq(ctx); err != nil {
		return 0, err
	}
	var n int64
	var err error
	if bump {
		err = p.pool.QueryRow(ctx, "SELECT nextval('da_generation')").Scan(&n)
	} else {
		err = p.pool.QueryRow(ctx, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM da_generation").Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("cluster: generation: %w", err)
	}
	return uint64(n), nil
}

var seqOnce sync.Map // url -> struct{}

// ensureGenerationSeq creates the generation sequence once, under a lock so that replicas
// starting together do not race on it.
func (p *Postgres) ensureGenerationSeq(ctx context.Context) error {
	if _, ok := seqOnce.Load(p.url); ok {
		return nil
	}
	unlock, err := p.Lock(ctx, "init")
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := p.pool.Exec(ctx, "CREATE SEQUENCE IF NOT EXISTS da_generation"); err != nil {
		return fmt.Errorf("cluster: create the generation sequence: %w", err)
	}
	seqOnce.Store(p.url, struct{}{})
	return nil
}

// ParseGeneration reads a TopicGeneration payload.
func ParseGeneration(payload string) (uint64, error) {
	n, err := strconv.ParseUint(payload, 10, 64)
	if err != nil {
		return 0, errors.New("cluster: bad generation payload")
	}
	return n, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
