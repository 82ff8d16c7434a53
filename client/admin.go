package client

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
)

// NewUser is the body of POST /api/users.
type NewUser struct {
	Email    string  `json:"email"`
	Name     string  `json:"name,omitempty"`
	Role     string  `json:"role,omitempty"`
	Password *string `json:"password,omitempty"`
}

// CreatedUser is the answer of POST /api/users; SetupToken and SetupURL are set for a user
// created without a password.
type CreatedUser struct {
	User
	SetupToken string `json:"setup_token,omitempty"`
	SetupURL   string `json:"setup_url,omitempty"`
}

// ListUsers lists every user (admin).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	if err := c.do(ctx, http.MethodGet, "/api/users", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateUser creates a user (admin); 409 when the e-mail exists.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (*CreatedUser, error) {
	var out CreatedUser
	if err := c.do(ctx, http.MethodPost, "/api/users", u, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser changes a user's role and/or active flag (admin); nil leaves a field as is.
func (c *Client) UpdateUser(ctx context.Context, id string, role *string, active *bool) (*User, error) {
	in := map[string]any{}
	if role != nil {
		in["role"] = *role
	}
	if active != nil {
		in["active"] = *active
	}
	var out User
	if err := c.do(ctx, http.MethodPatch, "/api/users/"+pathEscape(id), in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser removes a user (admin).
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/users/"+pathEscape(id), nil, nil)
}

// RegisterTable is the body of POST /api/admin/register-table.
type RegisterTable struct {
	Name         string `json:"name"`
	SourceType   string `json:"source_type,omitempty"`
	Bucket       string `json:"bucket,omitempty"`
	SourceTable  string `json:"source_table,omitempty"`
	QueryMode    string `json:"query_mode,omitempty"`
	Description  string `json:"description,omitempty"`
	Folder       string `json:"folder,omitempty"`
	SyncSchedule string `json:"sync_schedule,omitempty"`
}

// RegisteredTable is a row of the table registry.
type RegisteredTable struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	SourceType   string `json:"source_type"`
	Bucket       string `json:"bucket"`
	SourceTable  string `json:"source_table"`
	Description  string `json:"description"`
	Folder       string `json:"folder"`
	QueryMode    string `json:"query_mode"`
	SyncSchedule string `json:"sync_schedule"`
	IsPublic     bool   `json:"is_public"`
	RegisteredAt string `json:"registered_at"`
	RegisteredBy string `json:"registered_by"`
}

// RegisterTable adds a table to the registry (admin); 409 when the id exists.
func (c *Client) RegisterTable(ctx context.Context, t RegisterTable) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/admin/register-table", t, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// ListRegistry lists the registered tables (admin).
func (c *Client) ListRegistry(ctx context.Context) ([]RegisteredTable, error) {
	var out struct {
		Tables []RegisteredTable `json:"tables"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/admin/registry", nil, &out); err != nil {
		return nil, err
	}
	return out.Tables, nil
}

// Permission is one grant: a user's access ("read" or "none") to a dataset.
type Permission struct {
	UserID  string `json:"user_id"`
	Dataset string `json:"dataset"`
	Access  string `json:"access"`
}

// ListPermissions lists every grant, or one user's when userID is not empty (admin).
func (c *Client) ListPermissions(ctx context.Context, userID string) ([]Permission, error) {
	path := "/api/admin/permissions"
	if userID != "" {
		path += "/" + pathEscape(userID)
	}
	var out struct {
		Permissions []Permission `json:"permissions"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Permissions, nil
}

// Grant gives a user access to a dataset (admin); access "" means "read".
func (c *Client) Grant(ctx context.Context, userID, dataset, access string) error {
	if access == "" {
		access = "read"
	}
	return c.do(ctx, http.MethodPost, "/api/admin/permissions", Permission{UserID: userID, Dataset: dataset, Access: access}, nil)
}

// Revoke removes a user's grant on a dataset (admin); 404 when there is none.
func (c *Client) Revoke(ctx context.Context, userID, dataset string) error {
	return c.do(ctx, http.MethodDelete, "/api/admin/permissions", map[string]string{"user_id": userID, "dataset": dataset}, nil)
}

// UploadedTable is the answer of POST /api/upload/table.
type UploadedTable struct {
	TableID   string `json:"table_id"`
	Name      string `json:"name"`
	Rows      int64  `json:"rows"`
	SizeBytes int64  `json:"size_bytes"`
	Format    string `json:"format"`
	IsPublic  bool   `json:"is_public"`
	// Profile is "complete", or "pending" while a large file is profiled in the background.
	Profile string `json:"profile"`
}

// UploadTable publishes a file as a table named name (the file name's extension gives the
// format: .csv, .tsv, .json, .jsonl, .ndjson, .parquet). Uploading the same name again replaces it.
func (c *Client) UploadTable(ctx context.Context, name, fileName string, data io.Reader, public bool) (*UploadedTable, error) {
	return c.UploadTableWith(ctx, name, fileName, data, public, "")
}

// UploadTableWith is UploadTable with a description for the catalog.
func (c *Client) UploadTableWith(ctx context.Context, name, fileName string, data io.Reader, public bool, description string) (*UploadedTable, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("name", name)
	_ = mw.WriteField("public", strconv.FormatBool(public))
	if description != "" {
		_ = mw.WriteField("description", description)
	}
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		return nil, &Error{Method: http.MethodPost, Path: "/api/upload/table", Err: err}
	}
	if _, err := io.Copy(fw, data); err != nil {
		return nil, &Error{Method: http.MethodPost, Path: "/api/upload/table", Err: err}
	}
	if err := mw.Close(); err != nil {
		return nil, &Error{Method: http.MethodPost, Path: "/api/upload/table", Err: err}
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/api/upload/table", &buf)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var out UploadedTable
	if err := c.send(req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
