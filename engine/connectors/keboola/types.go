package keboola

import (
	"strconv"
	"strings"
)

// providerPriority orders the metadata providers whose type wins, as the original did: what
// a person set first, then the enrichment, then the transformation that wrote the table. Any
// other provider comes after these.
var providerPriority = []string{"user", "ai-metadata-enrichment", "keboola.snowflake-transformation"}

// ColumnType is the DuckDB type a column is stored as, and the Keboola type it came from.
type ColumnType struct {
	Name   string
	DuckDB string // VARCHAR, BIGINT, DECIMAL(p,s), DOUBLE, BOOLEAN, DATE, TIMESTAMP, TIMESTAMPTZ
	Source string // the Keboola base type (or backend type) it came from; empty when untyped
}

// ColumnTypes resolves every column's type from the table's column metadata. Columns without
// type metadata stay VARCHAR.
func ColumnTypes(t *Table) []ColumnType {
	meta := t.columnMeta()
	out := make([]ColumnType, 0, len(t.Columns))
	for _, c := range t.Columns {
		base, typ, length := pick(meta[c], "KBC.datatype.basetype"), pick(meta[c], "KBC.datatype.type"), pick(meta[c], "KBC.datatype.length")
		src := base
		if src == "" {
			src = typ
		}
		out = append(out, ColumnType{Name: c, DuckDB: duckType(base, typ, length), Source: src})
	}
	return out
}

// pick returns key's value from the highest-priority provider that set it.
func pick(ms []Metadata, key string) string {
	best, bestRank := "", len(providerPriority)+1
	for _, m := range ms {
		if m.Key != key || strings.TrimSpace(m.Value) == "" {
			continue
		}
		rank := len(providerPriority)
		for i, p := range providerPriority {
			if m.Provider == p {
				rank = i
			}
		}
		if rank < bestRank {
			best, bestRank = strings.TrimSpace(m.Value), rank
		}
	}
	return best
}

// duckType maps a Keboola base type (or, without one, a backend type) to DuckDB.
func duckType(base, typ, length string) string {
	b := strings.ToUpper(base)
	t := strings.ToUpper(typ)
	if b == "" {
		b = t
	}
	if i := strings.IndexByte(b, '('); i > 0 {
		b = b[:i]
	}
	switch b {
	case "STRING", "VARCHAR", "TEXT", "CHAR", "CHARACTER":
		return "VARCHAR"
	case "INTEGER", "INT", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT":
		return "BIGINT"
	case "NUMERIC", "NUMBER", "DECIMAL":
		if p, s, ok := precision(length); ok {
			return "DECIMAL(" + strconv.Itoa(p) + "," + strconv.Itoa(s) + ")"
		}
		return "DOUBLE"
	case "FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8", "DOUBLE PRECISION":
		return "DOUBLE"
	case "BOOLEAN", "BOOL":
		return "BOOLEAN"
	case "DATE":
		return "DATE"
	case "TIMESTAMP", "TIMESTAMP_NTZ", "DATETIME":
		if strings.HasPrefix(t, "TIMESTAMP_TZ") || strings.HasPrefix(t, "TIMESTAMP_LTZ") || strings.HasPrefix(t, "TIMESTAMPTZ") {
			return "TIMESTAMPTZ"
		}
		return "TIMESTAMP"
	case "TIMESTAMP_TZ", "TIMESTAMP_LTZ", "TIMESTAMPTZ":
		return "TIMESTAMPTZ"
	}
	return "VARCHAR"
}

// precision parses "p,s" (or "p") into a DECIMAL DuckDB can hold.
func precision(length string) (p, s int, ok bool) {
	ps, ss, _ := strings.Cut(strings.TrimSpace(length), ",")
	p, err := strconv.Atoi(strings.TrimSpace(ps))
	if err != nil || p < 1 || p > 38 {
		return 0, 0, false
	}
	if ss != "" {
		if s, err = strconv.Atoi(strings.TrimSpace(ss)); err != nil || s < 0 || s > p {
			return 0, 0, false
		}
	}
	return p, s, true
}
