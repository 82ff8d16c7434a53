package query

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// Export formats.
const (
	FormatCSV     = "csv"
	FormatJSON    = "json"
	FormatParquet = "parquet"
)

// Export streams the whole result of req.SQL (at most ExportMaxRows rows) to w and returns
// the number of rows written. Memory stays flat: rows are never collected.
//
//   - csv: a header row, then one line per row; NULL is an empty cell, nested values are JSON
//     text, other values as in Run.
//   - json: one JSON document, an array of objects (keys in column order, duplicate column
//     names made unique with "_2", "_3", ...), streamed element by element; values as in Run.
//   - parquet: rows are appended to a private, file-backed DuckDB database outside the
//     sandbox (the sandbox cannot write files), which then writes the parquet file that is
//     copied to w and deleted. Types are kept; ENUM, UNION, JSON, BIT, BIGNUM and TIMETZ
//     columns are written as text.
//
// When the result has more rows than ExportMaxRows, a complete file of ExportMaxRows rows is
// written and the error is ErrExportTruncated. Errors before the first byte is written are
// *Error values; a failure mid-stream leaves w incomplete and returns the error.
func (r *Runner) Export(ctx context.Context, req Request, format string, w io.Writer) (int64, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	switch format {
	case FormatCSV, FormatJSON, FormatParquet:
	default:
		return 0, invalid(fmt.Sprintf("unknown export format %q (use csv, json or parquet)", format))
	}
	ex, err := r.start(ctx, req)
	if err != nil {
		return 0, err
	}
	cols, err := ex.rows.Columns()
	if err != nil {
		return 0, ex.fail(err)
	}
	cts, err := ex.rows.ColumnTypes()
	if err != nil {
		return 0, ex.fail(err)
	}
	types := make([]*colType, len(cts))
	for i, ct := range cts {
		types[i] = parseType(ct.DatabaseTypeName())
	}
	var n int64
	switch format {
	case FormatCSV:
		n, err = r.exportCSV(ex, cols, types, w)
	case FormatJSON:
		n, err = r.exportJSON(ex, cols, types, w)
	case FormatParquet:
		n, err = r.exportParquet(ex, cols, types, w)
	}
	if err != nil && !errors.Is(err, ErrExportTruncated) {
		var qe *Error
		if errors.As(err, &qe) {
			ex.done()
			return n, qe
		}
		if ex.ctx.Err() != nil || isEngineErr(err) {
			return n, ex.fail(err)
		}
		ex.done()
		return n, err
	}
	ex.done()
	return n, err
}

// isEngineErr reports whether err came from DuckDB rather than from writing to w.
func isEngineErr(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de)
}

