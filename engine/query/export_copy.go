package query

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// The export sandbox counts the rows it writes with this sequence (see exportCopy). The gate
// refuses nextval and currval, so a caller's SQL cannot move it.
const (
	exportSchema = "da_export"
	exportSeq    = exportSchema + ".exported_rows"
)

// maxConcurrentExports bounds the engine-written exports in progress; each is a DuckDB
// instance with the sandbox's memory and thread limits. Further exports wait (within their
// timeout) for a slot.
const maxConcurrentExports = 4

// copyBufSize is the chunk size in which an export file is streamed to the caller.
const copyBufSize = 256 << 10

// exportCopy writes a csv or parquet export with the engine itself:
//
//  1. A one-off export sandbox is built for req.Tables. Its allowed paths are exactly the table
//     links plus one fresh output file in its private directory (random name, checked not to
//     exist), external access is off and the configuration locked, as for queries.
//  2. The gated statement is placed, as text, inside our own SELECT; every text that runs is
//     parsed again and must be one statement whose subquery is exactly the caller's statement,
//     so the caller's text cannot leave the parentheses.
//  3. COPY (SELECT <columns> FROM (<statement>) ...) TO '<file>' runs with the engine's full
//     parallelism. For parquet a row counter in the WHERE clause raises a marked error as soon
//     as more than ExportMaxRows rows arrive; for CSV a watcher counts the lines of the
//     growing file instead (a per-row sequence would serialise the writer). Only then is the
//     export written again, in order, with LIMIT ExportMaxRows (a LIMIT makes DuckDB write
//     single-threaded) and reported as ErrExportTruncated when rows were left out.
//  4. The file is streamed to w (csv: after a header row written here, with the column names as
//     they are) and deleted with the sandbox.
func (r *Runner) exportCopy(ctx context.Context, req Request, format string, w io.Writer) (int64, error) {
	ex, err := r.begin(ctx, req)
	if err != nil {
		return 0, err
	}
	select {
	case r.exportSlots <- struct{}{}:
		ex.cleanup = append(ex.cleanup, func() { <-r.exportSlots })
	case <-ex.ctx.Done():
		return 0, ex.fail(ex.ctx.Err())
	}
	_, tables, err := sandboxKey(req.Tables)
	if err != nil {
		return 0, ex.fail(invalid(err.Error()))
	}
	name := "export-" + newQueryID() + "." + format
	sb, err := buildSandbox(r.opt, "", tables, name)
	if err != nil {
		return 0, ex.fail(err)
	}
	ex.sb = sb
	ex.cleanup = append(ex.cleanup, sb.close)
	out := filepath.Join(sb.dir, name)
	ex.conn, err = sb.db.Conn(ex.ctx)
	if err != nil {
		return 0, ex.fail(err)
	}

	user, err := r.gate.statement(ex.ctx, req.SQL)
	if err != nil {
		return 0, ex.fail(err)
	}
	body := statementBody(req.SQL)
	wrap := func(head, tail string) (string, error) {
		text := head + " FROM (\n" + body + "\n) AS " + exportSchema + "_q" + tail
		if err := r.sameSubquery(ex, text, user); err != nil {
			return "", err
		}
		return text, nil
	}

	// The result's columns, without running it.
	desc, err := wrap("SELECT *", " LIMIT 0")
	if err != nil {
		return 0, ex.fail(err)
	}
	rows, err := ex.conn.QueryContext(ex.ctx, desc)
	if err != nil {
		return 0, ex.fail(err)
	}
	cols, err := rows.Columns()
	var cts []*sql.ColumnType
	if err == nil {
		cts, err = rows.ColumnTypes()
	}
	_ = rows.Close()
	if err != nil {
		return 0, ex.fail(err)
	}
	types := make([]*colType, len(cts))
	for i, ct := range cts {
		types[i] = parseType(ct.DatabaseTypeName())
	}
	// SELECT * renames duplicate columns ("id_1"); the header and the parquet names start from
	// the statement's own names.
	if names, err := statementColumns(ex, req.SQL); err == nil && len(names) == len(cols) {
		cols = names
	}
	proj := exportColumns(format, cols, types)
	opts := " (FORMAT csv, HEADER false, USE_TMP_FILE false)"
	if format == FormatParquet {
		opts = " (FORMAT parquet, COMPRESSION zstd, USE_TMP_FILE false)"
	}
	copyTo := func(sel string) (int64, error) {
		res, err := ex.conn.ExecContext(ex.ctx, "COPY ("+sel+") TO "+quoteLiteral(out)+opts)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}

	maxRows := r.opt.ExportMaxRows
	var n int64
	over, sure := false, true // over: more than maxRows rows (sure: known, not only likely)
	if format == FormatCSV {
		// No per-row counter for CSV: a sequence serialises the engine's parallel writer. The
		// lines of the growing file are counted instead (see copyCountingLines).
		plain, werr := wrap("SELECT "+proj, "")
		if werr != nil {
			return 0, ex.fail(werr)
		}
		n, over, sure, err = copyCountingLines(ex, "COPY ("+plain+") TO "+quoteLiteral(out)+opts, out, int64(maxRows))
		if err == nil && over {
			// The interrupted statement's connection is not reused.
			_ = ex.conn.Close()
			ex.conn, err = sb.db.Conn(ex.ctx)
		}
	} else {
		marker := "da-export-row-limit-" + newQueryID()
		counted, werr := wrap("SELECT "+proj, fmt.Sprintf(" WHERE CASE WHEN nextval(%s) > %d THEN error(%s) ELSE true END",
			quoteLiteral(exportSeq), maxRows, quoteLiteral(marker)))
		if werr != nil {
			return 0, ex.fail(werr)
		}
		n, err = copyTo(counted)
		if err != nil && strings.Contains(err.Error(), marker) && ex.ctx.Err() == nil {
			over, err = true, nil
		}
	}
	var truncated error
	if over && err == nil {
		limited, werr := wrap("SELECT "+proj, " LIMIT "+strconv.Itoa(maxRows))
		if werr != nil {
			return 0, ex.fail(werr)
		}
		if rerr := os.Remove(out); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return 0, ex.fail(fmt.Errorf("query: export file: %w", rerr))
		}
		n, err = copyTo(limited)
		if err == nil && n == int64(maxRows) {
			if sure {
				truncated = ErrExportTruncated
			} else if more, merr := moreRows(ex, wrap, maxRows); merr != nil {
				return 0, ex.fail(merr)
			} else if more {
				truncated = ErrExportTruncated
			}
		}
	}
	if err != nil {
		return 0, ex.fail(err)
	}

	f, err := os.Open(out)
	if err != nil {
		return 0, ex.fail(fmt.Errorf("query: export file: %w", err))
	}
	defer f.Close()
	if format == FormatCSV {
		cw := csv.NewWriter(w)
		_ = cw.Write(cols)
		cw.Flush()
		if err := cw.Error(); err != nil {
			ex.done()
			return 0, err
		}
	}
	if _, err := io.CopyBuffer(w, &cancellableReader{ctx: ctx, ex: ex, r: f}, make([]byte, copyBufSize)); err != nil {
		if errors.Is(err, errExportCancelled) {
			return 0, ex.fail(context.Canceled)
		}
		ex.done()
		return 0, err
	}
	ex.done()
	return n, truncated
}

