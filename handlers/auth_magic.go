package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// linkSentMessage is the answer to every link request, whether or not the address has an
// account, so that the answer never tells who has one.
const linkSentMessage = "If that address has an account, we sent a link to it. Check your inbox (and spam folder); the link works once and expires in 1 hour."

// signIn holds the state of the sign-in providers: the mailer for e-mailed links, the
// request limiter, the Google provider (nil when not configured) and the background sends.
type signIn struct {
	mailer  auth.Mailer
	limiter *auth.LinkLimiter
	google  *auth.OIDCProvider
	sends   sync.WaitGroup
}

// newSignIn builds the providers from the configuration; d.Google, when set, replaces the
// Google provider (tests point it at an in-process OIDC provider).
func newSignIn(d Deps) *signIn {
	si := &signIn{limiter: auth.NewLinkLimiter(), google: d.Google}
	if d.Config.SMTP.Host != "" {
		si.mailer = auth.NewSMTPMailer(d.Config.SMTP)
	}
	if si.google == nil && d.Config.GoogleEnabled() {
		si.google = auth.NewOIDCProvider(auth.OIDCConfig{
			ClientID:       d.Config.GoogleClientID,
			ClientSecret:   d.Config.GoogleClientSecret,
			RedirectURL:    d.Config.ServerURL + "/auth/google/callback",
			AllowedDomains: d.Config.AllowedDomains,
		})
	}
	return si
}

// mailReady reports whether e-mailed links (password reset) can be sent at all.
func (s *Server) mailReady() bool { return s.signin.mailer != nil }

// magicLinkProblem explains why e-mail sign-in links are unavailable, with the status to
// answer; ok is true when they work.
func (s *Server) magicLinkProblem() (status int, detail string, ok bool) {
	switch {
	case s.cfg.ProviderDisabled("email"):
		return http.StatusNotFound, "E-mail sign-in links are disabled on this server", false
	case !s.mailReady():
		return http.StatusServiceUnavailable, "E-mail sign-in links are not available: SMTP is not configured on this server (SMTP_HOST)", false
	}
	return 0, "", true
}

// wantsJSON reports whether the request body is JSON (an API client) rather than a form.
func wantsJSON(c echo.Context) bool {
	return strings.HasPrefix(strings.ToLower(c.Request().Header.Get(echo.HeaderContentType)), echo.MIMEApplicationJSON)
}

