package client

import (
	"context"
	"io"
	"net/http"
)

// Backup asks the server for a backup archive of its data directory (admin) and streams it
// into w; it returns the bytes written. Check the archive with backup.Verify afterwards: a
// transfer cut short is only detected there.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := c.newRequest(ctx, http.MethodPost, "/api/admin/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/gzip, application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, &Error{Method: req.Method, Path: req.URL.Path, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, responseError(resp)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, &Error{Method: req.Method, Path: req.URL.Path, Err: err}
	}
	return n, nil
}

// CatalogExport is the outcome of POST /api/admin/catalog-export.
type CatalogExport struct {
	Metrics      int               `json:"metrics_count"`
	Tables       int               `json:"tables_count"`
	Failed       map[string]string `json:"failed"`
	Kept         []string          `json:"kept"`
	Removed      []string          `json:"removed"`
	MetricsError string            `json:"metrics_error,omitempty"`
	LastExport   string            `json:"last_export"`
}

// ExportCatalog asks the server to export OpenMetadata's metrics and the registered tables
// to its DATA_DIR/docs (admin).
func (c *Client) ExportCatalog(ctx context.Context) (*CatalogExport, error) {
	var out CatalogExport
	if err := c.do(ctx, http.MethodPost, "/api/admin/catalog-export", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
