package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"unicode"

	"github.com/labstack/echo/v4"
	"github.com/swaggest/jsonschema-go"
	"github.com/swaggest/openapi-go"
	"github.com/swaggest/openapi-go/openapi31"
)

// The OpenAPI document is built from the route table: each JSON route names its request body
// (Req), query parameters (Query, a struct with `query` tags) and answer (Resp, with Status),
// and the reflector turns those Go types into schemas. Path parameters come from the route
// pattern, security requirements from the route's minimum role, and every operation lists
// the error bodies the server sends ({"detail": "..."} and the 422 field list).

// errorBody is every error answer: {"detail": "..."}.
type errorBody struct {
	Detail string `json:"detail" required:"true" example:"Not authenticated"`
}

// validationErrorBody is the 422 answer: one entry per refused field, as FastAPI sends it
// (a few refusals that concern no single field, such as an unparsable metric file, send a
// detail string instead).
type validationErrorBody struct {
	Detail validationDetail `json:"detail" required:"true"`
}

// validationDetail is the detail of a 422: the field list, or a message.
type validationDetail struct{}

// JSONSchemaBytes is the schema of a 422 detail: the field list, or a message.
func (validationDetail) JSONSchemaBytes() ([]byte, error) {
	return []byte(`{"oneOf": [
		{"type": "array", "minItems": 1, "items": {"type": "object", "required": ["loc", "msg", "type"], "properties": {
			"loc": {"type": "array", "items": {"type": ["string", "integer"]}, "examples": [["body", "email"]]},
			"msg": {"type": "string", "examples": ["Field required"]},
			"type": {"type": "string", "examples": ["missing"]}}}},
		{"type": "string", "examples": ["Title is required"]}]}`), nil
}

// noBody marks an answer without a body (204).
type noBody struct{}

// Security scheme names of the document.
const (
	secBearer  = "bearer"
	secSession = "session"
	secCookie  = "access_token"
)

// isJSONRoute reports whether a route answers JSON and so must declare its types: the /api,
// /auth and /webhooks routes.
func isJSONRoute(path string) bool {
	return path == "/api" || strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/auth/") || strings.HasPrefix(path, "/webhooks/")
}

// routeTyped reports whether r declares what it answers.
func routeTyped(r Route) bool { return r.Resp != nil || r.Produces != "" }

// successStatus is the status of r's successful answer.
func successStatus(r Route) int {
	if r.Status != 0 {
		return r.Status
	}
	if _, ok := r.Resp.(noBody); ok {
		return http.StatusNoContent
	}
	return http.StatusOK
}

var echoParam = regexp.MustCompile(`:([a-zA-Z_]+)`)

// openAPIPath turns an echo pattern into an OpenAPI path: :id → {id}, a trailing * → {path}.
func openAPIPath(p string) (string, []string) {
	var params []string
	for _, m := range echoParam.FindAllStringSubmatch(p, -1) {
		params = append(params, m[1])
	}
	p = echoParam.ReplaceAllString(p, "{$1}")
	if strings.HasSuffix(p, "/*") {
		p = strings.TrimSuffix(p, "*") + "{path}"
		params = append(params, "path")
	}
	return p, params
}

// pathParams builds, once per document, a struct type whose fields are the path parameters.
func pathParams(names []string) any {
	fields := make([]reflect.StructField, 0, len(names))
	for i, n := range names {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("P%d", i),
			Type: reflect.TypeOf(""),
			Tag:  reflect.StructTag(fmt.Sprintf(`path:%q required:"true"`, n)),
		})
	}
	return reflect.New(reflect.StructOf(fields)).Elem().Interface()
}

