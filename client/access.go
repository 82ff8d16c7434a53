package client

import (
	"context"
	"net/http"
)

// AccessRequest is a request for read access to a table.
type AccessRequest struct {
	ID         string  `json:"id"`
	UserID     string  `json:"user_id"`
	UserEmail  string  `json:"user_email"`
	TableID    string  `json:"table_id"`
	Reason     string  `json:"reason"`
	Status     string  `json:"status"`
	ReviewedBy *string `json:"reviewed_by"`
	ReviewedAt *string `json:"reviewed_at"`
	CreatedAt  string  `json:"created_at"`
}

// RequestAccess asks the admins for read access to a table; 409 when one is already pending.
func (c *Client) RequestAccess(ctx context.Context, tableID, reason string) (*AccessRequest, error) {
	in := map[string]string{"table_id": tableID}
	if reason != "" {
		in["reason"] = reason
	}
	var out AccessRequest
	if err := c.do(ctx, http.MethodPost, "/api/access-requests", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MyAccessRequests lists the caller's own requests, newest first.
func (c *Client) MyAccessRequests(ctx context.Context) ([]AccessRequest, error) {
	var out struct {
		Requests []AccessRequest `json:"requests"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/access-requests/my", nil, &out); err != nil {
		return nil, err
	}
	return out.Requests, nil
}

// PendingAccessRequests lists the requests awaiting review (admin).
func (c *Client) PendingAccessRequests(ctx context.Context) ([]AccessRequest, error) {
	var out struct {
		Requests []AccessRequest `json:"requests"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/access-requests/pending", nil, &out); err != nil {
		return nil, err
	}
	return out.Requests, nil
}

// ApproveAccessRequest approves a pending request and grants read access (admin).
func (c *Client) ApproveAccessRequest(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/api/access-requests/"+pathEscape(id)+"/approve", nil, nil)
}

// DenyAccessRequest denies a pending request (admin).
func (c *Client) DenyAccessRequest(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/api/access-requests/"+pathEscape(id)+"/deny", nil, nil)
}
