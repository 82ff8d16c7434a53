// Package upload is the "file upload" source: it turns an uploaded CSV, TSV, JSON lines or
// parquet file into a parquet table of the uploads source (DATA_DIR/extracts/uploads)
// and records it in that source's extract contract. Permission checks, registration and
// rebuilds are the caller's business.
package upload

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"da/engine/diskfull"
	"da/engine/extract"
)

// DefaultMaxBytes is the size cap used when Options.MaxBytes is zero (config upload.max_bytes).
const DefaultMaxBytes int64 = 500 << 20

// sniffBytes is how much of the head of a file is inspected for type and encoding.
const sniffBytes = 64 << 10

// Formats, as reported in Result.Format.
const (
	FormatCSV     = "csv"
	FormatTSV     = "tsv"
	FormatJSONL   = "jsonl"
	FormatJSON    = "json"
	FormatParquet = "parquet"
)

// acceptedTypes is quoted in the 415 message.
const acceptedTypes = ".csv, .tsv, .json (an array of objects), .jsonl, .ndjson, .parquet"

// Column is one column of the stored table.
type Column struct {
	// Name is the column name as stored.
	Name string `json:"name"`
	// Type is the DuckDB type name (BIGINT, DOUBLE, DATE, TIMESTAMP, VARCHAR, ...).
	Type string `json:"type"`
}

// Result describes the table an upload produced.
type Result struct {
	// TableID is the lower-case name: the parquet base name and the _meta table_name.
	TableID string
	// Rows is the number of rows stored.
	Rows int64
	// SizeBytes is the size of the stored parquet file.
	SizeBytes int64
	// Columns are the stored columns in order.
	Columns []Column
	// Format is the input format: csv, tsv, json, jsonl or parquet.
	Format string
}

// Options tune one Ingest call.
type Options struct {
	// MaxBytes caps the uploaded body; 0 means DefaultMaxBytes, negative means no cap.
	MaxBytes int64
	// Description is stored in _meta.
	Description string
	// Threads limits DuckDB's conversion threads; 0 means min(NumCPU, 4).
	Threads int
	// MemoryLimit limits DuckDB's conversion memory (a DuckDB size such as "1GB"); "" means 1GB.
	MemoryLimit string
	// Compression is the parquet codec (snappy, zstd, ...); "" means DuckDB's default,
	// snappy, which writes fastest: zstd makes files about half as big and conversions about
	// 1.5 times as long.
	Compression string
}

// compression is the COPY option for a codec name; unknown names are left to DuckDB's default.
func compression(codec string) string {
	switch c := strings.ToLower(codec); c {
	case "snappy", "zstd", "gzip", "lz4_raw", "brotli", "uncompressed":
		return ", COMPRESSION " + c
	}
	return ""
}

// InputError is a refusal caused by the request's content; Status is the HTTP status to
// answer (400, 413, 415 or 422) and Detail a message for the user.
type InputError struct {
	// Status is 400, 413, 415 or 422.
	Status int
	// Detail names the problem in words a user understands.
	Detail string
	// Err is the cause when reading the body failed.
	Err error
}

