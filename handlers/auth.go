package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// credentials is the body of POST /auth/token and /auth/password/login.
type credentials struct {
	Email    *string `json:"email" required:"true" example:"analyst@example.com"`
	Password *string `json:"password" required:"true" example:"correct-horse-battery"`
}

// tokenResponse is the shape the original CLI reads.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	UserID      string `json:"user_id"`
	Email       string `json:"email"`
	Role        string `json:"role"`
}

// errBadCredentials is deliberately the same for unknown e-mails and wrong passwords.
var errBadCredentials = errors.New("Invalid email or password")

// loginFailure is a sign-in refusal with its HTTP status.
type loginFailure struct {
	status     int
	msg        string
	retryAfter time.Duration
}

func (f *loginFailure) Error() string { return f.msg }

// checkPassword verifies a sign-in attempt, applying rate limits; it is shared by the token
// API and the browser form.
func (s *Server) checkPassword(ctx context.Context, email, password, addr string) (u *store.User, err error) {
	defer func() {
		if aerr := s.auditLogin(ctx, email, addr, u, err); aerr != nil {
			u, err = nil, aerr
		}
	}()
	if ok, wait := s.limiter.Allow(email, addr); !ok {
		return nil, &loginFailure{status: http.StatusTooManyRequests, msg: "Too many sign-in attempts; try again later", retryAfter: wait}
	}
	u, err = s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		auth.BurnPasswordCheck(password)
		s.limiter.Failed(email, addr)
		return nil, &loginFailure{status: http.StatusUnauthorized, msg: errBadCredentials.Error()}
	}
	if err != nil {
		return nil, err
	}
	if u.PasswordHash == "" {
		auth.BurnPasswordCheck(password)
		s.limiter.Failed(email, addr)
		return nil, &loginFailure{status: http.StatusUnauthorized, msg: "No password is set for this account; use the set-up link from your administrator"}
	}
	if err := auth.VerifyPassword(u.PasswordHash, password); err != nil {
		s.limiter.Failed(email, addr)
		if !errors.Is(err, auth.ErrPasswordMismatch) {
			s.log.ErrorContext(ctx, "stored password hash is unusable", "user", u.Email, "error", err)
		}
		return nil, &loginFailure{status: http.StatusUnauthorized, msg: errBadCredentials.Error()}
	}
	if !u.Active {
		return nil, &loginFailure{status: http.StatusUnauthorized, msg: "This account is deactivated"}
	}
	s.limiter.Succeeded(email, addr)
	return u, nil
}

// loginError turns a checkPassword error into an API error.
func loginError(c echo.Context, err error) error {
	var lf *loginFailure
	if errors.As(err, &lf) {
		if lf.retryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(lf.retryAfter.Seconds()+0.999)))
		}
		return apiError(lf.status, lf.msg)
	}
	return err
}

// issueToken answers POST /auth/token and /auth/password/login: e-mail and password in,
// a JWT out. A password is always required.
func (s *Server) issueToken(c echo.Context) error {
	var req credentials
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	v := &ValidationError{}
	if req.Email == nil {
		v.Add("email", "Field required", "missing")
	}
	if err := v.Err(); err != nil {
		return err
	}
	email := strings.TrimSpace(*req.Email)
	if req.Password == nil || *req.Password == "" {
		return apiError(http.StatusUnauthorized, "Password required: sign in with your e-mail and password, or use a personal access token")
	}
	u, err := s.checkPassword(c.Request().Context(), email, *req.Password, c.RealIP())
	if err != nil {
		return loginError(c, err)
	}
	return s.tokenFor(c, u)
}

func (s *Server) tokenFor(c echo.Context, u *store.User) error {
	tok, _, err := s.issuer.Issue(u.ID, u.Email, auth.Role(u.Role))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tokenResponse{AccessToken: tok, TokenType: "bearer", UserID: u.ID, Email: u.Email, Role: u.Role})
}

