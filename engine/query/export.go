package query

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// the number of rows written.
//
//   - csv and parquet are written by the engine itself (see exportCopy): a one-off export
//     sandbox runs COPY (<the gated SELECT>) TO a private file, which is then streamed to w
//     and deleted. CSV has a header row (the result's column names as they are), NULL is an
//     empty cell, an empty string is "", nested values (LIST, ARRAY, STRUCT, MAP) are JSON
//     text and other values are DuckDB's own text (e.g. "2024-01-02 03:04:05" for a
//     TIMESTAMP). Parquet keeps the types; duplicate column names are made unique with "_2",
//     "_3", ...; ENUM, UNION, JSON, BIT, BIGNUM and TIMETZ columns are written as text.
//   - json: one JSON document, an array of objects (keys in column order, duplicate column
//     names made unique with "_2", "_3", ...), streamed element by element; values as in Run.
//
// Memory stays flat: rows are never collected in Go. When the result has more rows than
// ExportMaxRows, a complete file of ExportMaxRows rows is written and the error is
// ErrExportTruncated. Errors before the first byte is written are *Error values; a failure
// mid-stream leaves w incomplete and returns the error.
func (r *Runner) Export(ctx context.Context, req Request, format string, w io.Writer) (int64, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	switch format {
	case FormatCSV, FormatParquet:
		return r.exportCopy(ctx, req, format, w)
	case FormatJSON:
		return r.exportScan(ctx, req, w)
	}
	return 0, invalid(fmt.Sprintf("unknown export format %q (use csv, json or parquet)", format))
}

// exportScan writes the JSON export from rows scanned on a cached sandbox.
func (r *Runner) exportScan(ctx context.Context, req Request, w io.Writer) (int64, error) {
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
	n, err := r.exportJSON(ex, cols, types, w)
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
