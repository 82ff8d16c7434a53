// Package auth holds passwords, tokens, sessions helpers and role checks.
package auth

import (
	"fmt"
	"strings"
)

// Role is a user's role; roles are ordered viewer < analyst < km_admin < admin.
type Role string

// The four roles, lowest first.
const (
	RoleViewer  Role = "viewer"
	RoleAnalyst Role = "analyst"
	RoleKMAdmin Role = "km_admin"
	RoleAdmin   Role = "admin"
)

// Roles lists every valid role from lowest to highest.
var Roles = []Role{RoleViewer, RoleAnalyst, RoleKMAdmin, RoleAdmin}

// Rank is the role's position in the hierarchy; -1 for an unknown role.
func (r Role) Rank() int {
	for i, v := range Roles {
		if v == r {
			return i
		}
	}
	return -1
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.Rank() >= 0 }

// AtLeast reports whether r is min or higher. Unknown roles are never enough.
func (r Role) AtLeast(min Role) bool {
	return r.Valid() && r.Rank() >= min.Rank()
}

// Label is the human name of the role shown in the UI.
func (r Role) Label() string {
	switch r {
	case RoleAdmin:
		return "Administrator"
	case RoleKMAdmin:
		return "Knowledge admin"
	case RoleAnalyst:
		return "Analyst"
	case RoleViewer:
		return "Viewer"
	}
	return string(r)
}

// ParseRole validates a role string (case-insensitive, surrounding space ignored).
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("role must be one of viewer, analyst, km_admin, admin (got %q)", s)
	}
	return r, nil
}
