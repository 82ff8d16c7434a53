package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// auditPasswordChange is the audit action of a password change from the settings page.
const auditPasswordChange = "password_change"

// showSettings renders GET /settings (viewer+).
func (s *Server) showSettings(c echo.Context) error {
	d, err := s.settingsData(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Settings(s.pageShell(c, "settings", "Settings"), d))
}

func (s *Server) settingsData(c echo.Context) (views.SettingsData, error) {
	u := currentUser(c)
	d := views.SettingsData{Name: u.Name, HasPassword: u.PasswordHash != "", CSRF: s.csrfToken(c),
		ProfileErrors: map[string]string{}, PasswordErrs: map[string]string{}, TokenErrors: map[string]string{}}
	ts, err := s.store.ListPersonalTokens(c.Request().Context(), u.ID)
	if err != nil {
		return d, err
	}
	cs, err := s.store.ConsentOf(c.Request().Context(), u.ID)
	if err != nil {
		return d, err
	}
	d.ConsentNotes, d.ConsentTranscripts = cs.Notes, cs.Transcripts
	for _, t := range ts {
		r := views.TokenRow{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Scope: t.Scope, Created: shortTime(t.CreatedAt),
			LastUsed: "never", Expires: "never"}
		if t.LastUsedAt != nil {
			r.LastUsed = shortTime(*t.LastUsedAt)
		}
		if t.ExpiresAt != nil {
			r.Expires = shortTime(*t.ExpiresAt)
		}
		d.Tokens = append(d.Tokens, r)
	}
	return d, nil
}

// settingsRefused re-renders the settings page with d's inline errors (422).
func (s *Server) settingsRefused(c echo.Context, fill func(*views.SettingsData)) error {
	d, err := s.settingsData(c)
	if err != nil {
		return err
	}
	fill(&d)
	return render(c, http.StatusUnprocessableEntity, views.Settings(s.shell(c, "settings", "Settings"), d))
}

// updateProfile handles POST /settings/profile (viewer+): the display name.
func (s *Server) updateProfile(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	msg := ""
	switch {
	case name == "":
		msg = "Enter your name"
	case len(name) > maxNameLen:
		msg = "The name may have at most 200 characters"
	case strings.ContainsAny(name, "\x00\r\n"):
		msg = "The name must not contain control characters"
	}
	if msg != "" {
		return s.settingsRefused(c, func(d *views.SettingsData) { d.Name, d.ProfileErrors["name"] = name, msg })
	}
	me := currentUser(c).ID
	_, err := s.store.PatchUser(s.auditing(c, auditUserUpdate, me, map[string]any{"name": name, "via": "settings"}), me, store.UserPatch{Name: &name})
	if err != nil {
		return err
	}
	return s.flashRedirect(c, "/settings", "Profile saved")
}

// updateConsent handles POST /settings/consent (viewer+): what the knowledge collector may
// read of the caller's uploads. An unticked box is a no.
func (s *Server) updateConsent(c echo.Context) error {
	u := currentUser(c)
	cs, err := s.store.ConsentOf(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	cs.Notes, cs.Transcripts = c.FormValue("notes") != "", c.FormValue("transcripts") != ""
	ctx := s.auditing(c, auditConsent, u.ID, map[string]any{"notes": cs.Notes, "transcripts": cs.Transcripts, "via": "settings"})
	if err := s.store.SetConsent(ctx, cs); err != nil {
		return err
	}
	return s.flashRedirect(c, "/settings", "Sharing choices saved")
}

// changePassword handles POST /settings/password (viewer+): the current password (when the
// account has one), the new one (at least 8 characters) and its confirmation.
func (s *Server) changePassword(c echo.Context) error {
	u := currentUser(c)
	current, next, confirm := c.FormValue("current_password"), c.FormValue("new_password"), c.FormValue("confirm_password")
	errs := map[string]string{}
	ctx := c.Request().Context()
	if u.PasswordHash != "" {
		if current == "" {
			errs["current_password"] = "Enter your current password"
		} else if ok, wait := s.limiter.Allow(u.Email, c.RealIP()); !ok {
			errs["current_password"] = "Too many attempts; try again in " + waitText(wait)
		} else if auth.VerifyPassword(u.PasswordHash, current) != nil {
			s.limiter.Failed(u.Email, c.RealIP())
			errs["current_password"] = "The current password is not correct"
		} else {
			s.limiter.Succeeded(u.Email, c.RealIP())
		}
	}
	if err := auth.ValidatePassword(next); err != nil {
		errs["new_password"] = err.Error()
	} else if next != confirm {
		errs["confirm_password"] = "The two new passwords do not match"
	}
	if len(errs) > 0 {
		return s.settingsRefused(c, func(d *views.SettingsData) { d.PasswordErrs = errs })
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return err
	}
	if err := s.store.SetUserPassword(s.auditing(c, auditPasswordChange, u.ID, map[string]any{"via": "settings"}), u.ID, hash); err != nil {
		return err
	}
	// The change ended every session and token of the account; this session carries on.
	if err := s.keepSession(ctx); err != nil {
		return err
	}
	return s.flashRedirect(c, "/settings", "Password changed")
}

// createTokenPage handles POST /settings/tokens (viewer+): name, expires_days (optional),
// read_only. The answer shows the token once and is never cached.
func (s *Server) createTokenPage(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	days := strings.TrimSpace(c.FormValue("expires_days"))
	errs := map[string]string{}
	switch {
	case name == "":
		errs["name"] = "Give the token a name, e.g. where it is used"
	case len(name) > maxNameLen:
		errs["name"] = "The name may have at most 200 characters"
	case strings.ContainsAny(name, "\x00\r\n"):
		errs["name"] = "The name must not contain control characters"
	}
	var expires *time.Time
	if days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > maxTokenDays {
			errs["expires_days"] = "Enter a whole number of days from 1 to 3650, or leave it empty"
		} else {
			e := time.Now().UTC().AddDate(0, 0, n)
			expires = &e
		}
	}
	if len(errs) > 0 {
		return s.settingsRefused(c, func(d *views.SettingsData) { d.TokenName, d.TokenDays, d.TokenErrors = name, days, errs })
	}
	scope := store.ScopeFull
	if c.FormValue("read_only") != "" {
		scope = store.ScopeRead
	}
	ctx := s.auditing(c, auditTokenCreate, "", map[string]any{"name": name, "scope": scope, "via": "settings"})
	t, plain, err := s.store.CreatePersonalToken(ctx, currentUser(c).ID, name, scope, expires)
	if err != nil {
		return err
	}
	d, err := s.settingsData(c)
	if err != nil {
		return err
	}
	d.NewToken, d.NewTokenName = plain, t.Name
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, views.Settings(s.pageShell(c, "settings", "Settings"), d))
}

// revokeTokenPage handles POST /settings/tokens/:id/revoke (viewer+, own tokens only).
func (s *Server) revokeTokenPage(c echo.Context) error {
	id := c.Param("id")
	err := s.store.RevokePersonalToken(s.auditing(c, auditTokenRevoke, id, map[string]any{"via": "settings"}), currentUser(c).ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Token not found")
	}
	if err != nil {
		return err
	}
	return s.flashRedirect(c, "/settings", "Token revoked")
}
