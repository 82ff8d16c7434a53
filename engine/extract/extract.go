package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	// Registers the "duckdb" database/sql driver.
	_ "github.com/duckdb/duckdb-go/v2"

	"da/engine/diskfull"
)

// Table is one _meta row: a table a source publishes.
type Table struct {
	// Name is the table's identifier (ValidIdent); also the view name and the parquet base name.
	Name string
	// Description is free text shown in the catalog.
	Description string
	// Rows is the row count at extraction time (0 for remote tables).
	Rows int64
	// SizeBytes is the size of the table's parquet files (0 for remote tables).
	SizeBytes int64
	// ExtractedAt is when the data was extracted (stored as naive UTC; zero means unknown).
	ExtractedAt time.Time
	// QueryMode is ModeLocal (default when empty) or ModeRemote.
	QueryMode string
	// EmptySchema ("name TYPE, ...") lets a local table without parquet files be written as
	// a typed view with no rows instead of failing. It is not read back by Read.
	EmptySchema string
}

// RemoteAttach is one _remote_attach row: an external catalog the orchestrator must ATTACH.
type RemoteAttach struct {
	// Alias is the DuckDB catalog alias (ValidIdent), e.g. "kbc".
	Alias string
	// Extension is the DuckDB extension that provides the catalog (ValidIdent), e.g. "keboola".
	Extension string
	// URL is the connection URL handed to ATTACH.
	URL string
	// TokenEnv names the environment variable holding the secret; empty for ambient auth.
	TokenEnv string
}

// Extract is the whole content of one source's extract.duckdb.
type Extract struct {
	// Tables are the _meta rows in order.
	Tables []Table
	// Remote are the _remote_attach rows; empty means the table is not written.
	Remote []RemoteAttach
}

// ErrTableNotFound reports that a table named in Remove is not in the source's _meta.
var ErrTableNotFound = errors.New("extract: table not found")

// reserved names cannot be tables because the contract's own tables live in the same schema.
var reserved = map[string]bool{"_meta": true, "_remote_attach": true}

// sourceLocks serialises read-modify-write cycles per absolute source directory.
var (
	sourceLocksMu sync.Mutex
	sourceLocks   = map[string]*sync.Mutex{}
)

func lockSource(absDir string) func() {
	sourceLocksMu.Lock()
	mu, ok := sourceLocks[absDir]
	if !ok {
		mu = &sync.Mutex{}
		sourceLocks[absDir] = mu
	}
	shared := sharedLock
	sourceLocksMu.Unlock()
	mu.Lock()
	if shared == nil {
		return mu.Unlock
	}
	unlock := shared(absDir)
	return func() {
		unlock()
		mu.Unlock()
	}
}

// sharedLock, when set, is taken inside the process's lock of a source directory, so that
// processes sharing the directory serialise their read-modify-write cycles too.
var sharedLock func(absDir string) func()

// SetSharedLock makes every read-modify-write of a source's contract also hold lock(dir),
// for replicas that share the data directory. nil removes it.
func SetSharedLock(lock func(absDir string) func()) {
	sourceLocksMu.Lock()
	sharedLock = lock
	sourceLocksMu.Unlock()
}

func absDir(sourceDir string) (string, error) {
	if strings.TrimSpace(sourceDir) == "" {
		return "", errors.New("extract: empty source directory")
	}
	abs, err := filepath.Abs(sourceDir)
	if err != nil {
		return "", fmt.Errorf("extract: source directory %q: %w", sourceDir, err)
	}
	return abs, nil
}

// Write replaces sourceDir/extract.duckdb with x: the _meta rows, the optional
// _remote_attach rows and one view per local table over read_parquet of its files
// (absolute paths, union_by_name). The file is built under a temporary name in the same
// directory and renamed into place, so readers see either the old or the new contract.
func Write(sourceDir string, x *Extract) error {
	dir, err := absDir(sourceDir)
	if err != nil {
		return err
	}
	defer lockSource(dir)()
	return writeLocked(dir, x)
}