// handlerSummary turns a handler's Go name (showUser, listQueryHistory) into a summary
// ("Show user", "List query history").
func handlerSummary(h echo.HandlerFunc) string {
	fn := runtime.FuncForPC(reflect.ValueOf(h).Pointer())
	if fn == nil {
		return ""
	}
	name := fn.Name()
	name = name[strings.LastIndex(name, ".")+1:]
	name = strings.TrimSuffix(name, "-fm")
	if strings.HasPrefix(name, "func") || name == "" {
		return ""
	}
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
			r = unicode.ToLower(r)
		} else if i == 0 {
			r = unicode.ToUpper(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tagAliases merges path segments that belong to one group of the reference.
var tagAliases = map[string]string{"discover-tables": "registry", "register-table": "registry", "queries": "query",
	"data": "sync", "settings": "sync", "upload": "catalog", "me": "users", "permissions": "users"}

// routeTag groups operations by the first meaningful path segment.
func routeTag(p string) string {
	t := pathTag(p)
	if a, ok := tagAliases[t]; ok {
		return a
	}
	return t
}

func pathTag(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) > 1 && (segs[0] == "api" || segs[0] == "auth") {
		if segs[0] == "auth" {
			return "auth"
		}
		if segs[1] == "admin" && len(segs) > 2 {
			return segs[2]
		}
		return segs[1]
	}
	return segs[0]
}

// buildOpenAPI builds the OpenAPI 3.1 document of routes.
func buildOpenAPI(routes []Route, version string) ([]byte, error) {
	r := openapi31.NewReflector()
	// Answer fields without omitempty are always sent, so the answer schemas require them.
	r.DefaultOptions = append(r.DefaultOptions, jsonschema.InterceptProp(func(p jsonschema.InterceptPropParams) error {
		oc, ok := openapi.OperationCtx(p.Context)
		if !p.Processed || !ok || !oc.IsProcessingResponse() || p.ParentSchema == nil {
			return nil
		}
		tag := p.Field.Tag.Get("json")
		if tag == "" || tag == "-" || strings.Contains(tag, ",omitempty") || strings.Contains(tag, ",omitzero") {
			return nil
		}
		for _, n := range p.ParentSchema.Required {
			if n == p.Name {
				return nil
			}
		}
		p.ParentSchema.Required = append(p.ParentSchema.Required, p.Name)
		return nil
	}))
	// Schema names without the Go package prefix: UserDetail, not HandlersUserDetail.
	r.DefaultOptions = append(r.DefaultOptions, jsonschema.InterceptDefName(func(_ reflect.Type, name string) string {
		name = strings.Replace(name, "Handlers", "", 1)
		if name != "" {
			name = strings.ToUpper(name[:1]) + name[1:]
		}
		return name
	}))
	spec := r.SpecEns()
	spec.Info.WithTitle("da API").WithVersion(version).
		WithDescription("The JSON API of the da data platform: catalog, sandboxed SQL, distribution to the `da` CLI, " +
			"uploads, corporate memory, access requests and administration. Errors are `{\"detail\": \"...\"}`; " +
			"validation errors (422) list the refused fields in `detail`. Roles go viewer < analyst < km_admin < admin; " +
			"each operation's security requirement names the lowest role that may call it.")
	spec.SetHTTPBearerTokenSecurity(secBearer, "JWT or da_pat_…",
		"A JWT from POST /auth/token or a personal access token (da_pat_…) in the Authorization header.")
	spec.SetAPIKeySecurity(secSession, "da_session", openapi.InCookie,
		"The browser session cookie; state-changing calls also need the X-CSRF-Token header.")
	spec.SetAPIKeySecurity(secCookie, "access_token", openapi.InCookie, "A JWT in the access_token cookie.")

	for _, rt := range routes {
		if !isJSONRoute(rt.Path) && !rt.Document {
			continue
		}
		path, params := openAPIPath(rt.Path)
		oc, err := r.NewOperationContext(rt.Method, path)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s %s: %w", rt.Method, rt.Path, err)
		}
		summary := rt.Summary
		if summary == "" {
			summary = handlerSummary(rt.Handler)
		}
		oc.SetSummary(summary)
		oc.SetTags(routeTag(rt.Path))
		desc := "Public."
		if rt.Min != "" {
			desc = "Requires the role " + string(rt.Min) + " or higher."
			if rt.Scrape {
				desc += " A Prometheus scraper may instead send the configured scrape token (DA_METRICS_TOKEN) as its bearer token."
			}
			for _, s := range []string{secBearer, secSession, secCookie} {
				oc.AddSecurity(s, string(rt.Min))
			}
		}
		if rt.Doc != "" {
			desc = rt.Doc + "\n\n" + desc
		}
		oc.SetDescription(desc)
		if len(params) > 0 {
			oc.AddReqStructure(pathParams(params))
		}
		if rt.Query != nil {
			oc.AddReqStructure(rt.Query)
		}
		if rt.Req != nil {
			oc.AddReqStructure(rt.Req, openapi.WithContentType(reqContentType(rt)))
		}
		status := successStatus(rt)
		switch {
		case rt.Produces != "":
			oc.AddRespStructure(nil, openapi.WithHTTPStatus(status), openapi.WithContentType(rt.Produces))
		case status == http.StatusNoContent:
			oc.AddRespStructure(nil, openapi.WithHTTPStatus(status))
		default:
			oc.AddRespStructure(rt.Resp, openapi.WithHTTPStatus(status))
		}
		for _, code := range errorStatuses(rt) {
			if code == http.StatusUnprocessableEntity {
				oc.AddRespStructure(validationErrorBody{}, openapi.WithHTTPStatus(code))
			} else {
				oc.AddRespStructure(errorBody{}, openapi.WithHTTPStatus(code))
			}
		}
		if err := r.AddOperation(oc); err != nil {
			return nil, fmt.Errorf("openapi: %s %s: %w", rt.Method, rt.Path, err)
		}
	}
	return json.MarshalIndent(r.Spec, "", "  ")
}

