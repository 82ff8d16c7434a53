package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
)

// maxNameLen caps user and token names.
const maxNameLen = 200

// userDetail is a user as the admin API shows it: never a hash or a token.
type userDetail struct {
	ID          string  `json:"id"`
	Email       string  `json:"email"`
	Name        string  `json:"name"`
	Role        string  `json:"role"`
	Active      bool    `json:"active"`
	HasPassword bool    `json:"has_password"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   *string `json:"updated_at"`
}

func newUserDetail(u *store.User) userDetail {
	d := userDetail{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Active: u.Active,
		HasPassword: u.PasswordHash != "", CreatedAt: naiveUTC(u.CreatedAt)}
	if !u.UpdatedAt.IsZero() {
		d.UpdatedAt = naiveUTCPtr(&u.UpdatedAt)
	}
	return d
}

// createdUser is the 201 body of POST /api/users; the set-up fields appear only here, once.
type createdUser struct {
	userDetail
	SetupToken string `json:"setup_token,omitempty"`
	SetupURL   string `json:"setup_url,omitempty"`
}

// createUserRequest is the body of POST /api/users.
type createUserRequest struct {
	Email    *string `json:"email" required:"true" example:"new.analyst@example.com"`
	Name     *string `json:"name"`
	Role     *string `json:"role" enum:"viewer,analyst,km_admin,admin" example:"analyst"`
	Password *string `json:"password"`
}

// userNotFound is the 404 of every /api/users/{id} route.
func userNotFound() error { return apiError(http.StatusNotFound, "User not found") }

// showUser answers GET /api/users/{id} (admin).
func (s *Server) showUser(c echo.Context) error {
	u, err := s.store.GetUserByID(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newUserDetail(u))
}

// validName trims a display name and checks its length.
func validName(v *ValidationError, field string, name *string) string {
	if name == nil {
		return ""
	}
	n := strings.TrimSpace(*name)
	if len(n) > maxNameLen {
		v.Add(field, "String should have at most 200 characters", "string_too_long")
	} else if strings.ContainsAny(n, "\x00\r\n") {
		v.Add(field, "must not contain control characters", "value_error")
	}
	return n
}

// createUser answers POST /api/users (admin): {email, name, role, password?} → 201. Without a
// password the body carries a one-time setup_token and setup_url; only a hash is stored.
func (s *Server) createUser(c echo.Context) error {
	var req createUserRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	v := &ValidationError{}
	email := ""
	if req.Email == nil || strings.TrimSpace(*req.Email) == "" {
		v.Add("email", "Field required", "missing")
	} else if email = store.NormalizeEmail(*req.Email); !validEmail(email) {
		v.Add("email", "value is not a valid email address", "value_error")
	}
	name := validName(v, "name", req.Name)
	role := auth.RoleAnalyst
	if req.Role != nil {
		r, err := auth.ParseRole(*req.Role)
		if err != nil {
			v.Add("role", err.Error(), "value_error")
		}
		role = r
	}
	if req.Password != nil {
		if err := auth.ValidatePassword(*req.Password); err != nil {
			v.Add("password", err.Error(), "value_error")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	u := &store.User{Email: email, Name: name, Role: string(role)}
	out := createdUser{}
	password := ""
	if req.Password != nil {
		password = *req.Password
	}
	ctx := s.auditing(c, auditUserCreate, "", map[string]any{"email": store.NormalizeEmail(u.Email), "role": auditRole(u.Role),
		"with_password": req.Password != nil})
	tok, err := s.addUser(ctx, u, password)
	if tok != "" {
		out.SetupToken = tok
		out.SetupURL = strings.TrimRight(s.cfg.ServerURL, "/") + "/auth/password/setup?token=" + url.QueryEscape(tok)
	}
	if errors.Is(err, store.ErrConflict) {
		return apiError(http.StatusConflict, "User with this email already exists")
	}
	if err != nil {
		return err
	}
	out.userDetail = newUserDetail(u)
	return c.JSON(http.StatusCreated, out)
}

// addUser creates u (an empty name becomes the e-mail's local part) with password, or,
// without one, as an invited user: it returns the one-time set-up token, of which only the
// hash is stored (the same links the sign-in pages use, auth_password.go). A taken e-mail
// gives store.ErrConflict.
func (s *Server) addUser(ctx context.Context, u *store.User, password string) (setupToken string, err error) {
	if u.Name == "" {
		u.Name, _, _ = strings.Cut(u.Email, "@")
	}
	if password != "" {
		if u.PasswordHash, err = auth.HashPassword(password); err != nil {
			return "", err
		}
		return "", s.store.CreateUser(ctx, u)
	}
	tok, hash, err := auth.NewLinkToken()
	if err != nil {
		return "", err
	}
	if err := s.store.CreateInvitedUser(ctx, u, hash); err != nil {
		return "", err
	}
	return tok, nil
}

// updateUserRequest is the body of PATCH /api/users/{id}.
type updateUserRequest struct {
	Name   *string `json:"name"`
	Role   *string `json:"role"`
	Active *bool   `json:"active"`
}

// updateUser answers PATCH /api/users/{id} (admin): change name, role or active. The last
// active admin cannot be demoted or deactivated, and nobody can deactivate themselves.
func (s *Server) updateUser(c echo.Context) error {
	var req updateUserRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	v := &ValidationError{}
	var patch store.UserPatch
	changes := map[string]any{}
	if req.Name != nil {
		n := validName(v, "name", req.Name)
		patch.Name, changes["name"] = &n, n
	}
	if req.Role != nil {
		r, err := auth.ParseRole(*req.Role)
		if err != nil {
			v.Add("role", err.Error(), "value_error")
		}
		rs := string(r)
		patch.Role, changes["role"] = &rs, rs
	}
	if req.Active != nil {
		patch.Active, changes["active"] = req.Active, *req.Active
	}
	if err := v.Err(); err != nil {
		return err
	}
	id := c.Param("id")
	if req.Active != nil && !*req.Active && id == currentUser(c).ID {
		return apiError(http.StatusConflict, "You cannot deactivate your own account")
	}
	u, err := s.store.PatchUser(s.auditing(c, auditUserUpdate, id, changes), id, patch)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return userNotFound()
	case errors.Is(err, store.ErrLastAdmin):
		return apiError(http.StatusConflict, "Cannot demote or deactivate the last active admin; make another user admin first")
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, newUserDetail(u))
}

// deleteUser answers DELETE /api/users/{id} (admin) → 204, removing the user's permissions
// and personal access tokens with them. Admins cannot delete themselves or the last admin.
func (s *Server) deleteUser(c echo.Context) error {
	if _, err := s.removeUser(c, nil); err != nil {
		if errors.Is(err, errDeleteSelf) || errors.Is(err, store.ErrLastAdmin) {
			return apiError(http.StatusConflict, userDeleteRefusal(err))
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// errDeleteSelf refuses an admin's attempt to delete their own account.
var errDeleteSelf = errors.New("handlers: cannot delete own account")

// userDeleteRefusal is the message for a refused delete (own account, last admin).
func userDeleteRefusal(err error) string {
	if errors.Is(err, errDeleteSelf) {
		return "You cannot delete your own account"
	}
	return "Cannot delete the last active admin; make another user admin first"
}

// removeUser deletes the user named by the :id parameter with their permissions and tokens,
// and audits it (auditExtra adds fields, e.g. which page). It refuses the caller's own
// account (errDeleteSelf) and the last active admin (store.ErrLastAdmin); an unknown id is
// a 404.
func (s *Server) removeUser(c echo.Context, auditExtra map[string]any) (*store.User, error) {
	id := c.Param("id")
	if id == currentUser(c).ID {
		return nil, errDeleteSelf
	}
	ctx := c.Request().Context()
	u, err := s.store.GetUserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, userNotFound()
	}
	if err != nil {
		return nil, err
	}
	params := map[string]any{"email": u.Email, "role": u.Role}
	for k, v := range auditExtra {
		params[k] = v
	}
	switch err := s.store.DeleteUserAndGrants(s.auditing(c, auditUserDelete, id, params), id); {
	case errors.Is(err, store.ErrNotFound):
		return nil, userNotFound()
	case err != nil:
		return nil, err
	}
	return u, nil
}

// setupPasswordRequest is the body of POST /auth/password/setup. Email is optional (the
// original required it); when given it must be the token's user.
type setupPasswordRequest struct {
	Token    *string `json:"token"`
	Password *string `json:"password"`
	Email    *string `json:"email"`
}

// setupPassword answers POST /auth/password/setup (public, JSON): a valid, unused set-up
// token younger than auth.SetupLinkTTL sets the user's password and signs them in with a
// JWT. It uses the same link store as the set-up page (GET/POST /password/setup).
func (s *Server) setupPassword(c echo.Context) error {
	var req setupPasswordRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	v := &ValidationError{}
	if req.Token == nil || strings.TrimSpace(*req.Token) == "" {
		v.Add("token", "Field required", "missing")
	}
	if req.Password == nil {
		v.Add("password", "Field required", "missing")
	} else if err := auth.ValidatePassword(*req.Password); err != nil {
		v.Add("password", err.Error(), "value_error")
	}
	if err := v.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	token := strings.TrimSpace(*req.Token)
	refuse := func(err error) error {
		switch {
		case errors.Is(err, store.ErrLinkExpired):
			return apiError(http.StatusBadRequest, "Setup token has expired; ask your administrator for a new link")
		case errors.Is(err, store.ErrNotFound):
			return apiError(http.StatusBadRequest, "Invalid setup token")
		}
		return err
	}
	if !auth.PlausibleLinkToken(token) {
		return refuse(store.ErrNotFound)
	}
	hash := auth.HashLinkToken(token)
	// Look the token up before paying for the password hash, and never use up the link of a
	// deactivated account.
	u, err := s.store.LinkTokenUser(ctx, store.LinkSetup, hash, auth.SetupLinkTTL)
	if err != nil {
		return refuse(err)
	}
	if !u.Active {
		return apiError(http.StatusUnauthorized, "This account is deactivated")
	}
	if req.Email != nil && store.NormalizeEmail(*req.Email) != "" && store.NormalizeEmail(*req.Email) != store.NormalizeEmail(u.Email) {
		return refuse(store.ErrNotFound)
	}
	pwHash, err := auth.HashPassword(*req.Password)
	if err != nil {
		return err
	}
	actx := s.auditingAs(c, u.ID, auditPasswordSetup, u.ID, map[string]any{"email": u.Email, "via": "api"})
	u, err = s.store.ConsumeLinkToken(actx, store.LinkSetup, hash, auth.SetupLinkTTL, pwHash)
	if err != nil {
		return refuse(err)
	}
	tok, _, err := s.issuer.Issue(u.ID, u.Email, auth.Role(u.Role))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"access_token": tok, "token_type": "bearer",
		"message": "Password set successfully", "user_id": u.ID, "email": u.Email, "role": u.Role})
}

// showPasswordSetupLink answers GET /auth/password/setup?token=..., the setup_url handed
// out by POST /api/users, by sending the browser to the set-up page.
func (s *Server) showPasswordSetupLink(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusSeeOther, "/password/setup?"+url.Values{"token": {c.QueryParam("token")}}.Encode())
}

// auditRole is the role a new user gets: the one asked for, or the store's default.
func auditRole(r string) string {
	if r == "" {
		return store.DefaultRole
	}
	return r
}
