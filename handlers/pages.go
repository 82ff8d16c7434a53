package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/views"
)

// shell builds the layout data of a signed-in page.
func (s *Server) shell(c echo.Context, active, title string) views.Shell {
	u := currentUser(c)
	sh := views.Shell{Title: title, Active: active, CSRF: s.csrfToken(c), InstanceName: s.cfg.InstanceName, Version: s.version}
	if u != nil {
		sh.User = views.ShellUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: auth.Role(u.Role)}
	}
	return sh
}

// showHome sends visitors to the dashboard or the login page.
func (s *Server) showHome(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusFound, "/dashboard")
	}
	return c.Redirect(http.StatusFound, "/login")
}
