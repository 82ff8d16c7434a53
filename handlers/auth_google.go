package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
)

// Session keys of a Google sign-in in progress; all are removed at the callback.
const (
	sessionOAuthState    = "oauth_state"
	sessionOAuthNonce    = "oauth_nonce"
	sessionOAuthVerifier = "oauth_verifier"
	sessionOAuthNext     = "oauth_next"
)

// loginWithError sends the browser back to the sign-in page with an error code that the
// page explains (see oauthErrorText).
func loginWithError(c echo.Context, code string) error {
	return c.Redirect(http.StatusFound, "/login?error="+url.QueryEscape(code))
}

// startGoogleLogin answers GET /auth/google/login: it keeps a fresh state, nonce and PKCE
// verifier in the session and redirects to Google.
func (s *Server) startGoogleLogin(c echo.Context) error {
	g := s.signin.google
	if g == nil {
		return loginWithError(c, "google_not_configured")
	}
	ctx := c.Request().Context()
	req, err := g.Start(ctx)
	if err != nil {
		s.log.ErrorContext(c.Request().Context(), "google sign-in could not start", "error", err)
		return loginWithError(c, "oauth_failed")
	}
	s.sessions.Put(ctx, sessionOAuthState, req.State)
	s.sessions.Put(ctx, sessionOAuthNonce, req.Nonce)
	s.sessions.Put(ctx, sessionOAuthVerifier, req.Verifier)
	s.sessions.Put(ctx, sessionOAuthNext, safeNext(c.QueryParam("next")))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, req.URL)
}

// finishGoogleLogin answers GET /auth/google/callback: state check, code exchange with the
// PKCE verifier, ID-token verification (signature, issuer, audience, expiry, nonce), a
// verified e-mail, then sign-in of the existing user or creation of a viewer when the
// domain is allowed.
func (s *Server) finishGoogleLogin(c echo.Context) error {
	g := s.signin.google
	if g == nil {
		return loginWithError(c, "google_not_configured")
	}
	ctx := c.Request().Context()
	// Everything of this attempt is single use, whatever happens next.
	state := s.sessions.PopString(ctx, sessionOAuthState)
	nonce := s.sessions.PopString(ctx, sessionOAuthNonce)
	verifier := s.sessions.PopString(ctx, sessionOAuthVerifier)
	next := s.sessions.PopString(ctx, sessionOAuthNext)

	if e := c.QueryParam("error"); e != "" {
		if e == "access_denied" {
			return loginWithError(c, "oauth_cancelled")
		}
		s.log.WarnContext(c.Request().Context(), "google sign-in returned an error", "error", e, "description", c.QueryParam("error_description"))
		return loginWithError(c, "oauth_failed")
	}
	if err := auth.CheckState(c.QueryParam("state"), state); err != nil {
		return loginWithError(c, "invalid_state")
	}
	id, err := g.Finish(ctx, c.QueryParam("code"), verifier, nonce)
	switch {
	case errors.Is(err, auth.ErrNoEmail):
		return loginWithError(c, "no_email")
	case errors.Is(err, auth.ErrEmailNotVerified):
		return loginWithError(c, "email_not_verified")
	case err != nil:
		s.log.WarnContext(c.Request().Context(), "google sign-in refused", "error", err)
		return loginWithError(c, "oauth_failed")
	}

	u, err := s.store.GetUserByEmail(ctx, id.Email)
	if errors.Is(err, store.ErrNotFound) {
		// Only people from an allowed domain get an account by themselves, and only the
		// lowest role; an administrator raises it.
		if !g.DomainAllowed(id) {
			s.log.InfoContext(c.Request().Context(), "google sign-in refused: domain not allowed", "email", id.Email)
			return loginWithError(c, "domain_not_allowed")
		}
		u = &store.User{Email: id.Email, Name: id.Name, Role: string(auth.RoleViewer), Active: true}
		err = s.store.CreateUser(ctx, u)
		if errors.Is(err, store.ErrConflict) { // created meanwhile by a parallel callback
			u, err = s.store.GetUserByEmail(ctx, id.Email)
		} else if err == nil {
			s.log.InfoContext(c.Request().Context(), "user created by google sign-in", "user", u.Email, "role", u.Role)
		}
	}
	if err != nil {
		return err
	}
	if !u.Active {
		return loginWithError(c, "account_deactivated")
	}
	s.log.InfoContext(c.Request().Context(), "signed in", "user", u.Email, "via", "google")
	return s.startSession(c, u, next)
}
