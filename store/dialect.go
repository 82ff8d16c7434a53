package store

import (
	"errors"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgconn"
)

// Backend names, as Store.Backend reports them.
const (
	BackendDuckDB   = "duckdb"
	BackendPostgres = "postgres"
)

// dialect is everything that differs between the two backends of the system database.
// Repositories write one SQL text for both (with ? placeholders, which the PostgreSQL
// connections rewrite to $N, see rebind); what cannot be shared is here, and only here.
//
// Shared SQL keeps to what both parse the same way: strpos(a, b) > 0 rather than
// DuckDB's contains, GROUP BY with positions rather than GROUP BY ALL, generate_series
// rather than range, explicit casts where PostgreSQL's integer division or bigint sums
// would differ. Outside literals and comments ? is always a placeholder, so PostgreSQL's
// jsonb ? operators cannot be used (jsonb_exists can).
type dialect struct {
	name string
	// schemaTableCount counts the tables named $1 in the schema the store works in.
	// current_schema() is 'main' on DuckDB and 'public' on PostgreSQL.
	schemaTableCount string
	// grantsCTE collects a user's "read" datasets into one array g.datasets (parameter: user
	// id); hasGrant(list, x) tests membership in such an array.
	grantsCTE string
	hasGrant  func(list, x string) string
	// inList tests whether x is in the array passed as the parameter ?.
	inList func(x string) string
	// isDuplicateKey reports a UNIQUE or PRIMARY KEY violation.
	isDuplicateKey func(error) bool
	// isTxConflict reports an error after which the whole transaction may be run again:
	// DuckDB's optimistic-concurrency conflicts; PostgreSQL's serialization failures and
	// deadlocks.
	isTxConflict func(error) bool
}

var duckDialect = &dialect{
	name:             BackendDuckDB,
	schemaTableCount: `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`,
	// A list aggregate, so that the rule needs no correlated subquery (which DuckDB
	// evaluates slowly).
	grantsCTE: `WITH g AS (
	SELECT coalesce(list(lower(dataset)), []) AS datasets FROM dataset_permissions
	WHERE user_id = ? AND lower(coalesce(access, 'read')) = 'read'
) `,
	hasGrant:       func(list, x string) string { return "list_contains(" + list + ", " + x + ")" },
	inList:         func(x string) string { return "list_contains(?, " + x + ")" },
	isDuplicateKey: duckDuplicateKey,
	isTxConflict:   duckTxConflict,
}

var pgDialect = &dialect{
	name:             BackendPostgres,
	schemaTableCount: `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`,
	grantsCTE: `WITH g AS (
	SELECT coalesce(array_agg(lower(dataset)), ARRAY[]::TEXT[]) AS datasets FROM dataset_permissions
	WHERE user_id = ? AND lower(coalesce(access, 'read')) = 'read'
) `,
	hasGrant: func(list, x string) string { return "(" + x + ") = ANY(" + list + ")" },
	inList:   func(x string) string { return x + " = ANY(?)" },
	isDuplicateKey: func(err error) bool {
		return pgCode(err) == "23505" // unique_violation
	},
	isTxConflict: func(err error) bool {
		c := pgCode(err)
		return c == "40001" || c == "40P01" // serialization_failure, deadlock_detected
	},
}

// pgCode is the SQLSTATE of the PostgreSQL error inside err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// duckErr returns the DuckDB error inside err, if any.
func duckErr(err error) (*duckdb.Error, bool) {
	var de *duckdb.Error
	if errors.As(err, &de) {
		return de, true
	}
	return nil, false
}

// isLockError reports DuckDB's "Could not set lock on file" from another process.
func isLockError(err error) bool {
	if de, ok := duckErr(err); ok && de.Type == duckdb.ErrorTypeIO {
		return strings.Contains(de.Msg, "Could not set lock")
	}
	return strings.Contains(err.Error(), "Could not set lock")
}

func duckDuplicateKey(err error) bool {
	de, ok := duckErr(err)
	return ok && de.Type == duckdb.ErrorTypeConstraint && strings.Contains(de.Msg, "Duplicate key")
}

func duckTxConflict(err error) bool {
	de, ok := duckErr(err)
	if !ok || de.Type != duckdb.ErrorTypeTransaction {
		return false
	}
	return strings.Contains(strings.ToLower(de.Msg), "conflict")
}

// isDuplicateKey reports a UNIQUE or PRIMARY KEY violation on either backend.
func isDuplicateKey(err error) bool {
	return duckDialect.isDuplicateKey(err) || pgDialect.isDuplicateKey(err)
}

// isTxConflict reports a retryable transaction conflict on either backend.
func isTxConflict(err error) bool {
	return duckDialect.isTxConflict(err) || pgDialect.isTxConflict(err)
}

// rebind rewrites the ? placeholders of query to PostgreSQL's $1, $2, ... in order,
// leaving string literals, quoted identifiers and comments alone. A query without ? (such
// as one already written with $N) comes back unchanged.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			end := i + 1
			for end < len(query) {
				if query[end] == c {
					if end+1 < len(query) && query[end+1] == c {
						end += 2
						continue
					}
					break
				}
				end++
			}
			end = min(end, len(query)-1)
			b.WriteString(query[i : end+1])
			i = end
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			b.WriteString(query[i : i+end])
			i += end - 1
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				end = len(query)
			} else {
				end += i + 4
			}
			b.WriteString(query[i:end])
			i = end - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
