// Package jiratest is an in-process fake of Jira Cloud's REST API v3 and its SLA fields,
// following the documented shapes: issues by key or id, remote links as a bare array,
// POST /rest/api/3/search/jql paged by nextPageToken (no total), the 404 error envelope,
// and injectable 429 (with Retry-After), 5xx and slow answers.
package jiratest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Email and Token are the credentials the fake accepts (Basic auth).
const (
	Email = "bot@example.com"
	Token = "jira-token"
)

// Server is the fake. Issues are raw JSON objects as Jira returns them.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	issues      map[string]map[string]any // by key
	remote      map[string][]any
	sla         map[string]map[string]any // key -> SLA fields (and status for healing)
	fail429     int
	retryAfter  string
	fail5xx     int
	delay       time.Duration
	requests    map[string]int
	PageSize    int
	attachments map[string][]byte
}

// New starts a fake Jira; close it with Close.
func New() *Server {
	f := &Server{issues: map[string]map[string]any{}, remote: map[string][]any{}, sla: map[string]map[string]any{},
		requests: map[string]int{}, PageSize: 100, attachments: map[string][]byte{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// Put stores (or replaces) an issue.
func (f *Server) Put(issue map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues[issue["key"].(string)] = issue
}

// Delete removes an issue (its fetch then answers 404).
func (f *Server) Delete(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.issues, key)
}

// Issue returns a copy of the stored issue, or nil.
func (f *Server) Issue(key string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(f.issues[key])
}

// Update changes one issue in place under the fake's lock.
func (f *Server) Update(key string, fn func(issue map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if is := f.issues[key]; is != nil {
		fn(is)
	}
}

// SetRemoteLinks sets the issue's remote links.
func (f *Server) SetRemoteLinks(key string, links []any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remote[key] = links
}

// SetSLA sets what the SLA account sees for key: the two SLA fields and optionally status.
func (f *Server) SetSLA(key string, fields map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sla[key] = fields
}

// SetAttachment serves content at /attachment/content/<id>.
func (f *Server) SetAttachment(id string, content []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attachments[id] = content
}

// Fail429 makes the next n requests answer 429 with this Retry-After.
func (f *Server) Fail429(n int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail429, f.retryAfter = n, retryAfter
}

// Fail5xx makes the next n requests answer 503 without Retry-After.
func (f *Server) Fail5xx(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail5xx = n
}

// Slow delays every answer by d.
func (f *Server) Slow(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Requests returns how many requests hit a route ("GET issue", "POST search", "GET sla", ...).
func (f *Server) Requests(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[route]
}

// SLABaseURL is the base the SLA client uses (the fake serves it under /sla).
func (f *Server) SLABaseURL() string { return f.URL + "/sla" }

var (
	issueRE  = regexp.MustCompile(`^/rest/api/3/issue/([^/]+)$`)
	remoteRE = regexp.MustCompile(`^/rest/api/3/issue/([^/]+)/remotelink$`)
	attachRE = regexp.MustCompile(`^/attachment/content/([0-9]+)$`)
)

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay := f.delay
	if f.fail429 > 0 {
		f.fail429--
		ra := f.retryAfter
		f.requests["429"]++
		f.mu.Unlock()
		w.Header().Set("Retry-After", ra)
		w.Header().Set("RateLimit-Reason", "jira-burst-based")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"errorMessages": []string{"Rate limit exceeded."}})
		return
	}
	if f.fail5xx > 0 {
		f.fail5xx--
		f.requests["5xx"]++
		f.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"errorMessages": []string{"Service unavailable."}})
		return
	}
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if u, p, ok := r.BasicAuth(); !ok || u != Email || p != Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errorMessages": []string{"Unauthorized"}})
		return
	}
	path := r.URL.Path
	sla := strings.HasPrefix(path, "/sla/")
	path = strings.TrimPrefix(path, "/sla")
	switch {
	case r.Method == http.MethodPost && path == "/rest/api/3/search/jql":
		f.search(w, r)
	case r.Method == http.MethodGet && remoteRE.MatchString(path):
		key := remoteRE.FindStringSubmatch(path)[1]
		f.mu.Lock()
		f.requests["GET remotelink"]++
		_, known := f.findLocked(key)
		links := f.remote[key]
		f.mu.Unlock()
		if !known {
			notFound(w)
			return
		}
		if links == nil {
			links = []any{}
		}
		writeJSON(w, http.StatusOK, links)
	case r.Method == http.MethodGet && issueRE.MatchString(path):
		f.getIssue(w, r, issueRE.FindStringSubmatch(path)[1], sla)
	case r.Method == http.MethodGet && attachRE.MatchString(path):
		f.mu.Lock()
		b, ok := f.attachments[attachRE.FindStringSubmatch(path)[1]]
		f.mu.Unlock()
		if !ok {
			notFound(w)
			return
		}
		_, _ = w.Write(b)
	default:
		notFound(w)
	}
}

