package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/store"
)

// Audit actions written by the governance handlers.
const (
	auditUserCreate      = "user_create"
	auditUserUpdate      = "user_update"
	auditUserDelete      = "user_delete"
	auditPasswordSetup   = "password_setup"
	auditPermGrant       = "permission_grant"
	auditPermRevoke      = "permission_revoke"
	auditRequestCreate   = "access_request_create"
	auditRequestApprove  = "access_request_approve"
	auditRequestDeny     = "access_request_deny"
	auditTokenCreate     = "token_create"
	auditTokenRevoke     = "token_revoke"
	auditLoginSuccess    = "login_success"
	auditLoginFailure    = "login_failure"
	auditUpload          = "upload"
	auditResultOK        = "ok"
	naiveUTCLayout       = "2006-01-02T15:04:05.999999"
	auditSinceDateLayout = "2006-01-02"
)

// naiveUTC formats a time the way the original API serialised naive UTC timestamps.
func naiveUTC(t time.Time) string { return t.UTC().Format(naiveUTCLayout) }

// naiveUTCPtr is naiveUTC for nullable times.
func naiveUTCPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := naiveUTC(*t)
	return &s
}

// auditing names the audit entry of the change the handler is about to make and returns
// the request's context carrying it. Pass that context to the store call making the change:
// the entry is inserted in the change's own transaction, so the change never commits without
// its entry, and an entry that cannot be written rolls the change back (the request fails).
// An empty resource is filled with the id of the row the change creates.
func (s *Server) auditing(c echo.Context, action, resource string, params map[string]any) context.Context {
	userID := ""
	if u := currentUser(c); u != nil {
		userID = u.ID
	}
	return s.auditingAs(c, userID, action, resource, params)
}

// auditingAs is auditing for a known user id (a password set-up, before any user is on the
// request).
func (s *Server) auditingAs(c echo.Context, userID, action, resource string, params map[string]any) context.Context {
	return store.WithAuditEntry(c.Request().Context(), &store.AuditEntry{UserID: userID, Action: action,
		Resource: resource, Result: auditResultOK, Params: params})
}

// audit records, in its own transaction, an action that is not a change of the system
// database (starting a sync) or a summary of changes already audited one by one. The
// handler has not answered yet: when the entry cannot be written the request fails.
func (s *Server) audit(c echo.Context, action, resource, result string, params map[string]any) error {
	e := &store.AuditEntry{Action: action, Resource: resource, Result: result, Params: params}
	if u := currentUser(c); u != nil {
		e.UserID = u.ID
	}
	if err := s.store.LogAudit(c.Request().Context(), e); err != nil {
		s.log.ErrorContext(c.Request().Context(), "audit log write failed; the request fails", "action", action, "resource", resource, "error", err)
		return err
	}
	return nil
}

// auditRow is one element of GET /api/audit.
type auditRow struct {
	ID         string         `json:"id"`
	Timestamp  string         `json:"timestamp"`
	UserID     *string        `json:"user_id"`
	Action     string         `json:"action"`
	Resource   *string        `json:"resource"`
	Params     map[string]any `json:"params"`
	Result     *string        `json:"result"`
	DurationMS *int           `json:"duration_ms"`
	ClientIP   *string        `json:"client_ip"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// queryInvalid builds a 422 for a query parameter.
func queryInvalid(v *ValidationError, name, msg string) {
	v.Fields = append(v.Fields, FieldError{Loc: []string{"query", name}, Msg: msg, Type: "value_error"})
}

// parseAuditFilter reads and validates the query parameters of GET /api/audit.
func parseAuditFilter(c echo.Context) (store.AuditFilter, error) {
	f := store.AuditFilter{
		UserID:   strings.TrimSpace(c.QueryParam("user_id")),
		Action:   strings.TrimSpace(c.QueryParam("action")),
		Resource: strings.TrimSpace(c.QueryParam("resource")),
		Limit:    store.DefaultAuditLimit,
	}
	v := &ValidationError{}
	if raw := strings.TrimSpace(c.QueryParam("since")); raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			t, err = time.Parse(naiveUTCLayout, raw)
		}
		if err != nil {
			t, err = time.Parse(auditSinceDateLayout, raw)
		}
		if err != nil {
			queryInvalid(v, "since", "Input should be a date (2006-01-02) or an ISO 8601 timestamp")
		}
		f.Since = t.UTC()
	}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			queryInvalid(v, "limit", "Input should be a valid integer")
		case n < 1:
			queryInvalid(v, "limit", "Input should be at least 1")
		default:
			f.Limit = min(n, store.MaxAuditLimit)
		}
	}
	if raw := c.QueryParam("offset"); raw != "" {
		n, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			queryInvalid(v, "offset", "Input should be a valid integer")
		case n < 0:
			queryInvalid(v, "offset", "Input should be at least 0")
		default:
			f.Offset = n
		}
	}
	return f, v.Err()
}

// listAudit answers GET /api/audit (admin): the audit log newest first, filtered by user_id,
// action, resource and since, paged by limit (at most 500) and offset, with the total count.
func (s *Server) listAudit(c echo.Context) error {
	f, err := parseAuditFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	entries, err := s.store.QueryAudit(ctx, f)
	if err != nil {
		return err
	}
	total, err := s.store.CountAudit(ctx, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": auditRows(entries), "total": total, "limit": f.Limit, "offset": f.Offset})
}

// auditRows converts audit entries to their JSON rows.
func auditRows(entries []store.AuditEntry) []auditRow {
	out := make([]auditRow, 0, len(entries))
	for _, e := range entries {
		r := auditRow{ID: e.ID, Timestamp: naiveUTC(e.Timestamp), UserID: optString(e.UserID), Action: e.Action,
			Resource: optString(e.Resource), Params: e.Params, Result: optString(e.Result), ClientIP: optString(e.ClientIP)}
		if e.DurationMS > 0 {
			d := e.DurationMS
			r.DurationMS = &d
		}
		out = append(out, r)
	}
	return out
}

// auditLogin records a password sign-in attempt (never the password): login_success with
// the user, or login_failure with the refusal as result and the user when the e-mail exists.
// A sign-in that cannot be recorded does not succeed: the error is returned. A refusal that
// cannot be recorded is logged; it changed nothing.
func (s *Server) auditLogin(ctx context.Context, email, addr string, u *store.User, err error) error {
	email = store.NormalizeEmail(email)
	e := &store.AuditEntry{Action: auditLoginSuccess, Resource: email, Result: auditResultOK,
		Params: map[string]any{"email": email, "ip": addr, "method": "password"}}
	if err != nil {
		var lf *loginFailure
		if !errors.As(err, &lf) {
			return nil // a server error, not a refusal
		}
		e.Action, e.Result = auditLoginFailure, lf.msg
		if known, gerr := s.store.GetUserByEmail(ctx, email); gerr == nil {
			u = known
		}
	}
	if u != nil {
		e.UserID = u.ID
	}
	if werr := s.store.LogAudit(ctx, e); werr != nil {
		s.log.ErrorContext(ctx, "audit log write failed", "action", e.Action, "error", werr)
		if err == nil {
			return werr
		}
	}
	return nil
}
