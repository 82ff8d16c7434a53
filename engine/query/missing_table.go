package query

import (
	"regexp"
	"strings"
)

// missingTableRE matches DuckDB's binder message for an unknown table and its optional
// suggestion, which DuckDB picks from everything in its catalog, system tables included.
var missingTableRE = regexp.MustCompile(`Table with name (.+?) does not exist!(\nDid you mean "([^"\n]*)"\?)?`)

func tableNames(ts []Table) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// explainMissingTable rewrites DuckDB's "Table with name X does not exist!" so that its
// "Did you mean" names only a table the caller may query (the nearest by spelling), never
// an internal catalog table such as sqlite_master or pg_depend. It returns the message and
// X, or msg unchanged and "" for any other message.
func explainMissingTable(msg string, tables []string) (string, string) {
	m := missingTableRE.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg, ""
	}
	name := msg[m[2]:m[3]]
	replacement := "Table with name " + name + " does not exist!"
	if s := nearestTable(name, tables); s != "" {
		replacement += "\nDid you mean \"" + s + "\"?"
	}
	return msg[:m[0]] + replacement + msg[m[1]:], name
}

// nearestTable is the caller's table closest in spelling to name (case-insensitive edit
// distance at most a third of the name, and at most 3), or "".
func nearestTable(name string, tables []string) string {
	low := strings.ToLower(name)
	limit := len([]rune(low)) / 3
	if limit > 3 {
		limit = 3
	}
	if limit < 1 {
		limit = 1
	}
	best, bestD := "", limit+1
	for _, t := range tables {
		if d := editDistance(low, strings.ToLower(t)); d < bestD {
			best, bestD = t, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