// reqContentType is the media type of a route's request body.
func reqContentType(r Route) string {
	if r.StreamBody {
		return "multipart/form-data"
	}
	return "application/json"
}

// errorStatuses lists the error answers an operation may give.
func errorStatuses(r Route) []int {
	// Every operation may be refused as bad input, unauthenticated (a protected route, or a
	// sign-in that fails), forbidden (role, table access, a read-only token) or not found.
	codes := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound}
	if r.Method != http.MethodGet {
		codes = append(codes, http.StatusRequestTimeout, http.StatusConflict)
	}
	if r.BodyLimit > 0 || r.StreamBody {
		codes = append(codes, http.StatusRequestEntityTooLarge)
	}
	if r.StreamBody {
		codes = append(codes, http.StatusUnsupportedMediaType)
	}
	codes = append(codes, http.StatusUnprocessableEntity)
	if r.Method != http.MethodGet {
		codes = append(codes, http.StatusInsufficientStorage)
	}
	codes = append(codes, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable)
	return codes
}

// openAPIDoc is the document of this server, built on first use.
func (s *Server) openAPIDoc() ([]byte, error) {
	s.openapiOnce.Do(func() {
		s.openapiJSON, s.openapiErr = buildOpenAPI(s.routes(), s.version)
	})
	return s.openapiJSON, s.openapiErr
}

// showOpenAPI is GET /openapi.json: the OpenAPI 3.1 document of the JSON API.
func (s *Server) showOpenAPI(c echo.Context) error {
	doc, err := s.openAPIDoc()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.JSONBlob(http.StatusOK, doc)
}

// openapiState is the built document, kept by the Server.
type openapiState struct {
	openapiOnce sync.Once
	openapiJSON []byte
	openapiErr  error
}

// showAPIDocs is GET /docs: the API reference page, drawn from /openapi.json by the vendored
// Swagger UI (static/swagger-ui), with nothing loaded from elsewhere.
func (s *Server) showAPIDocs(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.HTML(http.StatusOK, apiDocsPage)
}

const apiDocsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>da API reference</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-testid="api-docs"><noscript>The API reference needs JavaScript; the document itself is at <a href="/openapi.json">/openapi.json</a>.</noscript></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
`
