// Package llm extracts structured JSON from a large language model: one interface, an
// Anthropic Messages provider and an OpenAI-compatible chat-completions provider, with the
// error kinds, structured-output strategies and retry policy the corporate-memory collector
// relies on. Keys, prompts and responses are never logged.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"da/config"
)

// Kind classifies a failure.
type Kind string

const (
	KindAuth        Kind = "auth"        // bad key, no access, unknown model: permanent
	KindRateLimit   Kind = "rate_limit"  // 429, 529 overloaded: transient
	KindTimeout     Kind = "timeout"     // no answer in time, connection failed, 5xx: transient
	KindFormat      Kind = "format"      // bad or truncated JSON, a request the server refused
	KindUnsupported Kind = "unsupported" // no structured-output strategy left
	KindRefusal     Kind = "refusal"     // the model declined to answer
)

// Error is a classified provider failure. Its message never contains the key, the prompt or
// the response.
type Error struct {
	Kind       Kind
	Msg        string
	Status     int           // HTTP status, when there was one
	RetryAfter time.Duration // the server's Retry-After, when it sent one
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Msg }

// KindOf returns the kind of a provider error, or "" for another error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// Transient reports whether err is worth retrying later.
func Transient(err error) bool {
	k := KindOf(err)
	return k == KindRateLimit || k == KindTimeout
}

// Request is one structured extraction.
type Request struct {
	Prompt     string
	MaxTokens  int
	Schema     map[string]any // JSON schema of the answer (an object)
	SchemaName string
}