// Read returns the contract stored in sourceDir/extract.duckdb. A missing file gives an
// error matching fs.ErrNotExist; a corrupt file or one without _meta gives a clear error.
func Read(sourceDir string) (*Extract, error) {
	dir, err := absDir(sourceDir)
	if err != nil {
		return nil, err
	}
	return readFile(filepath.Join(dir, FileName))
}

// Upsert inserts or replaces (by case-insensitive name, keeping the stored spelling) one
// _meta row and rewrites the contract atomically. A source without extract.duckdb yet gets a new one.
//
// Concurrent upserts of one source are written together: the ones that wait while another
// rewrite of the source runs are applied, in the order they arrived, in the one rewrite that
// follows it, so N waiting uploads cost one rewrite instead of N. Each call returns after a
// rewrite that holds its row; if that combined rewrite fails, each row is tried on its own so
// that one bad row fails only its own call.
func Upsert(sourceDir string, t Table) error {
	_, err := Swap(sourceDir, t)
	return err
}

// Swap is Upsert that also returns the row it replaced (nil when the table is new), so that
// a caller can put it back.
func Swap(sourceDir string, t Table) (*Table, error) {
	dir, err := absDir(sourceDir)
	if err != nil {
		return nil, err
	}
	req := &upsertReq{t: t}
	upsertsMu.Lock()
	b := pendingUpserts[dir]
	if b == nil {
		b = &upsertBatch{done: make(chan struct{})}
		pendingUpserts[dir] = b
	}
	b.reqs = append(b.reqs, req)
	upsertsMu.Unlock()

	unlock := lockSource(dir)
	upsertsMu.Lock()
	mine := pendingUpserts[dir] == b
	if mine {
		delete(pendingUpserts, dir)
	}
	upsertsMu.Unlock()
	if mine {
		b.write(dir)
		close(b.done)
	}
	unlock()
	// Not mine: the writer took the batch under the source lock and closed done before it
	// let go of the lock, which this call has held since.
	<-b.done
	return req.prev, req.err
}

// upsertReq is one Upsert call waiting in a batch.
type upsertReq struct {
	t    Table
	prev *Table // the row it replaced, once written
	err  error
}

// upsertBatch is the upserts of one source waiting for the next rewrite.
type upsertBatch struct {
	reqs []*upsertReq
	done chan struct{} // closed when every request's err is set
}

// pendingUpserts maps an absolute source directory to the batch waiting for its lock.
var (
	upsertsMu      sync.Mutex
	pendingUpserts = map[string]*upsertBatch{}
)

// write applies the batch under the source lock: all rows in one rewrite, or, when that
// fails, each row in a rewrite of its own.
func (b *upsertBatch) write(dir string) {
	rows := make([]Table, len(b.reqs))
	for i, r := range b.reqs {
		rows[i] = r.t
	}
	prevs, err := upsertLocked(dir, rows)
	if err == nil || len(b.reqs) == 1 {
		for i, r := range b.reqs {
			r.err = err
			if err == nil {
				r.prev = prevs[i]
			}
		}
		return
	}
	for _, r := range b.reqs {
		var p []*Table
		p, r.err = upsertLocked(dir, []Table{r.t})
		if r.err == nil {
			r.prev = p[0]
		}
	}
}

// upsertLocked reads the contract, inserts or replaces rows in order and writes it back; the
// caller holds the source lock. It returns, for each row, the row it replaced (nil for a new
// table).
func upsertLocked(dir string, rows []Table) ([]*Table, error) {
	x, err := readFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		x, err = &Extract{}, nil
	}
	if err != nil {
		return nil, err
	}
	existed := len(x.Tables) > 0 || len(x.Remote) > 0
	changed := make([]changedRow, 0, len(rows))
	prevs := make([]*Table, len(rows))
	for k, t := range rows {
		replaced := false
		for i := range x.Tables {
			if strings.EqualFold(x.Tables[i].Name, t.Name) {
				old := x.Tables[i]
				prevs[k] = &old
				t.Name = x.Tables[i].Name // the data files carry the stored spelling
				x.Tables[i] = t
				replaced = true
				break
			}
		}
		if !replaced {
			x.Tables = append(x.Tables, t)
		}
		changed = append(changed, changedRow{t: t, existed: replaced})
	}
	if existed {
		err := patchLocked(dir, x, changed)
		if err == nil {
			return prevs, nil
		}
		if diskfull.Is(err) {
			return nil, err
		}
		// Whatever went wrong with the patch, a rewrite from scratch gives the same contract.
	}
	if err := writeLocked(dir, x); err != nil {
		return nil, err
	}
	return prevs, nil
}

