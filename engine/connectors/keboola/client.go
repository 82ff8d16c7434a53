// Package keboola is the Keboola Storage connector: a small typed client of the Storage API
// (token verification, buckets and tables with metadata, asynchronous table export, job
// polling, file download, sliced or single, gzip or not), discovery with a background-refreshed
// cache, and extraction of a table into one typed parquet file through DuckDB.
package keboola

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ClientOptions tune a Client. Zero values get sensible defaults.
type ClientOptions struct {
	// HTTP is the HTTP client; its Timeout bounds every single request (default 60 s).
	HTTP *http.Client
	// MaxRetries is how many times a request is retried on 408, 423, 429, 5xx (not 501) or a
	// network error (default 5; negative means none).
	MaxRetries int
	// MinBackoff and MaxBackoff bound the exponential wait between retries and job polls
	// (defaults 100 ms and 3 s). A Retry-After header is honoured up to MaxRetryAfter.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a server's Retry-After (default 60 s).
	MaxRetryAfter time.Duration
	// JobTimeout bounds the wait for an export job (default 30 min).
	JobTimeout time.Duration
	// ResolveSlice turns a manifest entry URL (s3://, gs://, azure://, https://) into a request
	// for its bytes. The default fetches http(s) entries as they are and gs:// entries through
	// the GCS JSON API with the file's access token; other schemes are refused with a clear error.
	ResolveSlice func(ctx context.Context, f *File, entry string) (*http.Request, error)
}

// Client speaks the Keboola Storage API of one stack with one token.
type Client struct {
	base  *url.URL
	token string
	opt   ClientOptions
}

// NewClient returns a client of the stack at baseURL (e.g. https://connection.keboola.com).
func NewClient(baseURL, token string, opt ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(baseURL), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("keboola: the stack URL must be an http(s) URL (got %q)", redactURL(baseURL))
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("keboola: the storage token is empty")
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 5
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 100 * time.Millisecond
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 3 * time.Second
	}
	if opt.MaxRetryAfter <= 0 {
		opt.MaxRetryAfter = 60 * time.Second
	}
	if opt.JobTimeout <= 0 {
		opt.JobTimeout = 30 * time.Minute
	}
	return &Client{base: u, token: token, opt: opt}, nil
}

// BaseURL is the stack URL the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// APIError is an error answer of the Storage API.
type APIError struct {
	Method, Path string
	Status       int
	Code         string // e.g. storage.tokenInvalid
	Message      string // the API's own message
	ExceptionID  string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("Keboola answered %d to %s %s: %s", e.Status, e.Method, e.Path, msg)
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	return s
}

// IsUnauthorized reports whether err is the API refusing the token.
func IsUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusUnauthorized
}

// flexString decodes a JSON string or number as a string (Keboola sends ids both ways).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// Time is a Keboola timestamp ("2016-06-23T20:41:07+0200", RFC 3339 or null).
type Time struct{ time.Time }

var timeLayouts = []string{"2006-01-02T15:04:05-0700", time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02 15:04:05"}

// UnmarshalJSON accepts the offsets with and without a colon, and null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" || string(b) == `""` {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil // an unexpected shape is not worth failing a listing for
	}
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return nil
}

// Token is the answer of GET /v2/storage/tokens/verify.
type Token struct {
	ID          flexString `json:"id"`
	Description string     `json:"description"`
	IsMaster    bool       `json:"isMasterToken"`
	IsExpired   bool       `json:"isExpired"`
	IsDisabled  bool       `json:"isDisabled"`
	Owner       struct {
		ID   flexString `json:"id"`
		Name string     `json:"name"`
	} `json:"owner"`
}

// ProjectName is the token's project name.
func (t *Token) ProjectName() string { return t.Owner.Name }

// ProjectID is the token's project id.
func (t *Token) ProjectID() string { return string(t.Owner.ID) }

// Bucket is one bucket.
type Bucket struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	DisplayName    string `json:"displayName"`
	Stage          string `json:"stage"`
	Description    string `json:"description"`
	LastChangeDate Time   `json:"lastChangeDate"`
	RowsCount      int64  `json:"rowsCount"`
	DataSizeBytes  int64  `json:"dataSizeBytes"`
}

