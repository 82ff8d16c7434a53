package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
)

// ctxKey is the key type for values this package keeps in echo contexts.
const (
	ctxUser    = "da.user"
	ctxAuthVia = "da.authVia"
	ctxAuthErr = "da.authErr"
	ctxPAT     = "da.pat" // *store.PersonalToken when authenticated by a personal access token
)

// How a request was authenticated.
const (
	viaBearer  = "bearer"
	viaSession = "session"
	viaCookie  = "cookie"
)

// sessionUserKey and sessionCSRFKey are the scs session keys.
const (
	sessionUserKey = "user_id"
	sessionCSRFKey = "csrf"
	// sessionAuthAtKey is when the session signed in (Unix microseconds): a session older
	// than its user's valid-after time (a password change, a deactivation) has ended.
	sessionAuthAtKey = "auth_at"
)

// currentUser is the authenticated user of the request, or nil.
func currentUser(c echo.Context) *store.User {
	u, _ := c.Get(ctxUser).(*store.User)
	return u
}

// userRole is the role of the current user as read from the database on this request.
func userRole(c echo.Context) auth.Role {
	if u := currentUser(c); u != nil {
		return auth.Role(u.Role)
	}
	return ""
}

// rejectBadPaths refuses paths with traversal, encoded separators, backslashes, NUL or
// invalid UTF-8 (in the path or the query string) before routing, so that they can never be
// cleaned into another route or redirected.
func rejectBadPaths(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw := c.Request().URL.EscapedPath()
		low := strings.ToLower(raw)
		bad := strings.Contains(low, "%2f") || strings.Contains(low, "%5c") || strings.Contains(low, "%00") ||
			strings.Contains(raw, "\\") || strings.ContainsRune(c.Request().URL.Path, 0)
		if !bad {
			for _, seg := range strings.Split(c.Request().URL.Path, "/") {
				if seg == ".." || seg == "." {
					bad = true
					break
				}
			}
		}
		if bad {
			return apiError(http.StatusBadRequest, "Invalid path: separators, '..' and NUL are not allowed in path segments")
		}
		// Every id, table name and key taken from the path is text; bytes that are not UTF-8
		// would only fail later, deep in a store or the engine.
		if !utf8.ValidString(c.Request().URL.Path) {
			return apiError(http.StatusBadRequest, "Invalid path: it must be valid UTF-8 once percent-decoded")
		}
		if !validQueryUTF8(c.Request().URL.RawQuery) {
			return apiError(http.StatusBadRequest, "Invalid query string: parameters must be valid UTF-8 once percent-decoded")
		}
		return next(c)
	}
}

// validQueryUTF8 reports whether a raw query string decodes to valid UTF-8. A query with no
// escapes is checked as it is; otherwise it is decoded piece by piece, as ParseQuery would
// (a piece that does not decode is left to the handler, which ignores it as ParseQuery does).
func validQueryUTF8(raw string) bool {
	if !strings.Contains(raw, "%") {
		return utf8.ValidString(raw)
	}
	for _, piece := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == '=' }) {
		if dec, err := url.QueryUnescape(piece); err == nil && !utf8.ValidString(dec) {
			return false
		}
	}
	return true
}

// accessLog writes one slog line per request.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		elapsed := time.Since(start)
		s.metrics.observeRequest(c.Path(), req.Method, res.Status, elapsed)
		attrs := []any{"method", req.Method, "path", req.URL.Path, "status", res.Status,
			"bytes", res.Size, "duration_ms", float64(elapsed.Microseconds()) / 1000,
			"ip", c.RealIP(), "request_id", res.Header().Get(echo.HeaderXRequestID)}
		if u := currentUser(c); u != nil {
			attrs = append(attrs, "user", u.Email)
		}
		if strings.HasPrefix(req.URL.Path, "/static/") || req.URL.Path == "/readyz" {
			s.log.Debug("request", attrs...)
		} else {
			s.log.Info("request", attrs...)
		}
		return nil
	}
}

// recoverPanics turns a panic in a handler into a logged 500.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.ErrorContext(c.Request().Context(), "panic in handler", "path", c.Request().URL.Path, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = errors.New("internal error")
			}
		}()
		return next(c)
	}
}