// changedRow is one upserted _meta row; existed says whether it replaces a row.
type changedRow struct {
	t       Table
	existed bool
}

// patchLocked writes x, which differs from the stored contract only in the changed rows, as
// a copy of the stored file in which only those rows and their views are rewritten: a view
// is bound when it is created, which reads its parquet footers, so a rewrite of every view
// would cost an upload time in proportion to the whole source. The copy replaces the file
// by rename, as a full write does. The caller holds the source lock.
func patchLocked(dir string, x *Extract, changed []changedRow) (err error) {
	if err := validate(x); err != nil {
		return err
	}
	views := make(map[string]string, len(changed))
	for _, c := range changed {
		if c.t.QueryMode == ModeRemote {
			continue
		}
		files := TableFiles(dir, c.t.Name)
		if len(files) == 0 {
			return fmt.Errorf("extract: table %s: no parquet files (expected data/%s.parquet or data/%s/*.parquet)", c.t.Name, c.t.Name, c.t.Name)
		}
		quoted := make([]string, len(files))
		for i, f := range files {
			quoted[i] = sqlString(f)
		}
		views[c.t.Name] = fmt.Sprintf(`CREATE OR REPLACE VIEW "%s" AS SELECT * FROM read_parquet([%s], union_by_name = true)`,
			c.t.Name, strings.Join(quoted, ", "))
	}
	target := filepath.Join(dir, FileName)
	f, err := os.CreateTemp(dir, "."+FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("extract: create temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
			_ = os.Remove(tmp + ".wal")
		}
	}()
	in, err := os.Open(target)
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("extract: %w", err)
	}
	_, err = io.Copy(f, in)
	_ = in.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract: copy %s: %w", target, err)
	}

	db, err := openMemory()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	exec := func(q string, args ...any) error {
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("extract: write %s: %w", tmp, err)
		}
		return nil
	}
	if err := exec("ATTACH " + sqlString(tmp) + " AS extract_out"); err != nil {
		return err
	}
	if err := exec("USE extract_out"); err != nil {
		return err
	}
	if err := exec("BEGIN TRANSACTION"); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = db.ExecContext(ctx, "ROLLBACK")
		}
	}()
	for _, c := range changed {
		t := c.t
		mode := t.QueryMode
		if mode == "" {
			mode = ModeLocal
		}
		var at any
		if !t.ExtractedAt.IsZero() {
			at = t.ExtractedAt.UTC()
		}
		if c.existed {
			err = exec(`UPDATE _meta SET description = ?, "rows" = ?, size_bytes = ?, extracted_at = ?, query_mode = ?
				WHERE table_name = ?`, t.Description, t.Rows, t.SizeBytes, at, mode, t.Name)
		} else {
			err = exec(`INSERT INTO _meta (table_name, description, "rows", size_bytes, extracted_at, query_mode)
				VALUES (?, ?, ?, ?, ?, ?)`, t.Name, t.Description, t.Rows, t.SizeBytes, at, mode)
		}
		if err != nil {
			return err
		}
		if v, ok := views[t.Name]; ok {
			err = exec(v)
		} else {
			err = exec(`DROP VIEW IF EXISTS "` + t.Name + `"`)
		}
		if err != nil {
			return err
		}
	}
	// The patched file must hold exactly x's rows, in x's order.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM _meta").Scan(&n); err != nil {
		return fmt.Errorf("extract: check %s: %w", tmp, err)
	}
	if n != len(x.Tables) {
		return fmt.Errorf("extract: %s holds %d _meta rows, want %d", tmp, n, len(x.Tables))
	}
	if err := exec("COMMIT"); err != nil {
		return err
	}
	committed = true
	if err := exec("USE memory"); err != nil {
		return err
	}
	if err := exec("CHECKPOINT extract_out"); err != nil {
		return err
	}
	if err := exec("DETACH extract_out"); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	_ = os.Remove(target + ".wal")
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("extract: replace %s: %w", target, err)
	}
	syncDir(dir)
	return nil
}

