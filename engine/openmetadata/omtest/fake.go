// Package omtest is an in-process fake of the OpenMetadata endpoints da calls, for tests: it
// checks the bearer token, looks tables up by URL-decoded FQN, returns only the requested
// fields, answers errors with OpenMetadata's status codes and bodies, and can be told to
// fail, throttle (429 with Retry-After) or answer slowly.
package omtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is one scripted answer in place of the normal one.
type Fault struct {
	Status     int           // answered status (0: answer normally after Delay)
	RetryAfter string        // Retry-After header value, if any
	Delay      time.Duration // wait before answering (a slow server)
}

// Fake is a running fake OpenMetadata server.
type Fake struct {
	*httptest.Server
	Token string

	mu      sync.Mutex
	tables  map[string]map[string]any // FQN -> entity
	metrics []map[string]any
	faults  map[string][]Fault // path prefix -> faults consumed in order
	hits    map[string]int     // path -> requests
}

// New starts a fake that accepts token.
func New(token string) *Fake {
	f := &Fake{Token: token, tables: map[string]map[string]any{}, faults: map[string][]Fault{}, hits: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// AddTable adds a table entity (its fullyQualifiedName is the key).
func (f *Fake) AddTable(t map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables[t["fullyQualifiedName"].(string)] = t
}

// AddMetric adds a metric entity.
func (f *Fake) AddMetric(m map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metrics = append(f.metrics, m)
}

// Fail queues faults for requests whose path starts with prefix.
func (f *Fake) Fail(prefix string, faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[prefix] = append(f.faults[prefix], faults...)
}

// Hits is how many requests reached path.
func (f *Fake) Hits(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"code": status, "message": msg}
	if typ != "" {
		body["errorType"] = typ
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	f.mu.Lock()
	f.hits[r.URL.Path]++
	var fault *Fault
	for prefix, fs := range f.faults {
		if strings.HasPrefix(r.URL.Path, prefix) && len(fs) > 0 {
			ft := fs[0]
			f.faults[prefix] = fs[1:]
			fault = &ft
			break
		}
	}
	f.mu.Unlock()
	if fault != nil {
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if fault.Status != 0 {
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			switch {
			case fault.Status == http.StatusTooManyRequests:
				writeErr(w, fault.Status, "LIMITS_EXCEPTION", "Too many requests")
			case fault.Status >= 500:
				writeErr(w, fault.Status, "", "Internal server error")
			default:
				writeErr(w, fault.Status, "", http.StatusText(fault.Status))
			}
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "Not authorized; a valid token is required")
		return
	}
	if r.Method != http.MethodGet {
		writeErr(w, http.StatusMethodNotAllowed, "", "HTTP 405 Method Not Allowed")
		return
	}
	fields := map[string]bool{}
	for _, fl := range strings.Split(r.URL.Query().Get("fields"), ",") {
		if fl = strings.TrimSpace(fl); fl != "" {
			fields[fl] = true
		}
	}
	switch {
	case strings.HasPrefix(path, "/api/v1/tables/name/"):
		fqn, err := url.PathUnescape(strings.TrimPrefix(path, "/api/v1/tables/name/"))
		if err != nil || fqn == "" || strings.Contains(fqn, "/") {
			writeErr(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid fully qualified name")
			return
		}
		f.mu.Lock()
		t, ok := f.tables[fqn]
		f.mu.Unlock()
		if !ok {
			writeErr(w, http.StatusNotFound, "ENTITY_NOT_FOUND", "table instance for "+fqn+" not found")
			return
		}
		writeJSON(w, pick(t, fields, "columns", "owners", "tags", "extension", "followers"))
	case path == "/api/v1/metrics":
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if r.URL.Query().Get("limit") != "" && (err != nil || limit < 0 || limit > 1000000) {
			writeErr(w, http.StatusBadRequest, "BAD_REQUEST", "query param limit must be between 0 and 1000000")
			return
		}
		f.mu.Lock()
		data := []map[string]any{}
		for i, m := range f.metrics {
			if r.URL.Query().Get("limit") != "" && i >= limit {
				break
			}
			data = append(data, pick(m, fields, "owners", "tags", "followers"))
		}
		f.mu.Unlock()
		writeJSON(w, map[string]any{"data": data, "paging": map[string]any{"total": len(data)}})
	case path == "/api/v1/search/query":
		f.mu.Lock()
		hits := []map[string]any{}
		if idx := r.URL.Query().Get("index"); idx == "metric_search_index" || idx == "all" {
			for _, m := range f.metrics {
				hits = append(hits, map[string]any{"_index": "metric_search_index", "_source": m})
			}
		}
		f.mu.Unlock()
		writeJSON(w, map[string]any{"hits": map[string]any{"total": map[string]any{"value": len(hits)}, "hits": hits}})
	default:
		writeErr(w, http.StatusNotFound, "", "HTTP 404 Not Found")
	}
}

// pick copies e without the optional blocks that were not requested.
func pick(e map[string]any, fields map[string]bool, optional ...string) map[string]any {
	out := map[string]any{}
	for k, v := range e {
		out[k] = v
	}
	for _, k := range optional {
		if !fields[k] {
			delete(out, k)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// OrdersTable is a table entity like the one in OpenMetadata's documentation.
func OrdersTable(fqn, description string) map[string]any {
	return map[string]any{
		"id": "455e3d9d-0000-4000-8000-000000000001", "name": fqn[strings.LastIndex(fqn, ".")+1:], "fullyQualifiedName": fqn,
		"description": description, "tableType": "Regular", "version": 0.1, "updatedAt": 1769982651320, "updatedBy": "admin",
		"columns": []any{
			map[string]any{"name": "amount", "dataType": "DECIMAL", "dataTypeDisplay": "decimal(38,2)",
				"description": "<p>Net amount in <b>EUR</b></p>", "fullyQualifiedName": fqn + ".amount", "ordinalPosition": 2,
				"tags":     []any{map[string]any{"tagFQN": "PII.None", "source": "Classification", "labelType": "Manual", "state": "Confirmed"}},
				"children": []any{}},
		},
		"tags": []any{
			map[string]any{"tagFQN": "PII.Sensitive", "source": "Classification", "labelType": "Manual", "state": "Confirmed", "name": "Sensitive"},
			map[string]any{"tagFQN": "Tier.Tier1", "source": "Classification", "labelType": "Manual", "state": "Confirmed"},
		},
		"owners":    []any{map[string]any{"id": "u1", "type": "user", "name": "ann", "fullyQualifiedName": "ann", "displayName": "Ann"}},
		"extension": map[string]any{},
	}
}
