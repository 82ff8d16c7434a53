package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LatestVersion is the newest schema version this da writes and understands.
// Versions 1-3 are the original system's; 4 and later are ours.
const LatestVersion = 12

// Migrations live in migrations/NNNN_name.sql, NNNN being the schema version
// the file brings the database to. Versions 1 and 2 have no file: the original
// system went from any of 0, 1 or 2 straight to 3 in one step, and so does
// 0003_original_schema.sql.
//
// schema_version gets one row per applied step (the original inserted one row
// on a fresh database and UPDATEd it on upgrades); the current version is
// MAX(version) either way, so both kinds of history read the same.
//
// Both backends run the same files. Write DDL that DuckDB and PostgreSQL both accept
// (VARCHAR, TEXT, BIGINT, BOOLEAN, JSON, TIMESTAMP, BYTEA, ON CONFLICT, IF NOT EXISTS). Where
// a step cannot be shared, migrations/pg/NNNN_name.sql, named exactly like the shared file,
// replaces it on PostgreSQL; the version numbers stay one sequence. On PostgreSQL every
// step runs in a transaction that first takes an advisory lock, so that processes starting
// together never apply a step twice (postgres.go).
//
//go:embed migrations
var migrationFiles embed.FS

var migrations = mustLoadMigrations(migrationFiles)

// migrateMu serialises migrations inside one process (prepareFile holds it);
// another process cannot open a database this one has open.
var migrateMu sync.Mutex

// migration is one schema step, applied in a single transaction together
// with its schema_version row.
type migration struct {
	version int
	name    string
	stmts   []string
	// pgStmts replace stmts on PostgreSQL when migrations/pg has a file of this name.
	pgStmts []string
}

// statements are the step's statements for the backend of dialect d.
func (m migration) statements(d *dialect) []string {
	if d == pgDialect && m.pgStmts != nil {
		return m.pgStmts
	}
	return m.stmts
}

// pgMigrationsDir holds the PostgreSQL variants of shared migration files.
const pgMigrationsDir = "pg"

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

func mustLoadMigrations(fsys fs.FS) []migration {
	steps, err := loadMigrations(fsys)
	if err != nil {
		panic(err)
	}
	if last := steps[len(steps)-1].version; last != LatestVersion {
		panic(fmt.Sprintf("store: newest migration is %d but LatestVersion is %d", last, LatestVersion))
	}
	return steps
}

// loadMigrations reads migrations/*.sql from fsys in version order.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var steps []migration
	for _, e := range entries { // ReadDir sorts by name, hence by version.
		if e.IsDir() && e.Name() == pgMigrationsDir {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("store: migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v <= 0 || (len(steps) > 0 && v <= steps[len(steps)-1].version) {
			return nil, fmt.Errorf("store: migration %q: version %d is not above the previous one", e.Name(), v)
		}
		body, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %q: %w", e.Name(), err)
		}
		stmts := splitStatements(string(body))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("store: migration %q has no statements", e.Name())
		}
		steps = append(steps, migration{version: v, name: e.Name(), stmts: stmts})
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("store: no migrations found")
	}
	if err := loadPgVariants(fsys, steps); err != nil {
		return nil, err
	}
	return steps, nil
}

// loadPgVariants reads migrations/pg/*.sql into the pgStmts of the shared steps they
// replace; a variant without a shared file of the same name is an error.
func loadPgVariants(fsys fs.FS, steps []migration) error {
	dir := path.Join("migrations", pgMigrationsDir)
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: read migrations: %w", err)
	}
	for _, e := range entries {
		i := slices.IndexFunc(steps, func(m migration) bool { return m.name == e.Name() })
		if e.IsDir() || i < 0 {
			return fmt.Errorf("store: PostgreSQL migration %s/%s has no shared migration of the same name", pgMigrationsDir, e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("store: read migration %q: %w", e.Name(), err)
		}
		stmts := splitStatements(string(body))
		if len(stmts) == 0 {
			return fmt.Errorf("store: migration %s/%s has no statements", pgMigrationsDir, e.Name())
		}
		steps[i].pgStmts = stmts
	}
	return nil
}

// newerSchemaError is returned when the database is ahead of this binary.
func newerSchemaError(path string, have, known int) error {
	return &wrapped{
		msg:      fmt.Sprintf("store: %s has schema version %d but this da understands at most %d; upgrade da", path, have, known),
		sentinel: ErrNewerSchema,
	}
}

// migrate applies every step above the current version, each in its own
// transaction. A database newer than the last step is refused untouched. On
// DuckDB it runs only on the copy that prepareFile migrates, under migrateMu.
func (s *Store) migrate(ctx context.Context, steps []migration) error {
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	known := steps[len(steps)-1].version
	if current > known {
		return newerSchemaError(s.path, current, known)
	}
	for _, m := range steps {
		if m.version <= current {
			continue
		}
		if err := s.applyMigration(ctx, m, known); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migration, known int) error {
	return retryConflicts(ctx, func() error {
		return runTx(ctx, s.DB, func(tx *sql.Tx) error {
			if s.d == pgDialect {
				// Held until this transaction ends: another process migrating the same
				// database waits here, then sees the step applied.
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", MigrateLockKey); err != nil {
					return fmt.Errorf("store: migration %s: take the migration lock: %w", m.name, err)
				}
			}
			// Re-read inside the transaction so a step is never applied twice.
			current, err := schemaVersion(ctx, s.d, tx)
			if err != nil {
				return err
			}
			if current > known {
				return newerSchemaError(s.path, current, known)
			}
			if current >= m.version {
				return nil
			}
			for i, stmt := range m.statements(s.d) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return &lineError{msg: fmt.Sprintf("store: migration %s, statement %d: %s", m.name, i+1, firstLine(err)), cause: err}
				}
			}
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
				m.version, time.Now().UTC()); err != nil {
				return fmt.Errorf("store: migration %s: record version: %w", m.name, err)
			}
			return nil
		})
	})
}

// splitStatements splits SQL text on semicolons that are outside string
// literals, quoted identifiers and comments. Comment-only pieces are dropped.
func splitStatements(text string) []string {
	var (
		stmts   []string
		cur     strings.Builder
		hasCode bool
	)
	flush := func() {
		if hasCode {
			stmts = append(stmts, strings.TrimSpace(cur.String()))
		}
		cur.Reset()
		hasCode = false
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			end := strings.IndexByte(text[i:], '\n')
			if end < 0 {
				end = len(text) - i
			}
			i += end - 1 // drop the comment, keep the newline
			continue
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				i = len(text)
			} else {
				i += end + 3
			}
			cur.WriteByte(' ')
			continue
		case c == '\'' || c == '"':
			end := i + 1
			for end < len(text) {
				if text[end] == c {
					if end+1 < len(text) && text[end+1] == c { // doubled quote
						end += 2
						continue
					}
					break
				}
				end++
			}
			if end >= len(text) {
				end = len(text) - 1
			}
			cur.WriteString(text[i : end+1])
			hasCode = true
			i = end
			continue
		case c == ';':
			flush()
			continue
		}
		cur.WriteByte(c)
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			hasCode = true
		}
	}
	flush()
	return stmts
}
