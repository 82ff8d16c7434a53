package client

import (
	"context"
	"net/http"
)

// QueryResult is the answer of POST /api/query. Numbers in Rows are json.Number, so
// integers keep their exact value.
type QueryResult struct {
	QueryID     string   `json:"query_id"`
	Columns     []string `json:"columns"`
	ColumnTypes []string `json:"column_types"`
	Rows        [][]any  `json:"rows"`
	RowCount    int      `json:"row_count"`
	Truncated   bool     `json:"truncated"`
	ElapsedMS   int64    `json:"elapsed_ms"`
}

// Query runs one SELECT on the server; limit 0 uses the server's default.
func (c *Client) Query(ctx context.Context, sql string, limit int) (*QueryResult, error) {
	in := map[string]any{"sql": sql}
	if limit > 0 {
		in["limit"] = limit
	}
	var out QueryResult
	if err := c.do(ctx, http.MethodPost, "/api/query", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