// Error implements error.
func (e *InputError) Error() string { return e.Detail }

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(status int, format string, args ...any) *InputError {
	return &InputError{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// tableLocks serialises publish+upsert per table so two uploads of one name cannot mix.
var (
	tableLocksMu sync.Mutex
	tableLocks   = map[string]*sync.Mutex{}
)

func lockTable(key string) func() {
	tableLocksMu.Lock()
	mu, ok := tableLocks[key]
	if !ok {
		mu = &sync.Mutex{}
		tableLocks[key] = mu
	}
	tableLocksMu.Unlock()
	mu.Lock()
	return mu.Unlock
}

// Spool is one upload on its way to becoming a table. Its body is written once, straight
// into a private staging directory inside the source directory, where it is also converted,
// so that publishing is a rename and an upload needs little more free space than its size.
// The staging directory's name starts with a dot, which no table id can, so it never looks
// like table data. Close removes it.
type Spool struct {
	sourceDir string // absolute
	dir       string // staging directory
	raw       string // the received body
	filename  string // the uploaded file's base name
	format    string
	head      []byte
	size      int64

	out    string // the converted parquet, once Convert succeeded
	result *Result
	digest chan digestResult // the converted parquet's digest, computed in the background
}

type digestResult struct {
	d   extract.Digest
	err error
}

// startDigest hashes the converted file in the background, while it is written out to disk
// and published, so that the catalog need not read it again (Publication.Digest).
func (s *Spool) startDigest(path string) {
	f, err := os.Open(path) // opened now: the file is renamed when it is published
	ch := make(chan digestResult, 1)
	s.digest = ch
	if err != nil {
		ch <- digestResult{err: err}
		return
	}
	go func() {
		defer f.Close()
		d, err := extract.HashReader(f)
		ch <- digestResult{d, err}
	}()
}

// NewSpool creates a staging directory in sourceDir for one upload.
func NewSpool(sourceDir string) (*Spool, error) {
	dir, err := filepath.Abs(sourceDir)
	if err != nil {
		return nil, fmt.Errorf("upload: source directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("upload: create %s: %w", dir, err)
	}
	staging, err := os.MkdirTemp(dir, ".upload-*")
	if err != nil {
		return nil, fmt.Errorf("upload: staging directory: %w", err)
	}
	return &Spool{sourceDir: dir, dir: staging}, nil
}

// Close removes the staging directory and everything left in it.
func (s *Spool) Close() error { return os.RemoveAll(s.dir) }

// Dir is the staging directory (for free-space checks and tests).
func (s *Spool) Dir() string { return s.dir }

// Filename is the uploaded file's base name.
func (s *Spool) Filename() string { return s.filename }

// Size is the number of body bytes received.
func (s *Spool) Size() int64 { return s.size }

// Receive writes r (the uploaded file called filename) into the staging directory, refusing
// an unsupported type or a file name that is not UTF-8 before reading, and a body over max
// bytes (0: DefaultMaxBytes, negative: no cap) as soon as it passes the cap. Content problems
// are *InputError; a failed write (a full disk) wraps the file system's error.
func (s *Spool) Receive(ctx context.Context, r io.Reader, filename string, max int64) error {
	if s.raw != "" {
		return errors.New("upload: the spool already holds a file")
	}
	if !utf8.ValidString(filename) {
		return inputErr(http.StatusBadRequest, "file: the file name is not valid UTF-8; rename the file and upload it again")
	}
	format, err := formatOf(filename)
	if err != nil {
		return err
	}
	if r == nil {
		return inputErr(http.StatusBadRequest, "file: no file was uploaded")
	}
	s.format, s.filename = format, displayName(filename)
	s.raw = filepath.Join(s.dir, "input."+format)
	head, size, err := receive(ctx, r, s.raw, maxBytes(max))
	if err != nil {
		return err
	}
	s.head, s.size = head, size
	return nil
}

// Convert checks the received file and converts it, with one DuckDB statement, into a
// parquet file of table strings.ToLower(name) in the staging directory. Nothing is published.
func (s *Spool) Convert(ctx context.Context, name string, opt Options) (*Result, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if s.raw == "" {
		return nil, inputErr(http.StatusBadRequest, "file: no file was uploaded")
	}
	id := strings.ToLower(name)
	enc, err := inspect(s.format, s.raw, s.head, s.size)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(s.dir, id+".parquet")
	rows, cols, err := convert(ctx, s.format, enc, s.raw, out, s.dir, s.filename, opt)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		_ = os.Remove(out)
		return nil, inputErr(http.StatusUnprocessableEntity, "file has no columns")
	}
	if rows == 0 && s.format != FormatParquet {
		_ = os.Remove(out)
		if s.format == FormatJSON || s.format == FormatJSONL {
			return nil, inputErr(http.StatusUnprocessableEntity, "file holds no records; add at least one")
		}
		return nil, inputErr(http.StatusUnprocessableEntity, "file has a header row but no data rows; add at least one row below the header")
	}
	// The body is not needed any more: free its space before the parquet is published.
	_ = os.Remove(s.raw)
	fi, err := os.Stat(out)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	s.out = out
	s.result = &Result{TableID: id, Rows: rows, SizeBytes: fi.Size(), Columns: cols, Format: s.format}
	s.startDigest(out)
	return s.result, nil
}

// Publication is a table Publish put in place; Rollback restores what was there before.
type Publication struct {
	dir, id, final, backup string
	prev                   *extract.Table
	digest                 chan digestResult
}

// Path is where the table's data now is.
func (p *Publication) Path() string { return p.final }

// Digest waits for the published file's digest, computed while it was published; ok is
// false if it could not be computed (the catalog then reads the file itself).
func (p *Publication) Digest() (d extract.Digest, ok bool) {
	if p.digest == nil {
		return extract.Digest{}, false
	}
	r := <-p.digest
	p.digest <- r // later calls get the same answer
	return r.d, r.err == nil
}

// Publish moves the converted parquet into place as data/<id>.parquet and records it in the
// source's extract contract with description. Until the caller calls Rollback or closes the
// spool, the previous data is kept (as a hard link in the staging directory), so that a
// failure of a later step can put it back. If recording fails, the previous data is put back
// here.
func (s *Spool) Publish(description string) (*Publication, error) {
	if s.result == nil || s.out == "" {
		return nil, errors.New("upload: nothing converted to publish")
	}
	id := s.result.TableID
	defer lockTable(s.sourceDir + "\x00" + id)()
	p := &Publication{dir: s.sourceDir, id: id, final: filepath.Join(extract.DataDir(s.sourceDir), id+".parquet"),
		digest: s.digest}
	if _, err := os.Stat(p.final); err == nil {
		p.backup = filepath.Join(s.dir, "previous.parquet")
		if err := os.Link(p.final, p.backup); err != nil {
			return nil, fmt.Errorf("upload: keep previous data of %s: %w", id, err)
		}
	}
	if _, err := extract.PublishParquet(s.sourceDir, id, s.out); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	s.out = ""
	prev, err := extract.Swap(s.sourceDir, extract.Table{
		Name:        id,
		Description: description,
		Rows:        s.result.Rows,
		SizeBytes:   s.result.SizeBytes,
		ExtractedAt: time.Now().UTC().Truncate(time.Microsecond),
		QueryMode:   extract.ModeLocal,
	})
	if err != nil {
		if rerr := p.restoreData(); rerr != nil {
			return nil, errors.Join(fmt.Errorf("upload: record %s: %w", id, err), rerr)
		}
		return nil, fmt.Errorf("upload: record %s: %w", id, err)
	}
	p.prev = prev
	return p, nil
}

// restoreData puts the previous parquet back, or removes the new one when there was none.
func (p *Publication) restoreData() error {
	if p.backup != "" {
		if err := os.Rename(p.backup, p.final); err != nil {
			return fmt.Errorf("upload: restore previous data of %s: %w", p.id, err)
		}
		p.backup = ""
		return nil
	}
	if err := os.Remove(p.final); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("upload: remove data of %s: %w", p.id, err)
	}
	return nil
}

// Rollback undoes Publish: the previous parquet and contract row come back, or, for a table
// that was new, its data and row are removed.
func (p *Publication) Rollback() error {
	defer lockTable(p.dir + "\x00" + p.id)()
	if p.prev == nil {
		err := extract.Remove(p.dir, p.id)
		if err != nil && !errors.Is(err, extract.ErrTableNotFound) {
			return err
		}
		if p.backup != "" { // data without a contract row was there before: keep it
			return p.restoreData()
		}
		return nil
	}
	if err := p.restoreData(); err != nil {
		return err
	}
	return extract.Upsert(p.dir, *p.prev)
}

// Ingest streams r (the uploaded file called filename) into sourceDir as table
// strings.ToLower(name), replacing an earlier table of that id atomically. Content
// problems come back as *InputError; on any error the previous data stays as it was and no
// partial files are left behind.
func Ingest(ctx context.Context, sourceDir, name, filename string, r io.Reader, opt Options) (*Result, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, err := formatOf(filename); err != nil {
		return nil, err
	}
	s, err := NewSpool(sourceDir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Receive(ctx, r, filename, opt.MaxBytes); err != nil {
		return nil, err
	}
	res, err := s.Convert(ctx, name, opt)
	if err != nil {
		return nil, err
	}
	if _, err := s.Publish(opt.Description); err != nil {
		return nil, err
	}
	return res, nil
}

func displayName(filename string) string {
	return filepath.Base(strings.ReplaceAll(filename, `\`, "/"))
}

// CheckName validates a table name as an upload's name: a *InputError (422) when it is not
// an identifier or is reserved.
func CheckName(name string) error { return checkName(name) }

func checkName(name string) error {
	if name == "" {
		return inputErr(http.StatusUnprocessableEntity, "name: a table name is required")
	}
	if !extract.ValidIdent(name) {
		shown := name
		if len(shown) > 80 {
			shown = shown[:80] + "..."
		}
		return inputErr(http.StatusUnprocessableEntity,
			"name: %q is not a valid table name: use 1 to 64 letters, digits or underscores, starting with a letter or underscore", shown)
	}
	if low := strings.ToLower(name); low == "_meta" || low == "_remote_attach" {
		return inputErr(http.StatusUnprocessableEntity, "name: %q is reserved; choose another table name", name)
	}
	return nil
}

func formatOf(filename string) (string, error) {
	base := filepath.Base(strings.ReplaceAll(filename, `\`, "/"))
	switch strings.ToLower(filepath.Ext(base)) {
	case ".csv":
		return FormatCSV, nil
	case ".tsv":
		return FormatTSV, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".json":
		return FormatJSON, nil
	case ".parquet":
		return FormatParquet, nil
	}
	if ext := filepath.Ext(base); ext != "" {
		return "", inputErr(http.StatusUnsupportedMediaType, "file: unsupported file type %q; accepted types are %s", strings.ToLower(ext), acceptedTypes)
	}
	return "", inputErr(http.StatusUnsupportedMediaType, "file: the file name has no extension; accepted types are %s", acceptedTypes)
}

func maxBytes(n int64) int64 {
	if n == 0 {
		return DefaultMaxBytes
	}
	return n
}

// limitText renders a cap for the 413 message: whole MB when it is one, else bytes.
func limitText(n int64) string {
	const mb = 1 << 20
	if n >= mb && n%mb == 0 {
		return strconv.FormatInt(n/mb, 10) + " MB"
	}
	if n >= mb {
		return strconv.FormatFloat(float64(n)/mb, 'f', 1, 64) + " MB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// receive copies r to path, aborting as soon as more than max bytes arrived. It returns the
// first sniffBytes of the body and its size, and an empty-file error when the body is
// empty or only whitespace.
func receive(ctx context.Context, r io.Reader, path string, max int64) ([]byte, int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, 0, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	// A multipart part hands out a few KB per Read: gather them into large writes.
	w := bufio.NewWriterSize(f, 1<<20)
	var (
		head     = make([]byte, 0, sniffBytes)
		buf      = make([]byte, 256<<10)
		size     int64
		nonSpace bool
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			size += int64(n)
			if max > 0 && size > max {
				return nil, 0, inputErr(http.StatusRequestEntityTooLarge, "File too large (max %s)", limitText(max))
			}
			chunk := buf[:n]
			if len(head) < sniffBytes {
				head = append(head, chunk[:min(n, sniffBytes-len(head))]...)
			}
			if !nonSpace && len(bytes.TrimSpace(chunk)) > 0 {
				nonSpace = true
			}
			if _, err := w.Write(chunk); err != nil {
				return nil, 0, fmt.Errorf("upload: write %s: %w", path, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// A client too slow for its deadline also ends the request's context; the
			// deadline is the cause worth reporting.
			if ctx.Err() != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
				return nil, 0, ctx.Err()
			}
			ie := inputErr(http.StatusBadRequest, "file: the upload was interrupted: %v", rerr)
			ie.Err = rerr
			return nil, 0, ie
		}
	}
	if err := w.Flush(); err != nil {
		return nil, 0, fmt.Errorf("upload: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, 0, fmt.Errorf("upload: write %s: %w", path, err)
	}
	if size == 0 || !nonSpace {
		return nil, 0, inputErr(http.StatusUnprocessableEntity, "file is empty")
	}
	return head, size, nil
}

// inspect checks that the content matches the format and returns the DuckDB encoding
// name for text formats.
func inspect(format, path string, head []byte, size int64) (string, error) {
	if format == FormatParquet {
		tail := make([]byte, 4)
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
		defer f.Close()
		if size >= 12 {
			if _, err := f.ReadAt(tail, size-4); err != nil {
				return "", fmt.Errorf("upload: %w", err)
			}
		}
		if size < 12 || !bytes.HasPrefix(head, []byte("PAR1")) || string(tail) != "PAR1" {
			return "", inputErr(http.StatusUnprocessableEntity, "file is not a parquet file (the PAR1 magic bytes are missing)")
		}
		return "", nil
	}
	if bytes.HasPrefix(head, []byte("PAR1")) {
		return "", inputErr(http.StatusUnprocessableEntity, "file is not text: it looks like a parquet file; upload it with a .parquet name")
	}
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		if format == FormatJSON || format == FormatJSONL {
			return "", inputErr(http.StatusUnprocessableEntity, "file is not text DuckDB can read as JSON lines: it is UTF-16; save it as UTF-8")
		}
		return "utf-16", nil
	}
	if bytes.IndexByte(head, 0) >= 0 || controlRatio(head) > 0.01 {
		return "", inputErr(http.StatusUnprocessableEntity, "file is not text: it contains binary data; upload CSV, TSV or JSON lines as text, or a .parquet file")
	}
	if !utf8.Valid(trimPartialRune(head)) {
		if format == FormatJSON || format == FormatJSONL {
			return "", inputErr(http.StatusUnprocessableEntity, "file is not valid UTF-8; JSON must be UTF-8 encoded")
		}
		return "latin-1", nil
	}
	if format == FormatJSON {
		body := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
		if len(body) > 0 && body[0] != '[' {
			return "", inputErr(http.StatusUnprocessableEntity, `file is not a JSON array: a .json file must hold an array of objects, such as [{"id": 1}, {"id": 2}]; name a file with one object per line .jsonl`)
		}
	}
	return "utf-8", nil
}

// controlRatio is the share of control bytes other than common whitespace.
func controlRatio(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	n := 0
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') || c == 0x7f {
			n++
		}
	}
	return float64(n) / float64(len(b))
}

// trimPartialRune drops an incomplete UTF-8 sequence cut off at the end of a sniffed head.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return b
		}
		if c >= 0xC0 { // start byte: keep only when its sequence is complete
			if need := seqLen(c); need > i {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

func seqLen(c byte) int {
	switch {
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	default:
		return 2
	}
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func openDuck(staging string, opt Options) (*sql.DB, error) {
	threads := opt.Threads
	if threads <= 0 {
		threads = min(runtime.NumCPU(), 4)
	}
	mem := opt.MemoryLimit
	if mem == "" {
		mem = "1GB"
	}
	connector, err := duckdb.NewConnector("", func(execer driver.ExecerContext) error {
		for _, q := range []string{
			"SET threads = " + strconv.Itoa(threads),
			"SET memory_limit = " + sqlString(mem),
			"SET temp_directory = " + sqlString(filepath.Join(staging, "spill")),
			"SET autoinstall_known_extensions = false",
			"SET autoload_known_extensions = false",
			"SET preserve_insertion_order = true",
		} {
			if _, err := execer.ExecContext(context.Background(), q, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload: open duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	return db, nil
}

// rowGroupRows is the row group size of stored uploads. A query that selects a few rows
// reads only the row groups whose min/max statistics match, so groups of a quarter of
// DuckDB's default (122,880) make a lookup by id about 2.5x faster, while a scan of the whole
// table and the conversion itself take the same time.
const rowGroupRows = 32_768

// convert writes the input as parquet at out with one COPY statement and returns the
// row count and the stored columns (read back from the new file's footer).
func convert(ctx context.Context, format, enc, raw, out, staging, filename string, opt Options) (int64, []Column, error) {
	db, err := openDuck(staging, opt)
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	display := displayName(filename)
	run := func(source string) (int64, error) {
		q := "COPY (SELECT * FROM " + source + ") TO " + sqlString(out) + " (FORMAT parquet" + compression(opt.Compression) +
			", ROW_GROUP_SIZE " + strconv.Itoa(rowGroupRows) + ")"
		res, err := db.ExecContext(ctx, q)
		if err != nil {
			_ = os.Remove(out)
			// A full disk is the server's problem: keep it from being read as bad input.
			if diskfull.Is(err) {
				return 0, fmt.Errorf("upload: convert: %w", diskfull.Wrap(err))
			}
			return 0, err
		}
		return res.RowsAffected()
	}
	done := func(n int64) (int64, []Column, error) {
		cols, err := describe(ctx, db, out)
		if err != nil {
			_ = os.Remove(out)
			return 0, nil, err
		}
		return n, cols, nil
	}
	switch format {
	case FormatParquet:
		n, err := run("read_parquet(" + sqlString(raw) + ")")
		if err != nil {
			if diskfull.Is(err) {
				return 0, nil, err
			}
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			return 0, nil, inputErr(http.StatusUnprocessableEntity, "file is not a valid parquet file: %s", cleanMessage(err, raw, display))
		}
		return done(n)
	case FormatJSONL:
		n, err := run("read_json(" + sqlString(raw) + ", format = 'newline_delimited')")
		if diskfull.Is(err) {
			return 0, nil, err
		}
		if err != nil {
			return 0, nil, classify(ctx, err, "could not read JSON lines", raw, display)
		}
		return done(n)
	case FormatJSON:
		n, err := run("read_json(" + sqlString(raw) + ", format = 'array', records = true)")
		if diskfull.Is(err) {
			return 0, nil, err
		}
		if err != nil {
			if ctx.Err() == nil && strings.Contains(err.Error(), "expected records") {
				if emptyArray(raw) {
					return 0, nil, inputErr(http.StatusUnprocessableEntity, "file holds no records; add at least one")
				}
				return 0, nil, inputErr(http.StatusUnprocessableEntity, `file is not an array of objects: every element must be an object such as {"id": 1}`)
			}
			return 0, nil, classify(ctx, err, "could not read the JSON array (it must hold objects)", raw, display)
		}
		return done(n)
	}
	delim := ","
	if format == FormatTSV {
		delim = "\t"
	}
	csvSource := func(encoding string, fullSample bool) string {
		s := "read_csv(" + sqlString(raw) + ", delim = " + sqlString(delim) +
			", header = true, skip = 0, strict_mode = true, null_padding = false, ignore_errors = false, encoding = " + sqlString(encoding)
		if fullSample {
			s += ", sample_size = -1"
		}
		return s + ")"
	}
	full := false
	for attempt := 0; attempt < 3; attempt++ {
		n, err := run(csvSource(enc, full))
		if err == nil {
			return done(n)
		}
		if diskfull.Is(err) {
			return 0, nil, err
		}
		msg := err.Error()
		switch {
		case ctx.Err() != nil:
			return 0, nil, ctx.Err()
		case enc == "utf-8" && strings.Contains(msg, "Invalid unicode"):
			// Not UTF-8 after all (beyond the sniffed head): read it as latin-1.
			enc = "latin-1"
			continue
		case !full && (strings.Contains(msg, "Could not convert") || strings.Contains(msg, "Error when converting")):
			// The sniffer guessed types from a sample; look at every row instead.
			full = true
			continue
		case strings.Contains(msg, "Error when sniffing file"):
			if detail := structuralProblem(raw, delim, enc); detail != "" {
				return 0, nil, inputErr(http.StatusUnprocessableEntity, "could not read %s: %s", strings.ToUpper(format), detail)
			}
		}
		return 0, nil, classify(ctx, err, "could not read "+strings.ToUpper(format), raw, display)
	}
	return 0, nil, inputErr(http.StatusUnprocessableEntity, "could not read %s", strings.ToUpper(format))
}

// emptyArray reports whether the JSON file at path is an empty array, whitespace aside.
func emptyArray(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > sniffBytes {
		return false
	}
	b = bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF")))
	return len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' && len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}

// classify turns a DuckDB error about the input into a 422; other errors stay internal.
func classify(ctx context.Context, err error, what, raw, display string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if diskfull.Is(err) {
		return fmt.Errorf("upload: %s: %w", what, diskfull.Wrap(err))
	}
	msg := err.Error()
	for _, p := range []string{"Invalid Input Error", "Conversion Error", "Invalid Error", "Parser Error"} {
		if strings.HasPrefix(msg, p) {
			return inputErr(http.StatusUnprocessableEntity, "%s: %s", what, cleanMessage(err, raw, display))
		}
	}
	return fmt.Errorf("upload: %s: %w", what, err)
}

// cleanMessage keeps the informative head of a DuckDB error (up to its hints and option
// dump) and replaces the staging path with the uploaded file's name.
func cleanMessage(err error, raw, display string) string {
	var keep []string
	for _, line := range strings.Split(err.Error(), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "Possible") || strings.HasPrefix(t, "LINE ") || strings.HasPrefix(t, "* ") {
			break
		}
		keep = append(keep, t)
	}
	msg := strings.Join(keep, " ")
	for _, p := range []string{"Invalid Input Error: ", "Conversion Error: ", "Invalid Error: ", "Parser Error: ", "IO Error: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	msg = strings.ReplaceAll(msg, raw, display)
	msg = strings.ReplaceAll(msg, filepath.Dir(raw), "")
	if len(msg) > 600 {
		msg = msg[:600] + "..."
	}
	return msg
}

// structuralProblem re-reads a CSV the sniffer could not make sense of and names the first
// row whose field count differs from the header's, or the first quoting error.
func structuralProblem(path, delim, enc string) string {
	if enc == "utf-16" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma = rune(delim[0])
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return ""
	}
	want := len(header)
	cr.FieldsPerRecord = want
	for {
		_, err := cr.Read()
		if err == io.EOF {
			return ""
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				return fmt.Sprintf("line %d has a different number of fields than the header (%d)", pe.StartLine, want)
			}
			return fmt.Sprintf("line %d: %v", pe.StartLine, pe.Err)
		}
		if err != nil {
			return ""
		}
	}
}

// describe lists the stored parquet's columns with DuckDB type names, from its footer.
func describe(ctx context.Context, db *sql.DB, path string) ([]Column, error) {
	rows, err := db.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet("+sqlString(path)+"))")
	if err != nil {
		return nil, fmt.Errorf("upload: describe result: %w", err)
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, fmt.Errorf("upload: describe result: %w", err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// FreeBytes is the space an unprivileged process may still write on the file system that
// holds path.
func FreeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("upload: free space of %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