// formCSRFValid checks the CSRF token of a form post. Routes under /auth are exempt from
// the csrf middleware for anonymous callers (they are API paths), so the browser forms that
// post there check it here.
func (s *Server) formCSRFValid(c echo.Context) bool {
	want := s.sessions.GetString(c.Request().Context(), sessionCSRFKey)
	got := c.Request().Header.Get("X-CSRF-Token")
	if got == "" {
		got = c.FormValue("_csrf")
	}
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// noStore keeps pages that carry one-time tokens out of caches and Referer headers.
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

// authNotice renders a signed-out message page with status.
func (s *Server) authNotice(c echo.Context, status int, n views.AuthNotice) error {
	n.InstanceName = s.cfg.InstanceName
	noStore(c)
	return render(c, status, views.AuthMessage(n))
}

// csrfFailedPage is the answer to a browser form posted without a valid CSRF token.
func (s *Server) csrfFailedPage(c echo.Context) error {
	return s.authNotice(c, http.StatusForbidden, views.AuthNotice{
		Title: "Please try again", Tone: "error", TestID: "csrf-error",
		Message: "This form expired or did not come from this site (CSRF token missing or invalid). Open the link again.",
	})
}

// startSession signs the browser in as u: a fresh session id (no fixation), a fresh CSRF
// token, then a 303 to next or the dashboard.
func (s *Server) startSession(c echo.Context, u *store.User, next string) error {
	if err := s.signInSession(c.Request().Context(), u); err != nil {
		return err
	}
	if next = safeNext(next); next == "" {
		next = "/dashboard"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// sendLink e-mails a one-time link of purpose p to email if it belongs to an active user.
// It runs in the background: the caller answers at once and identically whether or not the
// address has an account, and response times reveal nothing either.
func (s *Server) sendLink(p store.LinkPurpose, email, next string) {
	s.signin.sends.Add(1)
	go func() {
		defer s.signin.sends.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.deliverLink(ctx, p, email, next); err != nil {
			s.log.ErrorContext(ctx, "sending an e-mailed link failed", "purpose", string(p), "error", err)
		}
	}()
}

// deliverLink does the work of sendLink; unknown and deactivated addresses get nothing.
func (s *Server) deliverLink(ctx context.Context, p store.LinkPurpose, email, next string) error {
	u, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		s.log.InfoContext(ctx, "link requested for an address without an account", "purpose", string(p))
		return nil
	}
	if err != nil {
		return err
	}
	if !u.Active {
		s.log.InfoContext(ctx, "link requested for a deactivated account", "purpose", string(p), "user", u.Email)
		return nil
	}
	token, hash, err := auth.NewLinkToken()
	if err != nil {
		return err
	}
	if err := s.store.SetLinkToken(ctx, u.ID, p, hash); err != nil {
		return err
	}
	return s.signin.mailer.Send(ctx, auth.LinkMessage(string(p), u.Email, s.cfg.InstanceName, s.linkURL(p, token, next), linkTTL(p)))
}

// linkURL is the absolute URL of a one-time link, on SERVER_URL.
func (s *Server) linkURL(p store.LinkPurpose, token, next string) string {
	path := "/auth/email/verify"
	switch p {
	case store.LinkReset:
		path = "/password/reset"
	case store.LinkSetup:
		path = "/password/setup"
	}
	q := url.Values{"token": {token}}
	if next = safeNext(next); next != "" {
		q.Set("next", next)
	}
	return s.cfg.ServerURL + path + "?" + q.Encode()
}

// linkTTL is the lifetime of a link of purpose p.
func linkTTL(p store.LinkPurpose) time.Duration {
	switch p {
	case store.LinkReset:
		return auth.ResetLinkTTL
	case store.LinkSetup:
		return auth.SetupLinkTTL
	}
	return auth.MagicLinkTTL
}

// linkRequest is the JSON body of POST /auth/email/request (and the original's
// /auth/email/send-link).
type linkRequest struct {
	Email *string `json:"email"`
	Next  *string `json:"next"`
}

// requestEmailLink answers POST /auth/email/request: a form from the login page (renders a
// "check your e-mail" page) or JSON (answers {"message"}). The answer is the same whether
// or not the address has an account; requests are rate-limited per address and e-mail.
func (s *Server) requestEmailLink(c echo.Context) error {
	isJSON := wantsJSON(c)
	var email, next string
	if isJSON {
		var req linkRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if req.Email != nil {
			email = *req.Email
		}
		if req.Next != nil {
			next = *req.Next
		}
	} else {
		if !s.formCSRFValid(c) {
			return s.csrfFailedPage(c)
		}
		email, next = c.FormValue("email"), c.FormValue("next")
	}
	email = strings.ToLower(strings.TrimSpace(email))
	next = safeNext(next)
	status, detail, ok := s.magicLinkProblem()
	loginPage := func(status int, field, msg string) error {
		d := s.loginData(c, next)
		d.MagicEmail = email
		d.FieldErrors = map[string]string{}
		if field != "" {
			d.FieldErrors[field] = msg
		} else {
			d.Error = msg
		}
		return render(c, status, views.Login(d))
	}
	if !ok {
		if isJSON {
			return apiError(status, detail)
		}
		return loginPage(status, "", detail+".")
	}
	var problem string
	switch {
	case email == "":
		problem = "Enter your e-mail address."
	case !validEmail(email):
		problem = "Enter a valid e-mail address, like you@company.com."
	}
	if problem != "" {
		if isJSON {
			return fieldInvalid("email", problem)
		}
		return loginPage(http.StatusUnprocessableEntity, "magic_email", problem)
	}
	if allowed, wait := s.signin.limiter.Allow(string(store.LinkMagic), email, c.RealIP()); !allowed {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		msg := "Too many sign-in links requested; try again in " + waitText(wait) + "."
		if isJSON {
			return apiError(http.StatusTooManyRequests, msg)
		}
		return loginPage(http.StatusTooManyRequests, "", msg)
	}
	s.sendLink(store.LinkMagic, email, next)
	if isJSON {
		return c.JSON(http.StatusOK, map[string]string{"message": linkSentMessage})
	}
	return s.authNotice(c, http.StatusOK, views.AuthNotice{
		Title: "Check your e-mail", Icon: "mail", TestID: "magic-sent", Message: linkSentMessage,
	})
}

// waitText writes a wait as whole minutes (at least one).
func waitText(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m <= 1 {
		return "a minute"
	}
	return strconv.Itoa(m) + " minutes"
}

// showEmailConfirm answers GET /auth/email/verify?token=...: the page with the button that
// signs in. It never signs in by itself, because mail scanners and link previews open links.
func (s *Server) showEmailConfirm(c echo.Context) error {
	if status, detail, ok := s.magicLinkProblem(); !ok {
		return s.authNotice(c, status, views.AuthNotice{Title: "E-mail sign-in unavailable", Tone: "warning", TestID: "magic-error", Message: detail + ".", LinkHref: "/login", LinkLabel: "Sign in another way"})
	}
	token := c.QueryParam("token")
	u, err := s.peekLink(c, store.LinkMagic, token)
	if err != nil {
		return s.badMagicLink(c, err)
	}
	noStore(c)
	return render(c, http.StatusOK, views.EmailConfirm(views.EmailConfirmData{
		InstanceName: s.cfg.InstanceName, Email: u.Email, Token: token,
		Next: safeNext(c.QueryParam("next")), CSRF: s.csrfToken(c),
	}))
}

// linkRefusal is why a one-time link cannot be used.
type linkRefusal struct {
	status int
	msg    string
}

func (r *linkRefusal) Error() string { return r.msg }

// peekLink validates a link token without using it up.
func (s *Server) peekLink(c echo.Context, p store.LinkPurpose, token string) (*store.User, error) {
	if !auth.PlausibleLinkToken(token) {
		return nil, &linkRefusal{http.StatusBadRequest, "This link is not valid. Copy the whole address from the e-mail, or ask for a new link."}
	}
	u, err := s.store.LinkTokenUser(c.Request().Context(), p, auth.HashLinkToken(token), linkTTL(p))
	return s.checkLinkUser(u, err)
}

// consumeLink uses a link token up, setting passwordHash when not empty.
func (s *Server) consumeLink(c echo.Context, p store.LinkPurpose, token, passwordHash string) (*store.User, error) {
	if !auth.PlausibleLinkToken(token) {
		return nil, &linkRefusal{http.StatusBadRequest, "This link is not valid. Copy the whole address from the e-mail, or ask for a new link."}
	}
	u, err := s.store.ConsumeLinkToken(c.Request().Context(), p, auth.HashLinkToken(token), linkTTL(p), passwordHash)
	return s.checkLinkUser(u, err)
}

// checkLinkUser maps store results to refusals with a status and a message for people.
func (s *Server) checkLinkUser(u *store.User, err error) (*store.User, error) {
	switch {
	case errors.Is(err, store.ErrLinkExpired):
		return nil, &linkRefusal{http.StatusGone, "This link has expired. Ask for a new one."}
	case errors.Is(err, store.ErrNotFound):
		return nil, &linkRefusal{http.StatusBadRequest, "This link is not valid or was already used. Ask for a new one."}
	case err != nil:
		return nil, err
	case !u.Active:
		return nil, &linkRefusal{http.StatusForbidden, "This account is deactivated. Ask an administrator."}
	}
	return u, nil
}

// badMagicLink renders a refused magic link as a page.
func (s *Server) badMagicLink(c echo.Context, err error) error {
	var lr *linkRefusal
	if !errors.As(err, &lr) {
		return err
	}
	return s.authNotice(c, lr.status, views.AuthNotice{
		Title: "Sign-in link not valid", Tone: "error", TestID: "magic-error", Message: lr.msg,
		LinkHref: "/login", LinkLabel: "Request a new link",
	})
}

// verifyRequest is the JSON body of POST /auth/email/verify (the original's API shape; the
// e-mail is optional and, when given, must match).
type verifyRequest struct {
	Email *string `json:"email"`
	Token *string `json:"token"`
}

// confirmEmailLink answers POST /auth/email/verify. A form post (the confirm button, with
// its CSRF token) signs the browser in and redirects; a JSON post answers with an API token,
// as the original did. Either way the link is used up.
func (s *Server) confirmEmailLink(c echo.Context) error {
	status, detail, ok := s.magicLinkProblem()
	if wantsJSON(c) {
		if !ok {
			return apiError(status, detail)
		}
		var req verifyRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if req.Token == nil || *req.Token == "" {
			return fieldInvalid("token", "Field required")
		}
		if req.Email != nil && *req.Email != "" {
			if pu, err := s.peekLink(c, store.LinkMagic, *req.Token); err == nil && pu.Email != store.NormalizeEmail(*req.Email) {
				return apiError(http.StatusUnauthorized, "Invalid or expired link")
			}
		}
		u, err := s.consumeLink(c, store.LinkMagic, *req.Token, "")
		if err != nil {
			var lr *linkRefusal
			if errors.As(err, &lr) {
				if lr.status == http.StatusGone {
					return apiError(http.StatusUnauthorized, "Link expired")
				}
				return apiError(http.StatusUnauthorized, "Invalid or expired link")
			}
			return err
		}
		return s.tokenFor(c, u)
	}
	if !ok {
		return s.authNotice(c, status, views.AuthNotice{Title: "E-mail sign-in unavailable", Tone: "warning", TestID: "magic-error", Message: detail + "."})
	}
	if !s.formCSRFValid(c) {
		return s.csrfFailedPage(c)
	}
	u, err := s.consumeLink(c, store.LinkMagic, c.FormValue("token"), "")
	if err != nil {
		return s.badMagicLink(c, err)
	}
	s.log.InfoContext(c.Request().Context(), "signed in", "user", u.Email, "via", "magic_link")
	return s.startSession(c, u, c.FormValue("next"))
}
