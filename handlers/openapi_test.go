package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// apiSchemas checks answers of the test server against the OpenAPI document: every JSON
// answer of a documented route must match the schema declared for its route and status.
// The document is the same for every test server, so it is built and compiled once.
var apiSchemas struct {
	once     sync.Once
	err      error
	doc      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

const apiDocURL = "mem://da/openapi.json"

func loadAPISchemas(env *testEnv) error {
	apiSchemas.once.Do(func() {
		raw, err := env.srv.openAPIDoc()
		if err != nil {
			apiSchemas.err = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			apiSchemas.err = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource(apiDocURL, doc); err != nil {
			apiSchemas.err = err
			return
		}
		apiSchemas.doc, _ = doc.(map[string]any)
		apiSchemas.compiler = c
		apiSchemas.compiled = map[string]*jsonschema.Schema{}
	})
	return apiSchemas.err
}

// pointerEscape escapes one JSON pointer segment.
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// checkAnswerSchema validates rec, the answer to method+target, against the document. It
// reports a JSON answer with a status its route does not declare, or one that does not match.
func (env *testEnv) checkAnswerSchema(method, target string, rec *httptest.ResponseRecorder) {
	env.t.Helper()
	if _, bench := env.t.(*testing.B); bench {
		return // benchmarks measure the server, not this check
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || method == http.MethodHead {
		return
	}
	u, err := url.Parse(target)
	if err != nil {
		return
	}
	c := env.e.NewContext(nil, nil)
	env.e.Router().Find(method, u.Path, c)
	pattern := c.Path()
	rt, found := findRoute(env, method, pattern)
	if !found || !(isJSONRoute(pattern) || rt.Document) {
		return
	}
	if rt.Produces != "" && rec.Code < 400 {
		// A route whose answer is not JSON (a download, an export) may still answer JSON
		// when asked for that format.
		return
	}
	if err := loadAPISchemas(env); err != nil {
		env.t.Errorf("OpenAPI document: %v", err)
		return
	}
	path, _ := openAPIPath(pattern)
	status := strconv.Itoa(rec.Code)
	paths, _ := apiSchemas.doc["paths"].(map[string]any)
	op, _ := paths[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		env.t.Errorf("%s %s answered JSON but is not in the OpenAPI document", method, pattern)
		return
	}
	resps, _ := op["responses"].(map[string]any)
	resp, _ := resps[status].(map[string]any)
	if resp == nil {
		env.t.Errorf("%s %s answered %s, which its OpenAPI operation does not declare: %s", method, pattern, status, rec.Body)
		return
	}
	content, _ := resp["content"].(map[string]any)
	if _, ok := content["application/json"]; !ok {
		env.t.Errorf("%s %s answered %s with JSON, declared without a JSON body", method, pattern, status)
		return
	}
	ptr := apiDocURL + "#/paths/" + pointerEscape(path) + "/" + strings.ToLower(method) + "/responses/" + status + "/content/application~1json/schema"
	apiSchemas.mu.Lock()
	sch, ok := apiSchemas.compiled[ptr]
	if !ok {
		sch, err = apiSchemas.compiler.Compile(ptr)
		if err != nil {
			apiSchemas.mu.Unlock()
			env.t.Errorf("compile the schema of %s %s %s: %v", method, pattern, status, err)
			return
		}
		apiSchemas.compiled[ptr] = sch
	}
	apiSchemas.mu.Unlock()
	body, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		env.t.Errorf("%s %s answered invalid JSON: %v", method, pattern, err)
		return
	}
	if err := sch.Validate(body); err != nil {
		env.t.Errorf("%s %s answered %s not matching its declared schema: %v\nbody: %.2000s", method, pattern, status, err, rec.Body)
	}
}

// findRoute finds the route table entry of method and pattern.
func findRoute(env *testEnv, method, pattern string) (Route, bool) {
	for _, r := range env.srv.routes() {
		if r.Method == method && r.Path == pattern {
			return r, true
		}
	}
	return Route{}, false
}

// TestEveryJSONRouteIsDocumented fails for a JSON route that declares no types, so that a
// new route is documented from its first commit.
func TestEveryJSONRouteIsDocumented(t *testing.T) {
	env := newTestEnv(t)
	raw, err := env.srv.openAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range env.srv.routes() {
		if !isJSONRoute(r.Path) {
			continue
		}
		if !routeTyped(r) {
			t.Errorf("%s %s answers JSON but declares no types (Resp, or Produces for other media)", r.Method, r.Path)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodDelete && r.Req == nil && r.BodyLimit > 0 && r.Doc == "" {
			// A body-taking route either declares its body or says why it takes none.
			switch r.Path {
			case "/api/query/:id/cancel", "/api/admin/queries/:id/cancel", "/api/access-requests/:id/approve",
				"/api/access-requests/:id/deny", "/api/catalog/profile/:table/refresh":
			default:
				t.Errorf("%s %s takes a body but declares no Req", r.Method, r.Path)
			}
		}
		path, _ := openAPIPath(r.Path)
		var op struct {
			Summary string `json:"summary"`
		}
		if raw, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s is missing from the document", r.Method, path)
		} else if json.Unmarshal(raw, &op) != nil || op.Summary == "" {
			t.Errorf("%s %s has no summary (set Summary when the handler is a closure)", r.Method, path)
		}
	}
}

// TestOpenAPIDocumentIsValid checks GET /openapi.json against the OpenAPI 3.1 schema, and
// that it carries the security schemes, roles, error bodies and parameters.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	env := newTestEnv(t)
	rec := env.do(request{method: "GET", path: "/openapi.json"})
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	// The OpenAPI Initiative's published JSON Schema of OpenAPI 3.1 documents (as shipped in
	// the swaggest/openapi-go module).
	f, err := os.Open("testdata/openapi-3.1.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("https://spec.openapis.org/oas/3.1/schema/2022-10-07", meta); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("https://spec.openapis.org/oas/3.1/schema/2022-10-07")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3.1: %v", err)
	}
	// A broken document fails the same check (the check can fail).
	broken := map[string]any{"openapi": "3.1.0", "paths": map[string]any{}}
	if err := sch.Validate(broken); err == nil {
		t.Error("a document without info passed the OpenAPI 3.1 check")
	}

	var d struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			SecuritySchemes map[string]any `json:"securitySchemes"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			Security   []map[string][]string `json:"security"`
			Parameters []struct {
				Name, In string
			} `json:"parameters"`
			RequestBody *struct {
				Content map[string]any `json:"content"`
			} `json:"requestBody"`
			Responses map[string]struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1.x", d.OpenAPI)
	}
	for _, s := range []string{secBearer, secSession, secCookie} {
		if d.Components.SecuritySchemes[s] == nil {
			t.Errorf("security scheme %s missing", s)
		}
	}
	q := d.Paths["/api/query"]["post"]
	if len(q.Security) == 0 || q.Security[0][secBearer] == nil || q.Security[0][secBearer][0] != "analyst" {
		t.Errorf("POST /api/query security %v, want the analyst role", q.Security)
	}
	if q.RequestBody == nil || q.RequestBody.Content["application/json"] == nil {
		t.Error("POST /api/query has no JSON request body")
	}
	for _, code := range []string{"400", "401", "403", "422"} {
		if _, ok := q.Responses[code]; !ok {
			t.Errorf("POST /api/query does not declare %s", code)
		}
	}
	if len(d.Paths["/api/health"]["get"].Security) != 0 {
		t.Error("GET /api/health is public but has a security requirement")
	}
	hasParam := func(path, method, name, in string) {
		t.Helper()
		for _, p := range d.Paths[path][method].Parameters {
			if p.Name == name && p.In == in {
				return
			}
		}
		t.Errorf("%s %s lacks the %s parameter %s", method, path, in, name)
	}
	hasParam("/api/users/{id}", "get", "id", "path")
	hasParam("/api/memory", "get", "per_page", "query")
	hasParam("/api/audit", "get", "limit", "query")
	hasParam("/api/catalog/metrics/{path}", "get", "path", "path")
	if _, ok := d.Paths["/api/upload/table"]["post"].RequestBody.Content["multipart/form-data"]; !ok {
		t.Error("POST /api/upload/table has no multipart body")
	}
}

func TestAPIDocsPage(t *testing.T) {
	env := newTestEnv(t)
	rec := env.do(request{method: "GET", path: "/docs"})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "/static/swagger-ui/swagger-ui-bundle.js") {
		t.Fatalf("GET /docs: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "https://") {
		t.Error("/docs refers to another site")
	}
	for _, p := range []string{"/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css", "/static/api-docs.js"} {
		if r := env.do(request{method: "GET", path: p}); r.Code != http.StatusOK || r.Body.Len() == 0 {
			t.Errorf("GET %s: %d", p, r.Code)
		}
	}
}
