package cli

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"da/cluster"
	"da/config"
	"da/jobs"
	"da/store"
	"da/store/pgtest"
)

// With PostgreSQL state JWT_SECRET_KEY must be explicit; with DuckDB it may be generated.
func TestReplicaSecretsMustBeExplicit(t *testing.T) {
	if err := checkReplicaSecrets(&config.Config{DatabaseURL: "postgres://h/db"}); err == nil ||
		!strings.Contains(err.Error(), "JWT_SECRET_KEY must be set when DA_DATABASE_URL is set") {
		t.Fatalf("err = %v", err)
	}
	if err := checkReplicaSecrets(&config.Config{DatabaseURL: "postgres://h/db", JWTSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := checkReplicaSecrets(&config.Config{}); err != nil {
		t.Fatal(err)
	}
}

// A replica of another version refuses to migrate the schema under a live replica; it
// starts when nothing would change, when versions agree, or when the other one is gone.
func TestReplicaOfAnotherVersionRefusesToMigrate(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	coord, err := cluster.NewPostgres(ctx, url, "new-one", cluster.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer coord.Close()
	// A fresh database: nothing to protect.
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("fresh database: %v", err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := coord.Pool().Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)`)
	exec(`INSERT INTO schema_version (version) VALUES (8)`)
	// Before version 9 there is no replicas table, so no replica to protect.
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("schema 8 without replicas: %v", err)
	}
	exec(`CREATE TABLE replicas (id VARCHAR PRIMARY KEY, version VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL,
		heartbeat_at TIMESTAMP NOT NULL, generation BIGINT, is_leader BOOLEAN NOT NULL DEFAULT false, addr VARCHAR)`)
	now := time.Now().UTC()
	exec(`INSERT INTO replicas (id, version, started_at, heartbeat_at) VALUES ('old-one', '1.0', $1, $1)`, now)
	err = checkReplicaVersions(ctx, coord, "2.0")
	if err == nil || !strings.Contains(err.Error(), "replica old-one runs da 1.0") || !strings.Contains(err.Error(), "from version 8 to") {
		t.Fatalf("err = %v", err)
	}
	if err := checkReplicaVersions(ctx, coord, "1.0"); err != nil {
		t.Fatalf("same version: %v", err)
	}
	exec(`UPDATE replicas SET heartbeat_at = $1`, now.Add(-time.Minute))
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("the old replica is gone: %v", err)
	}
	exec(`UPDATE replicas SET heartbeat_at = $1`, now)
	exec(`INSERT INTO schema_version (version) VALUES ($1)`, store.LatestVersion)
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("nothing to migrate: %v", err)
	}
}

// countingSyncs counts how often the schedules are read; it schedules nothing.
type countingSyncs struct{ reads atomic.Int64 }

func (c *countingSyncs) Schedules(context.Context) (map[string]string, error) {
	c.reads.Add(1)
	return map[string]string{}, nil
}

func (c *countingSyncs) TriggerSync(context.Context, string) (string, error) { return "", nil }

// One of two candidates runs the scheduler; a registry change on the other reaches it at
// once; when the leader stops, the other starts its scheduler.
func TestLeaderJobsRunOnOneReplica(t *testing.T) {
	url := pgtest.URL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type cand struct {
		coord  *cluster.Postgres
		syncs  *countingSyncs
		lj     *leaderJobs
		cancel context.CancelFunc
	}
	var cands []*cand
	for _, id := range []string{"a", "b"} {
		coord, err := cluster.NewPostgres(ctx, url, id, cluster.PostgresOptions{ElectEvery: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer coord.Close()
		c := &cand{coord: coord, syncs: &countingSyncs{}}
		lctx, lcancel := context.WithCancel(ctx)
		c.cancel = lcancel
		c.lj = runLeaderJobs(lctx, coord, slogDiscard(), func(sctx context.Context) (*jobs.Scheduler, error) {
			s := jobs.New(jobs.Options{Syncs: c.syncs, ReloadEvery: time.Hour})
			return s, s.Start(sctx)
		})
		cands = append(cands, c)
	}
	leaderOf := func() (*cand, *cand) {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for i, c := range cands {
				if c.lj.cur.Load() != nil {
					return c, cands[1-i]
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no scheduler started")
		return nil, nil
	}
	lead, follower := leaderOf()
	if follower.lj.cur.Load() != nil || follower.syncs.reads.Load() != 0 {
		t.Fatal("both candidates run a scheduler")
	}
	// The follower learns of b from its ping before it publishes.
	time.Sleep(2500 * time.Millisecond)
	before := lead.syncs.reads.Load()
	if err := follower.lj.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for lead.syncs.reads.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("a registry change on the follower did not reach the leader's scheduler")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(follower.lj.Next()) != 0 {
		t.Fatal("a follower reports next runs")
	}
	lead.cancel()
	lead.lj.Wait()
	next, _ := leaderOf()
	if next != follower {
		t.Fatal("the follower did not take over")
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
