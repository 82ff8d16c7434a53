// Package client speaks the JSON API of a da server: authentication, catalog, the sync
// manifest and resumable, verified downloads, queries, administration and access requests.
// The `da` CLI is built on it, and so are the API integration tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds every JSON call; downloads have no overall timeout, only the
// transport's connection and header timeouts.
const DefaultTimeout = 60 * time.Second

// Client calls one da server. It is safe for concurrent use.
type Client struct {
	// BaseURL is the server's root URL, e.g. http://localhost:8000.
	BaseURL string
	// Token is a JWT or personal access token sent as a bearer token; empty sends none.
	Token string
	// HTTP performs the requests; it needs no timeout of its own.
	HTTP *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// New returns a client for baseURL with the given token (may be empty), with a transport
// tuned for a few parallel large downloads.
func New(baseURL, token string) *Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ForceAttemptHTTP2:     true,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        256 << 10,
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Transport: tr}, UserAgent: "da-client"}
}

// Error is a failed call: the HTTP status and the server's detail message. Status is 0 when
// the server could not be reached or answered something that is not the API.
type Error struct {
	Method string
	Path   string
	Status int
	Detail string
	// Err is the network or decoding error behind a Status 0 error.
	Err error
}

// Error formats the failure as the server's detail with the status.
func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s %s: %v", e.Method, e.Path, e.Err)
	}
	if e.Detail == "" {
		return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Detail, e.Status)
}

// Unwrap returns the underlying network error, if any.
func (e *Error) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status of an API error, or 0 for any other error (network
// failures included).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNetwork reports whether err means the server could not be reached or gave no API answer.
func IsNetwork(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 0
}

// url joins the base URL and an API path (whose segments the caller has escaped).
func (c *Client) url(path string) string { return c.BaseURL + path }

// newRequest builds a request with the auth and agent headers.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, &Error{Method: method, Path: path, Err: err}
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// do sends a JSON request (in may be nil) and decodes a 2xx answer into out (may be nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &Error{Method: method, Path: path, Err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send performs req and decodes the answer.
func (c *Client) send(req *http.Request, out any) error {
	method, path := req.Method, req.URL.Path
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &Error{Method: method, Path: path, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return responseError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return &Error{Method: method, Path: path, Err: fmt.Errorf("the server at %s did not answer with the da API (%v)", req.URL.Host, err)}
	}
	return nil
}

// responseError turns a non-2xx answer into an *Error carrying the server's detail. A 422
// detail list becomes "field: message; ...".
func responseError(resp *http.Response) *Error {
	e := &Error{Method: resp.Request.Method, Path: resp.Request.URL.Path, Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(b, &body) == nil && len(body.Detail) > 0 {
		var s string
		if json.Unmarshal(body.Detail, &s) == nil {
			e.Detail = s
			return e
		}
		var list []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal(body.Detail, &list) == nil {
			parts := make([]string, 0, len(list))
			for _, it := range list {
				field := ""
				if len(it.Loc) > 0 {
					field = fmt.Sprint(it.Loc[len(it.Loc)-1])
				}
				if field != "" && field != "body" {
					parts = append(parts, field+": "+it.Msg)
				} else {
					parts = append(parts, it.Msg)
				}
			}
			e.Detail = strings.Join(parts, "; ")
			return e
		}
		e.Detail = string(body.Detail)
		return e
	}
	txt := strings.TrimSpace(string(b))
	if len(txt) > 200 || strings.HasPrefix(txt, "<") {
		txt = http.StatusText(resp.StatusCode)
	}
	e.Detail = txt
	return e
}

// pathEscape escapes one path segment (a table id, user id, request id).
func pathEscape(s string) string { return url.PathEscape(s) }

// Health is GET /api/health.
type Health struct {
	Status    string                    `json:"status"`
	Timestamp string                    `json:"timestamp"`
	Version   string                    `json:"version"`
	Services  map[string]map[string]any `json:"services"`
}

// Health returns the server's health (no token needed).
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.do(ctx, http.MethodGet, "/api/health", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