func (f *Server) findLocked(keyOrID string) (map[string]any, bool) {
	if is, ok := f.issues[keyOrID]; ok {
		return is, true
	}
	for _, is := range f.issues {
		if fmt.Sprint(is["id"]) == keyOrID {
			return is, true
		}
	}
	return nil, false
}

func (f *Server) getIssue(w http.ResponseWriter, r *http.Request, keyOrID string, sla bool) {
	f.mu.Lock()
	route := "GET issue"
	if sla {
		route = "GET sla"
	}
	f.requests[route]++
	is, ok := f.findLocked(keyOrID)
	is = clone(is)
	var over map[string]any
	if ok {
		over = clone(f.sla[is["key"].(string)])
	}
	f.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	fields, _ := is["fields"].(map[string]any)
	for k, v := range over {
		fields[k] = v
	}
	if want := r.URL.Query().Get("fields"); want != "" && want != "*all" {
		keep := map[string]any{}
		for _, k := range strings.Split(want, ",") {
			if v, ok := fields[k]; ok {
				keep[k] = v
			}
		}
		is["fields"] = keep
		delete(is, "changelog")
	}
	writeJSON(w, http.StatusOK, is)
}

func (f *Server) search(w http.ResponseWriter, r *http.Request) {
	var req struct {
		JQL           string   `json:"jql"`
		MaxResults    int      `json:"maxResults"`
		Fields        []string `json:"fields"`
		NextPageToken string   `json:"nextPageToken"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || strings.TrimSpace(req.JQL) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"The JQL query is missing or invalid."}})
		return
	}
	f.mu.Lock()
	f.requests["POST search"]++
	project := ""
	if m := regexp.MustCompile(`project\s*=\s*"?([A-Z][A-Z0-9_]*)"?`).FindStringSubmatch(req.JQL); m != nil {
		project = m[1]
	}
	keys := make([]string, 0, len(f.issues))
	for k := range f.issues {
		if project == "" || strings.HasPrefix(k, project+"-") {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	size := req.MaxResults
	if size <= 0 || size > f.PageSize {
		size = f.PageSize
	}
	start := 0
	if req.NextPageToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.NextPageToken, "tok-"))
		if err != nil || n < 0 || n > len(keys) {
			f.mu.Unlock()
			writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Invalid nextPageToken."}})
			return
		}
		start = n
	}
	end := min(start+size, len(keys))
	issues := make([]any, 0, end-start)
	for _, k := range keys[start:end] {
		is := f.issues[k]
		// fields defaults to ids only: return just what was asked for.
		out := map[string]any{"id": is["id"], "key": k, "self": is["self"]}
		if len(req.Fields) > 0 {
			fields := map[string]any{}
			src, _ := is["fields"].(map[string]any)
			for _, name := range req.Fields {
				if v, ok := src[name]; ok {
					fields[name] = v
				}
			}
			out["fields"] = fields
		}
		issues = append(issues, out)
	}
	f.mu.Unlock()
	resp := map[string]any{"issues": issues, "isLast": end >= len(keys)}
	if end < len(keys) {
		resp["nextPageToken"] = fmt.Sprintf("tok-%d", end)
	}
	writeJSON(w, http.StatusOK, resp)
}

func keyLess(a, b string) bool {
	pa, na, _ := strings.Cut(a, "-")
	pb, nb, _ := strings.Cut(b, "-")
	if pa != pb {
		return pa < pb
	}
	ia, _ := strconv.Atoi(na)
	ib, _ := strconv.Atoi(nb)
	return ia < ib
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{
		"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}, "errors": map[string]any{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// Sign is the X-Hub-Signature value of body under secret ("sha256=<hex>").
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
