package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// MemoryItem is one corporate-memory (knowledge) item. Tags and contributors come as JSON
// text, as the original API sends them; see TagList.
type MemoryItem struct {
	ID           string  `json:"id"`
	Title        string  `json:"title"`
	Content      string  `json:"content"`
	Category     *string `json:"category"`
	Tags         *string `json:"tags"`
	Status       string  `json:"status"`
	Contributors *string `json:"contributors"`
	SourceUser   *string `json:"source_user"`
	Audience     *string `json:"audience"`
	CreatedAt    *string `json:"created_at"`
	UpdatedAt    *string `json:"updated_at"`
	Upvotes      int     `json:"upvotes"`
	Downvotes    int     `json:"downvotes"`
	Score        int     `json:"score"`
	// MyVote is the caller's vote (1, -1 or 0); a server of the original does not send it.
	MyVote int `json:"my_vote"`
}

// TagList decodes the item's tags; bad or missing JSON gives none.
func (m MemoryItem) TagList() []string {
	var out []string
	if m.Tags != nil {
		_ = json.Unmarshal([]byte(*m.Tags), &out)
	}
	return out
}

// MemoryQuery filters GET /api/memory; zero values are left out.
type MemoryQuery struct {
	Status   string
	Category string
	Search   string
	Sort     string // updated_at, created_at, score or title
	Page     int
	PerPage  int
}

// MemoryPage is one page of items.
type MemoryPage struct {
	Items   []MemoryItem `json:"items"`
	Count   int          `json:"count"`
	Total   int          `json:"total"`
	Page    int          `json:"page"`
	PerPage int          `json:"per_page"`
}

// ListMemory returns the items the caller may see that match q.
func (c *Client) ListMemory(ctx context.Context, q MemoryQuery) (*MemoryPage, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("status_filter", q.Status)
	set("category", q.Category)
	set("search", q.Search)
	set("sort", q.Sort)
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.PerPage > 0 {
		v.Set("per_page", strconv.Itoa(q.PerPage))
	}
	path := "/api/memory"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out MemoryPage
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	if out.Items == nil {
		out.Items = []MemoryItem{}
	}
	return &out, nil
}

// MemoryItem returns one item (404 when it does not exist or the caller may not see it).
func (c *Client) MemoryItem(ctx context.Context, id string) (*MemoryItem, error) {
	var out MemoryItem
	if err := c.do(ctx, http.MethodGet, "/api/memory/"+pathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MemoryStats counts the visible items by status and lists their categories.
type MemoryStats struct {
	Total      int            `json:"total"`
	ByStatus   map[string]int `json:"by_status"`
	Categories []string       `json:"categories"`
}

// MemoryStats returns the statistics of the items the caller may see.
func (c *Client) MemoryStats(ctx context.Context) (*MemoryStats, error) {
	var out MemoryStats
	if err := c.do(ctx, http.MethodGet, "/api/memory/stats", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// NewMemory is a contribution.
type NewMemory struct {
	Title    string   `json:"title"`
	Content  string   `json:"content"`
	Category string   `json:"category"`
	Tags     []string `json:"tags,omitempty"`
}

// AddMemory contributes an item (analyst role); it starts pending review. It returns the
// new item's id.
func (c *Client) AddMemory(ctx context.Context, m NewMemory) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/memory", m, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// VoteResult is an item's vote counts after a vote.
type VoteResult struct {
	Upvotes   int `json:"upvotes"`
	Downvotes int `json:"downvotes"`
	MyVote    int `json:"my_vote"`
}

// VoteMemory votes 1 (up) or -1 (down) on an item, or withdraws the caller's vote with 0.
func (c *Client) VoteMemory(ctx context.Context, id string, vote int) (*VoteResult, error) {
	var out VoteResult
	if err := c.do(ctx, http.MethodPost, "/api/memory/"+pathEscape(id)+"/vote", map[string]int{"vote": vote}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MyMemoryVotes returns the caller's votes: item id → 1 or -1.
func (c *Client) MyMemoryVotes(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	if err := c.do(ctx, http.MethodGet, "/api/memory/my-votes", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GovernMemory applies a km_admin action (approve, reject, mandate or revoke) to an item and
// returns its new status. Reason and audience may be empty.
func (c *Client) GovernMemory(ctx context.Context, action, id, reason, audience string) (string, error) {
	body := map[string]string{}
	if reason != "" {
		body["reason"] = reason
	}
	if audience != "" {
		body["audience"] = audience
	}
	var out struct {
		Status string `json:"status"`
	}
	path := "/api/memory/admin/" + pathEscape(action) + "?item_id=" + url.QueryEscape(id)
	if err := c.do(ctx, http.MethodPost, path, body, &out); err != nil {
		return "", err
	}
	return out.Status, nil
}

// PendingMemory lists the items awaiting review (km_admin).
func (c *Client) PendingMemory(ctx context.Context) ([]MemoryItem, error) {
	var out struct {
		Items []MemoryItem `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/memory/admin/pending", nil, &out); err != nil {
		return nil, err
	}
	if out.Items == nil {
		out.Items = []MemoryItem{}
	}
	return out.Items, nil
}
