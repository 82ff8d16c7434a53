// Package upload is the "file upload" source: it turns an uploaded CSV, TSV, JSON lines or
// parquet file into a ZSTD parquet table of the uploads source (DATA_DIR/extracts/uploads)
// and records it in that source's extract contract. Permission checks, registration and
// rebuilds are the caller's business.
package upload

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
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
	FormatParquet = "parquet"
)

// acceptedTypes is quoted in the 415 message.
const acceptedTypes = ".csv, .tsv, .jsonl, .ndjson, .parquet"

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
	// Format is the input format: csv, tsv, jsonl or parquet.
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
}

// InputError is a refusal caused by the request's content; Status is the HTTP status to
// answer (400, 413, 415 or 422) and Detail a message for the user.
type InputError struct {
	// Status is 400, 413, 415 or 422.
	Status int
	// Detail names the problem in words a user understands.
	Detail string
}

// Error implements error.
func (e *InputError) Error() string { return e.Detail }

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

// Ingest streams r (the uploaded file called filename) into sourceDir as table
// strings.ToLower(name), replacing an earlier table of that id atomically. Content
// problems come back as *InputError; on any error the previous data stays as it was and no
// partial files are left behind.
func Ingest(ctx context.Context, sourceDir, name, filename string, r io.Reader, opt Options) (*Result, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	id := strings.ToLower(name)
	format, err := formatOf(filename)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, inputErr(http.StatusBadRequest, "file: no file was uploaded")
	}
	dir, err := filepath.Abs(sourceDir)
	if err != nil {
		return nil, fmt.Errorf("upload: source directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("upload: create %s: %w", dir, err)
	}
	// Staging lives inside the source directory so that publishing is a rename; its name
	// starts with a dot, which no table id can, so it never looks like table data.
	staging, err := os.MkdirTemp(dir, ".upload-*")
	if err != nil {
		return nil, fmt.Errorf("upload: staging directory: %w", err)
	}
	defer os.RemoveAll(staging)

	raw := filepath.Join(staging, "input."+format)
	head, size, err := receive(ctx, r, raw, maxBytes(opt.MaxBytes))
	if err != nil {
		return nil, err
	}
	enc, err := inspect(format, raw, head, size)
	if err != nil {
		return nil, err
	}

	out := filepath.Join(staging, id+".parquet")
	rows, err := convert(ctx, format, enc, raw, out, staging, filename, opt)
	if err != nil {
		return nil, err
	}
	cols, err := describe(ctx, out)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, inputErr(http.StatusUnprocessableEntity, "file has no columns")
	}
	fi, err := os.Stat(out)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if err := publish(dir, id, out, staging, extract.Table{
		Name:        id,
		Description: opt.Description,
		Rows:        rows,
		SizeBytes:   fi.Size(),
		ExtractedAt: time.Now().UTC().Truncate(time.Microsecond),
		QueryMode:   extract.ModeLocal,
	}); err != nil {
		return nil, err
	}
	return &Result{TableID: id, Rows: rows, SizeBytes: fi.Size(), Columns: cols, Format: format}, nil
}

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
			if _, err := f.Write(chunk); err != nil {
				return nil, 0, fmt.Errorf("upload: write %s: %w", path, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			return nil, 0, inputErr(http.StatusBadRequest, "file: the upload was interrupted: %v", rerr)
		}
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
		if format == FormatJSONL {
			return "", inputErr(http.StatusUnprocessableEntity, "file is not text DuckDB can read as JSON lines: it is UTF-16; save it as UTF-8")
		}
		return "utf-16", nil
	}
	if bytes.IndexByte(head, 0) >= 0 || controlRatio(head) > 0.01 {
		return "", inputErr(http.StatusUnprocessableEntity, "file is not text: it contains binary data; upload CSV, TSV or JSON lines as text, or a .parquet file")
	}
	if utf8.Valid(trimPartialRune(head)) {
		return "utf-8", nil
	}
	if format == FormatJSONL {
		return "", inputErr(http.StatusUnprocessableEntity, "file is not valid UTF-8; JSON lines must be UTF-8 encoded")
	}
	return "latin-1", nil
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

// convert writes the input as ZSTD parquet at out and returns the row count.
func convert(ctx context.Context, format, enc, raw, out, staging, filename string, opt Options) (int64, error) {
	db, err := openDuck(staging, opt)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	display := filepath.Base(strings.ReplaceAll(filename, `\`, "/"))
	run := func(source string) (int64, error) {
		q := "COPY (SELECT * FROM " + source + ") TO " + sqlString(out) + " (FORMAT parquet, COMPRESSION zstd)"
		res, err := db.ExecContext(ctx, q)
		if err != nil {
			_ = os.Remove(out)
			// A full disk is the server's problem: keep it from being read as bad input.
			return 0, diskfull.Wrap(err)
		}
		return res.RowsAffected()
	}
	switch format {
	case FormatParquet:
		n, err := run("read_parquet(" + sqlString(raw) + ")")
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if errors.Is(err, diskfull.ErrDiskFull) {
				return 0, fmt.Errorf("upload: convert: %w", err)
			}
			return 0, inputErr(http.StatusUnprocessableEntity, "file is not a valid parquet file: %s", cleanMessage(err, raw, display))
		}
		return n, nil
	case FormatJSONL:
		n, err := run("read_json(" + sqlString(raw) + ", format = 'newline_delimited')")
		if err != nil {
			return 0, classify(ctx, err, "could not read JSON lines", raw, display)
		}
		return n, nil
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
			return n, nil
		}
		msg := err.Error()
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case errors.Is(err, diskfull.ErrDiskFull):
			return 0, fmt.Errorf("upload: convert: %w", err)
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
				return 0, inputErr(http.StatusUnprocessableEntity, "could not read %s: %s", strings.ToUpper(format), detail)
			}
		}
		return 0, classify(ctx, err, "could not read "+strings.ToUpper(format), raw, display)
	}
	return 0, inputErr(http.StatusUnprocessableEntity, "could not read %s", strings.ToUpper(format))
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

// describe lists the stored parquet's columns with DuckDB type names.
func describe(ctx context.Context, path string) ([]Column, error) {
	db, err := sql.Open("duckdb", "?threads=1")
	if err != nil {
		return nil, fmt.Errorf("upload: open duckdb: %w", err)
	}
	defer db.Close()
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

// publish moves the parquet into place and records it; if recording fails the previous
// parquet (kept as a hard link) is put back, so data and contract stay consistent.
func publish(dir, id, out, staging string, t extract.Table) error {
	defer lockTable(dir + "\x00" + id)()
	final := filepath.Join(extract.DataDir(dir), id+".parquet")
	backup := ""
	if _, err := os.Stat(final); err == nil {
		backup = filepath.Join(staging, "previous.parquet")
		if err := os.Link(final, backup); err != nil {
			return fmt.Errorf("upload: keep previous data of %s: %w", id, err)
		}
	}
	if _, err := extract.PublishParquet(dir, id, out); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := extract.Upsert(dir, t); err != nil {
		if backup != "" {
			_ = os.Rename(backup, final)
		} else {
			_ = os.Remove(final)
		}
		return fmt.Errorf("upload: record %s: %w", id, err)
	}
	return nil
}
