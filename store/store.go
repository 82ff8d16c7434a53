// Package store owns the system database: its schema, its migrations and the
// repositories that read and write it. It knows nothing about HTTP.
//
// The database is DATA_DIR/state/system.duckdb (Open) or a PostgreSQL database
// (OpenPostgres); both run the same migrations and the same repository code. Repositories
// write SQL both accept, with ? placeholders (rewritten to $N for PostgreSQL by the
// connection, see rebind); the few differences — error classes, list aggregates, the
// schema name — live in dialect.go and nowhere else. Every store test runs on both.
//
// Timestamps are stored as naive UTC. Go code writes time.Now().UTC()
// explicitly, and every connection also runs with TimeZone UTC so that
// column defaults (current_timestamp) and casts from TIMESTAMPTZ give UTC
// too; without it DuckDB uses the server's local time zone.
//
// Writes go through writeTx, which runs the store's write transactions one
// at a time and retries DuckDB's optimistic-concurrency "Conflict on ..."
// errors (PostgreSQL: serialization failures and deadlocks) a few times;
// see retry.go.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound reports that the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict reports a duplicate key, such as an email already in use.
	ErrConflict = errors.New("store: conflict")
	// ErrNewerSchema reports a database written by a newer da; Open refuses it.
	ErrNewerSchema = errors.New("store: database schema is newer than this da")
	// ErrLocked reports that another process holds the database file open.
	ErrLocked = errors.New("store: database is locked by another process")
	// ErrUnopenable reports a database file DuckDB cannot open, such as one whose WAL it
	// cannot replay; Open leaves the file and its WAL untouched.
	ErrUnopenable = errors.New("store: database cannot be opened")
)

// Store is the system database. DB is safe for concurrent use.
type Store struct {
	// DB is the shared connection pool; every connection runs in UTC.
	DB *sql.DB
	// path names the database in messages: the DuckDB file, or the redacted PostgreSQL URL.
	path string
	// dsn is the PostgreSQL URL, password included; empty on DuckDB.
	dsn string
	// d is the SQL dialect of the backend (dialect.go).
	d *dialect
	// writeSem serialises writeTx (capacity 1); see retry.go.
	writeSem chan struct{}
	// qlog records queries off the request path (query_log.go).
	qlogOnce sync.Once
	qlog     atomic.Pointer[QueryLog]
	// authGen moves on after changes that can withdraw rights (user_valid_after.go).
	authGen atomic.Uint64
}

// Open opens (creating if needed) the DuckDB file at path and migrates it to
// LatestVersion; a crash at any moment of that leaves a database that opens (see
// open.go). A database newer than LatestVersion is left untouched and refused
// with ErrNewerSchema; a file held by another process gives ErrLocked; a file
// DuckDB cannot open gives ErrUnopenable with a message on what to do.
func Open(path string) (*Store, error) {
	return openWith(context.Background(), path, migrations)
}

func openWith(ctx context.Context, path string, steps []migration) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	db, err := prepareFile(ctx, path, steps)
	if err != nil {
		return nil, err
	}
	if db == nil {
		if db, err = openPool(path); err != nil {
			return nil, err
		}
	}
	s := &Store{DB: db, path: path, d: duckDialect, writeSem: make(chan struct{}, 1)}
	if v, err := s.SchemaVersion(ctx); err != nil || v != steps[len(steps)-1].version {
		_ = db.Close()
		if err == nil {
			err = fmt.Errorf("store: %s is at schema version %d after migrating, want %d", path, v, steps[len(steps)-1].version)
		}
		return nil, err
	}
	return s, nil
}

// initConn runs on every new connection in the pool.
func initConn(execer driver.ExecerContext) error {
	// The TimeZone setting cannot be passed in the DSN: ICU is not loaded
	// yet when the database is created, so it is set per connection.
	_, err := execer.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
	return err
}

// Close closes the database; the file can then be opened by another process.
func (s *Store) Close() error {
	if l := s.qlog.Load(); l != nil {
		l.close()
	}
	if err := s.DB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.DB.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// SchemaVersion returns MAX(version) from schema_version, or 0 if the table
// is missing or empty (the original system's definition).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.d, s.DB)
}

// Backend names the database behind the store: BackendDuckDB or BackendPostgres.
func (s *Store) Backend() string { return s.d.name }

// queryer is what schemaVersion needs; *sql.DB and *sql.Tx both have it.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func schemaVersion(ctx context.Context, d *dialect, q queryer) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, d.schemaTableCount, "schema_version").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}

// wrapped is an error with its own message that matches both a sentinel and
// the underlying cause with errors.Is / errors.As.
type wrapped struct {
	msg      string
	sentinel error
	cause    error
}

func (e *wrapped) Error() string {
	if e.cause == nil {
		return e.msg
	}
	return e.msg + ": " + e.cause.Error()
}

func (e *wrapped) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}