// scanLoop calls fn for each row (up to the export cap) with the scanned driver values.
func (r *Runner) scanLoop(ex *execution, ncols int, fn func(vals []any) error) (int64, error) {
	vals := make([]any, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for ex.rows.Next() {
		if n == int64(r.opt.ExportMaxRows) {
			return n, ErrExportTruncated
		}
		if err := ex.rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if err := fn(vals); err != nil {
			return n, err
		}
		n++
	}
	if err := ex.rows.Err(); err != nil {
		return n, err
	}
	return n, ex.ctx.Err()
}

func (r *Runner) exportCSV(ex *execution, cols []string, types []*colType, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(cols); err != nil {
		return 0, err
	}
	rec := make([]string, len(cols))
	n, err := r.scanLoop(ex, len(cols), func(vals []any) error {
		for i, v := range vals {
			rec[i] = textOf(jsonValue(v, types[i]))
		}
		return cw.Write(rec)
	})
	cw.Flush()
	if ferr := cw.Error(); ferr != nil && (err == nil || errors.Is(err, ErrExportTruncated)) {
		return n, ferr
	}
	if ferr := bw.Flush(); ferr != nil && (err == nil || errors.Is(err, ErrExportTruncated)) {
		return n, ferr
	}
	return n, err
}

// uniqueNames makes duplicate column names unique ("a", "a_2", ...), for JSON keys and
// parquet columns.
func uniqueNames(cols []string) []string {
	seen := map[string]bool{}
	out := make([]string, len(cols))
	for i, c := range cols {
		name := c
		for k := 2; seen[strings.ToLower(name)]; k++ {
			name = c + "_" + strconv.Itoa(k)
		}
		seen[strings.ToLower(name)] = true
		out[i] = name
	}
	return out
}

func (r *Runner) exportJSON(ex *execution, cols []string, types []*colType, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	keys := make([][]byte, len(cols))
	for i, c := range uniqueNames(cols) {
		k, _ := json.Marshal(c)
		keys[i] = append(k, ':')
	}
	if _, err := bw.WriteString("["); err != nil {
		return 0, err
	}
	first := true
	n, err := r.scanLoop(ex, len(cols), func(vals []any) error {
		if first {
			bw.WriteString("\n{")
			first = false
		} else {
			bw.WriteString(",\n{")
		}
		for i, v := range vals {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.Write(keys[i])
			b, err := json.Marshal(jsonValue(v, types[i]))
			if err != nil {
				return err
			}
			bw.Write(b)
		}
		_, err := bw.WriteString("}")
		return err
	})
	if err != nil && !errors.Is(err, ErrExportTruncated) {
		_ = bw.Flush()
		return n, err
	}
	bw.WriteString("\n]\n")
	if ferr := bw.Flush(); ferr != nil {
		return n, ferr
	}
	return n, err
}

// exportParquet appends the rows to a private file-backed DuckDB (so its memory is bounded
// by its buffer pool, not the row count), writes parquet there and copies it to w.
func (r *Runner) exportParquet(ex *execution, cols []string, types []*colType, w io.Writer) (n int64, err error) {
	dir, err := os.MkdirTemp(r.opt.TempDir, "da-export-")
	if err != nil {
		return 0, fmt.Errorf("query: export dir: %w", err)
	}
	defer os.RemoveAll(dir)

	conn, err := duckdb.NewConnector(filepath.Join(dir, "export.duckdb"), nil)
	if err != nil {
		return 0, fmt.Errorf("query: export writer: %w", err)
	}
	defer conn.Close()
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(1)

	ddl := make([]string, len(cols))
	native := make([]bool, len(cols))
	for i, t := range types {
		d, ok := t.writerDDL()
		if !ok {
			d = "VARCHAR"
		}
		native[i] = ok
		ddl[i] = fmt.Sprintf("c%d %s", i, d)
	}
	setup := []string{
		"SET memory_limit='256MB'",
		"SET threads=1",
		"SET temp_directory=" + quoteLiteral(filepath.Join(dir, "tmp")),
		"SET autoload_known_extensions=false",
		"SET autoinstall_known_extensions=false",
		"CREATE TABLE export (" + strings.Join(ddl, ", ") + ")",
	}
	for _, s := range setup {
		if _, err := db.ExecContext(ex.ctx, s); err != nil {
			return 0, fmt.Errorf("query: export writer setup: %w", err)
		}
	}
	wc, err := db.Conn(ex.ctx)
	if err != nil {
		return 0, fmt.Errorf("query: export writer: %w", err)
	}
	defer wc.Close()
	var app *duckdb.Appender
	err = wc.Raw(func(dc any) error {
		var aerr error
		app, aerr = duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "export")
		return aerr
	})
	if err != nil {
		return 0, fmt.Errorf("query: export appender: %w", err)
	}
	row := make([]driver.Value, len(cols))
	n, err = r.scanLoop(ex, len(cols), func(vals []any) error {
		for i, v := range vals {
			switch {
			case v == nil:
				row[i] = nil
			case native[i]:
				row[i] = appendValue(v, types[i])
			default:
				row[i] = textOf(jsonValue(v, types[i]))
			}
		}
		if aerr := app.AppendRow(row...); aerr != nil {
			return fmt.Errorf("query: export append: %w", aerr)
		}
		return nil
	})
	cerr := app.Close()
	if err != nil && !errors.Is(err, ErrExportTruncated) {
		return n, err
	}
	if cerr != nil {
		return n, fmt.Errorf("query: export append: %w", cerr)
	}
	truncated := err

	names := uniqueNames(cols)
	sel := make([]string, len(cols))
	for i, name := range names {
		sel[i] = fmt.Sprintf("c%d AS %s", i, quoteIdent(name))
	}
	out := filepath.Join(dir, "export.parquet")
	copySQL := "COPY (SELECT " + strings.Join(sel, ", ") + " FROM export) TO " + quoteLiteral(out) +
		" (FORMAT parquet, COMPRESSION zstd)"
	if _, err := wc.ExecContext(ex.ctx, copySQL); err != nil {
		return n, fmt.Errorf("query: export parquet: %w", err)
	}
	f, err := os.Open(out)
	if err != nil {
		return n, fmt.Errorf("query: export parquet: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return n, err
	}
	return n, truncated
}

// appendValue adapts a scanned value to what the appender expects for its column type.
func appendValue(v any, t *colType) any {
	switch t.Name {
	case "UUID":
		if b, ok := v.([]byte); ok && len(b) == 16 {
			var u duckdb.UUID
			copy(u[:], b)
			return u
		}
	case "LIST", "ARRAY":
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				if e != nil {
					out[i] = appendValue(e, t.Child)
				}
			}
			return out
		}
	case "STRUCT":
		if m, ok := v.(map[string]any); ok {
			out := make(map[string]any, len(m))
			for _, f := range t.Fields {
				if e := m[f.Name]; e != nil {
					out[f.Name] = appendValue(e, f.Type)
				} else {
					out[f.Name] = nil
				}
			}
			return out
		}
	}
	return v
}
