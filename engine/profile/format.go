package profile

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxTextRunes caps value texts (sample values, sample rows, top values) so that one huge
// cell cannot blow up a profile document.
const maxTextRunes = 200

// round2 rounds to 2 decimals; NaN and ±Inf become 0 (use opt2 where null is wanted).
func round2(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	r := math.Round(x*100) / 100
	if math.IsInf(r, 0) || math.IsNaN(r) { // x*100 overflowed: x is far beyond 2 decimals anyway
		return x
	}
	if r == 0 {
		return 0 // no "-0" in JSON
	}
	return r
}

// opt2 rounds a nullable value to 2 decimals; NULL, NaN and ±Inf give nil.
func opt2(x float64, valid bool) *float64 {
	if !valid || math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	r := round2(x)
	return &r
}

// pct returns 100·part/whole rounded to 2 decimals, 0 when whole is 0.
func pct(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return round2(100 * float64(part) / float64(whole))
}

// pyFloat formats a float the way the original's messages (Python str(float)) did:
// shortest representation, always with a decimal point ("40.0", "33.33").
func pyFloat(x float64) string {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// binLabel formats a histogram bound: 1.5B, 2.0M, 3.4K by absolute size, two decimals for
// other non-integers, else an integer. Beyond 1e15 (where "B" would need many digits) it
// uses scientific notation, 1.0e+30.
func binLabel(v float64) string {
	if v == 0 {
		v = 0 // turn -0 into 0
	}
	a := math.Abs(v)
	switch {
	case a >= 1e15:
		return strconv.FormatFloat(v, 'e', 1, 64)
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 1, 64) + "B"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "K"
	case v != math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// clip shortens s to maxTextRunes characters, marking the cut with an ellipsis.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxTextRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == maxTextRunes {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// quoteIdent quotes a column name for DuckDB SQL; any name (spaces, quotes, unicode) is safe.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteString makes a DuckDB string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// numericBases are the base type names (before "(") the original counted as NUMERIC,
// plus the unsigned 128-bit integer.
var numericBases = map[string]bool{
	"FLOAT": true, "DOUBLE": true, "DECIMAL": true, "REAL": true, "FLOAT4": true, "FLOAT8": true,
	"NUMERIC": true, "HUGEINT": true, "UHUGEINT": true, "INTEGER": true, "INT": true, "BIGINT": true,
	"SMALLINT": true, "TINYINT": true, "INT8": true, "INT4": true, "INT2": true, "INT1": true,
	"UBIGINT": true, "UINTEGER": true, "USMALLINT": true, "UTINYINT": true,
}

// floatBases are the NUMERIC types that can hold NaN and ±Inf.
var floatBases = map[string]bool{"FLOAT": true, "DOUBLE": true, "REAL": true, "FLOAT4": true, "FLOAT8": true}

// stringBases are text-like types profiled as STRING (through their text form).
var stringBases = map[string]bool{
	"VARCHAR": true, "CHAR": true, "BPCHAR": true, "TEXT": true, "STRING": true, "UUID": true,
	"JSON": true, "ENUM": true,
}

// baseType returns the upper-case type name before any "(" (DECIMAL(38,10) → DECIMAL).
func baseType(t string) string {
	u := strings.ToUpper(strings.TrimSpace(t))
	if i := strings.IndexByte(u, '('); i >= 0 {
		u = strings.TrimSpace(u[:i])
	}
	return u
}

// Category returns the type category of a DuckDB type string. Nested types (lists, arrays,
// structs, maps, unions) and types without a meaningful statistic (TIME, INTERVAL, BLOB, BIT,
// ...) are OTHER, even when a nested field is a timestamp.
func Category(duckType string) string {
	u := strings.ToUpper(strings.TrimSpace(duckType))
	base := baseType(u)
	switch {
	case strings.HasSuffix(u, "]") || base == "STRUCT" || base == "MAP" || base == "UNION":
		return CategoryOther
	case u == "BOOLEAN" || u == "BOOL" || u == "LOGICAL":
		return CategoryBoolean
	case u == "DATE":
		return CategoryDate
	case strings.HasPrefix(u, "TIMESTAMP") || u == "DATETIME":
		return CategoryTimestamp
	case numericBases[base]:
		return CategoryNumeric
	case stringBases[base]:
		return CategoryString
	default:
		return CategoryOther
	}
}
