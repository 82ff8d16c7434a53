package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"da/store"
)

// auditMark follows one state-changing request: when it started, from where, and whether a
// handler already wrote an audit entry for it.
type auditMark struct {
	start   time.Time
	ip      string
	audited atomic.Bool
}

// fill is the store.WithAuditHook hook: every entry written while serving the request gets
// the client address and the time taken so far, and the request counts as audited.
func (m *auditMark) fill(e *store.AuditEntry) {
	if e.ClientIP == "" {
		e.ClientIP = m.ip
	}
	if e.DurationMS <= 0 {
		e.DurationMS = elapsedMS(m.start)
	}
	m.audited.Store(true)
}

// elapsedMS is the time since start in whole milliseconds, rounded up so that a recorded
// request never claims to have taken no time.
func elapsedMS(start time.Time) int {
	return int(math.Ceil(float64(time.Since(start).Microseconds()) / 1000))
}

// auditRequests records every unsafe-method request (POST, PUT, PATCH, DELETE) that its
// handler did not audit itself: action "<METHOD> <route path>", the route parameters as
// resource, the status class as result, duration and client address. Bodies are never
// recorded: they may hold passwords.
func (s *Server) auditRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if isSafeMethod(req.Method) {
			return next(c)
		}
		m := &auditMark{start: time.Now(), ip: c.RealIP()}
		ctx := store.WithAuditHook(req.Context(), m.fill)
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		if m.audited.Load() {
			return err
		}
		status := responseStatus(c, err)
		e := &store.AuditEntry{Action: req.Method + " " + c.Path(), Resource: routeParams(c),
			Result: fmt.Sprintf("%dxx", status/100),
			Params: map[string]any{"method": req.Method, "path": req.URL.Path, "status": status}}
		if u := currentUser(c); u != nil {
			e.UserID = u.ID
		}
		// The request's own context may be cancelled by now (the client left); the entry is
		// written all the same.
		if werr := s.store.LogAudit(context.WithoutCancel(ctx), e); werr != nil {
			s.log.Error("audit log write failed", "action", e.Action, "error", werr)
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
