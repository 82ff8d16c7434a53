package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// sessionFlashKey holds a one-off success message shown as a toast on the next page.
const sessionFlashKey = "flash"

// pageShell is s.shell plus the pending flash message, which it consumes.
func (s *Server) pageShell(c echo.Context, active, title string) views.Shell {
	sh := s.shell(c, active, title)
	sh.Flash = s.sessions.PopString(c.Request().Context(), sessionFlashKey)
	return sh
}

// flashRedirect stores a success message for the next page and answers 303 to target.
func (s *Server) flashRedirect(c echo.Context, target, msg string) error {
	s.sessions.Put(c.Request().Context(), sessionFlashKey, msg)
	return c.Redirect(http.StatusSeeOther, target)
}

// isHTMX reports whether htmx sent the request (it then swaps a fragment).
func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// shortTime formats a time for tables, or "—" for the zero time.
func shortTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func adminUserRow(u *store.User, self string) views.AdminUserRow {
	last := u.UpdatedAt
	if last.IsZero() {
		last = u.CreatedAt
	}
	return views.AdminUserRow{ID: u.ID, Email: u.Email, Name: u.Name, Role: auth.Role(u.Role), Active: u.Active,
		HasPassword: u.PasswordHash != "", LastChange: shortTime(last), Self: u.ID == self}
}

// showAdminUsers renders GET /admin/users (admin); ?q= filters by e-mail or name.
func (s *Server) showAdminUsers(c echo.Context) error {
	d, err := s.adminUsersData(c, strings.TrimSpace(c.QueryParam("q")))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminUsers(s.pageShell(c, "admin-users", "Users"), d))
}

func (s *Server) adminUsersData(c echo.Context, q string) (views.AdminUsersData, error) {
	users, err := s.store.ListUsers(c.Request().Context())
	if err != nil {
		return views.AdminUsersData{}, err
	}
	d := views.AdminUsersData{Query: q, Total: len(users), CSRF: s.csrfToken(c), Users: []views.AdminUserRow{}}
	needle := strings.ToLower(q)
	for i := range users {
		u := &users[i]
		if needle != "" && !strings.Contains(strings.ToLower(u.Email), needle) && !strings.Contains(strings.ToLower(u.Name), needle) {
			continue
		}
		d.Users = append(d.Users, adminUserRow(u, currentUser(c).ID))
	}
	return d, nil
}

// inviteUser handles POST /admin/users (admin): the invite form. Without a password the
// answer shows the one-time set-up link (and e-mails it when SMTP is configured).
func (s *Server) inviteUser(c echo.Context) error {
	f := views.InviteForm{Email: strings.TrimSpace(c.FormValue("email")), Name: strings.TrimSpace(c.FormValue("name")),
		Role: strings.TrimSpace(c.FormValue("role")), Errors: map[string]string{}}
	password := c.FormValue("password")
	email := store.NormalizeEmail(f.Email)
	switch {
	case email == "":
		f.Errors["email"] = "Enter the e-mail address of the person to invite"
	case !validEmail(email):
		f.Errors["email"] = "This is not a valid e-mail address"
	}
	if len(f.Name) > maxNameLen {
		f.Errors["name"] = "The name may have at most 200 characters"
	} else if strings.ContainsAny(f.Name, "\x00\r\n") {
		f.Errors["name"] = "The name must not contain control characters"
	}
	role := auth.RoleAnalyst
	if f.Role != "" {
		r, err := auth.ParseRole(f.Role)
		if err != nil {
			f.Errors["role"] = err.Error()
		}
		role = r
	}
	if password != "" {
		if err := auth.ValidatePassword(password); err != nil {
			f.Errors["password"] = err.Error()
		}
	}
	if len(f.Errors) > 0 {
		return s.renderInvite(c, http.StatusUnprocessableEntity, f, nil)
	}
	u := &store.User{Email: email, Name: f.Name, Role: string(role)}
	ctx := s.auditing(c, auditUserCreate, "", map[string]any{"email": store.NormalizeEmail(email), "role": auditRole(u.Role),
		"with_password": password != "", "via": "page"})
	var res *views.InviteResult
	tok, err := s.addUser(ctx, u, password)
	if tok != "" {
		res = &views.InviteResult{Email: email, SetupURL: s.linkURL(store.LinkSetup, tok, "")}
	}
	if errors.Is(err, store.ErrConflict) {
		f.Errors["email"] = "A user with this e-mail address already exists"
		return s.renderInvite(c, http.StatusUnprocessableEntity, f, nil)
	}
	if err != nil {
		return err
	}
	if res != nil && s.mailReady() {
		msg := auth.LinkMessage(string(store.LinkSetup), u.Email, s.cfg.InstanceName, res.SetupURL, auth.SetupLinkTTL)
		if merr := s.signin.mailer.Send(ctx, msg); merr != nil {
			s.log.ErrorContext(c.Request().Context(), "sending the invitation failed", "user", u.Email, "error", merr)
		} else {
			res.Emailed = true
		}
	}
	if res == nil {
		return s.flashRedirect(c, "/admin/users", u.Email+" was added")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.renderInvite(c, http.StatusOK, views.InviteForm{}, res)
}

// renderInvite answers the invite form: the panel (and a fresh users table) for htmx, the
// whole page otherwise.
func (s *Server) renderInvite(c echo.Context, status int, f views.InviteForm, res *views.InviteResult) error {
	d, err := s.adminUsersData(c, "")
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		d.Invite, d.Result = f, res
		return render(c, status, views.AdminUsers(s.pageShell(c, "admin-users", "Users"), d))
	}
	if status != http.StatusOK {
		return render(c, status, views.InvitePanel(f, res, d.CSRF))
	}
	return render(c, status, views.InviteWithUsers(f, res, d))
}

