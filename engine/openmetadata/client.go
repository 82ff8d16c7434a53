// Package openmetadata enriches the catalog from an OpenMetadata server: table and column
// descriptions, tags, owners and tier by fully qualified name (FQN), cached as one JSON file
// per table under DATA_DIR/cache/openmetadata, and exports metric and table definitions to
// DATA_DIR/docs. Pages only ever read the cache, so OpenMetadata being slow or down never
// holds up or breaks a page.
package openmetadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is a narrow client of the OpenMetadata REST API (/api/v1). It retries a 429 after
// its Retry-After (when that is short enough) and a 5xx or timeout with a short backoff.
type Client struct {
	base  string // without a trailing / or /api
	token string
	http  *http.Client
	// Timeout bounds each attempt.
	Timeout time.Duration
	// Retries is how many times a 429, 5xx or timeout is retried (default 2).
	Retries int
	// MaxWait is the longest Retry-After honoured; a longer one fails the call at once.
	MaxWait time.Duration
	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewClient returns a client of the server at base (e.g. http://om:8585, with or without
// /api) authenticating with token (a bot's JWT).
func NewClient(base, token string, timeout time.Duration) *Client {
	base = strings.TrimRight(strings.TrimSpace(base), "/")
	base = strings.TrimSuffix(base, "/api")
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{base: base, token: token, http: &http.Client{}, Timeout: timeout, Retries: 2, MaxWait: 10 * time.Second,
		sleep: sleepCtx}
}

// BaseURL is the server's web root, for links to its pages.
func (c *Client) BaseURL() string { return c.base }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// APIError is an answer of OpenMetadata that is not a 2xx.
type APIError struct {
	Status    int
	ErrorType string
	Message   string
	// RetryAfter is the server's Retry-After on a 429 or 503 (0 when absent).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.ErrorType != "" {
		return fmt.Sprintf("openmetadata: %d %s: %s", e.Status, e.ErrorType, msg)
	}
	return fmt.Sprintf("openmetadata: %d: %s", e.Status, msg)
}

// IsNotFound reports whether err is OpenMetadata's 404 (no entity with that FQN).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// get calls GET path?query and decodes the JSON answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, u, out)
		if err == nil {
			return nil
		}
		wait, retry := c.retryable(err, backoff)
		if !retry || attempt >= c.Retries || ctx.Err() != nil {
			return err
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return err
		}
		backoff *= 2
	}
}

// retryable says whether err is worth another attempt and after how long.
func (c *Client) retryable(err error, backoff time.Duration) (time.Duration, bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable:
			if ae.RetryAfter > c.MaxWait {
				return 0, false
			}
			if ae.RetryAfter > 0 {
				return ae.RetryAfter, true
			}
			return backoff, true
		case ae.Status >= 500:
			return backoff, true
		}
		return 0, false
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return backoff, true
	}
	return 0, false
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Client) once(ctx context.Context, u string, out any) error {
	actx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("openmetadata: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return fmt.Errorf("openmetadata: no answer within %s: %w", c.Timeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("openmetadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("openmetadata: read the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
		var eb struct {
			ErrorType string `json:"errorType"`
			Message   string `json:"message"`
		}
		if json.Unmarshal(body, &eb) == nil {
			ae.ErrorType, ae.Message = eb.ErrorType, eb.Message
		}
		if len(ae.Message) > 300 {
			ae.Message = ae.Message[:300] + "…"
		}
		return ae
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("openmetadata: the answer is not the expected JSON: %w", err)
	}
	return nil
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// TagLabel is a tag on an entity.
type TagLabel struct {
	TagFQN string `json:"tagFQN"`
	Name   string `json:"name"`
}

// EntityRef is a reference to another entity (an owner).
type EntityRef struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
}

// Column is a column of a table entity.
type Column struct {
	Name            string     `json:"name"`
	DataType        string     `json:"dataType"`
	DataTypeDisplay string     `json:"dataTypeDisplay"`
	Description     string     `json:"description"`
	Tags            []TagLabel `json:"tags"`
}

// Table is a table entity with the fields the enrichment asks for.
type Table struct {
	Name               string         `json:"name"`
	FullyQualifiedName string         `json:"fullyQualifiedName"`
	Description        string         `json:"description"`
	Columns            []Column       `json:"columns"`
	Tags               []TagLabel     `json:"tags"`
	Owners             []EntityRef    `json:"owners"`
	Owner              *EntityRef     `json:"owner"` // older servers
	Extension          map[string]any `json:"extension"`
}

// Table fetches the table entity with FQN fqn.
func (c *Client) Table(ctx context.Context, fqn string) (*Table, error) {
	var t Table
	q := url.Values{"fields": {"columns,owners,tags,extension"}, "include": {"all"}}
	if err := c.get(ctx, "/api/v1/tables/name/"+url.PathEscape(fqn), q, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Metric is a metric entity.
type Metric struct {
	Name               string         `json:"name"`
	DisplayName        string         `json:"displayName"`
	FullyQualifiedName string         `json:"fullyQualifiedName"`
	Description        string         `json:"description"`
	MetricType         string         `json:"metricType"`
	UnitOfMeasurement  string         `json:"unitOfMeasurement"`
	Granularity        string         `json:"granularity"`
	MetricExpression   any            `json:"metricExpression"`
	Expression         string         `json:"expression"`
	Tags               []TagLabel     `json:"tags"`
	Owners             []EntityRef    `json:"owners"`
	DataProducts       []EntityRef    `json:"dataProducts"`
	Extension          map[string]any `json:"extension"`
}

// Metrics lists up to limit metric entities with their tags and owners.
func (c *Client) Metrics(ctx context.Context, limit int) ([]Metric, error) {
	var out struct {
		Data []Metric `json:"data"`
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}, "fields": {"tags,owners"}}
	if err := c.get(ctx, "/api/v1/metrics", q, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// MetricsOfDataProduct searches the metric index and keeps the metrics of data product
// product (the search cannot filter by it, so the filter is applied here).
func (c *Client) MetricsOfDataProduct(ctx context.Context, product string, size int) ([]Metric, error) {
	var out struct {
		Hits struct {
			Hits []struct {
				Source Metric `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	q := url.Values{"q": {"*"}, "index": {"metric_search_index"}, "size": {strconv.Itoa(size)}}
	if err := c.get(ctx, "/api/v1/search/query", q, &out); err != nil {
		return nil, err
	}
	var ms []Metric
	for _, h := range out.Hits.Hits {
		for _, dp := range h.Source.DataProducts {
			if dp.Name == product {
				ms = append(ms, h.Source)
				break
			}
		}
	}
	return ms, nil
}
