package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// originalV3DDL is the original system's _SYSTEM_SCHEMA (src/db.py,
// SCHEMA_VERSION = 3), written out here independently of
// migrations/0003_original_schema.sql so that a drift in that file shows up.
var originalV3DDL = []string{
	`CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    applied_at TIMESTAMP DEFAULT current_timestamp
)`,
	`CREATE TABLE IF NOT EXISTS users (
    id VARCHAR PRIMARY KEY,
    email VARCHAR UNIQUE NOT NULL,
    name VARCHAR,
    role VARCHAR DEFAULT 'analyst',
    password_hash VARCHAR,
    setup_token VARCHAR,
    setup_token_created TIMESTAMP,
    reset_token VARCHAR,
    reset_token_created TIMESTAMP,
    created_at TIMESTAMP DEFAULT current_timestamp,
    updated_at TIMESTAMP
)`,
	`CREATE TABLE IF NOT EXISTS sync_state (
    table_id VARCHAR PRIMARY KEY,
    last_sync TIMESTAMP,
    rows BIGINT,
    file_size_bytes BIGINT,
    uncompressed_size_bytes BIGINT,
    columns INTEGER,
    hash VARCHAR,
    status VARCHAR DEFAULT 'ok',
    error TEXT
)`,
	`CREATE TABLE IF NOT EXISTS sync_history (
    id VARCHAR PRIMARY KEY,
    table_id VARCHAR NOT NULL,
    synced_at TIMESTAMP NOT NULL,
    rows BIGINT,
    duration_ms INTEGER,
    status VARCHAR,
    error TEXT
)`,
	`CREATE TABLE IF NOT EXISTS user_sync_settings (
    user_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    enabled BOOLEAN DEFAULT false,
    table_mode VARCHAR DEFAULT 'all',
    tables JSON,
    updated_at TIMESTAMP,
    PRIMARY KEY (user_id, dataset)
)`,
	`CREATE TABLE IF NOT EXISTS knowledge_items (
    id VARCHAR PRIMARY KEY,
    title VARCHAR NOT NULL,
    content TEXT,
    category VARCHAR,
    tags JSON,
    status VARCHAR DEFAULT 'pending',
    contributors JSON,
    source_user VARCHAR,
    audience VARCHAR,
    created_at TIMESTAMP DEFAULT current_timestamp,
    updated_at TIMESTAMP
)`,
	`CREATE TABLE IF NOT EXISTS knowledge_votes (
    item_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    vote INTEGER,
    voted_at TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (item_id, user_id)
)`,
	`CREATE TABLE IF NOT EXISTS audit_log (
    id VARCHAR PRIMARY KEY,
    timestamp TIMESTAMP NOT NULL DEFAULT current_timestamp,
    user_id VARCHAR,
    action VARCHAR NOT NULL,
    resource VARCHAR,
    params JSON,
    result VARCHAR,
    duration_ms INTEGER
)`,
	`CREATE TABLE IF NOT EXISTS telegram_links (
    user_id VARCHAR PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    linked_at TIMESTAMP DEFAULT current_timestamp
)`,
	`CREATE TABLE IF NOT EXISTS pending_codes (
    code VARCHAR PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    created_at TIMESTAMP DEFAULT current_timestamp
)`,
	`CREATE TABLE IF NOT EXISTS script_registry (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    owner VARCHAR,
    schedule VARCHAR,
    source TEXT NOT NULL,
    deployed_at TIMESTAMP DEFAULT current_timestamp,
    last_run TIMESTAMP,
    last_status VARCHAR
)`,
	`CREATE TABLE IF NOT EXISTS table_registry (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    source_type VARCHAR,
    bucket VARCHAR,
    source_table VARCHAR,
    sync_strategy VARCHAR DEFAULT 'full_refresh',
    query_mode VARCHAR DEFAULT 'local',
    sync_schedule VARCHAR,
    profile_after_sync BOOLEAN DEFAULT true,
    primary_key VARCHAR,
    folder VARCHAR,
    description TEXT,
    registered_by VARCHAR,
    is_public BOOLEAN DEFAULT true,
    registered_at TIMESTAMP DEFAULT current_timestamp
)`,
	`CREATE TABLE IF NOT EXISTS table_profiles (
    table_id VARCHAR PRIMARY KEY,
    profile JSON NOT NULL,
    profiled_at TIMESTAMP DEFAULT current_timestamp
)`,
	`CREATE TABLE IF NOT EXISTS dataset_permissions (
    user_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    access VARCHAR DEFAULT 'read',
    PRIMARY KEY (user_id, dataset)
)`,
	`CREATE TABLE IF NOT EXISTS access_requests (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    user_email VARCHAR NOT NULL,
    table_id VARCHAR NOT NULL,
    reason TEXT,
    status VARCHAR DEFAULT 'pending',
    reviewed_by VARCHAR,
    reviewed_at TIMESTAMP,
    created_at TIMESTAMP DEFAULT current_timestamp
)`,
}

