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
