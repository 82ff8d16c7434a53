// Package cluster coordinates the da processes that serve one data directory. With the
// default DuckDB state there is one process, and the Local coordinator keeps today's
// in-process behaviour. With PostgreSQL state any number of replicas share the database and
// the data directory, and the Postgres coordinator serialises their work with advisory locks,
// tells every replica about a new generation or a change of rights through LISTEN/NOTIFY,
// and elects the one replica that runs the scheduled jobs. Nothing else is needed: no broker,
// no cache server, no file locks (which network file systems do not honour).
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// Backends reported by Coordinator.Backend.
const (
	BackendDuckDB   = "duckdb"
	BackendPostgres = "postgres"
)

// Topics of the events replicas send each other.
const (
	// TopicGeneration: a replica published a new analytics generation; the payload is its
	// number. The others rebuild their catalog from the shared data directory.
	TopicGeneration = "generation"
	// TopicAuth: a change that can withdraw rights committed (role, deactivation, password,
	// token revocation, grant, table visibility); every replica drops its cached callers.
	TopicAuth = "auth"
	// TopicSchedules: the registry's sync schedules changed; the leader re-reads them.
	TopicSchedules = "schedules"
)

// Event is one message from a replica (this one included).
type Event struct {
	Topic   string
	Payload string
	// Origin is the sending replica's id.
	Origin string
	// Resync is set instead of a message when events may have been missed (the listening
	// connection was lost and is back): the subscriber must treat everything as stale.
	Resync bool
}

// Coordinator is what the engine, the store's caches and the scheduler use to act as one
// with the other replicas.
type Coordinator interface {
	// Backend is BackendDuckDB or BackendPostgres.
	Backend() string
	// ReplicaID names this process among the replicas.
	ReplicaID() string
	// Lock takes the cluster-wide lock called name, waiting until it is free or ctx ends. The
	// returned function releases it; calling it more than once is harmless.
	Lock(ctx context.Context, name string) (func(), error)
	// TryLock takes the lock only when it is free at once.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
	// Publish sends an event to every replica, this one included. It returns once the event
	// is committed to the cluster (with PostgreSQL: once this replica's own listener has
	// received it, so the others have had it delivered too), or after a short bound.
	Publish(ctx context.Context, topic, payload string) error
	// Subscribe calls fn for every event of topic, and with Resync after missed events. fn
	// runs on the listening goroutine and must not block.
	Subscribe(topic string, fn func(Event))
	// Lead runs fn with a context that ends when this replica stops being the leader, each
	// time it becomes the leader, until ctx ends. It returns when ctx has ended and fn has
	// returned.
	Lead(ctx context.Context, fn func(ctx context.Context))
	// IsLeader reports whether this replica is the leader now.
	IsLeader() bool
	// Close releases every connection; locks held are released by the database.
	Close()
}

// NewReplicaID returns DA_REPLICA_ID when set, else host name, process id and a random part.
func NewReplicaID(getenv func(string) string) string {
	if getenv != nil {
		if id := strings.TrimSpace(getenv("DA_REPLICA_ID")); id != "" {
			return id
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
