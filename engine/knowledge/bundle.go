package knowledge

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"da/store"
)

// EstimateTokens is the usual estimate of four characters a token.
func EstimateTokens(s string) int { return (len(s) + 3) / 4 }

// BundleResult is the agents' knowledge file.
type BundleResult struct {
	Markdown string
	Included int
	Omitted  int
	Tokens   int
}

// Bundle renders the approved and mandatory items as one markdown file: mandatory first, then
// by score and recency, each with a line linking back to it, within budget (estimated tokens).
// Items that do not fit are left out and counted.
func Bundle(items []store.KnowledgeItem, budget int, baseURL string, now time.Time) BundleResult {
	sorted := append([]store.KnowledgeItem(nil), items...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if (a.Status == store.KnowledgeMandatory) != (b.Status == store.KnowledgeMandatory) {
			return a.Status == store.KnowledgeMandatory
		}
		if a.Score() != b.Score() {
			return a.Score() > b.Score()
		}
		if !a.UpdatedAt.Equal(b.UpdatedAt) {
			return a.UpdatedAt.After(b.UpdatedAt)
		}
		return a.ID < b.ID
	})
	base := strings.TrimRight(baseURL, "/")
	var body strings.Builder
	res := BundleResult{}
	header := "# Corporate memory\n\nThe team's reviewed knowledge for analysts and their agents. Mandatory items come first and must be followed.\n"
	used := EstimateTokens(header) + 40 // the footer
	section := ""
	for _, k := range sorted {
		sec := "## Knowledge\n"
		if k.Status == store.KnowledgeMandatory {
			sec = "## Mandatory\n"
		}
		var b strings.Builder
		if sec != section {
			b.WriteString("\n" + sec)
		}
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", oneLine(k.Title), strings.TrimSpace(k.Content))
		meta := []string{}
		if k.Category != "" {
			meta = append(meta, k.Category)
		}
		if len(k.Tags) > 0 {
			meta = append(meta, strings.Join(k.Tags, ", "))
		}
		meta = append(meta, fmt.Sprintf("[%s](%s/corporate-memory?item=%s)", k.ID, base, k.ID))
		b.WriteString("_" + strings.Join(meta, " · ") + "_\n")
		n := EstimateTokens(b.String())
		if used+n > budget {
			res.Omitted++
			continue
		}
		used += n
		section = sec
		body.WriteString(b.String())
		res.Included++
	}
	footer := fmt.Sprintf("\n---\n%d of %d items, about %d tokens (budget %d). Generated %s from %s.\n",
		res.Included, len(sorted), used, budget, now.UTC().Format(time.RFC3339), base)
	if res.Omitted > 0 {
		footer = fmt.Sprintf("\n---\n%d of %d items, about %d tokens (budget %d): %d left out; see %s/corporate-memory. Generated %s.\n",
			res.Included, len(sorted), used, budget, res.Omitted, base, now.UTC().Format(time.RFC3339))
	}
	res.Markdown = header + body.String() + footer
	res.Tokens = EstimateTokens(res.Markdown)
	return res
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
