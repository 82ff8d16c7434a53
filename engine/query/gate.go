package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
)

// deniedFunctions are functions the gate refuses by name, whatever schema or catalog prefix
// the SQL gives them. The sandbox already makes files, other tables, extensions and settings
// changes unreachable; these are the remaining ways to read engine internals:
//   - settings (they include the allowed paths, temp and secret directories)
//   - string-evaluated SQL, which would hide a name from this check
//   - secrets, logs and other sessions' state
var deniedFunctions = map[string]bool{
	"current_setting":             true,
	"duckdb_settings":             true,
	"query":                       true,
	"query_table":                 true,
	"json_execute_serialized_sql": true,
	"duckdb_secrets":              true,
	"duckdb_secret_types":         true,
	"which_secret":                true,
	"duckdb_temporary_files":      true,
	"duckdb_extensions":           true,
	"duckdb_logs":                 true,
	"duckdb_log_contexts":         true,
	"duckdb_prepared_statements":  true,
	"duckdb_variables":            true,
	"getvariable":                 true,
	// the export sandbox's row counter (a sequence); callers have no sequences of their own
	"nextval": true,
	"currval": true,
	// built-in macros over the functions above
	"duckdb_profiling_settings": true, // duckdb_settings()
	"histogram_values":          true, // query_table(<string>), e.g. 'pg_settings'
	"duckdb_logs_parsed":        true, // duckdb_logs()
}

// deniedTableFunctions are denied only in FROM: "histogram" is also a harmless aggregate, but
// its table macro form runs histogram_values (query_table on a string).
var deniedTableFunctions = map[string]bool{
	"histogram": true,
}

// deniedTables are built-in views that expose the denied functions' data.
var deniedTables = map[string]bool{
	"pg_settings":            true,
	"pg_prepared_statements": true,
	"duckdb_settings":        true,
	"duckdb_secrets":         true,
	"duckdb_extensions":      true,
	"duckdb_temporary_files": true,
	"duckdb_logs":            true,
	"duckdb_variables":       true,
}

// gate decides, with DuckDB's own parser and without executing anything, whether text is
// exactly one read-only statement. It runs on its own in-memory instance that holds no data.
type gate struct {
	db *sql.DB

	mu   sync.Mutex
	seen map[string]error // verdicts by exact text; the parse is deterministic
}

// gateCacheSize bounds the verdict cache; it is cleared when full.
const gateCacheSize = 1024

func newGate() (*gate, error) {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("query: gate: %w", err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	for _, s := range []string{
		"SET autoload_known_extensions=false",
		"SET autoinstall_known_extensions=false",
		"SET enable_external_access=false",
		"SET lock_configuration=true",
	} {
		if _, err := db.Exec(s); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("query: gate setup %q: %w", s, err)
		}
	}
	return &gate{db: db, seen: map[string]error{}}, nil
}

type serialized struct {
	Error        bool              `json:"error"`
	ErrorType    string            `json:"error_type"`
	ErrorMessage string            `json:"error_message"`
	Statements   []json.RawMessage `json:"statements"`
}

// check returns nil when text is exactly one SELECT-like statement that uses no denied
// function or table, or an *Error of kind Invalid that says why not.
func (g *gate) check(ctx context.Context, text string) error {
	if strings.TrimSpace(text) == "" {
		return invalid("empty query")
	}
	g.mu.Lock()
	verdict, ok := g.seen[text]
	g.mu.Unlock()
	if ok {
		return verdict
	}
	err := g.parse(ctx, text)
	var qe *Error
	if err == nil || errors.As(err, &qe) {
		g.mu.Lock()
		if len(g.seen) >= gateCacheSize {
			clear(g.seen)
		}
		g.seen[text] = err
		g.mu.Unlock()
	}
	return err
}

// parse asks DuckDB's parser; see check.
func (g *gate) parse(ctx context.Context, text string) error {
	tree, err := g.statement(ctx, text)
	if err != nil {
		return err
	}
	if name, what := findDenied(tree); name != "" {
		return invalid(fmt.Sprintf("%s %s is not available in the query sandbox", what, name))
	}
	return nil
}

// statement parses text and returns the tree of its only statement (a SELECT-like one), or
// an *Error of kind Invalid when text is not exactly one such statement. It does not look for
// denied functions; see parse.
func (g *gate) statement(ctx context.Context, text string) (any, error) {
	var js string
	err := g.db.QueryRowContext(ctx, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", text).Scan(&js)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, invalid(cleanEngineMessage(err.Error()))
	}
	var s serialized
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		return nil, invalid("the query could not be parsed")
	}
	if s.Error {
		if strings.Contains(s.ErrorMessage, "Only SELECT statements") {
			return nil, invalid("only a single read-only SELECT statement is allowed")
		}
		msg := s.ErrorMessage
		if s.ErrorType != "" && s.ErrorType != "not implemented" {
			msg = capitalize(s.ErrorType) + " Error: " + msg
		}
		return nil, invalid(msg)
	}
	switch len(s.Statements) {
	case 0:
		return nil, invalid("empty query")
	case 1:
	default:
		return nil, invalid(fmt.Sprintf("only a single statement is allowed, got %d", len(s.Statements)))
	}
	var tree any
	if err := json.Unmarshal(s.Statements[0], &tree); err != nil {
		return nil, invalid("the query could not be parsed")
	}
	return tree, nil
}

// findDenied walks the serialized statement and returns the first denied function or table.
// It looks at every node, so subqueries, CTEs, lambdas, window and filter clauses are covered.
func findDenied(n any) (name, what string) {
	switch x := n.(type) {
	case map[string]any:
		if fn, ok := x["function_name"].(string); ok && deniedFunctions[strings.ToLower(fn)] {
			return fn, "function"
		}
		if x["type"] == "TABLE_FUNCTION" {
			if f, ok := x["function"].(map[string]any); ok {
				if fn, ok := f["function_name"].(string); ok && deniedTableFunctions[strings.ToLower(fn)] {
					return fn, "table function"
				}
			}
		}
		if x["type"] == "BASE_TABLE" {
			if tn, ok := x["table_name"].(string); ok && deniedTables[strings.ToLower(tn)] {
				return tn, "table"
			}
		}
		for _, v := range x {
			if name, what := findDenied(v); name != "" {
				return name, what
			}
		}
	case []any:
		for _, v := range x {
			if name, what := findDenied(v); name != "" {
				return name, what
			}
		}
	}
	return "", ""
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
