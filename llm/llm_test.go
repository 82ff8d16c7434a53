package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"da/config"
	"da/llm/llmfake"
)

var schema = map[string]any{"type": "object", "properties": map[string]any{"ok": map[string]any{"type": "boolean"}},
	"required": []any{"ok"}, "additionalProperties": false}

const secretKey = "sk-test-do-not-log-0123456789"

// sleeps records the waits of the retry policy instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newFor(t *testing.T, f llmfake.Flavor, mode string, sl *sleeps) (*llmfake.Server, Extractor) {
	t.Helper()
	srv := llmfake.New(f)
	t.Cleanup(srv.Close)
	c := config.AIConfig{Provider: "anthropic", APIKey: secretKey, BaseURL: srv.URL, Model: "claude-haiku-4-5-20251001", VerifySSL: true}
	if f == llmfake.OpenAI {
		c = config.AIConfig{Provider: "openai_compat", APIKey: secretKey, BaseURL: srv.URL + "/v1", Model: "gpt-4o-mini",
			StructuredOutput: mode, VerifySSL: true}
	}
	o := Options{Timeout: 500 * time.Millisecond, Sleep: sl.sleep}
	x, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return srv, x
}

func req() Request {
	return Request{Prompt: "classify this note", MaxTokens: 256, Schema: schema, SchemaName: "check"}
}

func TestProvidersErrorKinds(t *testing.T) {
	for _, f := range []llmfake.Flavor{llmfake.Anthropic, llmfake.OpenAI} {
		for _, tc := range []struct {
			name     string
			replies  []llmfake.Reply
			kind     Kind
			calls    int
			waits    []time.Duration
			response string
		}{
			{name: "ok", replies: []llmfake.Reply{{JSON: map[string]any{"ok": true}, InTokens: 100, OutTokens: 7}}, calls: 1},
			{name: "auth", replies: []llmfake.Reply{llmfake.ErrorReply(401, "")}, kind: KindAuth, calls: 1},
			{name: "forbidden", replies: []llmfake.Reply{llmfake.ErrorReply(403, "")}, kind: KindAuth, calls: 1},
			{name: "rate limit then ok", replies: []llmfake.Reply{llmfake.ErrorReply(429, "7"), {JSON: map[string]any{"ok": true}}},
				calls: 2, waits: []time.Duration{7 * time.Second}},
			{name: "overloaded three times", replies: []llmfake.Reply{llmfake.ErrorReply(529, ""), llmfake.ErrorReply(529, ""), llmfake.ErrorReply(529, "")},
				kind: KindRateLimit, calls: 3, waits: []time.Duration{2 * time.Second, 4 * time.Second}},
			{name: "retry-after too long", replies: []llmfake.Reply{llmfake.ErrorReply(429, "3600")}, kind: KindRateLimit, calls: 1},
			{name: "server error", replies: []llmfake.Reply{llmfake.ErrorReply(500, ""), llmfake.ErrorReply(502, ""), llmfake.ErrorReply(503, "")},
				kind: KindTimeout, calls: 3, waits: []time.Duration{2 * time.Second, 4 * time.Second}},
			{name: "slow", replies: []llmfake.Reply{{Delay: 2 * time.Second}, {Delay: 2 * time.Second}, {Delay: 2 * time.Second}}, kind: KindTimeout, calls: 3,
				waits: []time.Duration{2 * time.Second, 4 * time.Second}},
			{name: "truncated", replies: []llmfake.Reply{{Text: `{"ok": tr`, StopReason: map[llmfake.Flavor]string{llmfake.Anthropic: "max_tokens", llmfake.OpenAI: "length"}[f]}},
				kind: KindFormat, calls: 1},
			{name: "not json", replies: []llmfake.Reply{{Text: "I think it is fine."}}, kind: KindFormat, calls: 1},
			{name: "bad request", replies: []llmfake.Reply{{Status: 400, Body: `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}`}},
				kind: KindFormat, calls: 1},
			{name: "refusal", replies: []llmfake.Reply{map[llmfake.Flavor]llmfake.Reply{llmfake.Anthropic: {StopReason: "refusal"}, llmfake.OpenAI: {Refusal: "I can't help with that."}}[f]},
				kind: KindRefusal, calls: 1},
			{name: "empty", replies: []llmfake.Reply{{Text: ""}}, kind: KindRefusal, calls: 1},
		} {
			t.Run(map[llmfake.Flavor]string{llmfake.Anthropic: "anthropic/", llmfake.OpenAI: "openai/"}[f]+tc.name, func(t *testing.T) {
				sl := &sleeps{}
				mode := "strict"
				srv, x := newFor(t, f, mode, sl)
				srv.Queue(tc.replies...)
				out, u, err := x.ExtractJSON(context.Background(), req())
				if KindOf(err) != tc.kind {
					t.Fatalf("kind %q (%v), want %q", KindOf(err), err, tc.kind)
				}
				if tc.kind == "" && string(out) != `{"ok":true}` {
					t.Fatalf("answer %s", out)
				}
				if got := len(srv.Calls()); got != tc.calls {
					t.Fatalf("%d calls, want %d", got, tc.calls)
				}
				if len(sl.d) != len(tc.waits) {
					t.Fatalf("waits %v, want %v", sl.d, tc.waits)
				}
				for i := range tc.waits {
					if sl.d[i] != tc.waits[i] {
						t.Fatalf("waits %v, want %v", sl.d, tc.waits)
					}
				}
				if tc.name == "ok" && (u.InputTokens != 100 || u.OutputTokens != 7 || u.CostUSD <= 0) {
					t.Fatalf("usage %+v", u)
				}
				if err != nil && strings.Contains(err.Error(), secretKey) {
					t.Fatal("the key is in the error")
				}
			})
		}
	}
}