// originalV1DDL is a version-1 database as the original's own migration test
// builds it: table_registry without the v2/v3 columns, and only some tables.
var originalV1DDL = []string{
	"CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP DEFAULT current_timestamp)",
	originalV3DDL[1], // users
	`CREATE TABLE table_registry (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    sync_strategy VARCHAR DEFAULT 'full_refresh',
    primary_key VARCHAR,
    folder VARCHAR,
    description TEXT,
    registered_by VARCHAR,
    registered_at TIMESTAMP DEFAULT current_timestamp
)`,
	"CREATE TABLE sync_state (table_id VARCHAR PRIMARY KEY, last_sync TIMESTAMP, rows BIGINT, file_size_bytes BIGINT, uncompressed_size_bytes BIGINT, columns INTEGER, hash VARCHAR, status VARCHAR DEFAULT 'ok', error TEXT)",
	"CREATE TABLE IF NOT EXISTS script_registry (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, owner VARCHAR, schedule VARCHAR, source TEXT NOT NULL, deployed_at TIMESTAMP DEFAULT current_timestamp, last_run TIMESTAMP, last_status VARCHAR)",
}

// originalV2DDL is the full schema minus v3's table_registry.is_public.
var originalV2DDL = func() []string {
	ddl := slices.Clone(originalV3DDL)
	for i, s := range ddl {
		if strings.Contains(s, "table_registry") {
			ddl[i] = strings.Replace(s, "    is_public BOOLEAN DEFAULT true,\n", "", 1)
		}
	}
	return ddl
}()

// schemaFingerprint describes every column (by name, not position),
// constraint and index, so two databases can be compared.
func schemaFingerprint(t *testing.T, db *sql.DB) []string {
	t.Helper()
	cols := queryStrings(t, db, `SELECT concat_ws(' | ', table_name, column_name, data_type,
			is_nullable, COALESCE(column_default, '-'))
		FROM information_schema.columns WHERE table_schema = 'main' ORDER BY 1`)
	cons := queryStrings(t, db, `SELECT concat_ws(' | ', table_name, constraint_type,
			array_to_string(list_sort(constraint_column_names), ','))
		FROM duckdb_constraints() WHERE schema_name = 'main' ORDER BY 1`)
	idx := queryStrings(t, db, `SELECT concat_ws(' | ', table_name, index_name, expressions)
		FROM duckdb_indexes() ORDER BY 1`)
	return slices.Concat(cols, cons, idx)
}

// freshFingerprint is the schema of a database created from nothing.
func freshFingerprint(t *testing.T) []string {
	t.Helper()
	s := newTestStore(t)
	return schemaFingerprint(t, s.DB)
}