// Usage is what calls consumed.
type Usage struct {
	Calls        int     `json:"calls"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// Add accumulates u2 into u.
func (u *Usage) Add(u2 Usage) {
	u.Calls += u2.Calls
	u.InputTokens += u2.InputTokens
	u.OutputTokens += u2.OutputTokens
	u.CostUSD += u2.CostUSD
}

// Extractor returns a JSON object matching the request's schema. The usage is returned even
// when the call fails after the model answered (a truncated answer still costs tokens).
type Extractor interface {
	ExtractJSON(ctx context.Context, r Request) (json.RawMessage, Usage, error)
	// Describe names the provider, model and host, for logs and the admin page.
	Describe() string
}

// Options tune the transport and the retry policy.
type Options struct {
	// Timeout bounds one HTTP attempt (default 120 s).
	Timeout time.Duration
	// Attempts is the total number of tries of a transient failure (default 3).
	Attempts int
	// Backoff is the wait before the 2nd, 3rd, … attempt when the server sent no
	// Retry-After (default 2 s, 4 s).
	Backoff []time.Duration
	// MaxRetryAfter caps a server's Retry-After (default 60 s); a longer one fails now.
	MaxRetryAfter time.Duration
	// Sleep waits between attempts (default: a timer that honours ctx).
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient replaces the default client (tests).
	HTTPClient *http.Client
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 120 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff == nil {
		o.Backoff = []time.Duration{2 * time.Second, 4 * time.Second}
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	return o
}

// ErrNotConfigured is returned by New when no provider is set up.
var ErrNotConfigured = errors.New("no LLM is configured: set ai.provider (anthropic or openai_compat) and ai.api_key in instance.yaml, or LLM_PROVIDER with ANTHROPIC_API_KEY (or OPENAI_API_KEY and OPENAI_BASE_URL)")

// New builds the extractor the configuration names.
func New(c config.AIConfig, o Options) (Extractor, error) {
	o = o.withDefaults()
	if c.Provider == "" && strings.TrimSpace(c.APIKey) == "" {
		return nil, ErrNotConfigured
	}
	if strings.TrimSpace(c.APIKey) == "" {
		return nil, fmt.Errorf("ai.api_key must not be empty for provider %q", c.Provider)
	}
	model := c.Model
	if model == "" {
		model = "claude-haiku-4-5-20251001"
	}
	switch c.Provider {
	case "", "anthropic":
		return newAnthropic(c.APIKey, c.BaseURL, model, o), nil
	case "openai_compat":
		if c.BaseURL == "" {
			return nil, errors.New("ai.base_url is required for provider openai_compat")
		}
		mode := c.StructuredOutput
		if mode == "" {
			mode = "auto"
		}
		if _, ok := strategiesFor[mode]; !ok {
			return nil, fmt.Errorf("ai.structured_output must be one of strict, json, auto (got %q)", mode)
		}
		return newOpenAI(c.APIKey, c.BaseURL, model, mode, c.VerifySSL, o), nil
	}
	return nil, fmt.Errorf("unknown ai.provider %q: use anthropic or openai_compat", c.Provider)
}

// SafeHost is scheme://host[:port] of a base URL: all that may be logged of it.
func SafeHost(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "(default)"
	}
	return u.Scheme + "://" + u.Host
}

// retry runs call until it succeeds, fails permanently or runs out of attempts, honouring
// the server's Retry-After when it sent one.
func retry(ctx context.Context, o Options, call func() (json.RawMessage, Usage, error)) (json.RawMessage, Usage, error) {
	var total Usage
	for attempt := 1; ; attempt++ {
		out, u, err := call()
		total.Add(u)
		if err == nil || !Transient(err) || attempt >= o.Attempts || ctx.Err() != nil {
			return out, total, err
		}
		wait := o.Backoff[min(attempt-1, len(o.Backoff)-1)]
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			if e.RetryAfter > o.MaxRetryAfter {
				return nil, total, err
			}
			wait = e.RetryAfter
		}
		if serr := o.Sleep(ctx, wait); serr != nil {
			return nil, total, err
		}
	}
}

// retryAfter reads Retry-After (seconds or an HTTP date) and retry-after-ms.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// classifyHTTP maps an HTTP failure to a kind. unsupported reports a 400 about structured
// output (the strategy is not supported).
func classifyHTTP(status int, msg string, h http.Header) *Error {
	e := &Error{Status: status, Msg: fmt.Sprintf("HTTP %d: %s", status, shorten(msg)), RetryAfter: retryAfter(h)}
	switch {
	case status == 401 || status == 403:
		e.Kind = KindAuth
		e.Msg += " (check the API key)"
	case status == 404:
		e.Kind = KindAuth
		e.Msg += " (check the model name and the base URL)"
	case status == 429 || status == 529:
		e.Kind = KindRateLimit
	case status == 408 || status >= 500:
		e.Kind = KindTimeout
	case status == 400 && mentionsStructuredOutput(msg):
		e.Kind = KindUnsupported
	default:
		e.Kind = KindFormat
	}
	return e
}

func mentionsStructuredOutput(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "response_format") || strings.Contains(m, "json_schema") || strings.Contains(m, "output_config") ||
		strings.Contains(m, "structured output")
}

// transportError classifies a failure with no HTTP answer.
func transportError(ctx context.Context, err error) *Error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return &Error{Kind: KindTimeout, Msg: "cancelled"}
	}
	return &Error{Kind: KindTimeout, Msg: "no answer from the LLM server: " + shorten(err.Error())}
}

// shorten keeps error text short; it may quote a server's message, never our prompt.
func shorten(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// parseObject checks that text is one JSON object.
func parseObject(text string) (json.RawMessage, error) {
	text = strings.TrimSpace(text)
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, err
	}
	return json.RawMessage(text), nil
}

// extractJSON finds a JSON object in free text: the whole text, a fenced block, or the span
// from the first { to the last }.
func extractJSON(text string) (json.RawMessage, bool) {
	if v, err := parseObject(text); err == nil {
		return v, true
	}
	for _, fence := range []string{"```json", "```"} {
		if i := strings.Index(text, fence); i >= 0 {
			rest := text[i+len(fence):]
			if j := strings.Index(rest, "```"); j >= 0 {
				if v, err := parseObject(rest[:j]); err == nil {
					return v, true
				}
			}
		}
	}
	if i, j := strings.Index(text, "{"), strings.LastIndex(text, "}"); i >= 0 && j > i {
		if v, err := parseObject(text[i : j+1]); err == nil {
			return v, true
		}
	}
	return nil, false
}

// price is USD per million input and output tokens.
type price struct{ in, out float64 }

// prices by model-name prefix, longest first where prefixes overlap. Unknown models cost 0
// (the admin page says the cost is an estimate).
var prices = []struct {
	prefix string
	p      price
}{
	{"claude-haiku-4", price{1, 5}},
	{"claude-3-5-haiku", price{0.8, 4}},
	{"claude-sonnet-4", price{3, 15}},
	{"claude-3-7-sonnet", price{3, 15}},
	{"claude-opus-4-5", price{5, 25}},
	{"claude-opus-4", price{15, 75}},
	{"gpt-4o-mini", price{0.15, 0.6}},
	{"gpt-4o", price{2.5, 10}},
	{"gpt-4.1-mini", price{0.4, 1.6}},
	{"gpt-4.1-nano", price{0.1, 0.4}},
	{"gpt-4.1", price{2, 8}},
}

// Cost estimates the USD cost of tokens on model.
func Cost(model string, in, out int64) float64 {
	for _, p := range prices {
		if strings.HasPrefix(model, p.prefix) {
			return (float64(in)*p.p.in + float64(out)*p.p.out) / 1e6
		}
	}
	return 0
}
