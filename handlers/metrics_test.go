package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"da/auth"
)

// scrape reads /metrics with the given bearer token and parses the Prometheus text.
func scrape(t *testing.T, env *testEnv, token string) map[string]*dto.MetricFamily {
	t.Helper()
	rec := env.do(request{method: "GET", path: "/metrics", token: token})
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q, want Prometheus text", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// sample is the value of the counter, gauge or histogram count of name whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	total := 0.0
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

func TestMetricsCountersMoveWithTraffic(t *testing.T) {
	env := newTestEnv(t)
	env.queryFixtures()
	admin, analyst := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst]

	before := scrape(t, env, admin)
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "da_sessions_active", "da_sandbox_cache_hits_total"} {
		if _, ok := before[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}

	for i := 0; i < 3; i++ {
		if rec := env.do(request{method: "GET", path: "/api/health"}); rec.Code != http.StatusOK {
			t.Fatalf("health: %d", rec.Code)
		}
	}
	env.do(request{method: "GET", path: "/api/users/nobody", token: admin}) // a 404 on a routed pattern
	for i := 0; i < 2; i++ {
		if rec := env.do(request{method: "POST", path: "/api/query", token: analyst, body: `{"sql":"SELECT * FROM sales"}`}); rec.Code != http.StatusOK {
			t.Fatalf("query: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := env.do(request{method: "POST", path: "/api/query", token: analyst, body: `{"sql":"SELECT nope FROM sales"}`}); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad query: %d %s", rec.Code, rec.Body)
	}
	if rec := env.upload(analyst, "metered", "m.csv", []byte(salesCSV)); rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	b := env.browser()
	b.login("viewer@example.com", testPassword)
	// A sync of the fixture tables is counted, with its tables.
	rec := env.do(request{method: "POST", path: "/api/sync/trigger", token: admin, body: `{"tables":["sales","salaries","big"]}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("sync trigger: %d %s", rec.Code, rec.Body)
	}
	jobID, _ := decodeJSON(t, rec)["job_id"].(string)
	if _, err := env.srv.syncer.Wait(t.Context(), jobID); err != nil {
		t.Fatal(err)
	}

	after := scrape(t, env, admin)
	moved := func(name string, labels map[string]string, atLeast float64) {
		t.Helper()
		if d := sample(after, name, labels) - sample(before, name, labels); d < atLeast {
			t.Errorf("%s%v moved by %v, want at least %v", name, labels, d, atLeast)
		}
	}
	moved("da_http_requests_total", map[string]string{"route": "/api/health", "method": "GET", "status": "200"}, 3)
	moved("da_http_requests_total", map[string]string{"route": "/api/users/:id", "method": "GET", "status": "404"}, 1)
	moved("da_http_request_duration_seconds", map[string]string{"route": "/api/query", "method": "POST"}, 3)
	moved("da_queries_total", map[string]string{"kind": "query", "outcome": "ok"}, 2)
	moved("da_queries_total", map[string]string{"kind": "query", "outcome": "error"}, 1)
	moved("da_query_duration_seconds", map[string]string{"kind": "query"}, 3)
	moved("da_query_rows_total", map[string]string{"kind": "query"}, 12)
	moved("da_sandbox_cache_hits_total", nil, 1)
	moved("da_upload_bytes_total", nil, float64(len(salesCSV)))
	moved("da_uploads_total", map[string]string{"outcome": "ok"}, 1)
	moved("da_sessions_active", nil, 1)
	moved("da_sync_runs_total", map[string]string{"status": "done"}, 1)
	moved("da_sync_tables_total", map[string]string{"outcome": "done"}, 3)
	moved("da_sync_table_duration_seconds", map[string]string{"outcome": "done"}, 3)
	moved("da_sync_run_duration_seconds", nil, 1)
	// Labels are route patterns, never raw URLs.
	for _, m := range after["da_http_requests_total"].Metric {
		for _, l := range m.Label {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "nobody") {
				t.Errorf("raw URL in a route label: %q", l.GetValue())
			}
		}
	}
}

func TestMetricsAccess(t *testing.T) {
	env := newTestEnv(t)
	env.srv.cfg.MetricsToken = "scrape-token-0123456789"
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"km_admin", env.tokens[auth.RoleKMAdmin], http.StatusForbidden},
		{"analyst", env.tokens[auth.RoleAnalyst], http.StatusForbidden},
		{"wrong scrape token", "scrape-token-0123456788", http.StatusUnauthorized},
		{"scrape token", "scrape-token-0123456789", http.StatusOK},
		{"admin", env.tokens[auth.RoleAdmin], http.StatusOK},
	} {
		rec := env.do(request{method: "GET", path: "/metrics", token: tc.token})
		if rec.Code != tc.want {
			t.Errorf("%s: got %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body)
		}
	}
	// Without a configured token, no bearer value opens it.
	env.srv.cfg.MetricsToken = ""
	if rec := env.do(request{method: "GET", path: "/metrics", token: ""}); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token configured, anonymous: %d", rec.Code)
	}
}

func TestRequestID(t *testing.T) {
	env := newTestEnv(t)
	rec := env.do(request{method: "GET", path: "/api/health"})
	gen := rec.Header().Get("X-Request-ID")
	if gen == "" || len(gen) > maxRequestIDLen {
		t.Fatalf("generated request id %q", gen)
	}
	if again := env.do(request{method: "GET", path: "/api/health"}).Header().Get("X-Request-ID"); again == gen {
		t.Errorf("two requests got the same id %q", gen)
	}
	rec = env.do(request{method: "GET", path: "/api/health", headers: map[string]string{"X-Request-ID": "trace-abc.123"}})
	if got := rec.Header().Get("X-Request-ID"); got != "trace-abc.123" {
		t.Errorf("sane incoming id not kept: %q", got)
	}
	for _, bad := range []string{strings.Repeat("x", maxRequestIDLen+1), "has space", "tab\there", "ünïcode"} {
		rec := env.do(request{method: "GET", path: "/api/health", headers: map[string]string{"X-Request-ID": bad}})
		if got := rec.Header().Get("X-Request-ID"); got == bad || got == "" {
			t.Errorf("incoming id %q: answered %q, want a fresh id", bad, got)
		}
	}
}

// TestRequestIDOnLogLines: the log lines a request writes (the handler's and the access
// log's) carry its request id.
func TestRequestIDOnLogLines(t *testing.T) {
	env := newTestEnv(t)
	var buf syncBuffer
	env.srv.log = slog.New(requestIDHandler{slog.NewJSONHandler(&buf, nil)})
	body, ctype := multipartBody(t, [][2]string{{"name", "traced"}}, "t.csv", []byte(salesCSV))
	rec := env.do(request{method: "POST", path: "/api/upload/table", body: body, ctype: ctype, token: env.tokens[auth.RoleAnalyst],
		headers: map[string]string{"X-Request-ID": "trace-upload-1"}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["request_id"] != "trace-upload-1" {
			t.Errorf("log line without the request id: %s", line)
		}
		seen[m["msg"].(string)] = true
	}
	for _, msg := range []string{"table uploaded", "request"} {
		if !seen[msg] {
			t.Errorf("no %q log line: %s", msg, buf.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