// Metadata is one metadata entry of a table or column.
type Metadata struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Provider string `json:"provider"`
}

// ColumnMetadata maps a column name to its metadata; Keboola sends an empty one as [].
type ColumnMetadata map[string][]Metadata

// UnmarshalJSON accepts {} and [].
func (m *ColumnMetadata) UnmarshalJSON(b []byte) error {
	if t := strings.TrimSpace(string(b)); t == "[]" || t == "null" {
		*m = ColumnMetadata{}
		return nil
	}
	var v map[string][]Metadata
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = v
	return nil
}

// Table is a table as listed or detailed, with columns and metadata.
type Table struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	DisplayName    string         `json:"displayName"`
	PrimaryKey     []string       `json:"primaryKey"`
	Columns        []string       `json:"columns"`
	RowsCount      int64          `json:"rowsCount"`
	DataSizeBytes  int64          `json:"dataSizeBytes"`
	LastImportDate Time           `json:"lastImportDate"`
	LastChangeDate Time           `json:"lastChangeDate"`
	IsAlias        bool           `json:"isAlias"`
	Metadata       []Metadata     `json:"metadata"`
	ColumnMetadata ColumnMetadata `json:"columnMetadata"`
	SourceTable    *struct {
		ID             string         `json:"id"`
		ColumnMetadata ColumnMetadata `json:"columnMetadata"`
	} `json:"sourceTable"`
	Bucket struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
		Stage       string `json:"stage"`
	} `json:"bucket"`
}

// Description is the table's KBC.description.
func (t *Table) Description() string { return metaValue(t.Metadata, "KBC.description") }

// Columns' metadata: an alias table's own is often empty; the source table's counts then.
func (t *Table) columnMeta() ColumnMetadata {
	if len(t.ColumnMetadata) == 0 && t.SourceTable != nil && len(t.SourceTable.ColumnMetadata) > 0 {
		return t.SourceTable.ColumnMetadata
	}
	return t.ColumnMetadata
}

func metaValue(ms []Metadata, key string) string {
	v := ""
	for _, m := range ms {
		if m.Key == key {
			v = m.Value
			if m.Provider == "user" {
				return v
			}
		}
	}
	return v
}

