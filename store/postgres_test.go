package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"da/store/pgtest"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT ? , ?", "SELECT $1 , $2"},
		{"SELECT '?', \"a?\", ? -- why?\n, ?", "SELECT '?', \"a?\", $1 -- why?\n, $2"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{"SELECT /* ? */ ?", "SELECT /* ? */ $1"},
		{"SELECT $1, $2", "SELECT $1, $2"},
		{"VALUES (?, ?::JSON)", "VALUES ($1, $2::JSON)"},
		{"SELECT '?", "SELECT '?"},
		{"SELECT ? -- ?", "SELECT $1 -- ?"},
		{"SELECT ? /* ?", "SELECT $1 /* ?"},
	}
	for _, tt := range tests {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPostgresURLChecksAndRedaction(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"mysql://u:pw-SECRET@h/db", "postgres://u:pw-SECRET@h:5432/", "not a url", "postgres:///db"} {
		_, err := ParsePostgresURL(bad)
		if err == nil {
			t.Errorf("ParsePostgresURL(%q) accepted it", bad)
			continue
		}
		if strings.Contains(err.Error(), "pw-SECRET") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	cfg, err := ParsePostgresURL("postgres://u:pw@localhost:5432/da?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RuntimeParams["timezone"] != "UTC" || cfg.Database != "da" {
		t.Errorf("config = %+v", cfg.RuntimeParams)
	}
	if got := RedactURL("postgres://u:pw-SECRET@db:5432/da?password=q-SECRET"); strings.Contains(got, "SECRET") || !strings.Contains(got, "db:5432/da") {
		t.Errorf("RedactURL = %q", got)
	}
	// Nothing listens on port 1: the connection error names the server, not the password.
	_, err = OpenPostgres(context.Background(), "postgres://u:pw-SECRET@127.0.0.1:1/da?connect_timeout=5")
	if err == nil || strings.Contains(err.Error(), "pw-SECRET") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("OpenPostgres on a closed port: %v", err)
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	before := queryStrings(t, s.DB, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
	s.Close()

	s, err = OpenPostgres(ctx, url)
	if err == nil {
		s.Close()
		t.Fatal("OpenPostgres succeeded on a schema-99 database")
	}
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("err = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{"schema version 99", fmt.Sprintf("at most %d", LatestVersion), "upgrade da"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	raw := rawPg(t, url)
	if after := queryStrings(t, raw, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`); !slices.Equal(before, after) {
		t.Errorf("tables changed: %v -> %v", before, after)
	}
	if got := queryStrings(t, raw, "SELECT max(version)::TEXT FROM schema_version"); !slices.Equal(got, []string{"99"}) {
		t.Errorf("schema_version = %v", got)
	}
}

// TestPostgresConcurrentOpenMigratesOnce starts several opens of one empty database at
// once: every one succeeds and each step is recorded exactly once, also after another open.
func TestPostgresConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*Store, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(ctx, url) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	// Opening a migrated database again is a no-op.
	again, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	got := queryStrings(t, stores[0].DB, "SELECT version::TEXT || ':' || count(*)::TEXT FROM schema_version GROUP BY version ORDER BY version")
	var want []string
	for _, m := range migrations {
		want = append(want, fmt.Sprintf("%d:1", m.version))
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema_version rows = %v, want %v", got, want)
	}
}

// TestPostgresFailedMigrationRollsBack: a step that fails half-way leaves nothing of itself
// (DDL is transactional on PostgreSQL) and the database at the step before; the real
// migrations then open it.
func TestPostgresFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	bad := migration{version: LatestVersion + 1, name: fmt.Sprintf("%04d_bad.sql", LatestVersion+1),
		stmts: []string{"CREATE TABLE half_done (id INTEGER)", "INSERT INTO users (id, email) VALUES ('x', 'x@example.com')", "SELECT no_such_column FROM users"}}
	steps := append(slices.Clone(migrations), bad)
	_, err := openPostgresWith(ctx, url, steps)
	if err == nil || !strings.Contains(err.Error(), "statement 3") || !strings.Contains(err.Error(), bad.name) {
		t.Fatalf("open with a failing step: %v", err)
	}
	raw := rawPg(t, url)
	if got := queryStrings(t, raw, "SELECT max(version)::TEXT FROM schema_version"); !slices.Equal(got, []string{fmt.Sprint(LatestVersion)}) {
		t.Errorf("schema version = %v, want %d", got, LatestVersion)
	}
	if got := queryStrings(t, raw, "SELECT table_name FROM information_schema.tables WHERE table_name = 'half_done'"); len(got) != 0 {
		t.Errorf("the failed step's table is there")
	}
	if got := queryStrings(t, raw, "SELECT id FROM users"); len(got) != 0 {
		t.Errorf("the failed step's row is there: %v", got)
	}
	s, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestPgMigrationVariants: migrations/pg/NNNN_name.sql replaces the shared step on
// PostgreSQL only, and a variant without a shared file is refused.
func TestPgMigrationVariants(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	steps, err := loadMigrations(fstest.MapFS{
		"migrations/0001_a.sql":    file("CREATE TABLE a (b BLOB)"),
		"migrations/0002_b.sql":    file("SELECT 2"),
		"migrations/pg/0001_a.sql": file("CREATE TABLE a (b BYTEA); SELECT 1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := steps[0].statements(pgDialect); !slices.Equal(got, []string{"CREATE TABLE a (b BYTEA)", "SELECT 1"}) {
		t.Errorf("pg statements = %q", got)
	}
	if got := steps[0].statements(duckDialect); !slices.Equal(got, []string{"CREATE TABLE a (b BLOB)"}) {
		t.Errorf("duckdb statements = %q", got)
	}
	if got := steps[1].statements(pgDialect); !slices.Equal(got, []string{"SELECT 2"}) {
		t.Errorf("shared step on pg = %q", got)
	}
	_, err = loadMigrations(fstest.MapFS{
		"migrations/0001_a.sql":    file("SELECT 1"),
		"migrations/pg/0002_x.sql": file("SELECT 2"),
	})
	if err == nil || !strings.Contains(err.Error(), "no shared migration") {
		t.Errorf("orphan variant: %v", err)
	}
}

// rawPg opens the database at url without migrating it.
func rawPg(t *testing.T, url string) *sql.DB {
	t.Helper()
	cfg, err := ParsePostgresURL(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestSchemaSameOnBothBackends: after the migrations both backends have the same tables with
// the same columns, in the same order, of corresponding types.
func TestSchemaSameOnBothBackends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pgType := map[string]string{
		"character varying": "VARCHAR", "text": "VARCHAR", "bigint": "BIGINT", "integer": "INTEGER",
		"boolean": "BOOLEAN", "json": "JSON", "bytea": "BLOB", "timestamp without time zone": "TIMESTAMP", "double precision": "DOUBLE",
		"timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
	}
	describe := func(s *Store, norm func(string) string) []string {
		tables, err := stateTables(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tb := range append(tables, "schema_version") {
			cols, err := copyColumns(ctx, s.DB, tb)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				out = append(out, tb+"."+c.name+" "+norm(c.dataType))
			}
		}
		return out
	}
	duck := describe(newTestStore(t), func(s string) string { return s })
	pg := describe(newPgTestStore(t), func(s string) string {
		if v, ok := pgType[s]; ok {
			return v
		}
		return "unmapped " + s
	})
	if !slices.Equal(duck, pg) {
		t.Errorf("schemas differ:\nduckdb   %v\npostgres %v", duck, pg)
	}
	if len(duck) < 100 {
		t.Errorf("only %d columns described", len(duck))
	}
}

// TestTimesStoredAsUTC: a time given in another zone is stored as the same instant in UTC on
// both backends.
func TestTimesStoredAsUTC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		zone := time.FixedZone("UTC+5", 5*3600)
		at := time.Date(2026, 3, 1, 15, 0, 0, 0, zone)
		if err := s.UpsertSyncState(ctx, SyncState{TableID: "t", LastSync: at, Status: "ok"}); err != nil {
			t.Fatal(err)
		}
		var raw string
		if err := s.DB.QueryRowContext(ctx, "SELECT CAST(last_sync AS VARCHAR) FROM sync_state").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if raw != "2026-03-01 10:00:00" {
			t.Errorf("stored %q, want 2026-03-01 10:00:00", raw)
		}
		if _, err := s.DB.ExecContext(ctx, "UPDATE sync_state SET last_sync = ?", &at); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSyncState(ctx, "t")
		if err != nil || !got.LastSync.Equal(at) || got.LastSync.Location() != time.UTC {
			t.Errorf("read back %v, %v; want %v in UTC", got.LastSync, err, at)
		}
	})
}
