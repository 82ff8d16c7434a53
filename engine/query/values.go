package query

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// maxSafeInt is 2^53: integers up to it survive a round trip through a JSON (float64) reader.
const maxSafeInt = 1 << 53

var (
	bigMaxSafe = big.NewInt(maxSafeInt)
	bigMinSafe = big.NewInt(-maxSafeInt)
)

// Object is a JSON object that keeps its keys in order (STRUCT fields, MAP entries, export
// rows). encoding/json would sort a Go map's keys.
type Object []Member

// Member is one key of an Object.
type Member struct {
	Key   string
	Value any
}

// MarshalJSON writes the members in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Converter turns the values of one DuckDB column, as database/sql scans them, into the JSON
// values the query API answers with (see jsonValue). Other readers of DuckDB results, such as
// the CLI's local database, use it so that local and remote results agree.
type Converter struct{ t *colType }

// NewConverter returns the converter for a column of the given DuckDB type name.
func NewConverter(duckType string) Converter { return Converter{t: parseType(duckType)} }

// JSON converts one value of the column.
func (c Converter) JSON(v any) any { return jsonValue(v, c.t) }

// jsonValue converts a value scanned from DuckDB into a value encoding/json writes
// faithfully, guided by its DuckDB type:
//
//   - integers are numbers; HUGEINT/UHUGEINT/UBIGINT/BIGNUM outside ±2^53 are decimal strings
//   - DECIMAL is an exact string with the type's scale ("12.50"), never a float
//   - FLOAT/DOUBLE are numbers; NaN and ±Inf are the strings "NaN", "Infinity", "-Infinity"
//   - DATE "2006-01-02"; TIME "15:04:05[.fraction]"; TIMETZ "15:04:05[.fraction]+07:00"
//   - TIMESTAMP "2006-01-02T15:04:05[.fraction]" (no zone: it has none);
//     TIMESTAMPTZ in UTC with "Z"
//   - INTERVAL an ISO 8601 duration ("P1Y2M3DT4H5M6.5S")
//   - UUID the canonical string; BLOB standard base64; BIT the bit string; ENUM its label
//   - LIST/ARRAY arrays, STRUCT objects in field order, MAP objects (keys as text, in order),
//     UNION its current member's value, JSON its parsed value
//   - NULL nil
func jsonValue(v any, t *colType) any {
	if v == nil {
		return nil
	}
	switch t.Name {
	case "DECIMAL":
		if d, ok := v.(duckdb.Decimal); ok {
			return formatDecimal(d.Value, int(d.Scale))
		}
	case "DATE":
		if tm, ok := v.(time.Time); ok {
			return tm.UTC().Format("2006-01-02")
		}
	case "TIME":
		if tm, ok := v.(time.Time); ok {
			return tm.Format("15:04:05.999999999")
		}
	case "TIMETZ":
		if tm, ok := v.(time.Time); ok {
			return tm.Format("15:04:05.999999999Z07:00")
		}
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		if tm, ok := v.(time.Time); ok {
			return tm.UTC().Format("2006-01-02T15:04:05.999999999")
		}
	case "TIMESTAMPTZ":
		if tm, ok := v.(time.Time); ok {
			return tm.UTC().Format(time.RFC3339Nano)
		}
	case "UUID":
		switch u := v.(type) {
		case []byte:
			if len(u) == 16 {
				return formatUUID(u)
			}
		case duckdb.UUID:
			return formatUUID(u[:])
		}
	case "LIST", "ARRAY":
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				out[i] = jsonValue(e, t.Child)
			}
			return out
		}
	case "STRUCT":
		if m, ok := v.(map[string]any); ok && len(t.Fields) > 0 {
			out := make(Object, 0, len(t.Fields))
			for _, f := range t.Fields {
				out = append(out, Member{Key: f.Name, Value: jsonValue(m[f.Name], f.Type)})
			}
			return out
		}
	case "MAP":
		if m, ok := v.(duckdb.OrderedMap); ok && t.Key != nil {
			keys, vals := m.Keys(), m.Values()
			out := make(Object, 0, len(keys))
			for i := range keys {
				out = append(out, Member{Key: textOf(jsonValue(keys[i], t.Key)), Value: jsonValue(vals[i], t.Value)})
			}
			return out
		}
	case "UNION":
		if u, ok := v.(duckdb.Union); ok {
			for _, f := range t.Fields {
				if f.Name == u.Tag {
					return jsonValue(u.Value, f.Type)
				}
			}
			return genericJSON(u.Value)
		}
	}
	return genericJSON(v)
}