// WhereFilter is one export filter: rows where Column Operator (eq, ne, gt, ge, lt, le) Values.
type WhereFilter struct {
	Column   string   `json:"column"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
	DataType string   `json:"dataType,omitempty"`
}

// ExportOptions are the parameters of an asynchronous table export.
type ExportOptions struct {
	Columns      []string      // empty: all
	ChangedSince time.Time     // zero: everything
	WhereFilters []WhereFilter // ANDed
}

// Job is a Storage job.
type Job struct {
	ID      flexString      `json:"id"`
	Status  string          `json:"status"`
	TableID string          `json:"tableId"`
	Results json.RawMessage `json:"results"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// FileID is the exported file's id of a successful export job.
func (j *Job) FileID() string {
	var r struct {
		File struct {
			ID flexString `json:"id"`
		} `json:"file"`
	}
	if len(j.Results) == 0 || j.Results[0] != '{' {
		return ""
	}
	_ = json.Unmarshal(j.Results, &r)
	return string(r.File.ID)
}

// File is a Storage file's detail.
type File struct {
	ID        flexString `json:"id"`
	Name      string     `json:"name"`
	IsSliced  bool       `json:"isSliced"`
	URL       string     `json:"url"`
	Provider  string     `json:"provider"`
	Region    string     `json:"region"`
	SizeBytes int64      `json:"sizeBytes"`
	GCS       *struct {
		AccessToken string `json:"access_token"`
	} `json:"gcsCredentials"`
}

// Manifest lists the slices of a sliced file.
type Manifest struct {
	Entries []struct {
		URL string `json:"url"`
	} `json:"entries"`
}

// VerifyToken checks the token (GET /v2/storage/tokens/verify).
func (c *Client) VerifyToken(ctx context.Context) (*Token, error) {
	var t Token
	if err := c.getJSON(ctx, "/v2/storage/tokens/verify", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListBuckets lists the project's buckets.
func (c *Client) ListBuckets(ctx context.Context) ([]Bucket, error) {
	var out []Bucket
	err := c.getJSON(ctx, "/v2/storage/buckets", nil, &out)
	return out, err
}

// ListTables lists every table with columns, buckets, metadata and column metadata.
func (c *Client) ListTables(ctx context.Context) ([]Table, error) {
	var out []Table
	q := url.Values{"include": {"columns,buckets,metadata,columnMetadata,sourceColumnMetadata"}}
	err := c.getJSON(ctx, "/v2/storage/tables", q, &out)
	return out, err
}

// TableDetail returns one table with columns and metadata.
func (c *Client) TableDetail(ctx context.Context, tableID string) (*Table, error) {
	var t Table
	if err := c.getJSON(ctx, "/v2/storage/tables/"+url.PathEscape(tableID), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ExportAsync starts an export of tableID and returns its job.
func (c *Client) ExportAsync(ctx context.Context, tableID string, o ExportOptions) (*Job, error) {
	body := map[string]any{"gzip": true, "format": "rfc"}
	if len(o.Columns) > 0 {
		body["columns"] = strings.Join(o.Columns, ",")
	}
	if !o.ChangedSince.IsZero() {
		body["changedSince"] = strconv.FormatInt(o.ChangedSince.Unix(), 10)
	}
	if len(o.WhereFilters) > 0 {
		body["whereFilters"] = o.WhereFilters
	}
	b, _ := json.Marshal(body)
	var j Job
	if err := c.do(ctx, http.MethodPost, "/v2/storage/tables/"+url.PathEscape(tableID)+"/export-async", nil, b, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Job returns a job's current state.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := c.getJSON(ctx, "/v2/storage/jobs/"+url.PathEscape(id), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// WaitJob polls a job with backoff until it succeeds (returned) or fails (error with the
// job's message), or JobTimeout or ctx ends.
func (c *Client) WaitJob(ctx context.Context, id string) (*Job, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.JobTimeout)
	defer cancel()
	wait := c.opt.MinBackoff / 2
	for {
		j, err := c.Job(ctx, id)
		if err != nil {
			return nil, err
		}
		switch j.Status {
		case "success":
			return j, nil
		case "error":
			msg := "the export job failed"
			if j.Error != nil && j.Error.Message != "" {
				msg = "the export job failed: " + j.Error.Message
			}
			return nil, errors.New(msg)
		case "waiting", "processing", "":
		default:
			return nil, fmt.Errorf("the export job has an unexpected status %q", j.Status)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("waiting for export job %s: %w", id, err)
		}
		wait = min(wait*2, c.opt.MaxBackoff)
	}
}

// FileDetail returns a file with its signed URL and federated credentials.
func (c *Client) FileDetail(ctx context.Context, id string) (*File, error) {
	var f File
	if err := c.getJSON(ctx, "/v2/storage/files/"+url.PathEscape(id), url.Values{"federationToken": {"1"}}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Slices opens the file's parts in order: the manifest's entries for a sliced file, else the
// file itself. Each part is handed to fn with its bytes as stored (gzip or not), and closed after.
func (c *Client) Slices(ctx context.Context, f *File, fn func(i int, r io.Reader) error) error {
	if !f.IsSliced {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
		if err != nil {
			return fmt.Errorf("the file's URL is invalid: %w", err)
		}
		return c.fetch(ctx, req, func(r io.Reader) error { return fn(0, r) })
	}
	var m Manifest
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	if err != nil {
		return fmt.Errorf("the manifest's URL is invalid: %w", err)
	}
	if err := c.fetch(ctx, req, func(r io.Reader) error {
		return json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&m)
	}); err != nil {
		return fmt.Errorf("reading the slice manifest: %w", err)
	}
	for i, e := range m.Entries {
		resolve := c.opt.ResolveSlice
		if resolve == nil {
			resolve = defaultResolve
		}
		req, err := resolve(ctx, f, e.URL)
		if err != nil {
			return err
		}
		if err := c.fetch(ctx, req, func(r io.Reader) error { return fn(i, r) }); err != nil {
			return fmt.Errorf("slice %d of %d: %w", i+1, len(m.Entries), err)
		}
	}
	return nil
}

// defaultResolve maps manifest entries to requests without cloud SDKs.
func defaultResolve(ctx context.Context, f *File, entry string) (*http.Request, error) {
	u, err := url.Parse(entry)
	if err != nil {
		return nil, fmt.Errorf("a slice URL is invalid: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		return http.NewRequestWithContext(ctx, http.MethodGet, entry, nil)
	case "gs":
		if f.GCS == nil || f.GCS.AccessToken == "" {
			return nil, errors.New("the file has gs:// slices but no GCS credentials")
		}
		key := strings.TrimPrefix(u.Path, "/")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://storage.googleapis.com/storage/v1/b/"+
			url.PathEscape(u.Host)+"/o/"+url.PathEscape(key)+"?alt=media", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+f.GCS.AccessToken)
		return req, nil
	}
	return nil, fmt.Errorf("slices stored at %s:// cannot be downloaded without that provider's client; "+
		"set up a slice resolver for the %q file provider", u.Scheme, f.Provider)
}

// getJSON is do for a GET.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, q, nil, out)
}

// do sends one API call with retries and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(string(body))
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
		if err != nil {
			return fmt.Errorf("keboola: %w", err)
		}
		req.Header.Set("X-StorageApi-Token", c.token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.opt.HTTP.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt < c.opt.MaxRetries {
				if err := sleep(ctx, c.backoff(attempt, "")); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("Keboola at %s is unreachable (%s %s): %s", c.base.Host, method, path, netMessage(err))
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10)).Decode(out)
			_ = resp.Body.Close()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("Keboola sent an unreadable answer to %s %s: %v", method, path, err)
			}
			return nil
		}
		apiErr := readAPIError(resp, method, path)
		if retryable(resp.StatusCode) && attempt < c.opt.MaxRetries {
			if err := sleep(ctx, c.backoff(attempt, resp.Header.Get("Retry-After"))); err != nil {
				return err
			}
			continue
		}
		return apiErr
	}
}

// fetch GETs a signed file URL with retries and hands its body to fn.
func (c *Client) fetch(ctx context.Context, req *http.Request, fn func(io.Reader) error) error {
	for attempt := 0; ; attempt++ {
		resp, err := c.opt.HTTP.Do(req.Clone(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt < c.opt.MaxRetries {
				if err := sleep(ctx, c.backoff(attempt, "")); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("downloading from %s failed: %s", req.URL.Host, netMessage(err))
		}
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if retryable(resp.StatusCode) && attempt < c.opt.MaxRetries {
				if err := sleep(ctx, c.backoff(attempt, resp.Header.Get("Retry-After"))); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("downloading from %s answered %d %s", req.URL.Host, resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		err = fn(resp.Body)
		_ = resp.Body.Close()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
}

func retryable(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusLocked, http.StatusTooManyRequests:
		return true
	}
	return code >= 500 && code != http.StatusNotImplemented
}

// backoff is the wait before retry attempt+1: Retry-After when the server gave one, else
// exponential with jitter.
func (c *Client) backoff(attempt int, retryAfter string) time.Duration {
	if retryAfter != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && n >= 0 {
			return min(time.Duration(n)*time.Second, c.opt.MaxRetryAfter)
		}
		if t, err := http.ParseTime(retryAfter); err == nil {
			return min(max(time.Until(t), 0), c.opt.MaxRetryAfter)
		}
	}
	d := c.opt.MinBackoff << min(attempt, 16)
	d = min(d, c.opt.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readAPIError decodes Keboola's error envelope.
func readAPIError(resp *http.Response, method, path string) *APIError {
	defer resp.Body.Close()
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode}
	var body struct {
		Error       string     `json:"error"`
		Message     string     `json:"message"`
		Reason      string     `json:"reason"`
		Code        flexString `json:"code"`
		ExceptionID string     `json:"exceptionId"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil {
		e.Message, e.Code, e.ExceptionID = body.Error, string(body.Code), body.ExceptionID
		if e.Message == "" {
			e.Message = body.Message
		}
		if e.Message == "" {
			e.Message = body.Reason
		}
	}
	return e
}

// netMessage is a transport error without the URL (signed URLs carry credentials).
func netMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// redactURL drops the query and user info of a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
