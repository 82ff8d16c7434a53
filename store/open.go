package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// DuckDB 1.5 cannot replay some schema changes from its WAL: an ALTER TABLE ... ADD COLUMN
// on a table with a DEFAULT current_timestamp column (with or without a DEFAULT of its own)
// makes the next open fail with "Failure while replaying WAL file", and every later write
// is lost with it. So migrations never run on the live file. prepareFile migrates a copy
// instead:
//
//  1. open the database (replaying its WAL, which holds only ordinary writes) and
//     CHECKPOINT, so that the file alone is the whole database;
//  2. copy it to a temporary file next to it (or start from nothing on a fresh start);
//  3. migrate the copy, CHECKPOINT it and close it, so that it has no WAL; fsync it;
//  4. rename it over the original (a fresh database is linked into place, which fails
//     instead of replacing a database another process made meanwhile); fsync the directory.
//
// A crash before step 4 leaves the original as it was (plus a temporary file that the next
// Open removes); a crash after it leaves the migrated database, checkpointed. Either opens.

// tempPattern is the os.CreateTemp pattern of the migration copy of base.
func tempPattern(base string) string { return "." + base + ".tmp-*" }

// prepareFile brings the database at path to the last version of steps as described above.
// When the database is already there it returns its open pool, to be used as is.
func prepareFile(ctx context.Context, path string, steps []migration) (*sql.DB, error) {
	migrateMu.Lock()
	defer migrateMu.Unlock()

	known := steps[len(steps)-1].version
	var orig *sql.DB
	if _, err := os.Stat(path); err == nil {
		db, err := openPool(path)
		if err != nil {
			return nil, err
		}
		current, err := schemaVersion(ctx, duckDialect, db)
		if err == nil && current > known {
			err = newerSchemaError(path, current, known)
		}
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		if current == known {
			return db, nil
		}
		orig = db
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store: %w", err)
	}
	closeOrig := func() error {
		if orig == nil {
			return nil
		}
		db := orig
		orig = nil
		return db.Close()
	}
	defer func() { _ = closeOrig() }()

	// From here this process holds the database (or there is none yet): copies left by a
	// migration that crashed are garbage.
	removeTemps(path)

	if orig != nil {
		// Fold the WAL into the file, so that copying the file copies everything.
		if _, err := orig.ExecContext(ctx, "CHECKPOINT"); err != nil {
			return nil, fmt.Errorf("store: checkpoint %s before migrating: %s", path, firstLine(err))
		}
		if hasWAL(path) {
			return nil, fmt.Errorf("store: %s.wal is not empty after a checkpoint; not migrating", path)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), tempPattern(filepath.Base(path)))
	if err != nil {
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
			_ = os.Remove(tmp + ".wal")
		}
	}()
	if orig != nil {
		err = copyInto(f, path)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && orig == nil {
		err = os.Remove(tmp) // DuckDB creates the file itself; an empty file is not a database.
	}
	if err != nil {
		return nil, fmt.Errorf("store: copy %s to migrate it: %w", path, err)
	}

	if err := migrateFile(ctx, tmp, path, steps); err != nil {
		return nil, err
	}
	if err := syncPath(tmp); err != nil {
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	if orig != nil {
		if err := closeOrig(); err != nil {
			return nil, fmt.Errorf("store: close %s before replacing it: %w", path, err)
		}
		if hasWAL(path) {
			return nil, fmt.Errorf("store: %s.wal appeared while migrating; not replacing the database", path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("store: replace %s with its migrated copy: %w", path, err)
		}
	} else {
		err := os.Link(tmp, path)
		switch {
		case errors.Is(err, os.ErrExist):
			// Another process created the database meanwhile; it is used as it is.
		case err != nil:
			// A file system without hard links: renaming is as atomic, only not exclusive.
			if err := os.Rename(tmp, path); err != nil {
				return nil, fmt.Errorf("store: move the new database into %s: %w", path, err)
			}
		}
	}
	ok = true
	_ = os.Remove(tmp) // the second name of the hard link; a no-op after a rename
	if err := syncPath(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	return nil, nil
}

// migrateFile applies steps to the database at tmp (a copy of path) and closes it
// checkpointed, with no WAL left.
func migrateFile(ctx context.Context, tmp, path string, steps []migration) error {
	db, err := openPool(tmp)
	if err != nil {
		return err
	}
	s := &Store{DB: db, path: path, d: duckDialect}
	err = s.migrate(ctx, steps)
	if err == nil {
		if _, cerr := db.ExecContext(ctx, "CHECKPOINT"); cerr != nil {
			err = fmt.Errorf("store: checkpoint the migrated %s: %s", path, firstLine(cerr))
		}
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: close the migrated %s: %w", path, cerr)
	}
	if err == nil && hasWAL(tmp) {
		err = fmt.Errorf("store: the migrated copy of %s still has a WAL", path)
	}
	return err
}

// openPool opens the DuckDB file at path as a connection pool whose connections run in UTC.
func openPool(path string) (*sql.DB, error) {
	// The driver reads its argument as a URL: a '?' would start options (and open another
	// file), a '%' not followed by two hex digits fails to parse.
	if _, err := url.Parse(path); err != nil || strings.Contains(path, "?") {
		return nil, fmt.Errorf("store: DuckDB cannot open %s: the path must not contain '?' or a '%%' "+
			"that is not followed by two hex digits; choose another DATA_DIR", path)
	}
	connector, err := duckdb.NewConnector(path, initConn)
	if err != nil {
		if isLockError(err) {
			return nil, &wrapped{
				msg:      fmt.Sprintf("store: %s is locked by another process; stop the other da or use another DATA_DIR", path),
				sentinel: ErrLocked,
				cause:    err,
			}
		}
		return nil, unopenable(path, err)
	}
	db := sql.OpenDB(connector)
	// DuckDB connections are cheap but not free; keep a few idle so that bursts of requests
	// do not reconnect (and re-run initConn) every time.
	db.SetMaxIdleConns(8)
	return db, nil
}

// openError is a database DuckDB cannot open. Its message is one paragraph: DuckDB's first
// line (never its C++ stack trace) and what to do; the whole cause stays reachable with
// errors.As.
type openError struct {
	msg   string
	cause error
}

func (e *openError) Error() string   { return e.msg }
func (e *openError) Unwrap() []error { return []error{ErrUnopenable, e.cause} }

// lineError prints as msg, one line, while errors.Is and errors.As still reach cause.
type lineError struct {
	msg   string
	cause error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.cause }

func unopenable(path string, err error) error {
	dir := filepath.Dir(path)
	backup := dir + ".backup-" + time.Now().UTC().Format("20060102-150405")
	return &openError{cause: err, msg: fmt.Sprintf(
		"store: cannot open the database %s (%s). da has not changed the file or its WAL (%s.wal). "+
			"Before trying any repair, stop da and copy the whole directory aside, for example: cp -a %s %s",
		path, firstLine(err), path, dir, backup)}
}

// firstLine is the first line of err's message, without DuckDB's "database/sql/driver:"
// prefix; DuckDB appends a stack trace to internal errors after it.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	msg = strings.TrimPrefix(msg, "database/sql/driver: ")
	msg = strings.TrimPrefix(msg, "could not connect to database: ")
	return strings.TrimSpace(msg)
}

// hasWAL reports whether path has a WAL with something in it.
func hasWAL(path string) bool {
	fi, err := os.Stat(path + ".wal")
	return err == nil && fi.Size() > 0
}

// removeTemps deletes migration copies of path left by a crash, with their WALs.
func removeTemps(path string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(filepath.Base(path))))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

// copyInto copies the file at src into dst and fsyncs dst.
func copyInto(dst *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := io.Copy(dst, in); err != nil {
		return err
	}
	return dst.Sync()
}

// syncPath fsyncs a file or a directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