func TestAnthropicRequestShape(t *testing.T) {
	srv, x := newFor(t, llmfake.Anthropic, "", &sleeps{})
	srv.Queue(llmfake.Reply{JSON: map[string]any{"ok": true}})
	if _, _, err := x.ExtractJSON(context.Background(), req()); err != nil {
		t.Fatal(err)
	}
	c := srv.Calls()[0]
	if c.Path != "/v1/messages" || (c.Header.Get("X-Api-Key") != secretKey && c.Header.Get("Authorization") != "Bearer "+secretKey) || c.Header.Get("Anthropic-Version") == "" {
		t.Fatalf("request %s %v", c.Path, c.Header)
	}
	oc, _ := c.Body["output_config"].(map[string]any)
	format, _ := oc["format"].(map[string]any)
	if format["type"] != "json_schema" || format["schema"] == nil || c.Body["max_tokens"] != float64(256) || c.Prompt != "classify this note" {
		t.Fatalf("body %v", c.Body)
	}
}

func TestOpenAIStrategyFallback(t *testing.T) {
	sl := &sleeps{}
	srv, x := newFor(t, llmfake.OpenAI, "auto", sl)
	srv.NoJSONSchema = true
	srv.Queue(llmfake.Reply{Text: `{"ok": true}`})
	out, _, err := x.ExtractJSON(context.Background(), req())
	if err != nil || string(out) != `{"ok": true}` {
		t.Fatalf("%s %v", out, err)
	}
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Strategy != "json_schema" || calls[0].SchemaName != "check" || calls[1].Strategy != "json_object" {
		t.Fatalf("calls %+v", calls)
	}
	if calls[0].Header.Get("Authorization") != "Bearer "+secretKey || calls[0].Path != "/v1/chat/completions" {
		t.Fatalf("request %s %v", calls[0].Path, calls[0].Header)
	}

	// Strict mode has nowhere to fall back to.
	srv2, x2 := newFor(t, llmfake.OpenAI, "strict", sl)
	srv2.NoJSONSchema = true
	if _, _, err := x2.ExtractJSON(context.Background(), req()); KindOf(err) != KindUnsupported ||
		!strings.Contains(err.Error(), "configured mode 'strict'") {
		t.Fatalf("strict: %v", err)
	}

	// Text mode digs the JSON out of a fenced block.
	srv3, x3 := newFor(t, llmfake.OpenAI, "auto", sl)
	srv3.Queue(llmfake.Reply{Status: 400, Body: `{"error":{"message":"response_format is not supported","type":"invalid_request_error","param":"response_format","code":null}}`},
		llmfake.Reply{Status: 400, Body: `{"error":{"message":"Unknown parameter: response_format.type json_object","type":"invalid_request_error","param":null,"code":null}}`},
		llmfake.Reply{Text: "Here you go:\n```json\n{\"ok\": true}\n```"})
	out, _, err = x3.ExtractJSON(context.Background(), req())
	if err != nil || string(out) != `{"ok": true}` {
		t.Fatalf("text: %s %v", out, err)
	}
	if c := srv3.Calls()[2]; c.Strategy != "text" || !strings.HasSuffix(c.Prompt, textSuffix) {
		t.Fatalf("text call %+v", c)
	}
}

func TestNewConfigErrorsAndNoSecretsLogged(t *testing.T) {
	if _, err := New(config.AIConfig{}, Options{}); err != ErrNotConfigured {
		t.Fatalf("empty: %v", err)
	}
	if _, err := New(config.AIConfig{Provider: "anthropic", APIKey: "  "}, Options{}); err == nil || !strings.Contains(err.Error(), "must not be empty") {
		t.Fatalf("blank key: %v", err)
	}
	if _, err := New(config.AIConfig{Provider: "openai_compat", APIKey: "k"}, Options{}); err == nil || !strings.Contains(err.Error(), "base_url is required") {
		t.Fatalf("no base url: %v", err)
	}
	if _, err := New(config.AIConfig{Provider: "cohere", APIKey: "k"}, Options{}); err == nil || !strings.Contains(err.Error(), "Unknown ai.provider") && !strings.Contains(err.Error(), "unknown ai.provider") {
		t.Fatalf("unknown: %v", err)
	}
	// The package logs nothing itself; what callers may log is Describe and errors.
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	srv, x := newFor(t, llmfake.Anthropic, "", &sleeps{})
	srv.Queue(llmfake.ErrorReply(401, ""))
	_, _, err := x.ExtractJSON(context.Background(), req())
	log.Info("llm", "provider", x.Describe(), "error", err)
	if strings.Contains(buf.String(), secretKey) || strings.Contains(buf.String(), "classify this note") {
		t.Fatalf("secret or prompt logged: %s", buf.String())
	}
	if !strings.Contains(x.Describe(), srv.URL) {
		t.Fatalf("describe %q", x.Describe())
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(`{}`), &v); err != nil {
		t.Fatal(err)
	}
}