// lineWatchInterval is how often copyCountingLines looks at the growing export file.
const lineWatchInterval = 10 * time.Millisecond

// copyCountingLines runs the CSV COPY statement stmt, which writes out without a row limit,
// while counting the lines of out as it grows. over reports that the result has, or likely
// has, more than maxRows rows; sure tells which. The COPY is interrupted as soon as the file
// holds more than maxRows lines (likely: a line break inside a quoted value counts as a line
// too), or its row count says so at the end (sure). Either way the caller writes the export
// again with a LIMIT, which is exact. The file stays within maxRows lines plus what the
// engine writes between two looks.
func copyCountingLines(ex *execution, stmt, out string, maxRows int64) (n int64, over, sure bool, err error) {
	cctx, stop := context.WithCancel(ex.ctx)
	defer stop()
	var exceeded atomic.Bool
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if countLines(cctx, out, maxRows) {
			exceeded.Store(true)
			stop()
		}
	}()
	res, err := ex.conn.ExecContext(cctx, stmt)
	stop()
	<-watched
	if exceeded.Load() && ex.ctx.Err() == nil {
		return 0, true, false, nil
	}
	if err != nil {
		return 0, false, false, err
	}
	n, err = res.RowsAffected()
	return n, err == nil && n > maxRows, true, err
}

// moreRows reports whether the caller's statement has a row after the first maxRows.
func moreRows(ex *execution, wrap func(head, tail string) (string, error), maxRows int) (bool, error) {
	q, err := wrap("SELECT 1", " LIMIT 1 OFFSET "+strconv.Itoa(maxRows))
	if err != nil {
		return false, err
	}
	rows, err := ex.conn.QueryContext(ex.ctx, q)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	more := rows.Next()
	return more, rows.Err()
}

