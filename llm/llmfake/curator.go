package llmfake

import (
	"regexp"
	"strconv"
	"strings"
)

// Curator answers the knowledge collector's prompts the way a model following them would,
// deterministically: every numbered source line of the form "TIP: <title> — <content>"
// becomes an item citing that line (the same title from several sources is one item), an
// existing catalog item with the same title keeps its id, and the sensitivity check calls
// an item unsafe when it mentions "confidential".
func Curator(c Call) Reply {
	if strings.HasPrefix(c.Prompt, "Does this knowledge item") {
		item := c.Prompt
		if i := strings.Index(item, "\nTitle: "); i >= 0 {
			item = item[i:]
		}
		return Reply{JSON: map[string]any{"safe": !strings.Contains(strings.ToLower(item), "confidential"), "reason": ""}}
	}
	existing := map[string]string{} // lower title → id
	var lastID string
	for _, l := range strings.Split(c.Prompt, "\n") {
		if strings.HasPrefix(l, "- ID: ") {
			lastID = strings.TrimPrefix(l, "- ID: ")
		} else if strings.HasPrefix(l, "  Title: ") && lastID != "" {
			existing[strings.ToLower(strings.TrimPrefix(l, "  Title: "))] = lastID
		}
	}
	type item struct {
		ExistingID *string          `json:"existing_id"`
		Title      string           `json:"title"`
		Content    string           `json:"content"`
		Category   string           `json:"category"`
		Tags       []string         `json:"tags"`
		Sources    []map[string]any `json:"sources"`
	}
	var items []*item
	byTitle := map[string]*item{}
	src := ""
	for _, l := range strings.Split(c.Prompt, "\n") {
		if m := sourceHead.FindStringSubmatch(l); m != nil {
			src = m[1]
			continue
		}
		m := tipLine.FindStringSubmatch(l)
		if m == nil || src == "" {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		title, content := m[2], m[2]
		if i := strings.Index(m[2], " — "); i > 0 {
			title, content = m[2][:i], m[2][i+len(" — "):]
		}
		title = strings.TrimSpace(title)
		key := strings.ToLower(title)
		if it, ok := byTitle[key]; ok {
			it.Sources = append(it.Sources, map[string]any{"source": src, "lines": []int{n}})
			continue
		}
		it := &item{Title: title, Content: strings.TrimSpace(content), Category: "data_analysis", Tags: []string{"notes", "tips"},
			Sources: []map[string]any{{"source": src, "lines": []int{n}}}}
		if id, ok := existing[key]; ok {
			it.ExistingID = &id
		}
		byTitle[key] = it
		items = append(items, it)
	}
	if items == nil {
		items = []*item{}
	}
	return Reply{JSON: map[string]any{"items": items}}
}

var (
	sourceHead = regexp.MustCompile(`^### Source (S\d+) `)
	tipLine    = regexp.MustCompile(`^(\d+)\| (?:(?:user|assistant|message): )?TIP: (.+)$`)
)