// securityHeaders sets the headers every response carries. HSTS goes out on TLS and also
// when SERVER_URL is https://, which is how a server behind a TLS-terminating proxy knows
// its clients use HTTPS. JSON answers (tokens, set-up links, user data) are never stored by
// a cache unless a handler says otherwise (downloads revalidate with their ETag).
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		if c.Request().TLS != nil || (s.cfg != nil && strings.HasPrefix(s.cfg.ServerURL, "https://")) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if isAPIPath(c.Request().URL.Path) {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// limitBody caps request bodies; reads past the cap fail with http.MaxBytesError (→ 413).
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large (limit %d bytes)", n))
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			return next(c)
		}
	}
}

// loadSession loads the browser session, except for API requests with an Authorization
// header: those authenticate by their token alone (authenticate never reads the session for
// them, nor does CSRF protection), so the session store is not asked and no session cookie
// is sent back.
func (s *Server) loadSession() echo.MiddlewareFunc {
	load := echo.WrapMiddleware(s.sessions.LoadAndSave)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withSession := load(next)
		return func(c echo.Context) error {
			req := c.Request()
			if req.Header.Get("Authorization") != "" && strings.HasPrefix(req.URL.Path, "/api/") {
				return next(c)
			}
			return withSession(c)
		}
	}
}

// authenticate resolves the caller from a bearer token, the browser session, or the
// access_token cookie, loading the user (and so the role) from the database every time.
// A bad bearer token is an error right away; a stale session is simply anonymous.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := req.Context()
		if h := req.Header.Get("Authorization"); h != "" {
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || strings.TrimSpace(token) == "" {
				c.Set(ctxAuthErr, apiError(http.StatusUnauthorized, "Missing or invalid Authorization header"))
				return next(c)
			}
			token = strings.TrimSpace(token)
			if auth.IsPAT(token) {
				return next(s.authenticatePAT(c, token))
			}
			u, err := s.userFromToken(ctx, token)
			if err != nil {
				// Public routes ignore a bad token; protected ones answer with this error.
				c.Set(ctxAuthErr, err)
				return next(c)
			}
			c.Set(ctxUser, u)
			c.Set(ctxAuthVia, viaBearer)
			return next(c)
		}
		if id := s.sessions.GetString(ctx, sessionUserKey); id != "" {
			u, err := s.principals.User(ctx, id)
			if err == nil && u.Active && !u.IssuedBeforeValidAfter(time.UnixMicro(s.sessions.GetInt64(ctx, sessionAuthAtKey))) {
				c.Set(ctxUser, u)
				c.Set(ctxAuthVia, viaSession)
				return next(c)
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			// The user was deleted or deactivated, or changed their password in another
			// session: end this one.
			_ = s.sessions.Destroy(ctx)
		}
		if ck, err := req.Cookie("access_token"); err == nil && ck.Value != "" {
			if u, err := s.userFromToken(ctx, ck.Value); err == nil {
				c.Set(ctxUser, u)
				c.Set(ctxAuthVia, viaCookie)
			}
		}
		return next(c)
	}
}

// authenticatePAT resolves a personal access token (bearer only, never a cookie). Failures
// are 401; a read-scope token used for anything but reading is 403. Either way the error is
// kept for protected routes, as for a bad JWT.
func (s *Server) authenticatePAT(c echo.Context, token string) echo.Context {
	u, t, err := s.principals.AuthenticatePAT(c.Request().Context(), token, time.Now())
	switch {
	case errors.Is(err, auth.ErrPATStale):
		c.Set(ctxAuthErr, apiError(http.StatusUnauthorized, "Personal access token was created before the account's password or status last changed; create a new one"))
	case errors.Is(err, auth.ErrPATRevoked):
		c.Set(ctxAuthErr, apiError(http.StatusUnauthorized, "Personal access token was revoked"))
	case errors.Is(err, auth.ErrPATExpired):
		c.Set(ctxAuthErr, apiError(http.StatusUnauthorized, "Personal access token has expired"))
	case errors.Is(err, auth.ErrPATInactive):
		c.Set(ctxAuthErr, apiError(http.StatusUnauthorized, "Account is deactivated"))
	case errors.Is(err, auth.ErrInvalidToken):
		c.Set(ctxAuthErr, apiError(http.StatusUnauthorized, "Invalid or expired token"))
	case err != nil:
		c.Set(ctxAuthErr, err)
	default:
		c.Set(ctxUser, u)
		c.Set(ctxAuthVia, viaBearer)
		c.Set(ctxPAT, t)
		if req := c.Request(); !auth.PATAllows(t.Scope, req.Method, req.URL.Path) {
			c.Set(ctxAuthErr, apiError(http.StatusForbidden,
				"This personal access token has read scope: it may only read (GET) and run queries"))
		}
	}
	return c
}