// bootstrapRequest is the body of POST /auth/bootstrap.
type bootstrapRequest struct {
	Email    *string `json:"email"`
	Name     *string `json:"name"`
	Password *string `json:"password"`
}

// bootstrapMu serialises first-admin creation so two racing requests cannot both win.
var bootstrapMu sync.Mutex

// bootstrapAdmin answers POST /auth/bootstrap: it creates the first admin, only while the
// instance has no users at all.
func (s *Server) bootstrapAdmin(c echo.Context) error {
	var req bootstrapRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	bootstrapMu.Lock()
	defer bootstrapMu.Unlock()
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return apiError(http.StatusForbidden, "Bootstrap disabled — "+strconv.Itoa(n)+" users already exist. Use /auth/token to login.")
	}
	name := ""
	if req.Name != nil {
		name = *req.Name
	}
	email, password := "", ""
	if req.Email != nil {
		email = *req.Email
	}
	if req.Password != nil {
		password = *req.Password
	}
	u, err := CreateFirstAdmin(ctx, s.store, email, name, password)
	if err != nil {
		return err
	}
	s.log.InfoContext(c.Request().Context(), "first admin created", "email", u.Email, "via", "api")
	return s.tokenFor(c, u)
}

// CreateFirstAdmin validates and creates an admin user. It is shared by the bootstrap
// endpoint, SEED_ADMIN_* and `da admin bootstrap`; validation problems are a *ValidationError.
func CreateFirstAdmin(ctx context.Context, st *store.Store, email, name, password string) (*store.User, error) {
	v := &ValidationError{}
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		v.Add("email", "Field required", "missing")
	} else if !validEmail(email) {
		v.Add("email", "value is not a valid email address", "value_error")
	}
	if password == "" {
		v.Add("password", "Field required: the first admin needs a password", "missing")
	} else if err := auth.ValidatePassword(password); err != nil {
		v.Add("password", err.Error(), "value_error")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	u := &store.User{Email: email, Name: strings.TrimSpace(name), Role: string(auth.RoleAdmin), PasswordHash: hash, Active: true}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, apiError(http.StatusConflict, "User with this email already exists")
		}
		return nil, err
	}
	return u, nil
}

// validEmail is a pragmatic address check: one @, a non-empty local part and a dotted domain.
func validEmail(e string) bool {
	if len(e) > 254 || strings.ContainsAny(e, " \t\r\n<>\"(),;:\\") {
		return false
	}
	local, domain, ok := strings.Cut(e, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") &&
		strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// meResponse describes the caller.
type meResponse struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	// Allows says what the role may do; Admins are whom to ask for a role or a grant.
	Allows []string `json:"allows"`
	Admins []string `json:"admins"`
}

// showMe answers GET /api/me with the authenticated user, what the role allows and the
// active admins' e-mails.
func (s *Server) showMe(c echo.Context) error {
	u := currentUser(c)
	admins, err := s.adminContacts(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, meResponse{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role,
		Allows: auth.Role(u.Role).Allows(), Admins: admins})
}

// maxAdminContacts bounds the admins named in hints.
const maxAdminContacts = 3

// adminContacts returns the e-mails of up to maxAdminContacts active admins.
func (s *Server) adminContacts(ctx context.Context) ([]string, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, u := range users {
		if u.Active && auth.Role(u.Role) == auth.RoleAdmin && len(out) < maxAdminContacts {
			out = append(out, u.Email)
		}
	}
	return out, nil
}

// userRow is one element of GET /api/users.
type userRow struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Active    bool   `json:"active"`
	CreatedAt string `json:"created_at"`
}

// listUsers answers GET /api/users (admin) ordered by e-mail.
func (s *Server) listUsers(c echo.Context) error {
	users, err := s.store.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]userRow, 0, len(users))
	for _, u := range users {
		out = append(out, userRow{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Active: u.Active,
			CreatedAt: u.CreatedAt.UTC().Format("2006-01-02 15:04:05.999999")})
	}
	return c.JSON(http.StatusOK, out)
}