func TestFreshSchemaMatchesOriginalV3(t *testing.T) {
	t.Parallel()
	// The original tables of a fresh database must be exactly the original DDL.
	path := filepath.Join(t.TempDir(), "orig.duckdb")
	db := rawDB(t, path)
	defer db.Close()
	execAll(t, db, originalV3DDL...)
	want := schemaFingerprint(t, db)

	var got []string
	for _, line := range freshFingerprint(t) {
		table, _, _ := strings.Cut(line, " | ")
		if slices.Contains(originalTables, table) && !strings.HasPrefix(line, "users | active |") &&
			!strings.HasPrefix(line, "audit_log | client_ip |") {
			got = append(got, line)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("fresh schema differs from the original v3 DDL:\n got %q\nwant %q", got, want)
	}
}

func TestMigrateFromOriginal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		ddl          []string
		version      int
		wantVersions []string
	}{
		{"v1", originalV1DDL, 1, []string{"1", "3", "4", "5", "6", "7", "8", "9", "10", "12"}},
		{"v2", originalV2DDL, 2, []string{"2", "3", "4", "5", "6", "7", "8", "9", "10", "12"}},
		{"v3", originalV3DDL, 3, []string{"3", "4", "5", "6", "7", "8", "9", "10", "12"}},
		{"v3 without schema_version rows", originalV3DDL, 0, []string{"3", "4", "5", "6", "7", "8", "9", "10", "12"}},
	}
	want := freshFingerprint(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "state", "system.duckdb")
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				t.Fatal(err)
			}
			db := rawDB(t, path)
			execAll(t, db, tt.ddl...)
			if tt.version > 0 {
				execAll(t, db, "INSERT INTO schema_version (version) VALUES ("+strconv.Itoa(tt.version)+")")
			}
			execAll(t, db,
				`INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES
					('u1', 'Alice@Example.com', 'Alice', 'admin', '$argon2id$x', TIMESTAMP '2026-01-02 03:04:05', NULL),
					('u2', 'bob@example.com', NULL, NULL, NULL, TIMESTAMP '2026-01-03 00:00:00', NULL)`,
				"INSERT INTO table_registry (id, name) VALUES ('t1', 'orders')")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestVersion {
				t.Fatalf("SchemaVersion = %d, %v", v, err)
			}
			if got := queryStrings(t, s.DB, "SELECT version::VARCHAR FROM schema_version ORDER BY version"); !slices.Equal(got, tt.wantVersions) {
				t.Errorf("schema_version rows = %v, want %v", got, tt.wantVersions)
			}
			if got := schemaFingerprint(t, s.DB); !slices.Equal(got, want) {
				t.Errorf("migrated schema differs from a fresh one:\n got %q\nwant %q", got, want)
			}

			users, err := s.ListUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != 2 {
				t.Fatalf("users = %+v", users)
			}
			alice, err := s.GetUserByEmail(ctx, "alice@example.COM")
			if err != nil {
				t.Fatalf("legacy mixed-case email: %v", err)
			}
			if alice.ID != "u1" || alice.Email != "Alice@Example.com" || alice.Role != "admin" ||
				alice.PasswordHash != "$argon2id$x" || !alice.Active ||
				alice.CreatedAt.Format("2006-01-02 15:04:05") != "2026-01-02 03:04:05" {
				t.Errorf("alice after migration = %+v", alice)
			}
			if err := s.CreateUser(ctx, &User{Email: "ALICE@example.com"}); !errors.Is(err, ErrConflict) {
				t.Errorf("creating a case-variant of a legacy email: err = %v, want ErrConflict", err)
			}

			var queryMode string
			var profile, public bool
			err = s.DB.QueryRow("SELECT query_mode, profile_after_sync, is_public FROM table_registry WHERE id = 't1'").
				Scan(&queryMode, &profile, &public)
			if err != nil || queryMode != "local" || !profile || !public {
				t.Errorf("table_registry defaults after migration = %q %v %v, %v", queryMode, profile, public, err)
			}
		})
	}
}

