package knowledge

import (
	"strings"
	"testing"
	"time"

	"da/store"
)

func TestBundleOrderAndBudget(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	items := []store.KnowledgeItem{
		{ID: "a", Title: "Approved low", Content: "low score", Status: store.KnowledgeApproved, Upvotes: 1, UpdatedAt: now},
		{ID: "b", Title: "Approved high", Content: "high score", Status: store.KnowledgeApproved, Upvotes: 5, UpdatedAt: now},
		{ID: "m", Title: "Mandatory rule", Content: "always filter test accounts", Status: store.KnowledgeMandatory, UpdatedAt: now},
		{ID: "big", Title: "Huge", Content: strings.Repeat("word ", 2000), Status: store.KnowledgeApproved, Upvotes: 3, UpdatedAt: now},
	}
	res := Bundle(items, 600, "https://da.example.com/", now)
	md := res.Markdown
	im, ib, ia := strings.Index(md, "Mandatory rule"), strings.Index(md, "Approved high"), strings.Index(md, "Approved low")
	if im < 0 || ib < 0 || ia < 0 || !(im < ib && ib < ia) {
		t.Fatalf("order wrong:\n%s", md)
	}
	if strings.Contains(md, "### Huge") || res.Omitted != 1 || res.Included != 3 {
		t.Fatalf("budget not kept: %+v\n%s", res, md)
	}
	if res.Tokens > 600 {
		t.Fatalf("bundle is %d tokens, budget 600", res.Tokens)
	}
	if !strings.Contains(md, "[m](https://da.example.com/corporate-memory?item=m)") {
		t.Fatalf("no link back:\n%s", md)
	}
	// A bigger budget takes everything.
	if res := Bundle(items, 10_000, "http://x", now); res.Included != 4 || res.Omitted != 0 {
		t.Fatalf("%+v", res)
	}
}
