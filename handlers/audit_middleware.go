package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/store"
)

// auditMark follows one state-changing request: when it started and from where.
type auditMark struct {
	start time.Time
	ip    string
}

// fill is the store.WithAuditHook hook: every entry written while serving the request gets
// the client address and the time taken so far.
func (m *auditMark) fill(e *store.AuditEntry) {
	if e.ClientIP == "" {
		e.ClientIP = m.ip
	}
	if e.DurationMS <= 0 {
		e.DurationMS = elapsedMS(m.start)
	}
}

// elapsedMS is the time since start in whole milliseconds, rounded up so that a recorded
// request never claims to have taken no time.
func elapsedMS(start time.Time) int {
	return int(math.Ceil(float64(time.Since(start).Microseconds()) / 1000))
}

// auditRequests records every unsafe-method request (POST, PUT, PATCH, DELETE) that its
// handler did not audit itself: action "<METHOD> <route path>", the route parameters as
// resource, duration and client address. Bodies are never recorded: they may hold passwords.
//
// A request that changes the system database gets its entry in the same transaction as the
// change (store.WithAuditScope; result "ok"), so the change never commits unrecorded. A
// request that changed nothing there (refused, or not a database change) is recorded after
// the handler, with the status class as result; when that write fails and the answer has not
// been sent yet, the request fails instead.
func (s *Server) auditRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if isSafeMethod(req.Method) {
			return next(c)
		}
		m := &auditMark{start: time.Now(), ip: c.RealIP()}
		generic := func(result string, params map[string]any) *store.AuditEntry {
			e := &store.AuditEntry{Action: req.Method + " " + c.Path(), Resource: routeParams(c), Result: result, Params: params}
			if u := currentUser(c); u != nil {
				e.UserID = u.ID
			}
			return e
		}
		ctx := store.WithAuditHook(req.Context(), m.fill)
		ctx, scope := store.WithAuditScope(ctx, func() *store.AuditEntry {
			return generic(auditResultOK, map[string]any{"method": req.Method, "path": req.URL.Path})
		})
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		if scope.Recorded() {
			return err
		}
		status := responseStatus(c, err)
		e := generic(fmt.Sprintf("%dxx", status/100), map[string]any{"method": req.Method, "path": req.URL.Path, "status": status})
		// The request's own context may be cancelled by now (the client left); the entry is
		// written all the same.
		if werr := s.store.LogAudit(context.WithoutCancel(ctx), e); werr != nil {
			s.auditLost.Add(1)
			s.log.ErrorContext(c.Request().Context(), "audit log write failed", "action", e.Action, "status", status,
				"lost_since_start", s.auditLost.Load(), "error", werr)
			if !c.Response().Committed {
				return werr
			}
		}
		return err
	}
}

// routeParams formats the route parameters as "name=value&name=value".
func routeParams(c echo.Context) string {
	names, values := c.ParamNames(), c.ParamValues()
	parts := make([]string, 0, len(names))
	for i, n := range names {
		if i < len(values) {
			parts = append(parts, n+"="+values[i])
		}
	}
	return strings.Join(parts, "&")
}

// responseStatus is the status the client gets: the written one, or the one the error
// handler will send for err.
func responseStatus(c echo.Context, err error) int {
	if err == nil {
		if st := c.Response().Status; st != 0 {
			return st
		}
		return http.StatusOK
	}
	var ve *ValidationError
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}
