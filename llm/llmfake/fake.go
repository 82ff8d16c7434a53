// Package llmfake is an in-process stand-in for the Anthropic Messages API and for an
// OpenAI-compatible chat-completions server, answering with their documented request and
// response shapes (status codes, error bodies, Retry-After, stop and finish reasons). Tests,
// benchmarks and the browser tests point the real SDKs at it.
package llmfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Flavor is the API a fake speaks.
type Flavor int

const (
	Anthropic Flavor = iota
	OpenAI
)

// Call is one request the fake received.
type Call struct {
	Path       string
	Header     http.Header
	Body       map[string]any
	Prompt     string
	SchemaName string // json_schema name (OpenAI) or "" (Anthropic sends none)
	Strategy   string // json_schema, json_object or text (OpenAI); json_schema (Anthropic)
}

// Reply is one scripted answer.
type Reply struct {
	Status     int               // 0 means 200
	Header     map[string]string // e.g. Retry-After
	Body       string            // raw body; when empty, built from the fields below
	JSON       any               // the model's answer, marshalled into the text content
	Text       string            // the model's text content, as is
	StopReason string            // Anthropic stop_reason (default end_turn) / OpenAI finish_reason (default stop)
	Refusal    string            // OpenAI message.refusal
	Delay      time.Duration     // wait before answering
	InTokens   int64
	OutTokens  int64
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	Flavor Flavor
	// NoJSONSchema makes an OpenAI fake refuse response_format json_schema with a 400, as
	// servers without structured outputs do.
	NoJSONSchema bool
	// Respond answers a call when the script is empty (default: a 500).
	Respond func(c Call) Reply

	mu     sync.Mutex
	script []Reply
	calls  []Call
}

// New starts a fake of the given flavor; Close it when done.
func New(f Flavor) *Server {
	s := &Server{Flavor: f}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Queue appends scripted replies, used before Respond.
func (s *Server) Queue(r ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, r...)
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		s.writeError(w, 400, "invalid_request_error", "request body is not JSON", "")
		return
	}
	c := Call{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	wantPath := "/v1/messages"
	if s.Flavor == OpenAI {
		wantPath = "/chat/completions"
	}
	if !strings.HasSuffix(r.URL.Path, wantPath) || r.Method != http.MethodPost {
		s.writeError(w, 404, "not_found_error", "Not found: "+r.URL.Path, "")
		return
	}
	if msgs, ok := body["messages"].([]any); ok && len(msgs) > 0 {
		if m, ok := msgs[0].(map[string]any); ok {
			c.Prompt = contentText(m["content"])
		}
	}
	switch s.Flavor {
	case Anthropic:
		// The key comes as x-api-key, or as a bearer token (what newer SDKs send).
		if (r.Header.Get("X-Api-Key") == "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")) || r.Header.Get("Anthropic-Version") == "" {
			s.writeError(w, 401, "authentication_error", "invalid x-api-key", "")
			return
		}
		c.Strategy = "text"
		if oc, ok := body["output_config"].(map[string]any); ok {
			if f, ok := oc["format"].(map[string]any); ok && f["type"] == "json_schema" {
				c.Strategy = "json_schema"
			}
		}
	case OpenAI:
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			s.writeError(w, 401, "invalid_request_error", "You didn't provide an API key.", "")
			return
		}
		c.Strategy = "text"
		if rf, ok := body["response_format"].(map[string]any); ok {
			c.Strategy, _ = rf["type"].(string)
			if js, ok := rf["json_schema"].(map[string]any); ok {
				c.SchemaName, _ = js["name"].(string)
			}
		}
		if s.NoJSONSchema && c.Strategy == "json_schema" {
			s.record(c)
			s.writeError(w, 400, "invalid_request_error", "Invalid value for 'response_format': json_schema is not supported by this model", "response_format")
			return
		}
	}
	s.record(c)
	s.mu.Lock()
	var rep Reply
	if len(s.script) > 0 {
		rep, s.script = s.script[0], s.script[1:]
		s.mu.Unlock()
	} else {
		s.mu.Unlock()
		if s.Respond == nil {
			s.writeError(w, 500, "api_error", "no scripted answer", "")
			return
		}
		rep = s.Respond(c)
	}
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	status := rep.Status
	if status == 0 {
		status = 200
	}
	if rep.Body != "" {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.Body)
		return
	}
	if status != 200 {
		s.writeError(w, status, errorType(status), http.StatusText(status), "")
		return
	}
	text := rep.Text
	if rep.JSON != nil {
		j, _ := json.Marshal(rep.JSON)
		text = string(j)
	}
	in, out := rep.InTokens, rep.OutTokens
	if in == 0 {
		in = int64(len(c.Prompt)/4 + 1)
	}
	if out == 0 {
		out = int64(len(text)/4 + 1)
	}
	model, _ := body["model"].(string)
	var resp any
	switch s.Flavor {
	case Anthropic:
		stop := rep.StopReason
		if stop == "" {
			stop = "end_turn"
		}
		content := []any{}
		if text != "" {
			content = append(content, map[string]any{"type": "text", "text": text})
		}
		resp = map[string]any{"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
			"content": content, "stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": in, "output_tokens": out}}
	case OpenAI:
		finish := rep.StopReason
		if finish == "" {
			finish = "stop"
		}
		msg := map[string]any{"role": "assistant", "content": text}
		if rep.Refusal != "" {
			msg["content"], msg["refusal"] = nil, rep.Refusal
		}
		resp = map[string]any{"id": "chatcmpl-fake", "object": "chat.completion", "created": time.Now().Unix(), "model": model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish, "logprobs": nil}},
			"usage":   map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out}}
	}
	w.WriteHeader(200)
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func contentText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		var b strings.Builder
		for _, p := range t {
			if m, ok := p.(map[string]any); ok {
				if s, ok := m["text"].(string); ok {
					b.WriteString(s)
				}
			}
		}
		return b.String()
	}
	return ""
}

func errorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

// writeError writes the flavor's documented error body.
func (s *Server) writeError(w http.ResponseWriter, status int, typ, msg, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if s.Flavor == Anthropic {
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
		return
	}
	var p any
	if param != "" {
		p = param
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": nil}})
}

// ErrorReply is a scripted error answer in the flavor's shape (set by the server).
func ErrorReply(status int, retryAfter string) Reply {
	r := Reply{Status: status}
	if retryAfter != "" {
		r.Header = map[string]string{"Retry-After": retryAfter}
	}
	return r
}

// String describes the fake for test logs.
func (s *Server) String() string { return fmt.Sprintf("llmfake(%d) at %s", s.Flavor, s.URL) }