// genericJSON converts by Go type alone (used where the DuckDB type gives no extra meaning).
func genericJSON(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, uint8, uint16, uint32, int, json.Number:
		return x
	case uint64:
		if x > maxSafeInt {
			return strconv.FormatUint(x, 10)
		}
		return x
	case uint:
		return genericJSON(uint64(x))
	case float32:
		return floatJSON(float64(x), 32)
	case float64:
		return floatJSON(x, 64)
	case *big.Int:
		if x == nil {
			return nil
		}
		if x.Cmp(bigMaxSafe) > 0 || x.Cmp(bigMinSafe) < 0 {
			return x.String()
		}
		return x.Int64()
	case duckdb.Decimal:
		return formatDecimal(x.Value, int(x.Scale))
	case duckdb.Interval:
		return formatInterval(x)
	case duckdb.UUID:
		return formatUUID(x[:])
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = genericJSON(e)
		}
		return out
	case map[string]any:
		// Parsed JSON values or structs without type information: encoding/json sorts keys.
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = genericJSON(e)
		}
		return out
	case duckdb.OrderedMap:
		keys, vals := x.Keys(), x.Values()
		out := make(Object, 0, len(keys))
		for i := range keys {
			out = append(out, Member{Key: textOf(genericJSON(keys[i])), Value: genericJSON(vals[i])})
		}
		return out
	case duckdb.Union:
		return genericJSON(x.Value)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func floatJSON(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if bits == 32 {
		// Keep FLOAT's shortest decimal form (0.1, not 0.10000000149011612).
		return json.Number(strconv.FormatFloat(f, 'g', -1, 32))
	}
	return f
}

// formatDecimal renders an unscaled integer with scale digits after the point, exactly.
func formatDecimal(v *big.Int, scale int) string {
	if v == nil {
		return "0"
	}
	neg := v.Sign() < 0
	digits := new(big.Int).Abs(v).String()
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// formatInterval renders an ISO 8601 duration; DuckDB keeps months, days and microseconds
// apart, and so does the text ("P1M" is not "P30D").
func formatInterval(iv duckdb.Interval) string {
	var b strings.Builder
	b.WriteByte('P')
	years, months := iv.Months/12, iv.Months%12
	if years != 0 {
		fmt.Fprintf(&b, "%dY", years)
	}
	if months != 0 {
		fmt.Fprintf(&b, "%dM", months)
	}
	if iv.Days != 0 {
		fmt.Fprintf(&b, "%dD", iv.Days)
	}
	if iv.Micros != 0 {
		b.WriteByte('T')
		m := iv.Micros
		sign := ""
		if m < 0 {
			sign, m = "-", -m
		}
		h, rest := m/3_600_000_000, m%3_600_000_000
		mi, rest := rest/60_000_000, rest%60_000_000
		s, us := rest/1_000_000, rest%1_000_000
		if h != 0 {
			fmt.Fprintf(&b, "%s%dH", sign, h)
		}
		if mi != 0 {
			fmt.Fprintf(&b, "%s%dM", sign, mi)
		}
		if s != 0 || us != 0 {
			if us != 0 {
				frac := strings.TrimRight(fmt.Sprintf("%06d", us), "0")
				fmt.Fprintf(&b, "%s%d.%sS", sign, s, frac)
			} else {
				fmt.Fprintf(&b, "%s%dS", sign, s)
			}
		}
	}
	if b.Len() == 1 {
		return "PT0S"
	}
	return b.String()
}

// textOf renders a JSON-ready value as text: strings as they are, everything else as JSON.
// CSV cells and MAP keys use it.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