// TestFailedMigrationLeavesDatabaseAsItWas: migrations run on a copy, so a step that fails
// leaves the database exactly as it was before Open (no file at all on a fresh start), and no
// temporary copy behind; the real migrations then finish the job.
func TestFailedMigrationLeavesDatabaseAsItWas(t *testing.T) {
	t.Parallel()
	good := map[string]string{}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		good[e.Name()] = string(b)
	}
	// The broken step comes after every real one, whatever the latest version is.
	next := fmt.Sprintf("%04d_broken.sql", LatestVersion+1)
	const broken = `CREATE TABLE half_done (x INTEGER);
		ALTER TABLE users ADD COLUMN zzz INTEGER;
		INSERT INTO users (id, email) VALUES ('x', 'x@example.com');
		SELECT * FROM no_such_table;`

	tests := []struct {
		name    string
		start   string            // "" (no database), "v3" (the original's) or "latest"
		files   map[string]string // overrides of good
		wantErr string
	}{
		{"fresh, failing new step", "", map[string]string{next: broken}, "migration " + next + ", statement 4"},
		{"fresh, failing first step", "", map[string]string{
			"0003_original_schema.sql": good["0003_original_schema.sql"] + "\nSELECT * FROM no_such_table;",
		}, "migration 0003_original_schema.sql, statement"},
		{"original v3, failing step 4", "v3", map[string]string{
			"0004_accounts_sessions_history.sql": good["0004_accounts_sessions_history.sql"] + "\n" + broken,
		}, "migration 0004_accounts_sessions_history.sql, statement"},
		{"latest, failing new step", "latest", map[string]string{next: broken}, "migration " + next + ", statement 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			fsys := fstest.MapFS{}
			for name, body := range good {
				fsys["migrations/"+name] = &fstest.MapFile{Data: []byte(body)}
			}
			for name, body := range tt.files {
				fsys["migrations/"+name] = &fstest.MapFile{Data: []byte(body)}
			}
			steps, err := loadMigrations(fsys)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "system.duckdb")
			switch tt.start {
			case "v3":
				db := rawDB(t, path)
				execAll(t, db, originalV3DDL...)
				execAll(t, db, "INSERT INTO schema_version (version) VALUES (3)",
					"INSERT INTO users (id, email) VALUES ('u1', 'a@example.com')")
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			case "latest":
				s, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.CreateUser(ctx, &User{Email: "a@example.com"}); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			var before []string
			if tt.start != "" {
				db := rawDB(t, path)
				before = schemaFingerprint(t, db)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}

			s, err := openWith(ctx, path, steps)
			if err == nil {
				s.Close()
				t.Fatal("openWith succeeded with a broken migration")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			names, _ := filepath.Glob(filepath.Join(dir, "*"))
			hidden, _ := filepath.Glob(filepath.Join(dir, ".*"))
			names = append(names, hidden...)
			wantNames := []string{path}
			if tt.start == "" {
				wantNames = nil
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("files after the failure = %v, want %v", names, wantNames)
			}

			if tt.start != "" {
				db := rawDB(t, path)
				if got := schemaFingerprint(t, db); !slices.Equal(got, before) {
					t.Errorf("schema changed by a failed migration:\n got %q\nwant %q", got, before)
				}
				if got := queryStrings(t, db, "SELECT email FROM users ORDER BY email"); !slices.Equal(got, []string{"a@example.com"}) {
					t.Errorf("users after the failure = %v", got)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}

			// The real migrations then finish the job.
			s, err = Open(path)
			if err != nil {
				t.Fatalf("Open after failure: %v", err)
			}
			defer s.Close()
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestVersion {
				t.Errorf("version after recovery = %d, %v", v, err)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	var versions []int
	for _, m := range migrations {
		versions = append(versions, m.version)
	}
	if !slices.Equal(versions, []int{3, 4, 5, 6, 7, 8, 9, 10, 12}) {
		t.Errorf("embedded migration versions = %v", versions)
	}

	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		wantErr string
	}{
		{"ok", fstest.MapFS{"migrations/0001_a.sql": file("SELECT 1;"), "migrations/0002_b.sql": file("SELECT 2")}, ""},
		{"bad name", fstest.MapFS{"migrations/1_a.sql": file("SELECT 1")}, "not named NNNN_name.sql"},
		{"not sql", fstest.MapFS{"migrations/0001_a.txt": file("SELECT 1")}, "not named NNNN_name.sql"},
		{"duplicate version", fstest.MapFS{"migrations/0001_a.sql": file("SELECT 1"), "migrations/0001_b.sql": file("SELECT 1")}, "not above the previous"},
		{"version zero", fstest.MapFS{"migrations/0000_a.sql": file("SELECT 1")}, "not above the previous"},
		{"only comments", fstest.MapFS{"migrations/0001_a.sql": file("-- nothing;\n")}, "has no statements"},
		{"stray file", fstest.MapFS{"migrations/.keep": file("")}, "not named"},
		{"empty dir", fstest.MapFS{"migrations": &fstest.MapFile{Mode: fs.ModeDir}}, "no migrations found"},
		{"no dir", fstest.MapFS{}, "read migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadMigrations(tt.fsys)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"one without semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"two", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon in string", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"doubled quote", "SELECT 'it''s;'; SELECT 2", []string{"SELECT 'it''s;'", "SELECT 2"}},
		{"quoted identifier", `SELECT 1 AS "x;y"`, []string{`SELECT 1 AS "x;y"`}},
		{"line comments", "-- a; b\nSELECT 1; -- c;\n-- d", []string{"SELECT 1"}},
		{"block comment", "/* a; b */ SELECT 1 /* ; */;", []string{"SELECT 1"}},
		{"dash inside string", "SELECT '--;'", []string{"SELECT '--;'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := splitStatements(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitStatements(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
