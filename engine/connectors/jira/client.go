package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ErrNotFound is Jira's 404 (unknown issue, or no permission to see it).
var ErrNotFound = errors.New("jira: not found")

// Client is a narrow Jira Cloud REST v3 client with Basic auth. 429 and 503 answers are
// retried after their Retry-After (capped by MaxWait), other 5xx and network errors with
// a short backoff.
type Client struct {
	BaseURL  string // https://<site>, no trailing slash
	Email    string
	Token    string
	HTTP     *http.Client
	Attempts int           // tries per request, default 4
	MaxWait  time.Duration // longest Retry-After honoured, default 60 s
	Backoff  time.Duration // first backoff after a 5xx, default 500 ms
}

// NewClient returns a client with a 30 s request timeout.
func NewClient(baseURL, email, token string) *Client {
	return &Client{BaseURL: baseURL, Email: email, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// StatusError is a Jira answer that was neither 2xx nor retried into one.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("jira: HTTP %d: %s", e.Status, e.Body) }

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	maxWait := c.MaxWait
	if maxWait <= 0 {
		maxWait = 60 * time.Second
	}
	backoff := c.Backoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var last error
	for i := 0; i < attempts; i++ {
		req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.SetBasicAuth(c.Email, c.Token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.HTTP.Do(req)
		wait := backoff << i
		if err != nil {
			last = err
		} else {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			_ = resp.Body.Close()
			switch {
			case resp.StatusCode >= 200 && resp.StatusCode < 300 && rerr == nil:
				if out == nil {
					return nil
				}
				d := json.NewDecoder(bytes.NewReader(b))
				d.UseNumber()
				if err := d.Decode(out); err != nil {
					return fmt.Errorf("jira: %s %s: bad JSON: %w", method, path, err)
				}
				return nil
			case resp.StatusCode == http.StatusNotFound:
				return ErrNotFound
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				last = &StatusError{Status: resp.StatusCode, Body: truncate(string(b), 200)}
				if ra := retryAfter(resp.Header.Get("Retry-After")); ra > 0 {
					wait = ra
				}
			default:
				return &StatusError{Status: resp.StatusCode, Body: truncate(string(b), 200)}
			}
		}
		if i == attempts-1 {
			break
		}
		wait = min(wait, maxWait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return fmt.Errorf("jira: %s %s: %w", method, path, last)
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Issue fetches one issue (key or numeric id) with its changelog and rendered fields.
func (c *Client) Issue(ctx context.Context, keyOrID string) (Issue, error) {
	var is Issue
	err := c.do(ctx, http.MethodGet, "/rest/api/3/issue/"+url.PathEscape(keyOrID)+"?expand=renderedFields,changelog&fields=*all", nil, &is)
	return is, err
}

// RemoteLinks fetches the issue's remote links (a bare JSON array).
func (c *Client) RemoteLinks(ctx context.Context, key string) ([]any, error) {
	var out []any
	err := c.do(ctx, http.MethodGet, "/rest/api/3/issue/"+url.PathEscape(key)+"/remotelink", nil, &out)
	return out, err
}

// SLAFields fetches the SLA custom fields plus status, resolution and dates.
func (c *Client) SLAFields(ctx context.Context, key string) (Issue, error) {
	var is Issue
	err := c.do(ctx, http.MethodGet, "/rest/api/3/issue/"+url.PathEscape(key)+
		"?fields=customfield_10328,customfield_10161,status,resolution,resolutiondate,updated", nil, &is)
	return is, err
}

// SearchKeys enumerates the keys matching jql through POST /rest/api/3/search/jql,
// following nextPageToken to the last page.
func (c *Client) SearchKeys(ctx context.Context, jql string) ([]string, error) {
	var keys []string
	token := ""
	for page := 0; page < 100000; page++ {
		body := map[string]any{"jql": jql, "maxResults": 100, "fields": []string{"key"}}
		if token != "" {
			body["nextPageToken"] = token
		}
		var out struct {
			Issues []struct {
				Key string `json:"key"`
			} `json:"issues"`
			NextPageToken string `json:"nextPageToken"`
			IsLast        bool   `json:"isLast"`
		}
		if err := c.do(ctx, http.MethodPost, "/rest/api/3/search/jql", body, &out); err != nil {
			return keys, err
		}
		for _, is := range out.Issues {
			keys = append(keys, is.Key)
		}
		if out.NextPageToken == "" || out.IsLast {
			return keys, nil
		}
		token = out.NextPageToken
	}
	return keys, errors.New("jira: search paging did not end")
}

// Download fetches an attachment's content into w, refusing more than limit bytes.
func (c *Client) Download(ctx context.Context, contentURL string, limit int64, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, contentURL, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.Email, c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Status: resp.StatusCode}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err == nil && n > limit {
		return fmt.Errorf("jira: attachment larger than %d bytes", limit)
	}
	return err
}
