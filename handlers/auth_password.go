package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// showForgotPassword answers GET /password/forgot: the form that e-mails a reset link.
func (s *Server) showForgotPassword(c echo.Context) error {
	if !s.mailReady() {
		return s.resetUnavailable(c)
	}
	return render(c, http.StatusOK, views.ForgotPassword(views.ForgotPasswordData{
		InstanceName: s.cfg.InstanceName, CSRF: s.csrfToken(c), Email: strings.TrimSpace(c.QueryParam("email")),
	}))
}

// resetUnavailable is the answer when no mail relay is configured.
func (s *Server) resetUnavailable(c echo.Context) error {
	return s.authNotice(c, http.StatusServiceUnavailable, views.AuthNotice{
		Title: "Password reset unavailable", Tone: "warning", TestID: "forgot-unavailable",
		Message: "This server cannot send e-mail (SMTP is not configured), so passwords cannot be reset by e-mail. Ask an administrator for a set-up link.",
	})
}

// requestPasswordReset answers POST /password/forgot: the same "check your e-mail" answer
// whether or not the address has an account; rate-limited per address and e-mail.
func (s *Server) requestPasswordReset(c echo.Context) error {
	if !s.mailReady() {
		return s.resetUnavailable(c)
	}
	email := strings.ToLower(strings.TrimSpace(c.FormValue("email")))
	d := views.ForgotPasswordData{InstanceName: s.cfg.InstanceName, CSRF: s.csrfToken(c), Email: email, FieldErrors: map[string]string{}}
	switch {
	case email == "":
		d.FieldErrors["email"] = "Enter your e-mail address."
	case !validEmail(email):
		d.FieldErrors["email"] = "Enter a valid e-mail address, like you@company.com."
	}
	if len(d.FieldErrors) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.ForgotPassword(d))
	}
	if ok, wait := s.signin.limiter.Allow(string(store.LinkReset), email, c.RealIP()); !ok {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		d.Error = "Too many reset links requested; try again in " + waitText(wait) + "."
		return render(c, http.StatusTooManyRequests, views.ForgotPassword(d))
	}
	s.sendLink(store.LinkReset, email, "")
	return s.authNotice(c, http.StatusOK, views.AuthNotice{
		Title: "Check your e-mail", Icon: "mail", TestID: "reset-sent", Message: linkSentMessage,
	})
}

// passwordLink describes one of the two new-password pages.
type passwordLink struct {
	purpose store.LinkPurpose
	action  string
	setup   bool
}

var (
	resetLink = passwordLink{purpose: store.LinkReset, action: "/password/reset"}
	setupLink = passwordLink{purpose: store.LinkSetup, action: "/password/setup", setup: true}
)

// showPasswordReset answers GET /password/reset?token=...
func (s *Server) showPasswordReset(c echo.Context) error { return s.showPasswordForm(c, resetLink) }

// submitPasswordReset answers POST /password/reset.
func (s *Server) submitPasswordReset(c echo.Context) error { return s.submitPasswordForm(c, resetLink) }

// showPasswordSetup answers GET /password/setup?token=... for invited users.
func (s *Server) showPasswordSetup(c echo.Context) error { return s.showPasswordForm(c, setupLink) }

// submitPasswordSetup answers POST /password/setup.
func (s *Server) submitPasswordSetup(c echo.Context) error { return s.submitPasswordForm(c, setupLink) }

func (s *Server) passwordData(c echo.Context, l passwordLink) views.PasswordFormData {
	return views.PasswordFormData{InstanceName: s.cfg.InstanceName, Setup: l.setup, Action: l.action,
		CSRF: s.csrfToken(c), FieldErrors: map[string]string{}}
}

// refusedLink renders the page of a link that cannot be used (no form, only a way on).
func (s *Server) refusedLink(c echo.Context, l passwordLink, err error) error {
	var lr *linkRefusal
	if !errors.As(err, &lr) {
		return err
	}
	d := s.passwordData(c, l)
	d.Error = lr.msg
	if l.setup && lr.status != http.StatusForbidden {
		d.Error = strings.Replace(lr.msg, "Ask for a new one.", "Ask an administrator for a new set-up link.", 1)
	}
	noStore(c)
	return render(c, lr.status, views.PasswordForm(d))
}

// showPasswordForm renders the new-password form when the link is usable.
func (s *Server) showPasswordForm(c echo.Context, l passwordLink) error {
	token := c.QueryParam("token")
	u, err := s.peekLink(c, l.purpose, token)
	if err != nil {
		return s.refusedLink(c, l, err)
	}
	d := s.passwordData(c, l)
	d.Email, d.Token = u.Email, token
	noStore(c)
	return render(c, http.StatusOK, views.PasswordForm(d))
}

// submitPasswordForm sets the password: inline errors for a short or mismatched password
// (422, the form stays usable), a page without the form for an expired or used link, and
// on success the new Argon2id hash is stored, the link used up and the browser signed in.
func (s *Server) submitPasswordForm(c echo.Context, l passwordLink) error {
	token := c.FormValue("token")
	u, err := s.peekLink(c, l.purpose, token)
	if err != nil {
		return s.refusedLink(c, l, err)
	}
	password, confirm := c.FormValue("password"), c.FormValue("confirm")
	d := s.passwordData(c, l)
	d.Email, d.Token = u.Email, token
	switch {
	case password == "":
		d.FieldErrors["password"] = "Enter a new password."
	default:
		if err := auth.ValidatePassword(password); err != nil {
			d.FieldErrors["password"] = strings.ToUpper(err.Error()[:1]) + err.Error()[1:] + "."
		}
	}
	if d.FieldErrors["password"] == "" && password != confirm {
		d.FieldErrors["confirm"] = "The two passwords do not match."
	}
	if len(d.FieldErrors) > 0 {
		noStore(c)
		return render(c, http.StatusUnprocessableEntity, views.PasswordForm(d))
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	u, err = s.consumeLink(c, l.purpose, token, hash)
	if err != nil {
		return s.refusedLink(c, l, err)
	}
	s.limiter.ClearAccount(u.Email) // a new password clears earlier failed sign-ins
	s.log.InfoContext(c.Request().Context(), "password set", "user", u.Email, "via", string(l.purpose))
	return s.startSession(c, u, "")
}
