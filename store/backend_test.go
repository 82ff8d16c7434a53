package store

import (
	"context"
	"os"
	"testing"

	"da/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backends are the two databases the store runs on; forEachBackend runs a test on each.
var backends = []struct {
	name string
	open func(testing.TB) *Store
}{
	{BackendDuckDB, newTestStore},
	{BackendPostgres, newPgTestStore},
}

// forEachBackend runs fn as the subtests /duckdb and /postgres, each with an opener of
// fresh, migrated stores of that backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(testing.TB) *Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

// newPgTestStore opens a fresh store on a new, empty PostgreSQL database.
func newPgTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOpenPostgresMigrates(t *testing.T) {
	s := newPgTestStore(t)
	v, err := s.SchemaVersion(context.Background())
	if err != nil || v != LatestVersion {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion)
	}
	if s.Backend() != BackendPostgres {
		t.Fatalf("Backend = %q", s.Backend())
	}
}

// reopenTestStore opens the database of the closed store s again, on its backend.
func reopenTestStore(t testing.TB, s *Store) *Store {
	t.Helper()
	var (
		s2  *Store
		err error
	)
	if s.d == pgDialect {
		s2, err = OpenPostgres(context.Background(), s.dsn)
	} else {
		s2, err = Open(s.path)
	}
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}
