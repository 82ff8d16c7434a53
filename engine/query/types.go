package query

import (
	"fmt"
	"strconv"
	"strings"
)

// colType is a parsed DuckDB result type as duckdb-go names it, e.g. "DECIMAL(10,2)",
// "INTEGER[]", "STRUCT("a" INTEGER, "b" VARCHAR[])", "MAP(VARCHAR, INTEGER)", "INTEGER[3]".
// Values of different DuckDB types arrive as the same Go type (DATE, TIME and TIMESTAMP are
// all time.Time; UUID and BLOB are both []byte), so conversion is driven by this tree.
type colType struct {
	Name   string     // base name: INTEGER, DECIMAL, LIST, ARRAY, STRUCT, MAP, UNION, ...
	Width  int        // DECIMAL width
	Scale  int        // DECIMAL scale
	Size   int        // ARRAY size
	Child  *colType   // LIST / ARRAY element
	Key    *colType   // MAP key
	Value  *colType   // MAP value
	Fields []colField // STRUCT fields / UNION members, in order
}

// colField is one named member of a STRUCT or UNION.
type colField struct {
	Name string
	Type *colType
}

// parseType parses a duckdb-go type name. Unknown or malformed names give a type with just
// the name, which converts values by their Go type.
func parseType(s string) *colType {
	p := &typeParser{s: s}
	t, err := p.parse()
	if err != nil || p.pos != len(p.s) {
		return &colType{Name: strings.ToUpper(strings.TrimSpace(s))}
	}
	return t
}

type typeParser struct {
	s   string
	pos int
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *typeParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *typeParser) expect(c byte) error {
	p.skipSpace()
	if p.peek() != c {
		return fmt.Errorf("type %q: expected %q at %d", p.s, c, p.pos)
	}
	p.pos++
	return nil
}

func (p *typeParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return strings.ToUpper(p.s[start:p.pos])
}

func (p *typeParser) number() (int, error) {
	w := p.word()
	return strconv.Atoi(w)
}

// quoted reads a "name" with "" as an escaped quote.
func (p *typeParser) quoted() (string, error) {
	p.skipSpace()
	if p.peek() != '"' {
		return p.word(), nil
	}
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		if c == '"' {
			if p.peek() == '"' {
				b.WriteByte('"')
				p.pos++
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("type %q: unterminated name", p.s)
}

func (p *typeParser) parse() (*colType, error) {
	name := p.word()
	if name == "" {
		return nil, fmt.Errorf("type %q: missing name at %d", p.s, p.pos)
	}
	t := &colType{Name: name}
	p.skipSpace()
	if p.peek() == '(' {
		p.pos++
		switch name {
		case "DECIMAL":
			w, err := p.number()
			if err != nil {
				return nil, err
			}
			if err := p.expect(','); err != nil {
				return nil, err
			}
			s, err := p.number()
			if err != nil {
				return nil, err
			}
			t.Width, t.Scale = w, s
		case "MAP":
			k, err := p.parse()
			if err != nil {
				return nil, err
			}
			if err := p.expect(','); err != nil {
				return nil, err
			}
			v, err := p.parse()
			if err != nil {
				return nil, err
			}
			t.Key, t.Value = k, v
		case "STRUCT", "UNION":
			for {
				n, err := p.quoted()
				if err != nil {
					return nil, err
				}
				ft, err := p.parse()
				if err != nil {
					return nil, err
				}
				t.Fields = append(t.Fields, colField{Name: n, Type: ft})
				p.skipSpace()
				if p.peek() == ',' {
					p.pos++
					continue
				}
				break
			}
		default:
			return nil, fmt.Errorf("type %q: unexpected arguments", p.s)
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
	}
	for {
		p.skipSpace()
		if p.peek() != '[' {
			return t, nil
		}
		p.pos++
		p.skipSpace()
		if p.peek() == ']' {
			p.pos++
			t = &colType{Name: "LIST", Child: t}
			continue
		}
		n, err := p.number()
		if err != nil {
			return nil, err
		}
		if err := p.expect(']'); err != nil {
			return nil, err
		}
		t = &colType{Name: "ARRAY", Size: n, Child: t}
	}
}

// nativeScalars are the scalar types the parquet writer re-creates with their own type; every
// other type is written as text. The list is the only source of bare type names in writer DDL.
var nativeScalars = map[string]bool{
	"BOOLEAN": true, "TINYINT": true, "SMALLINT": true, "INTEGER": true, "BIGINT": true,
	"UTINYINT": true, "USMALLINT": true, "UINTEGER": true, "UBIGINT": true,
	"HUGEINT": true, "UHUGEINT": true, "FLOAT": true, "DOUBLE": true,
	"VARCHAR": true, "BLOB": true, "DATE": true, "TIME": true, "TIMESTAMP": true,
	"TIMESTAMP_S": true, "TIMESTAMP_MS": true, "TIMESTAMP_NS": true, "TIMESTAMPTZ": true,
	"INTERVAL": true, "UUID": true,
}

// writerDDL renders t for the export writer's CREATE TABLE, quoting every field name itself.
// ok is false when some part has no faithful native equivalent (then the column is text).
func (t *colType) writerDDL() (string, bool) {
	switch t.Name {
	case "DECIMAL":
		if t.Width < 1 || t.Width > 38 || t.Scale < 0 || t.Scale > t.Width {
			return "", false
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Width, t.Scale), true
	case "LIST":
		c, ok := t.Child.writerDDL()
		return c + "[]", ok
	case "ARRAY":
		c, ok := t.Child.writerDDL()
		return fmt.Sprintf("%s[%d]", c, t.Size), ok && t.Size > 0
	case "MAP":
		k, ok1 := t.Key.writerDDL()
		v, ok2 := t.Value.writerDDL()
		return "MAP(" + k + ", " + v + ")", ok1 && ok2
	case "STRUCT":
		var b strings.Builder
		b.WriteString("STRUCT(")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			ft, ok := f.Type.writerDDL()
			if !ok {
				return "", false
			}
			b.WriteString(quoteIdent(f.Name) + " " + ft)
		}
		b.WriteString(")")
		return b.String(), len(t.Fields) > 0
	}
	if nativeScalars[t.Name] {
		return t.Name, true
	}
	return "", false
}

// quoteIdent quotes a result column or field name for DuckDB by doubling embedded quotes.
// It is used only for names of the engine's own results in the export writer, never for
// catalog identifiers (those are checked with extract.ValidIdent).
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral renders s as a DuckDB string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
