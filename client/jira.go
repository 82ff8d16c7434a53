package client

import (
	"context"
	"time"
)

// JiraBackfillRequest is the body of POST /api/admin/jira/backfill.
type JiraBackfillRequest struct {
	JQL       string   `json:"jql,omitempty"`
	IssueKeys []string `json:"issue_keys,omitempty"`
	Parallel  int      `json:"parallel,omitempty"`
	DryRun    bool     `json:"dry_run,omitempty"`
	Force     bool     `json:"force,omitempty"`
}

// JiraBackfillStatus is a backfill's progress.
type JiraBackfillStatus struct {
	State     string    `json:"state"` // running, done, failed
	Total     int64     `json:"total"`
	Done      int64     `json:"done"`
	Failed    int64     `json:"failed"`
	Skipped   int64     `json:"skipped"`
	Error     string    `json:"error"`
	Keys      []string  `json:"keys"`
	StartedAt time.Time `json:"started_at"`
	Percent   int       `json:"percent"`
}

// StartJiraBackfill starts a Jira backfill on the server (admin).
func (c *Client) StartJiraBackfill(ctx context.Context, req JiraBackfillRequest) (*JiraBackfillStatus, error) {
	var out JiraBackfillStatus
	if err := c.do(ctx, "POST", "/api/admin/jira/backfill", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// JiraBackfill returns the progress of the last backfill (admin).
func (c *Client) JiraBackfill(ctx context.Context) (*JiraBackfillStatus, error) {
	var out JiraBackfillStatus
	if err := c.do(ctx, "GET", "/api/admin/jira/backfill", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
