package engine

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"da/cluster"
	"da/engine/extract"
	"da/store"
	"da/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// replicaEngine is an engine over dataDir coordinated through the database at url, with a
// system database of its own (the rebuild records sync state there).
func replicaEngine(t *testing.T, url, dataDir, id string) *Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	coord, err := cluster.NewPostgres(ctx, url, id, cluster.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coord.Close)
	st, err := store.Open(filepath.Join(t.TempDir(), "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := New(dataDir, st, slog.New(slog.DiscardHandler), Options{Coord: coord, Getenv: func(string) string { return "" }})
	e.FollowCluster()
	return e
}

// Two replicas on one data directory: a rebuild on one is followed by the other at once, the
// generation is the cluster's, and neither deletes the analytics snapshot the other serves.
func TestReplicasFollowEachOthersGenerations(t *testing.T) {
	t.Cleanup(func() { extract.SetSharedLock(nil) })
	url := pgtest.URL(t)
	dataDir := t.TempDir()
	a := replicaEngine(t, url, dataDir, "a")
	b := replicaEngine(t, url, dataDir, "b")
	mustRebuild(t, b)
	// b holds its analytics database open while a publishes.
	held, err := b.OpenAnalytics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	writeSource(t, dataDir, "crm", []fxTable{{name: "accounts", query: rangeQuery(10)}})
	res := mustRebuild(t, a)
	gen := res.Catalog.Generation
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := b.Catalog().Table("accounts"); ok && b.Catalog().Generation >= gen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never followed a's generation %d (b serves %d)", gen, b.Catalog().Generation)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// b can open its current analytics database, and the one it held still answers.
	db, err := b.OpenAnalytics(context.Background())
	if err != nil {
		t.Fatalf("b cannot open its analytics database after a's rebuild: %v", err)
	}
	if n := countRows(t, db, "SELECT count(*) FROM accounts"); n != 10 {
		t.Fatalf("accounts on b = %d rows", n)
	}
	db.Close()
	if err := held.Ping(); err != nil {
		t.Fatal(err)
	}
	// a's next rebuild moves the cluster's generation past b's.
	res2 := mustRebuild(t, a)
	if res2.Catalog.Generation <= b.Catalog().Generation-1 || res2.Catalog.Generation <= gen {
		t.Fatalf("generations %d then %d (b %d)", gen, res2.Catalog.Generation, b.Catalog().Generation)
	}
	if _, err := a.OpenAnalytics(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The leader's sweep deletes the snapshots of replicas gone for an hour, and keeps its own,
// those of replicas heard from recently, and fresh files.
func TestSweepGoneSnapshots(t *testing.T) {
	t.Cleanup(func() { extract.SetSharedLock(nil) })
	url := pgtest.URL(t)
	dataDir := t.TempDir()
	a := replicaEngine(t, url, dataDir, "a")
	mustRebuild(t, a)
	dir := a.snapshotDir()
	old := time.Now().Add(-2 * time.Hour)
	write := func(name string, at time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := write("server-dead@1-1.duckdb", old)
	single := write("server-1-1.duckdb", old)
	recent := write("server-b@1-1.duckdb", old)
	fresh := write("server-dead2@1-1.duckdb", time.Now())
	if n := a.SweepGoneSnapshots(map[string]bool{"a": true, "b": true}); n != 2 {
		t.Fatalf("swept %d files, want 2", n)
	}
	for p, want := range map[string]bool{gone: false, single: false, recent: true, fresh: true, a.Catalog().snapshot: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if _, err := a.OpenAnalytics(context.Background()); err != nil {
		t.Fatal(err)
	}
}
