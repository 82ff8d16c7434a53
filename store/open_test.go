package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// crashHelper runs the test binary as a child that performs one action on path and exits
// without closing anything, as a process killed with -9 right after its last commit does.
func crashHelper(t *testing.T, action, path string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STORE_CRASH_ACTION="+action, "STORE_CRASH_PATH="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper %s: %v\n%s", action, err, out)
	}
}

// TestHelperCrash is not a test: crashHelper runs the test binary with STORE_CRASH_ACTION.
func TestHelperCrash(t *testing.T) {
	action, path := os.Getenv("STORE_CRASH_ACTION"), os.Getenv("STORE_CRASH_PATH")
	if action == "" {
		t.Skip("helper process only")
	}
	fail := func(err error) {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	switch action {
	case "open-and-write": // migrate (fresh or upgrade), write a user, crash
		s, err := Open(path)
		if err != nil {
			fail(err)
		}
		if err := s.CreateUser(context.Background(), &User{Email: "crash@example.com"}); err != nil {
			fail(err)
		}
	case "insert": // an ordinary write left in the WAL of an old-version database
		db, err := sql.Open("duckdb", path)
		if err != nil {
			fail(err)
		}
		if _, err := db.Exec("INSERT INTO users (id, email) VALUES ('u2', 'wal@example.com')"); err != nil {
			fail(err)
		}
	case "unreplayable-wal": // what an in-place ADD COLUMN on such a table leaves behind
		db, err := sql.Open("duckdb", path)
		if err != nil {
			fail(err)
		}
		for _, q := range []string{
			"CREATE TABLE t (id INTEGER, created TIMESTAMP DEFAULT current_timestamp)",
			"INSERT INTO t (id) VALUES (1)", "CHECKPOINT", "ALTER TABLE t ADD COLUMN a BOOLEAN DEFAULT true",
		} {
			if _, err := db.Exec(q); err != nil {
				fail(err)
			}
		}
	default:
		fail(errors.New("unknown action " + action))
	}
	os.Exit(0) // no Close, no checkpoint
}

// TestOpenAfterCrash: a process killed right after migrating (a fresh database, or an
// original v1/v3 one upgraded) and writing leaves a database that opens, with the write.
// DuckDB cannot replay the ALTER TABLEs of the migrations from a WAL, so this fails when a
// migration runs on the live file.
func TestOpenAfterCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ddl     []string
		version int
	}{
		{"fresh", nil, 0},
		{"original v1", originalV1DDL, 1},
		{"original v3", originalV3DDL, 3},
		{"original v3 with a WAL", originalV3DDL, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "state", "system.duckdb")
			if tt.ddl != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
					t.Fatal(err)
				}
				db := rawDB(t, path)
				execAll(t, db, tt.ddl...)
				execAll(t, db, "INSERT INTO schema_version (version) VALUES ("+strconv.Itoa(tt.version)+")",
					"INSERT INTO users (id, email) VALUES ('u1', 'old@example.com')")
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(tt.name, "with a WAL") {
					crashHelper(t, "insert", path)
					if !hasWAL(path) {
						t.Fatal("fixture: no WAL")
					}
				}
			}
			crashHelper(t, "open-and-write", path)
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open after a crash: %v", err)
			}
			defer s.Close()
			if _, err := s.GetUserByEmail(ctx, "crash@example.com"); err != nil {
				t.Errorf("the write before the crash: %v", err)
			}
			if tt.ddl != nil {
				if _, err := s.GetUserByEmail(ctx, "old@example.com"); err != nil {
					t.Errorf("the user from before the upgrade: %v", err)
				}
			}
			if strings.HasSuffix(tt.name, "with a WAL") {
				if _, err := s.GetUserByEmail(ctx, "wal@example.com"); err != nil {
					t.Errorf("the write that was only in the old WAL: %v", err)
				}
			}
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestVersion {
				t.Errorf("SchemaVersion = %d, %v", v, err)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".system.duckdb.tmp-*")); len(left) > 0 {
				t.Errorf("migration copies left: %v", left)
			}
		})
	}
}

// TestOpenRemovesCrashedMigrationCopies: a copy left by a migration that was killed is
// removed by the next Open, which migrates again.
func TestOpenRemovesCrashedMigrationCopies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "system.duckdb")
	left := filepath.Join(dir, ".system.duckdb.tmp-123")
	for _, p := range []string{left, left + ".wal"} {
		if err := os.WriteFile(p, []byte("half a migration"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, p := range []string{left, left + ".wal"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", p, err)
		}
	}
}

// TestOpenUnreplayableWAL: a database whose WAL DuckDB cannot replay is refused with one
// paragraph that names the file and the backup command, and neither it nor its WAL changes.
func TestOpenUnreplayableWAL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "system.duckdb")
	crashHelper(t, "unreplayable-wal", path)
	dbBefore, err1 := os.ReadFile(path)
	walBefore, err2 := os.ReadFile(path + ".wal")
	if err1 != nil || err2 != nil || len(walBefore) == 0 {
		t.Fatalf("fixture: %v %v, WAL %d bytes", err1, err2, len(walBefore))
	}

	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded; this DuckDB replays the WAL, the fixture no longer reproduces the failure")
	}
	if !errors.Is(err, ErrUnopenable) {
		t.Errorf("err = %v, want ErrUnopenable", err)
	}
	msg := err.Error()
	for _, want := range []string{path, "Failure while replaying WAL file", "cp -a " + dir + " " + dir + ".backup-"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "Stack Trace") {
		t.Errorf("message is not one paragraph: %q", msg)
	}
	dbAfter, _ := os.ReadFile(path)
	walAfter, _ := os.ReadFile(path + ".wal")
	if !bytes.Equal(dbBefore, dbAfter) || !bytes.Equal(walBefore, walAfter) {
		t.Error("Open changed the database or its WAL")
	}
}
