package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"da/engine/diskfull"
	"da/views"
)

// diskFullDetail is the 507 answer when a write failed because the server's disk is full. It
// names no path: the cause with its paths goes to the log only.
const diskFullDetail = "The server's disk is full: the change was not saved. Ask an administrator to free disk space, then try again."

// FieldError is one entry of a 422 detail list, in the shape FastAPI clients expect.
type FieldError struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// ValidationError is returned by handlers for bad input; it renders as 422 with a detail list.
type ValidationError struct {
	Fields []FieldError
}

// Error joins the field messages.
func (v *ValidationError) Error() string {
	parts := make([]string, 0, len(v.Fields))
	for _, f := range v.Fields {
		parts = append(parts, strings.Join(f.Loc, ".")+": "+f.Msg)
	}
	return strings.Join(parts, "; ")
}

// Add records a problem with one body field.
func (v *ValidationError) Add(field, msg, typ string) {
	v.Fields = append(v.Fields, FieldError{Loc: []string{"body", field}, Msg: msg, Type: typ})
}

// Err returns v when it holds any problem, else nil.
func (v *ValidationError) Err() error {
	if v == nil || len(v.Fields) == 0 {
		return nil
	}
	return v
}

// fieldInvalid builds a single-field validation error.
func fieldInvalid(field, msg string) error {
	v := &ValidationError{}
	v.Add(field, msg, "value_error")
	return v
}

// apiError is an error with a status and a detail string for JSON clients.
func apiError(status int, detail string) error {
	return echo.NewHTTPError(status, detail)
}

// isAPIPath reports whether a path answers in JSON rather than HTML.
func isAPIPath(p string) bool {
	return p == "/api" || strings.HasPrefix(p, "/api/") || p == "/metrics" || strings.HasPrefix(p, "/auth/") || strings.HasPrefix(p, "/webhooks/")
}

// errorHandler is the single echo HTTPErrorHandler: JSON {"detail"} for API paths, an HTML
// error page for browsers. Internal errors are logged and never shown.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	var detail any = "Internal server error"
	var ve *ValidationError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ve):
		status, detail = http.StatusUnprocessableEntity, ve.Fields
	case isDiskFull(err):
		status, detail = http.StatusInsufficientStorage, diskFullDetail
	case errors.As(err, &he):
		status = he.Code
		switch m := he.Message.(type) {
		case string:
			detail = m
		case error:
			detail = m.Error()
		default:
			detail = http.StatusText(status)
		}
		if status == http.StatusNotFound && detail == "Not Found" {
			detail = "Not Found"
		}
	}
	req := c.Request()
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	attrs := []any{"method", req.Method, "path", req.URL.Path, "status", status, "request_id", rid}
	if u := currentUser(c); u != nil {
		attrs = append(attrs, "user", u.Email)
	}
	if status >= 500 {
		s.log.Error("request failed", append(attrs, "error", err.Error())...)
	} else {
		s.log.Debug("request refused", append(attrs, "detail", fmt.Sprint(detail))...)
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if isAPIPath(req.URL.Path) || !acceptsHTML(req) {
		if status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", "Bearer")
		}
		_ = c.JSON(status, map[string]any{"detail": detail})
		return
	}
	title, msg := errorText(status, detail)
	var shell *views.Shell
	if u := currentUser(c); u != nil {
		sh := s.shell(c, "", title)
		shell = &sh
	}
	ed := views.ErrorData{Status: status, Title: title, Message: msg, RequestID: rid}
	if dt := (deniedTable{}); errors.As(err, &dt) {
		ed.RequestTable = dt.id
	}
	_ = render(c, status, views.ErrorPage(shell, ed))
}

// isDiskFull reports an error caused by a full disk: ENOSPC or EDQUOT anywhere in its chain,
// or DuckDB's "No space left on device" in its text. A refusal the handler already chose
// (an HTTP error below 500) keeps its status; only its wrapped cause is looked at.
func isDiskFull(err error) bool {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code < http.StatusInternalServerError {
		return he.Internal != nil && diskfull.Is(he.Internal)
	}
	return diskfull.Is(err)
}

func acceptsHTML(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return a == "" || strings.Contains(a, "text/html") || strings.Contains(a, "*/*")
}

// errorText picks the page title and a safe message for an error page.
func errorText(status int, detail any) (string, string) {
	switch status {
	case http.StatusNotFound:
		return "Page not found", "The page you asked for does not exist or was moved."
	case http.StatusForbidden:
		if d, ok := detail.(string); ok && d != "" && d != "Forbidden" {
			return "Access denied", d
		}
		return "Access denied", "Your role does not allow you to open this page."
	case http.StatusMethodNotAllowed:
		return "Method not allowed", "This address does not accept that kind of request."
	case http.StatusTooManyRequests:
		return "Too many requests", "Please wait a moment and try again."
	case http.StatusInsufficientStorage:
		return "The server's disk is full", "Nothing was saved because the server has run out of disk space. Ask an administrator to free some space, then try again."
	}
	if status >= 500 {
		return "Something went wrong", "An unexpected error occurred. It has been logged; please try again."
	}
	if d, ok := detail.(string); ok {
		return http.StatusText(status), d
	}
	return http.StatusText(status), "The request could not be processed."
}

// readBody reads the whole request body; an oversized body is a 413.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, bodyReadError(err)
	}
	return body, nil
}

// bindJSON decodes a JSON object body into dst. Malformed JSON, a body that is not an
// object, and fields of the wrong type become 422 errors naming the field; an oversized body
// becomes 413.
func bindJSON(c echo.Context, dst any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	v := &ValidationError{}
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		v.Fields = append(v.Fields, FieldError{Loc: []string{"body"}, Msg: "Field required: request body is empty", Type: "missing"})
		return v
	}
	if trimmed[0] != '{' {
		v.Fields = append(v.Fields, FieldError{Loc: []string{"body"}, Msg: "Request body must be a JSON object", Type: "model_attributes_type"})
		return v
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "body"
			}
			v.Add(field, fmt.Sprintf("Input should be a valid %s", jsonKind(te.Type.Kind().String())), "type_error")
		case errors.As(err, &se):
			v.Fields = append(v.Fields, FieldError{Loc: []string{"body", fmt.Sprint(se.Offset)}, Msg: "JSON decode error: " + se.Error(), Type: "json_invalid"})
		default:
			v.Fields = append(v.Fields, FieldError{Loc: []string{"body"}, Msg: "JSON decode error: " + err.Error(), Type: "json_invalid"})
		}
		return v
	}
	if dec.More() {
		v.Fields = append(v.Fields, FieldError{Loc: []string{"body"}, Msg: "JSON decode error: trailing data after the object", Type: "json_invalid"})
		return v
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "int32", "float64", "uint", "uint64":
		return "number"
	case "slice":
		return "list"
	case "map", "struct", "ptr":
		return "object"
	}
	return k
}