// countLines follows path as it grows until ctx ends, and reports (at once) whether it came
// to hold more than max line breaks.
func countLines(ctx context.Context, path string, max int64) bool {
	t := time.NewTicker(lineWatchInterval)
	defer t.Stop()
	var f *os.File
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	buf := make([]byte, copyBufSize)
	var lines int64
	for {
		if f == nil {
			f, _ = os.Open(path) // not there until the engine starts writing
		}
		for f != nil {
			k, err := f.Read(buf)
			lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
			if lines > max {
				return true
			}
			if err != nil || k == 0 {
				break // at the current end; look again later
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

var errExportCancelled = errors.New("query: export cancelled")

// cancellableReader stops streaming a finished export when the caller goes away or the query
// is cancelled. The engine timeout does not apply: the engine's work is done, and a slow
// client may take longer than that to download.
type cancellableReader struct {
	ctx context.Context // the caller's
	ex  *execution
	r   io.Reader
}

func (c *cancellableReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil || errors.Is(c.ex.ctx.Err(), context.Canceled) {
		return 0, errExportCancelled
	}
	return c.r.Read(p)
}

// statementColumns prepares the caller's single gated statement (preparing runs nothing) and
// returns its column names.
func statementColumns(ex *execution, text string) ([]string, error) {
	var names []string
	err := ex.conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("query: driver cannot prepare")
		}
		st, err := pc.PrepareContext(ex.ctx, text)
		if err != nil {
			return err
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return errors.New("query: unexpected statement type")
		}
		n, err := ds.ColumnCount()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			name, err := ds.ColumnName(i)
			if err != nil {
				return err
			}
			names = append(names, name)
		}
		return nil
	})
	return names, err
}

// exportColumns renders the select list of the export around the caller's columns, by
// position (#1, #2, ...) so that duplicate or odd names need no quoting.
//
//   - csv: nested values (LIST, ARRAY, STRUCT, MAP) as JSON text; others as they are.
//   - parquet: types kept, names made unique; types without a faithful parquet equivalent
//     (see writerDDL) as text.
func exportColumns(format string, cols []string, types []*colType) string {
	names := uniqueNames(cols)
	parts := make([]string, len(cols))
	for i, t := range types {
		ref := "#" + strconv.Itoa(i+1)
		switch format {
		case FormatCSV:
			switch t.Name {
			case "LIST", "ARRAY", "STRUCT", "MAP":
				ref = "to_json(" + ref + ")"
			}
		case FormatParquet:
			if _, ok := t.writerDDL(); !ok {
				ref = "CAST(" + ref + " AS VARCHAR)"
			}
			ref += " AS " + quoteIdent(names[i])
		}
		parts[i] = ref
	}
	return strings.Join(parts, ", ")
}

// sameSubquery parses text (our SELECT around the caller's statement) and checks that it is
// one statement whose FROM is a subquery identical to the caller's parsed statement user.
func (r *Runner) sameSubquery(ex *execution, text string, user any) error {
	tree, err := r.gate.statement(ex.ctx, text)
	if err != nil {
		var qe *Error
		if errors.As(err, &qe) {
			return invalid("the query cannot be exported: " + strings.TrimPrefix(qe.Msg, "Query error: "))
		}
		return err
	}
	var sub any
	if node, ok := tree.(map[string]any)["node"].(map[string]any); ok {
		if from, ok := node["from_table"].(map[string]any); ok && from["type"] == "SUBQUERY" {
			sub = from["subquery"]
		}
	}
	if sub == nil || !reflect.DeepEqual(withoutLocations(sub), withoutLocations(user)) {
		return invalid("the query cannot be exported: it does not keep its meaning inside an export; remove trailing comments or semicolons and try again")
	}
	return nil
}

// withoutLocations copies a parsed tree without its text offsets ("query_location"), which
// differ when the same statement sits at another place in a text.
func withoutLocations(n any) any {
	switch x := n.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			if k != "query_location" {
				out[k] = withoutLocations(v)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = withoutLocations(v)
		}
		return out
	}
	return n
}

var dollarTagRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

// statementBody returns text up to the end of its last token, without what may follow it:
// whitespace, comments and semicolons. It skips quoted strings and identifiers,
// dollar-quoted strings and comments so that a ';' or "--" inside them does not count. A
// mistake here cannot change a query's meaning: every wrapped text is checked with
// sameSubquery before it runs.
func statementBody(text string) string {
	end, i, n := 0, 0, len(text)
	for i < n {
		c := text[i]
		switch {
		case c == '-' && i+1 < n && text[i+1] == '-':
			if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = n
			}
		case c == '/' && i+1 < n && text[i+1] == '*':
			depth := 1
			for i += 2; i < n && depth > 0; {
				switch {
				case text[i] == '/' && i+1 < n && text[i+1] == '*':
					depth++
					i += 2
				case text[i] == '*' && i+1 < n && text[i+1] == '/':
					depth--
					i += 2
				default:
					i++
				}
			}
		case c == '\'' || c == '"':
			j := i + 1
			for j < n {
				if text[j] == c {
					if j+1 < n && text[j+1] == c {
						j += 2
						continue
					}
					j++
					break
				}
				j++
			}
			i, end = j, j
		case c == '$':
			if tag := dollarTagRE.FindString(text[i:]); tag != "" {
				if k := strings.Index(text[i+len(tag):], tag); k >= 0 {
					i += len(tag) + k + len(tag)
				} else {
					i = n
				}
			} else {
				i++
			}
			end = i
		case c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		default:
			i++
			end = i
		}
	}
	return text[:end]
}