// Remove drops one table from the source: the contract is rewritten without its _meta row
// and view (atomically), then its parquet files are deleted. Unknown names give
// ErrTableNotFound.
func Remove(sourceDir, table string) error {
	if !ValidIdent(table) {
		return fmt.Errorf("extract: invalid table name %q", table)
	}
	dir, err := absDir(sourceDir)
	if err != nil {
		return err
	}
	defer lockSource(dir)()
	x, err := readFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s (source has no %s)", ErrTableNotFound, table, FileName)
	}
	if err != nil {
		return err
	}
	stored := ""
	kept := x.Tables[:0:0]
	for _, t := range x.Tables {
		if stored == "" && strings.EqualFold(t.Name, table) {
			stored = t.Name
			continue
		}
		kept = append(kept, t)
	}
	if stored == "" {
		return fmt.Errorf("%w: %s", ErrTableNotFound, table)
	}
	x.Tables = kept
	if err := writeLocked(dir, x); err != nil {
		return err
	}
	data := DataDir(dir)
	if err := os.Remove(filepath.Join(data, stored+".parquet")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("extract: remove data of %s: %w", stored, err)
	}
	if err := os.RemoveAll(filepath.Join(data, stored)); err != nil {
		return fmt.Errorf("extract: remove shards of %s: %w", stored, err)
	}
	return nil
}

// PublishParquet moves a finished parquet file into data/<table>.parquet with an atomic
// rename (copying first when tmpParquet is on another file system) and returns the final
// path. Keep tmpParquet inside the source directory to get a plain rename.
func PublishParquet(sourceDir, table, tmpParquet string) (string, error) {
	if !ValidIdent(table) || reserved[strings.ToLower(table)] {
		return "", fmt.Errorf("extract: invalid table name %q", table)
	}
	dir, err := absDir(sourceDir)
	if err != nil {
		return "", err
	}
	if err := checkParquetFile(tmpParquet); err != nil {
		return "", err
	}
	data := DataDir(dir)
	if err := os.MkdirAll(data, 0o750); err != nil {
		return "", fmt.Errorf("extract: create %s: %w", data, err)
	}
	final := filepath.Join(data, table+".parquet")
	if err := syncFile(tmpParquet); err != nil {
		return "", err
	}
	err = os.Rename(tmpParquet, final)
	if errors.Is(err, syscall.EXDEV) {
		err = copyThenRename(tmpParquet, final)
		if err == nil {
			_ = os.Remove(tmpParquet)
		}
	}
	if err != nil {
		return "", fmt.Errorf("extract: publish %s: %w", table, err)
	}
	syncDir(data)
	return final, nil
}

// checkParquetFile verifies that path is a regular file with parquet's magic at both ends.
func checkParquetFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("extract: parquet file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("extract: parquet file: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() < 12 {
		return fmt.Errorf("extract: %s is not a parquet file", path)
	}
	head, tail := make([]byte, 4), make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("extract: read %s: %w", path, err)
	}
	if _, err := f.ReadAt(tail, fi.Size()-4); err != nil {
		return fmt.Errorf("extract: read %s: %w", path, err)
	}
	if string(head) != "PAR1" || string(tail) != "PAR1" {
		return fmt.Errorf("extract: %s is not a parquet file (missing PAR1 magic)", path)
	}
	return nil
}

