package demo

import (
	"fmt"
	"strconv"
	"strings"
)

// choice is one value of a weighted categorical distribution; val is already SQL.
type choice struct {
	val    string
	weight float64
}

// lit quotes s as a SQL string literal.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// strs turns weight pairs of strings into choices.
func strs(pairs ...any) []choice {
	out := make([]choice, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		w := 0.0
		switch v := pairs[i+1].(type) {
		case int:
			w = float64(v)
		case float64:
			w = v
		}
		out = append(out, choice{val: lit(pairs[i].(string)), weight: w})
	}
	return out
}

// pick renders a CASE expression that maps r (uniform in [0,1)) onto the weighted choices.
func pick(r string, cs []choice) string {
	total := 0.0
	for _, c := range cs {
		total += c.weight
	}
	var b strings.Builder
	b.WriteString("(CASE")
	acc := 0.0
	for i, c := range cs {
		if i == len(cs)-1 {
			fmt.Fprintf(&b, " ELSE %s END)", c.val)
			break
		}
		acc += c.weight
		fmt.Fprintf(&b, " WHEN %s < %s THEN %s", r, strconv.FormatFloat(acc/total, 'f', 6, 64), c.val)
	}
	return b.String()
}

// list renders a SQL list literal of strings.
func list(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = lit(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// elem renders "one element of vals chosen by the key k and salt".
func elem(vals []string, k, salt string) string {
	return fmt.Sprintf("%s[1 + (hash(%s, %s) %% %d)::INTEGER]", list(vals), k, lit(salt), len(vals))
}

// rnd renders a deterministic uniform [0,1) value for key k and salt.
func rnd(k, salt string) string {
	return fmt.Sprintf("rnd(%s, %s)", k, lit(salt))
}