// changeUserRole handles POST /admin/users/:id/role (admin) and answers the row.
func (s *Server) changeUserRole(c echo.Context) error {
	r, err := auth.ParseRole(c.FormValue("role"))
	if err != nil {
		return s.userRowError(c, err.Error())
	}
	role := string(r)
	return s.patchUserRow(c, store.UserPatch{Role: &role}, map[string]any{"role": role})
}

// setUserActive handles POST /admin/users/:id/active (admin) with active=true|false.
func (s *Server) setUserActive(c echo.Context) error {
	var active bool
	switch c.FormValue("active") {
	case "true":
		active = true
	case "false":
		if c.Param("id") == currentUser(c).ID {
			return s.userRowError(c, "You cannot deactivate your own account")
		}
	default:
		return s.userRowError(c, `active must be "true" or "false"`)
	}
	return s.patchUserRow(c, store.UserPatch{Active: &active}, map[string]any{"active": active})
}

func (s *Server) patchUserRow(c echo.Context, p store.UserPatch, changes map[string]any) error {
	changes["via"] = "page"
	u, err := s.store.PatchUser(s.auditing(c, auditUserUpdate, c.Param("id"), changes), c.Param("id"), p)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return userNotFound()
	case errors.Is(err, store.ErrLastAdmin):
		return s.userRowError(c, "This is the last active admin: make another user admin first")
	case err != nil:
		return err
	}
	return s.userRowDone(c, u)
}

// deleteUserPage handles POST /admin/users/:id/delete (admin): the row disappears.
func (s *Server) deleteUserPage(c echo.Context) error {
	u, err := s.removeUser(c, map[string]any{"via": "page"})
	switch {
	case errors.Is(err, errDeleteSelf):
		return s.userRowError(c, "You cannot delete your own account")
	case errors.Is(err, store.ErrLastAdmin):
		return s.userRowError(c, "This is the last active admin: it cannot be deleted")
	case err != nil:
		return err
	}
	if !isHTMX(c) {
		return s.flashRedirect(c, "/admin/users", u.Email+" was deleted")
	}
	return render(c, http.StatusOK, views.ToastOOB(u.Email+" was deleted"))
}

// userRowDone answers a successful row action: the row for htmx, a redirect otherwise.
func (s *Server) userRowDone(c echo.Context, u *store.User) error {
	if !isHTMX(c) {
		return s.flashRedirect(c, "/admin/users", u.Email+" was updated")
	}
	return render(c, http.StatusOK, views.UserRow(adminUserRow(u, currentUser(c).ID), s.csrfToken(c)))
}

// userRowError answers a refused row action with 422: the row with the error for htmx, the
// page with the error on that row otherwise.
func (s *Server) userRowError(c echo.Context, msg string) error {
	u, err := s.store.GetUserByID(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	}
	if err != nil {
		return err
	}
	row := adminUserRow(u, currentUser(c).ID)
	row.Error = msg
	if isHTMX(c) {
		return render(c, http.StatusUnprocessableEntity, views.UserRow(row, s.csrfToken(c)))
	}
	d, err := s.adminUsersData(c, "")
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(d.Users, func(r views.AdminUserRow) bool { return r.ID == u.ID }); i >= 0 {
		d.Users[i] = row
	}
	return render(c, http.StatusUnprocessableEntity, views.AdminUsers(s.shell(c, "admin-users", "Users"), d))
}
