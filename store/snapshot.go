package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// snapshotSeq makes the alias of every snapshot attachment unique within the process.
var snapshotSeq atomic.Uint64

// StateBackend names where the store keeps its tables: BackendDuckDB or BackendPostgres.
func (s *Store) StateBackend() string { return s.Backend() }

// SnapshotTo writes a consistent copy of the whole system database to a new DuckDB file at
// path while the store keeps serving: the copy is one read transaction (COPY FROM
// DATABASE; on PostgreSQL, a repeatable-read transaction, see snapshotPostgres), so it holds
// every write committed before it began and none after. The file is
// checkpointed and closed, with no WAL, when SnapshotTo returns.
func (s *Store) SnapshotTo(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: snapshot: %s already exists", path)
	}
	if strings.ContainsAny(path, "?") {
		return fmt.Errorf("store: snapshot: the path %s must not contain '?'", path)
	}
	if s.d == pgDialect {
		if err := s.snapshotPostgres(ctx, path); err != nil {
			_ = os.Remove(path)
			_ = os.Remove(path + ".wal")
			return err
		}
		return syncPath(path)
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	defer conn.Close()
	var current string
	if err := conn.QueryRowContext(ctx, "SELECT current_database()").Scan(&current); err != nil {
		return fmt.Errorf("store: snapshot: %s", firstLine(err))
	}
	alias := fmt.Sprintf("da_snapshot_%d", snapshotSeq.Add(1))
	if _, err := conn.ExecContext(ctx, "ATTACH "+quoteLiteral(path)+" AS "+alias); err != nil {
		return fmt.Errorf("store: snapshot: attach %s: %s", path, firstLine(err))
	}
	attached := true
	defer func() {
		if attached {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DETACH "+alias)
		}
	}()
	if _, err := conn.ExecContext(ctx, "COPY FROM DATABASE "+quoteIdent(current)+" TO "+alias); err != nil {
		return fmt.Errorf("store: snapshot: copy the system database: %s", firstLine(err))
	}
	if _, err := conn.ExecContext(ctx, "CHECKPOINT "+alias); err != nil {
		return fmt.Errorf("store: snapshot: checkpoint: %s", firstLine(err))
	}
	if _, err := conn.ExecContext(ctx, "DETACH "+alias); err != nil {
		return fmt.Errorf("store: snapshot: detach: %s", firstLine(err))
	}
	attached = false
	if hasWAL(path) {
		return fmt.Errorf("store: snapshot: %s still has a WAL after its checkpoint", path)
	}
	return syncPath(path)
}

// FileSchemaVersion reads the schema version of the DuckDB system database at path without
// changing it (read-only). It fails with ErrLocked when a running server holds the file.
func FileSchemaVersion(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	connector, err := duckdb.NewConnector(path+"?access_mode=read_only", nil)
	if err != nil {
		if isLockError(err) {
			return 0, &wrapped{
				msg:      fmt.Sprintf("store: %s is in use by a running da (stop it first)", path),
				sentinel: ErrLocked,
				cause:    err,
			}
		}
		return 0, unopenable(path, err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	v, err := schemaVersion(ctx, duckDialect, db)
	if err != nil {
		return 0, err
	}
	return v, nil
}

// CheckUnlocked fails with ErrLocked when a running process holds the DuckDB file at path;
// a missing file is not locked.
func CheckUnlocked(ctx context.Context, path string) error {
	_, err := FileSchemaVersion(ctx, path)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if errors.Is(err, ErrLocked) {
		return err
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