// userFromToken verifies a JWT and loads its user; every failure is a 401.
func (s *Server) userFromToken(ctx context.Context, token string) (*store.User, error) {
	u, err := s.principals.ParseJWT(ctx, s.issuer, token)
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, auth.ErrInvalidToken):
		return nil, apiError(http.StatusUnauthorized, "Invalid or expired token")
	case errors.Is(err, store.ErrNotFound):
		return nil, apiError(http.StatusUnauthorized, "User not found")
	case errors.Is(err, auth.ErrAccountInactive):
		return nil, apiError(http.StatusUnauthorized, "Account is deactivated")
	case errors.Is(err, auth.ErrTokenStale):
		return nil, apiError(http.StatusUnauthorized, "Token is no longer valid: the account's password or status changed since it was issued; sign in again")
	}
	return nil, err
}

// signInSession stamps the browser session as signed in as u now, under a fresh session
// token: sessions of u stamped before its valid-after time are over, this one is not.
func (s *Server) signInSession(ctx context.Context, u *store.User) error {
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessionUserKey, u.ID)
	s.sessions.Put(ctx, sessionAuthAtKey, time.Now().UnixMicro())
	s.sessions.Remove(ctx, sessionCSRFKey) // a new token for the signed-in session
	return nil
}

// keepSession re-stamps the current browser session after a change that ended the user's
// other sessions (a password change), under a fresh session token.
func (s *Server) keepSession(ctx context.Context) error {
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessionAuthAtKey, time.Now().UnixMicro())
	return nil
}

// csrfToken returns the session's CSRF token, creating one when needed.
func (s *Server) csrfToken(c echo.Context) string {
	ctx := c.Request().Context()
	if t := s.sessions.GetString(ctx, sessionCSRFKey); t != "" {
		return t
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	s.sessions.Put(ctx, sessionCSRFKey, t)
	return t
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// csrf requires a token bound to the session on every state-changing request that a
// browser could send on its own: anything authenticated by a cookie, and the page forms.
// Bearer-authenticated API calls and cookie-less API calls need none: a cross-site page
// cannot attach an Authorization header.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if isSafeMethod(req.Method) {
			return next(c)
		}
		via, _ := c.Get(ctxAuthVia).(string)
		if via == viaBearer || c.Get(ctxAuthErr) != nil || (via == "" && isAPIPath(req.URL.Path)) {
			return next(c)
		}
		want := s.sessions.GetString(req.Context(), sessionCSRFKey)
		got := req.Header.Get("X-CSRF-Token")
		// Only url-encoded forms are parsed here; a multipart body (an upload) must carry the
		// header, so that a large file is never buffered before its handler caps it.
		if got == "" && strings.HasPrefix(req.Header.Get(echo.HeaderContentType), echo.MIMEApplicationForm) {
			got = c.FormValue("_csrf")
		}
		if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			return apiError(http.StatusForbidden, "CSRF token missing or invalid; reload the page and try again")
		}
		return next(c)
	}
}

// requireAccess enforces a route's minimum role: anonymous API calls get 401, anonymous
// page requests are sent to the login page, and too-low roles get 403.
func (s *Server) requireAccess(r Route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if r.Min == "" {
			return next
		}
		return func(c echo.Context) error {
			if r.Scrape && s.scrapeTokenOK(c.Request()) {
				return next(c)
			}
			if err, ok := c.Get(ctxAuthErr).(error); ok {
				return err
			}
			u := currentUser(c)
			if u == nil {
				if isAPIPath(r.Path) {
					return apiError(http.StatusUnauthorized, "Not authenticated")
				}
				target := c.Request().URL.RequestURI()
				return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(target))
			}
			if !auth.Role(u.Role).AtLeast(r.Min) {
				return apiError(http.StatusForbidden, roleRefusal(u, r.Min))
			}
			return next(c)
		}
	}
}

// safeNext keeps only same-site absolute paths as redirect targets.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n\\") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	if u.Path == "/login" || u.Path == "/logout" {
		return ""
	}
	return next
}