func copyThenRename(src, final string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := out.Name()
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract: sync %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename durable; failures are ignored (not all file systems support it).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func validate(x *Extract) error {
	if x == nil {
		return errors.New("extract: nil extract")
	}
	seen := map[string]bool{}
	for _, t := range x.Tables {
		if !ValidIdent(t.Name) {
			return fmt.Errorf("extract: invalid table name %q", t.Name)
		}
		low := strings.ToLower(t.Name)
		if reserved[low] {
			return fmt.Errorf("extract: table name %q is reserved by the contract", t.Name)
		}
		if seen[low] {
			return fmt.Errorf("extract: duplicate table name %q", t.Name)
		}
		seen[low] = true
		switch t.QueryMode {
		case "", ModeLocal, ModeRemote:
		default:
			return fmt.Errorf("extract: table %s: query mode %q is neither %q nor %q", t.Name, t.QueryMode, ModeLocal, ModeRemote)
		}
		if t.Rows < 0 || t.SizeBytes < 0 {
			return fmt.Errorf("extract: table %s: negative rows or size", t.Name)
		}
	}
	for _, r := range x.Remote {
		if !ValidIdent(r.Alias) {
			return fmt.Errorf("extract: invalid remote alias %q", r.Alias)
		}
		if !ValidIdent(r.Extension) {
			return fmt.Errorf("extract: invalid remote extension %q", r.Extension)
		}
		if r.TokenEnv != "" && !ValidIdent(r.TokenEnv) {
			return fmt.Errorf("extract: invalid token_env %q (must name an environment variable)", r.TokenEnv)
		}
	}
	return nil
}

// sqlString quotes s as a DuckDB string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// openMemory opens a private, single-connection in-memory DuckDB.
func openMemory() (*sql.DB, error) {
	db, err := sql.Open("duckdb", "?threads=1&autoinstall_known_extensions=false&autoload_known_extensions=false")
	if err != nil {
		return nil, fmt.Errorf("extract: open duckdb: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func writeLocked(dir string, x *Extract) (err error) {
	if err := validate(x); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("extract: create %s: %w", dir, err)
	}
	// Collect the files of every local table first: a table without data is an error, and
	// the views must not be built over files that vanish halfway.
	views := make([]string, 0, len(x.Tables))
	for _, t := range x.Tables {
		if t.QueryMode == ModeRemote {
			continue
		}
		files := TableFiles(dir, t.Name)
		if len(files) == 0 && t.EmptySchema != "" {
			views = append(views, fmt.Sprintf(`CREATE VIEW "%s" AS SELECT UNNEST(r) FROM (SELECT NULL::STRUCT(%s) AS r) LIMIT 0`,
				t.Name, t.EmptySchema))
			continue
		}
		if len(files) == 0 {
			return fmt.Errorf("extract: table %s: no parquet files (expected data/%s.parquet or data/%s/*.parquet)", t.Name, t.Name, t.Name)
		}
		quoted := make([]string, len(files))
		for i, f := range files {
			quoted[i] = sqlString(f)
		}
		views = append(views, fmt.Sprintf(`CREATE VIEW "%s" AS SELECT * FROM read_parquet([%s], union_by_name = true)`,
			t.Name, strings.Join(quoted, ", ")))
	}

	f, err := os.CreateTemp(dir, "."+FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("extract: create temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	_ = f.Close()
	_ = os.Remove(tmp) // DuckDB creates the file itself; an empty file is not a database.
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
			_ = os.Remove(tmp + ".wal")
		}
	}()

	if err := buildFile(tmp, x, views); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	target := filepath.Join(dir, FileName)
	// A stale WAL next to the target would be replayed into the new file; it can only be
	// left by a crashed writer of the old file, which we are replacing anyway.
	_ = os.Remove(target + ".wal")
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("extract: replace %s: %w", target, err)
	}
	syncDir(dir)
	return nil
}

func buildFile(path string, x *Extract, views []string) (err error) {
	db, err := openMemory()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("extract: close: %w", cerr)
		}
	}()
	ctx := context.Background()
	exec := func(q string, args ...any) error {
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("extract: write %s: %w", path, err)
		}
		return nil
	}
	if err := exec("ATTACH " + sqlString(path) + " AS extract_out"); err != nil {
		return err
	}
	if err := exec("USE extract_out"); err != nil {
		return err
	}
	// One transaction for the whole file: one commit instead of one per row and view.
	if err := exec("BEGIN TRANSACTION"); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = db.ExecContext(ctx, "ROLLBACK")
		}
	}()
	if err := exec(MetaDDL); err != nil {
		return err
	}
	for _, t := range x.Tables {
		mode := t.QueryMode
		if mode == "" {
			mode = ModeLocal
		}
		var at any
		if !t.ExtractedAt.IsZero() {
			at = t.ExtractedAt.UTC()
		}
		if err := exec(`INSERT INTO _meta VALUES (?, ?, ?, ?, ?, ?)`,
			t.Name, t.Description, t.Rows, t.SizeBytes, at, mode); err != nil {
			return err
		}
	}
	if len(x.Remote) > 0 {
		if err := exec(RemoteAttachDDL); err != nil {
			return err
		}
		for _, r := range x.Remote {
			if err := exec(`INSERT INTO _remote_attach VALUES (?, ?, ?, ?)`, r.Alias, r.Extension, r.URL, r.TokenEnv); err != nil {
				return err
			}
		}
	}
	for _, v := range views {
		if err := exec(v); err != nil {
			return err
		}
	}
	if err := exec("COMMIT"); err != nil {
		return err
	}
	committed = true
	// Checkpoint explicitly, so the file is whole without a WAL before it is renamed into
	// place (the WAL would not follow it).
	if err := exec("CHECKPOINT extract_out"); err != nil {
		return err
	}
	if err := exec("USE memory"); err != nil {
		return err
	}
	return exec("DETACH extract_out")
}