// showLogin renders the sign-in page; a signed-in user goes straight on.
func (s *Server) showLogin(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	d := s.loginData(c, next)
	// A signed-in caller (a browser session or a bearer token, as the original CLI's setup
	// check sends) gets the page too: it says who is signed in, with links on.
	if u := currentUser(c); u != nil {
		d.SignedIn = &views.SignedInUser{Email: u.Email, Name: u.Name, Role: u.Role}
		d.Continue = next
		if d.Continue == "" {
			d.Continue = "/dashboard"
		}
		return render(c, http.StatusOK, views.Login(d))
	}
	if c.QueryParam("signed_out") != "" {
		d.Notice = "You have been signed out."
	}
	if e := c.QueryParam("error"); e != "" {
		d.Error = oauthErrorText(e)
	}
	return render(c, http.StatusOK, views.Login(d))
}

func (s *Server) loginData(c echo.Context, next string) views.LoginData {
	d := views.LoginData{
		InstanceName:     s.cfg.InstanceName,
		Subtitle:         s.cfg.InstanceSubtitle,
		Next:             next,
		CSRF:             s.csrfToken(c),
		GoogleEnabled:    s.cfg.GoogleEnabled(),
		MagicLinkEnabled: s.cfg.MagicLinkEnabled(),
		// Password reset needs only a mail relay (auth_password.go).
		PasswordResetEnabled: s.mailReady(),
	}
	if s.demoLogin != nil {
		d.DemoEmail, d.DemoPassword = s.demoLogin.Email, s.demoLogin.Password
	}
	return d
}

// oauthErrorText explains the error codes sign-in providers redirect back with.
func oauthErrorText(code string) string {
	switch code {
	case "google_not_configured":
		return "Google sign-in is not configured on this server."
	case "domain_not_allowed":
		return "Your e-mail domain is not allowed to sign in here."
	case "no_email":
		return "Google did not share an e-mail address."
	case "oauth_failed":
		return "Google sign-in failed; please try again."
	case "oauth_cancelled":
		return "Google sign-in was cancelled."
	case "invalid_state":
		return "The Google sign-in expired or was started in another browser; please try again."
	case "email_not_verified":
		return "Google has not verified this e-mail address, so it cannot be used to sign in."
	case "account_deactivated":
		return "This account is deactivated. Ask an administrator."
	}
	return "Sign-in failed; please try again."
}

// submitLogin handles the browser sign-in form: inline errors on failure, a fresh session
// and a 303 to the requested page on success.
func (s *Server) submitLogin(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	d := s.loginData(c, next)
	d.Email = email
	d.FieldErrors = map[string]string{}
	if email == "" {
		d.FieldErrors["email"] = "Enter your e-mail address."
	}
	if password == "" {
		d.FieldErrors["password"] = "Enter your password."
	}
	if len(d.FieldErrors) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.Login(d))
	}
	ctx := c.Request().Context()
	u, err := s.checkPassword(ctx, email, password, c.RealIP())
	if err != nil {
		var lf *loginFailure
		if !errors.As(err, &lf) {
			return err
		}
		if lf.retryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(lf.retryAfter.Seconds()+0.999)))
		}
		d.Error = lf.msg
		return render(c, lf.status, views.Login(d))
	}
	if err := s.signInSession(ctx, u); err != nil {
		return err
	}
	if next == "" {
		next = "/dashboard"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// logout ends the browser session.
func (s *Server) logout(c echo.Context) error {
	if err := s.sessions.Destroy(c.Request().Context()); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: "access_token", Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return c.Redirect(http.StatusSeeOther, "/login?signed_out=1")
}

// roleRefusal is the 403 detail for a role that is too low: the role needed and the
// caller's. A grant cannot fix a role, so access requests are not suggested; GET /api/me
// names the admins to ask.
func roleRefusal(u *store.User, min auth.Role) string {
	return fmt.Sprintf("Requires role %s or higher; your role is %s. Ask an admin to change your role.", min, u.Role)
}
