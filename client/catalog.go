package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// CatalogTable is one row of GET /api/catalog/tables.
type CatalogTable struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	SourceType   string  `json:"source_type"`
	SyncStrategy string  `json:"sync_strategy"`
	QueryMode    string  `json:"query_mode"`
	Folder       string  `json:"folder"`
	IsPublic     bool    `json:"is_public"`
	Rows         int64   `json:"rows"`
	Columns      int     `json:"columns"`
	SizeBytes    int64   `json:"size_bytes"`
	LastSync     *string `json:"last_sync"`
	Status       string  `json:"status"`
	HasProfile   bool    `json:"has_profile"`
	Downloadable bool    `json:"downloadable"`
	// Readable is false for a locked table (listed by CatalogTablesWithLocked); nil from a
	// server that does not say, which lists readable tables only.
	Readable *bool `json:"readable"`
}

// Locked reports whether the caller may not read the table.
func (t CatalogTable) Locked() bool { return t.Readable != nil && !*t.Readable }

// CatalogTables lists the tables the caller may read.
func (c *Client) CatalogTables(ctx context.Context) ([]CatalogTable, error) {
	return c.catalogTables(ctx, "/api/catalog/tables")
}

// CatalogTablesWithLocked lists the readable tables and, marked Locked, those the caller
// may request access to.
func (c *Client) CatalogTablesWithLocked(ctx context.Context) ([]CatalogTable, error) {
	return c.catalogTables(ctx, "/api/catalog/tables?include=locked")
}

func (c *Client) catalogTables(ctx context.Context, path string) ([]CatalogTable, error) {
	var out struct {
		Tables []CatalogTable `json:"tables"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Tables, nil
}

// ProfileColumn is one column of a table profile.
type ProfileColumn struct {
	Name            string   `json:"name"`
	Type            string   `json:"type"`
	TypeCategory    string   `json:"type_category"`
	CompletenessPct float64  `json:"completeness_pct"`
	NullCount       int64    `json:"null_count"`
	UniqueCount     int64    `json:"unique_count"`
	UniquePct       float64  `json:"unique_pct"`
	SampleValues    []string `json:"sample_values"`
	IsPrimaryKey    bool     `json:"is_primary_key"`
	Alerts          []string `json:"alerts"`
}

// Profile is the stored profile of a table (GET /api/catalog/profile/{id}). Raw keeps the
// whole document for fields this struct does not name.
type Profile struct {
	TableID     string          `json:"table_id"`
	Description string          `json:"description"`
	RowCount    int64           `json:"row_count"`
	ColumnCount int             `json:"column_count"`
	FileSizeMB  float64         `json:"file_size_mb"`
	ProfiledAt  string          `json:"profiled_at"`
	Columns     []ProfileColumn `json:"columns"`
	Raw         json.RawMessage `json:"-"`
}

// Profile returns a table's profile; 404 when the table or its profile does not exist.
func (c *Client) Profile(ctx context.Context, tableID string) (*Profile, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/catalog/profile/"+pathEscape(tableID), nil, &raw); err != nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, &Error{Method: http.MethodGet, Path: "/api/catalog/profile/" + tableID, Err: err}
	}
	p.Raw = raw
	return &p, nil
}

// SyncSettings is GET /api/sync/settings: the caller's subscriptions.
type SyncSettings struct {
	UserID          string   `json:"user_id"`
	EnabledDatasets []string `json:"enabled_datasets"`
}

// SyncSettings returns the tables the caller subscribes to; none means every readable table.
func (c *Client) SyncSettings(ctx context.Context) (*SyncSettings, error) {
	var out SyncSettings
	if err := c.do(ctx, http.MethodGet, "/api/sync/settings", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetSubscriptions subscribes to (true) or unsubscribes from (false) tables and returns the
// names the server refused (tables the caller cannot read).
func (c *Client) SetSubscriptions(ctx context.Context, tables map[string]bool) ([]string, error) {
	var out struct {
		Updated map[string]map[string]any `json:"updated"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/sync/settings", map[string]any{"datasets": tables}, &out); err != nil {
		return nil, err
	}
	var refused []string
	for name, r := range out.Updated {
		if _, bad := r["error"]; bad {
			refused = append(refused, name)
		}
	}
	return refused, nil
}