func readFile(path string) (*Extract, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("extract: read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("extract: %s is not a regular file", path)
	}
	db, err := openMemory()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "ATTACH "+sqlString(path)+" AS extract_in (READ_ONLY)"); err != nil {
		return nil, fmt.Errorf("extract: %s is not a readable DuckDB database (corrupt or truncated?): %w", path, err)
	}
	defer func() { _, _ = db.ExecContext(ctx, "DETACH extract_in") }()

	has := func(table string) (bool, error) {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables()
			WHERE database_name = 'extract_in' AND schema_name = 'main' AND table_name = ?`, table).Scan(&n)
		return n > 0, err
	}
	ok, err := has("_meta")
	if err != nil {
		return nil, fmt.Errorf("extract: read %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("extract: %s has no _meta table; it is not an extract contract", path)
	}
	x := &Extract{}
	rows, err := db.QueryContext(ctx, `SELECT table_name, description, rows, size_bytes, extracted_at, query_mode
		FROM extract_in._meta ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("extract: read _meta of %s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			t          Table
			desc, mode sql.NullString
			n, size    sql.NullInt64
			at         sql.NullTime
		)
		if err := rows.Scan(&t.Name, &desc, &n, &size, &at, &mode); err != nil {
			return nil, fmt.Errorf("extract: read _meta of %s: %w", path, err)
		}
		t.Description, t.Rows, t.SizeBytes, t.QueryMode = desc.String, n.Int64, size.Int64, mode.String
		if t.QueryMode == "" {
			t.QueryMode = ModeLocal
		}
		if at.Valid {
			t.ExtractedAt = at.Time.UTC()
		}
		x.Tables = append(x.Tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("extract: read _meta of %s: %w", path, err)
	}
	rows.Close()

	ok, err = has("_remote_attach")
	if err != nil {
		return nil, fmt.Errorf("extract: read %s: %w", path, err)
	}
	if !ok {
		return x, nil
	}
	rrows, err := db.QueryContext(ctx, `SELECT alias, extension, url, token_env FROM extract_in._remote_attach ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("extract: read _remote_attach of %s: %w", path, err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var a, e, u, tok sql.NullString
		if err := rrows.Scan(&a, &e, &u, &tok); err != nil {
			return nil, fmt.Errorf("extract: read _remote_attach of %s: %w", path, err)
		}
		x.Remote = append(x.Remote, RemoteAttach{Alias: a.String, Extension: e.String, URL: u.String, TokenEnv: tok.String})
	}
	if err := rrows.Err(); err != nil {
		return nil, fmt.Errorf("extract: read _remote_attach of %s: %w", path, err)
	}
	return x, nil
}
