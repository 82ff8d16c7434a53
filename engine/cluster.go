package engine

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"da/cluster"
	"da/engine/extract"
)

// With several replicas (Options.Coord with PostgreSQL state) every replica keeps its own
// Catalog, built from the shared data directory:
//   - a rebuild holds the cluster's rebuild lock, so that rebuilds never interleave across
//     replicas, and takes the next number of the cluster's generation counter;
//   - once published, its generation is announced (cluster.TopicGeneration), and every other
//     replica rebuilds at once (Follow), reusing what it already knows of unchanged files;
//   - each replica's analytics snapshots carry its id, so that no replica deletes a file
//     another one serves;
//   - the per-table critical section of uploads and deletes, and the read-modify-write of a
//     source's extract.duckdb, hold cluster locks as well as the in-process ones.

// rebuildLock is the cluster lock every rebuild holds.
const rebuildLock = "rebuild"

// generations is the part of a coordinator that numbers generations cluster-wide.
type generations interface {
	Generation(ctx context.Context, bump bool) (uint64, error)
}

// shared reports whether other processes may serve the same data directory.
func (e *Engine) shared() bool {
	return e.opt.Coord != nil && e.opt.Coord.Backend() != cluster.BackendDuckDB
}

// Coord is the engine's coordinator; nil for a single process.
func (e *Engine) Coord() cluster.Coordinator { return e.opt.Coord }

// clusterLock takes the cluster lock called name when replicas share the data directory.
func (e *Engine) clusterLock(ctx context.Context, name string) (func(), error) {
	if !e.shared() {
		return func() {}, nil
	}
	return e.opt.Coord.Lock(ctx, name)
}

// nextGeneration is the number of the generation a rebuild publishes: the cluster's next one
// for a rebuild this replica asked for, the cluster's current one when following another
// replica, and 0 (the next of this process) for a single process.
func (e *Engine) nextGeneration(ctx context.Context, bump bool) (uint64, error) {
	g, ok := e.opt.Coord.(generations)
	if !e.shared() || !ok {
		return 0, nil
	}
	n, err := g.Generation(ctx, bump)
	if err != nil {
		return 0, err
	}
	if !bump {
		n = max(n, e.gen)
	}
	return n, nil
}

// announce tells the other replicas that generation gen is published.
func (e *Engine) announce(ctx context.Context, gen uint64) {
	if !e.shared() {
		return
	}
	if err := e.opt.Coord.Publish(ctx, cluster.TopicGeneration, strconv.FormatUint(gen, 10)); err != nil {
		e.log.Warn("announcing a new generation to the other replicas failed; they pick it up at their next rebuild",
			"generation", gen, "error", err)
	}
}

// Follow rebuilds the catalog in the background because another replica published a new
// generation. It joins a waiting rebuild, so a burst of announcements costs one rebuild.
func (e *Engine) Follow() { e.joinRebuild(true) }

// FollowCluster makes the engine follow every generation another replica announces, and
// rebuild after missed announcements.
func (e *Engine) FollowCluster() {
	if !e.shared() {
		return
	}
	self := e.opt.Coord.ReplicaID()
	e.opt.Coord.Subscribe(cluster.TopicGeneration, func(ev cluster.Event) {
		if ev.Resync || ev.Origin != self {
			e.Follow()
		}
	})
	// The read-modify-write of a source's extract.duckdb is one critical section across
	// replicas, as it is across goroutines.
	coord := e.opt.Coord
	extract.SetSharedLock(func(dir string) func() {
		unlock, err := coord.Lock(context.Background(), "source:"+strings.ToLower(baseName(dir)))
		if err != nil {
			e.log.Error("cannot take the cluster lock of a source; writing its contract without it", "dir", dir, "error", err)
			return func() {}
		}
		return unlock
	})
}

// snapshotTag starts the names of this replica's snapshot files ("" for a single process).
func (e *Engine) snapshotTag() string {
	if !e.shared() {
		return ""
	}
	return snapshotTagOf(e.opt.Coord.ReplicaID())
}

func snapshotTagOf(id string) string {
	var b strings.Builder
	for _, r := range id {
		if r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	return b.String() + "@"
}

// ownSnapshot reports whether the snapshot file called name is this process's to delete.
func (e *Engine) ownSnapshot(name string) bool {
	return !e.shared() || strings.HasPrefix(name, "server-"+e.snapshotTag())
}

// SweepForeignSnapshots deletes the snapshot files of other replicas. Call it only when no
// other replica is running (they would be serving them).
func (e *Engine) SweepForeignSnapshots() int {
	ents, err := os.ReadDir(e.snapshotDir())
	if err != nil {
		return 0
	}
	n := 0
	for _, ent := range ents {
		if !e.ownSnapshot(ent.Name()) {
			removeDB(e.snapshotDir() + string(os.PathSeparator) + ent.Name())
			n++
		}
	}
	return n
}

// SweepGoneSnapshots deletes the snapshot files of replicas that are gone: those whose id is
// not in keep (the replicas heard from in the last hour) and which nobody touched for an
// hour. The leader calls it, so that replicas that died do not leave their files forever.
func (e *Engine) SweepGoneSnapshots(keep map[string]bool) int {
	if !e.shared() {
		return 0
	}
	tags := map[string]bool{}
	for id := range keep {
		tags[snapshotTagOf(id)] = true
	}
	ents, err := os.ReadDir(e.snapshotDir())
	if err != nil {
		return 0
	}
	n := 0
	for _, ent := range ents {
		name := ent.Name()
		if e.ownSnapshot(name) {
			continue
		}
		if tag, _, ok := strings.Cut(strings.TrimPrefix(name, "server-"), "@"); ok && tags[tag+"@"] {
			continue
		}
		if fi, err := ent.Info(); err != nil || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		removeDB(e.snapshotDir() + string(os.PathSeparator) + name)
		n++
	}
	return n
}

func baseName(dir string) string {
	dir = strings.TrimRight(dir, string(os.PathSeparator))
	if i := strings.LastIndexByte(dir, os.PathSeparator); i >= 0 {
		return dir[i+1:]
	}
	return dir
}
