package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"da/engine/localdb"
)

// queryCmd is `da query SQL`: the local analytics.duckdb by default, the server with --remote.
func (e *env) queryCmd(args []string) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	remote := fs.Bool("remote", false, "run on the server (POST /api/query) instead of the local copy")
	format := fs.String("format", "table", "output format: table, csv or json")
	fs.StringVar(format, "f", "table", "short for --format")
	limit := fs.Int("limit", 1000, "return at most this many rows")
	decimals := fs.String("decimals", "string", "DECIMAL values in JSON: string (exact, the default) or float (JSON numbers)")
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	sqlText := strings.TrimSpace(pos[0])
	if sqlText == "" {
		fmt.Fprintln(e.stderr, "da query: the SQL is empty")
		return ExitUsage
	}
	switch *format {
	case "table", "csv", "json":
	default:
		fmt.Fprintf(e.stderr, "da query: --format must be table, csv or json, got %q\n", *format)
		return ExitUsage
	}
	if *decimals != "string" && *decimals != "float" {
		fmt.Fprintf(e.stderr, "da query: --decimals must be string or float, got %q\n", *decimals)
		return ExitUsage
	}
	if *limit <= 0 {
		fmt.Fprintf(e.stderr, "da query: --limit must be a positive number, got %d\n", *limit)
		return ExitUsage
	}
	ctx := context.Background()
	var cols, types []string
	var rows [][]any
	var truncated bool
	if *remote {
		_, c, err := e.authedClient()
		if err != nil {
			return e.fail("query", err)
		}
		res, err := c.Query(ctx, sqlText, *limit)
		if err != nil {
			return e.fail("query", err)
		}
		cols, types, rows, truncated = res.Columns, res.ColumnTypes, res.Rows, res.Truncated
	} else {
		s, err := e.loadSession()
		if err != nil {
			return e.fail("query", err)
		}
		ws := e.workspace(s.configDir)
		db, err := localdb.Open(ws.dbPath)
		if errors.Is(err, localdb.ErrNoDatabase) {
			fmt.Fprintf(e.stderr, "da query: Local DuckDB not found at %s. Run: da sync (or use --remote)\n", ws.dbPath)
			return ExitNotFound
		}
		if err != nil {
			return e.fail("query", err)
		}
		defer db.Close()
		res, err := db.Query(ctx, sqlText, *limit)
		if err != nil {
			fmt.Fprintf(e.stderr, "da query: Query error: %v\n", err)
			return ExitError
		}
		cols, types, rows, truncated = res.Columns, res.ColumnTypes, res.Rows, res.Truncated
	}
	if *decimals == "float" {
		decimalsAsNumbers(types, rows)
	}
	if err := writeRows(e.stdout, *format, cols, rows); err != nil {
		return e.fail("query", err)
	}
	if truncated {
		fmt.Fprintf(e.stderr, "(truncated at %d %s; use --limit to see more)\n", len(rows), plural(len(rows), "row", "rows"))
	}
	return ExitOK
}

// writeRows prints a result as an aligned table, RFC 4180 CSV or a JSON list of objects
// whose keys keep the column order.
func writeRows(w io.Writer, format string, cols []string, rows [][]any) error {
	switch format {
	case "json":
		var b bytes.Buffer
		b.WriteByte('[')
		for i, r := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			for j, c := range cols {
				if j > 0 {
					b.WriteByte(',')
				}
				k, _ := json.Marshal(c)
				b.Write(k)
				b.WriteByte(':')
				v, err := json.Marshal(r[j])
				if err != nil {
					v, _ = json.Marshal(fmt.Sprint(r[j]))
				}
				b.Write(v)
			}
			b.WriteByte('}')
		}
		b.WriteString("]\n")
		_, err := w.Write(b.Bytes())
		return err
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(cols); err != nil {
			return err
		}
		rec := make([]string, len(cols))
		for _, r := range rows {
			for j := range cols {
				rec[j] = cellText(r[j])
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	return writeTable(w, cols, rows)
}

// cellText renders one value as text: NULL empty, lists and objects as JSON.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case []any, map[string]any:
		b, err := json.Marshal(x)
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

// writeTable prints an aligned text table; long cells are cut at 60 characters.
func writeTable(w io.Writer, cols []string, rows [][]any) error {
	const maxCell = 60
	widths := make([]int, len(cols))
	cells := make([][]string, len(rows))
	for j, c := range cols {
		widths[j] = utf8.RuneCountInString(c)
	}
	for i, r := range rows {
		cells[i] = make([]string, len(cols))
		for j := range cols {
			s := strings.NewReplacer("\n", "\\n", "\t", " ").Replace(cellText(r[j]))
			if r[j] == nil {
				s = "NULL"
			}
			if utf8.RuneCountInString(s) > maxCell {
				s = string([]rune(s)[:maxCell-1]) + "…"
			}
			cells[i][j] = s
			widths[j] = max(widths[j], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		for j, v := range vals {
			if j > 0 {
				b.WriteString("  ")
			}
			b.WriteString(v)
			if j < len(vals)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(v)))
			}
		}
		b.WriteByte('\n')
	}
	line(cols)
	sep := make([]string, len(cols))
	for j := range cols {
		sep[j] = strings.Repeat("-", widths[j])
	}
	line(sep)
	for _, r := range cells {
		line(r)
	}
	fmt.Fprintf(&b, "(%d %s)\n", len(rows), plural(len(rows), "row", "rows"))
	_, err := io.WriteString(w, b.String())
	return err
}

// decimalsAsNumbers turns the exact DECIMAL strings of a result into JSON numbers (the same
// digits, unquoted) for tools that want numbers.
func decimalsAsNumbers(types []string, rows [][]any) {
	for j, t := range types {
		if !strings.HasPrefix(strings.ToUpper(t), "DECIMAL") {
			continue
		}
		for _, r := range rows {
			if s, ok := r[j].(string); ok {
				if _, err := strconv.ParseFloat(s, 64); err == nil {
					r[j] = json.Number(s)
				}
			}
		}
	}
}
