package store

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgconn"
)

// newTestStore opens a fresh store under its own temp DATA_DIR.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state", "system.duckdb"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawDB opens path with the plain driver, for building fixtures and for
// looking at a database without migrating it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatalf("sql.Open(%s): %v", path, err)
	}
	return db
}

func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("exec %q: %v", q, err)
		}
	}
}

func queryStrings(t *testing.T, q interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string, args ...any) []string {
	t.Helper()
	rows, err := q.Query(query, args...)
	if err != nil {
		t.Fatalf("query %q: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func tableNames(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return queryStrings(t, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'main' ORDER BY table_name`)
}

var originalTables = []string{
	"access_requests", "audit_log", "dataset_permissions", "knowledge_items",
	"knowledge_votes", "pending_codes", "schema_version", "script_registry",
	"sync_history", "sync_state", "table_profiles", "table_registry",
	"telegram_links", "user_sync_settings", "users",
}

var v4Tables = []string{"personal_access_tokens", "query_history", "saved_queries", "sessions"}

// v7Tables are the tables migration 7 adds.
var v7Tables = []string{"sync_jobs", "write_probe"}

// v8Tables are the tables migration 8 adds.
var v8Tables = []string{"user_valid_after"}

// v9Tables are the tables migration 9 adds.
var v9Tables = []string{"replicas", "sync_job_owners"}

// v10Tables are the tables migration 10 adds.
var v10Tables = []string{"table_sync_options"}

// v12Tables are the tables migration 12 adds.
var v12Tables = []string{"knowledge_collected", "knowledge_consent", "knowledge_item_state", "knowledge_provenance", "knowledge_runs"}

func TestOpenFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)

	v, err := s.SchemaVersion(ctx)
	if err != nil || v != LatestVersion {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion)
	}
	want := slices.Sorted(slices.Values(append(append(append(append(append(append(slices.Clone(originalTables), v4Tables...), v7Tables...), v8Tables...), v9Tables...), v10Tables...), v12Tables...)))
	if got := tableNames(t, s.DB); !slices.Equal(got, want) {
		t.Errorf("tables =\n %v\nwant\n %v", got, want)
	}
	if got := queryStrings(t, s.DB, "SELECT version::VARCHAR FROM schema_version ORDER BY version"); !slices.Equal(got, []string{"3", "4", "5", "6", "7", "8", "9", "10", "12"}) {
		t.Errorf("schema_version rows = %v, want [3 4 5 6 7 8 9 10 12]", got)
	}
	if got := queryStrings(t, s.DB, "SELECT index_name FROM duckdb_indexes() ORDER BY 1"); !slices.Equal(got, []string{"idx_sync_jobs_created", "knowledge_provenance_item", "sessions_expiry_idx"}) {
		t.Errorf("indexes = %v", got)
	}

	// Columns the brief pins down, with their types and defaults.
	cols := map[string]string{}
	rows, err := s.DB.Query(`SELECT table_name || '.' || column_name,
		data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '-')
		FROM information_schema.columns WHERE table_schema = 'main'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		cols[k] = v
	}
	rows.Close()
	for k, want := range map[string]string{
		"users.active":                      "BOOLEAN YES CAST('t' AS BOOLEAN)",
		"users.email":                       "VARCHAR NO -",
		"users.role":                        "VARCHAR YES 'analyst'",
		"sessions.token":                    "VARCHAR NO -",
		"sessions.data":                     "BLOB NO -",
		"sessions.expiry":                   "TIMESTAMP WITH TIME ZONE NO -",
		"personal_access_tokens.scope":      "VARCHAR NO 'full'",
		"personal_access_tokens.token_hash": "VARCHAR NO -",
		"personal_access_tokens.revoked_at": "TIMESTAMP YES -",
		"query_history.elapsed_ms":          "BIGINT YES -",
		"query_history.started_at":          "TIMESTAMP NO -",
		"saved_queries.sql":                 "VARCHAR NO -",
		"table_registry.is_public":          "BOOLEAN YES CAST('t' AS BOOLEAN)",
		"audit_log.timestamp":               "TIMESTAMP NO current_timestamp",
	} {
		if cols[k] != want {
			t.Errorf("column %s = %q, want %q", k, cols[k], want)
		}
	}
}

func TestReopenIsNoop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "system.duckdb")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &User{Email: "a@example.com"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	before := schemaFingerprint(t, s.DB)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err = Open(path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if got := queryStrings(t, s.DB, "SELECT version::VARCHAR FROM schema_version ORDER BY version"); !slices.Equal(got, []string{"3", "4", "5", "6", "7", "8", "9", "10", "12"}) {
			t.Errorf("schema_version rows after reopen = %v", got)
		}
		if after := schemaFingerprint(t, s.DB); !slices.Equal(before, after) {
			t.Errorf("schema changed on reopen")
		}
		if _, err := s.GetUserByID(ctx, u.ID); err != nil {
			t.Errorf("user lost on reopen: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "system.duckdb")
	db := rawDB(t, path)
	execAll(t, db, originalV3DDL...)
	execAll(t, db, "INSERT INTO schema_version (version) VALUES (99)",
		"INSERT INTO users (id, email) VALUES ('u1', 'a@example.com')")
	before := schemaFingerprint(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a schema-99 database")
	}
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("err = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{"store: ", path, "schema version 99", fmt.Sprintf("at most %d", LatestVersion), "upgrade da"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	db = rawDB(t, path)
	defer db.Close()
	if got := queryStrings(t, db, "SELECT version::VARCHAR FROM schema_version"); !slices.Equal(got, []string{"99"}) {
		t.Errorf("schema_version = %v, want [99]", got)
	}
	if after := schemaFingerprint(t, db); !slices.Equal(before, after) {
		t.Errorf("schema was changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "system.duckdb")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "STORE_HOLD_LOCK="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded while another process holds the file")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), path) {
		t.Errorf("unclear lock error: %v", err)
	}
}

// TestHelperHoldLock is not a test: TestOpenLockedByAnotherProcess runs the
// test binary with STORE_HOLD_LOCK set to hold a database open until stdin closes.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("STORE_HOLD_LOCK")
	if path == "" {
		t.Skip("helper process only")
	}
	db, err := sql.Open("duckdb", path)
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	db.Close()
	os.Exit(0)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"empty path", "", "store: empty database path"},
		{"parent is a file", filepath.Join(notDir, "system.duckdb"), "store: create directory"},
		{"not a duckdb file", notDir, "store: cannot open the database " + notDir},
		{"percent in the path", filepath.Join(dir, "100%_sure", "system.duckdb"), "store: DuckDB cannot open"},
		{"question mark in the path", filepath.Join(dir, "what?", "system.duckdb"), "store: DuckDB cannot open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestPingAndUTCConnections(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		// Hold several pool connections at once so each ran initConn.
		var conns []*sql.Conn
		for range 3 {
			c, err := s.DB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for i, c := range conns {
			var tz string
			if err := c.QueryRowContext(ctx, "SELECT current_setting('TimeZone')").Scan(&tz); err != nil {
				t.Fatal(err)
			}
			if tz != "UTC" {
				t.Errorf("connection %d TimeZone = %q, want UTC", i, tz)
			}
			c.Close()
		}
		// A column default (current_timestamp) is naive UTC too.
		if _, err := s.DB.ExecContext(ctx, "INSERT INTO pending_codes (code, chat_id) VALUES ('c', 1)"); err != nil {
			t.Fatal(err)
		}
		var created time.Time
		if err := s.DB.QueryRowContext(ctx, "SELECT created_at FROM pending_codes").Scan(&created); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(created); d < -time.Minute || d > time.Minute {
			t.Errorf("default created_at = %v, now = %v: not UTC", created, time.Now().UTC())
		}
	})
}

func TestRetryConflicts(t *testing.T) {
	t.Parallel()
	conflict := &duckdb.Error{Type: duckdb.ErrorTypeTransaction, Msg: "TransactionContext Error: Conflict on tuple deletion!"}
	other := &duckdb.Error{Type: duckdb.ErrorTypeTransaction, Msg: "TransactionContext Error: cannot start a transaction within a transaction"}
	pgSerialization := &pgconn.PgError{Code: "40001", Message: "could not serialize access due to concurrent update"}
	pgDeadlock := &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	pgDuplicate := &pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}
	tests := []struct {
		name      string
		fails     []error // errors returned by successive attempts, then nil
		wantCalls int
		wantErr   error
	}{
		{"success", nil, 1, nil},
		{"conflict then success", []error{conflict, errors.Join(conflict, errors.New("close"))}, 3, nil},
		{"other error is not retried", []error{other}, 1, other},
		{"plain error is not retried", []error{ErrNotFound}, 1, ErrNotFound},
		{"gives up", slices.Repeat([]error{conflict}, maxWriteAttempts+5), maxWriteAttempts, conflict},
		{"postgres serialization failure", []error{pgSerialization}, 2, nil},
		{"postgres deadlock", []error{fmt.Errorf("wrapped: %w", pgDeadlock)}, 2, nil},
		{"postgres duplicate key is not retried", []error{pgDuplicate}, 1, pgDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			err := retryConflicts(context.Background(), func() error {
				calls++
				if calls <= len(tt.fails) {
					return tt.fails[calls-1]
				}
				return nil
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if !errors.Is(err, tt.wantErr) && err != tt.wantErr {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := retryConflicts(ctx, func() error { return conflict })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled retry: err = %v", err)
	}
}
