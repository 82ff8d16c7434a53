package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// MigrateLockKey is the pg_advisory_xact_lock key that every migration step on PostgreSQL
// holds for its transaction ("da" and 1). Other advisory-lock keys of da must differ.
const MigrateLockKey int64 = 0x6461_0000_0001

// pgMaxConns caps the connections one process opens to PostgreSQL.
const pgMaxConns = 16

// OpenPostgres opens the system database on the PostgreSQL server at rawURL
// (postgres://user:password@host:port/dbname?options) and migrates it to LatestVersion,
// each step in a transaction under MigrateLockKey, so that several processes may open the
// same database at once. A database newer than LatestVersion is refused with ErrNewerSchema.
// Connections run with TimeZone=UTC; timestamps are stored as naive UTC, as on DuckDB.
func OpenPostgres(ctx context.Context, rawURL string) (*Store, error) {
	return openPostgresWith(ctx, rawURL, migrations)
}

func openPostgresWith(ctx context.Context, rawURL string, steps []migration) (*Store, error) {
	name := RedactURL(rawURL)
	cfg, err := ParsePostgresURL(rawURL)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	// A server's max_connections (100 by default) is shared by every replica; writes run
	// one at a time per process anyway (writeTx), so a few connections serve many requests.
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{DB: db, path: name, dsn: rawURL, d: pgDialect, writeSem: make(chan struct{}, 1)}
	if err := s.Ping(ctx); err != nil {
		_ = db.Close()
		u, _ := url.Parse(rawURL)
		return nil, fmt.Errorf("store: cannot connect to PostgreSQL at %s: %s", name, redactIn(firstLine(errors.Unwrap(err)), u))
	}
	if err := s.migrate(ctx, steps); err != nil {
		_ = db.Close()
		return nil, err
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != steps[len(steps)-1].version {
		_ = db.Close()
		if err == nil {
			err = fmt.Errorf("store: %s is at schema version %d after migrating, want %d", name, v, steps[len(steps)-1].version)
		}
		return nil, err
	}
	return s, nil
}

// ParsePostgresURL checks a postgres:// or postgresql:// URL and returns the connection
// configuration da uses for it (TimeZone=UTC on every connection). Its errors never
// contain the password.
func ParsePostgresURL(rawURL string) (*pgx.ConnConfig, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, fmt.Errorf("store: %q is not a PostgreSQL URL; want postgres://user:password@host:port/dbname", RedactURL(rawURL))
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("store: the PostgreSQL URL %s names no database; want postgres://user:password@host:port/dbname", RedactURL(rawURL))
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: the PostgreSQL URL %s is not valid: %s", RedactURL(rawURL), redactIn(err.Error(), u))
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "da"
	}
	return cfg, nil
}

// RedactURL is rawURL with its password replaced by "xxxxx", for logs and messages.
// Text that does not parse as a URL is replaced entirely.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactIn removes u's password from msg.
func redactIn(msg string, u *url.URL) string {
	if u == nil || u.User == nil {
		return msg
	}
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// rebindConnector hands out pgx connections that accept the ? placeholders the
// repositories write (see rebind); everything else is pgx's database/sql driver unchanged.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("store: unexpected PostgreSQL driver connection %T", conn)
	}
	return &rebindConn{pc}, nil
}

// rebindConn is a pgx connection whose queries go through rebind.
type rebindConn struct{ *stdlib.Conn }

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), utcArgs(args))
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), utcArgs(args))
}

// utcArgs turns time arguments to UTC. pgx writes the wall-clock time of a time.Time into a
// TIMESTAMP column whatever its location, where DuckDB converts it to UTC first; timestamps
// are naive UTC on both backends only if the instant is given in UTC.
func utcArgs(args []driver.NamedValue) []driver.NamedValue {
	for i, a := range args {
		switch v := a.Value.(type) {
		case time.Time:
			args[i].Value = v.UTC()
		case *time.Time:
			if v != nil {
				args[i].Value = v.UTC()
			}
		}
	}
	return args
}

// PgxConn runs fn with the pgx connection of one pooled connection of a PostgreSQL store
// (for LISTEN, COPY and other pgx-only features); the connection goes back to the pool
// afterwards. It fails on a DuckDB store.
func (s *Store) PgxConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	if s.d != pgDialect {
		return errors.New("store: not a PostgreSQL store")
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer conn.Close()
	var inner error
	if err := conn.Raw(func(dc any) error {
		rc, ok := dc.(*rebindConn)
		if !ok {
			return fmt.Errorf("store: unexpected driver connection %T", dc)
		}
		inner = fn(rc.Conn.Conn())
		return nil
	}); err != nil {
		return err
	}
	return inner
}
