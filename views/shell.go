// Package views holds the templ pages of the web UI, one file per screen, and the app shell
// (layout, navigation, shortcuts) they render inside.
package views

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/a-h/templ"

	"da/auth"
	"da/components"
)

// ShellUser is the signed-in user shown in the layout.
type ShellUser struct {
	ID, Email, Name string
	Role            auth.Role
}

// DisplayName is the user's name, or their e-mail when no name is set.
func (u ShellUser) DisplayName() string {
	if n := strings.TrimSpace(u.Name); n != "" {
		return n
	}
	return u.Email
}

// Shell is what every signed-in page needs for the layout.
type Shell struct {
	Title        string    // page <title> prefix and heading
	Active       string    // nav key of the current page (see NavItems)
	User         ShellUser // the signed-in user
	CSRF         string    // CSRF token for forms (hidden "_csrf") and htmx (X-CSRF-Token header)
	InstanceName string    // product name shown in the header, e.g. "AI Data Analyst"
	Version      string    // build version shown in the sidebar footer
	Flash        string    // optional one-off success message shown as a dismissible toast
}

// NavItem is one entry of the main navigation and the lowest role that may open it.
type NavItem struct {
	Key, Label, Href string
	MinRole          auth.Role
}

// NavItems is the whole navigation in display order. Items whose MinRole is admin are shown
// under the "Administration" heading.
var NavItems = []NavItem{
	{Key: "dashboard", Label: "Dashboard", Href: "/dashboard", MinRole: auth.RoleViewer},
	{Key: "catalog", Label: "Data catalog", Href: "/catalog", MinRole: auth.RoleViewer},
	{Key: "query", Label: "Query console", Href: "/query", MinRole: auth.RoleAnalyst},
	{Key: "upload", Label: "Upload data", Href: "/upload", MinRole: auth.RoleAnalyst},
	{Key: "memory", Label: "Corporate memory", Href: "/corporate-memory", MinRole: auth.RoleViewer},
	{Key: "memory-admin", Label: "Memory admin", Href: "/corporate-memory/admin", MinRole: auth.RoleKMAdmin},
	{Key: "access-requests", Label: "Access requests", Href: "/access-requests", MinRole: auth.RoleViewer},
	{Key: "activity", Label: "Activity", Href: "/activity-center", MinRole: auth.RoleViewer}, // admins see everyone's, others their own
	{Key: "admin-tables", Label: "Tables", Href: "/admin/tables", MinRole: auth.RoleAdmin},
	{Key: "admin-users", Label: "Users", Href: "/admin/users", MinRole: auth.RoleAdmin},
	{Key: "admin-permissions", Label: "Permissions", Href: "/admin/permissions", MinRole: auth.RoleAdmin},
	{Key: "admin-replicas", Label: "Replicas", Href: "/admin/replicas", MinRole: auth.RoleAdmin},
	{Key: "settings", Label: "Settings", Href: "/settings", MinRole: auth.RoleViewer},
}

// VisibleNav returns the NavItems role may open, in display order. An unknown role sees none.
func VisibleNav(role auth.Role) []NavItem {
	out := make([]NavItem, 0, len(NavItems))
	for _, it := range NavItems {
		if role.AtLeast(it.MinRole) {
			out = append(out, it)
		}
	}
	return out
}

// CanOpen reports whether role may open the nav item with the given key.
func CanOpen(role auth.Role, key string) bool {
	for _, it := range NavItems {
		if it.Key == key {
			return role.AtLeast(it.MinRole)
		}
	}
	return false
}

// navSections splits the visible items into the main list, the Administration group and
// the trailing items (Settings), keeping NavItems order within each.
func navSections(role auth.Role) (main, admin, tail []NavItem) {
	for _, it := range VisibleNav(role) {
		switch {
		case it.MinRole == auth.RoleAdmin:
			admin = append(admin, it)
		case it.Key == "settings":
			tail = append(tail, it)
		default:
			main = append(main, it)
		}
	}
	return main, admin, tail
}

// navIcon is the icon name of a nav item.
func navIcon(key string) string {
	switch key {
	case "dashboard":
		return "home"
	case "catalog":
		return "database"
	case "query":
		return "terminal"
	case "upload":
		return "upload"
	case "memory":
		return "book"
	case "memory-admin":
		return "shield"
	case "access-requests":
		return "key"
	case "activity":
		return "activity"
	case "admin-tables":
		return "table"
	case "admin-users":
		return "users"
	case "admin-permissions":
		return "lock"
	case "admin-replicas":
		return "database"
	case "settings":
		return "sliders"
	}
	return ""
}

func navLinkClass(active bool) string {
	base := "group flex items-center gap-3 rounded-lg px-3 py-2 text-sm font-medium transition-colors focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
	if active {
		return base + " bg-indigo-50 text-indigo-700"
	}
	return base + " text-slate-600 hover:bg-slate-100 hover:text-slate-900"
}

func navIconClass(active bool) string {
	if active {
		return "h-[18px] w-[18px] shrink-0 text-indigo-600"
	}
	return "h-[18px] w-[18px] shrink-0 text-slate-400 group-hover:text-slate-600"
}

// csrfHeaders is the JSON value of <body hx-headers>, built with encoding/json so that any
// token is a valid, escaped JSON string.
func csrfHeaders(token string) string {
	b, err := json.Marshal(map[string]string{"X-CSRF-Token": token})
	if err != nil {
		return "{}"
	}
	return string(b)
}

// docTitle is the <title> text: "Page · Instance", or whichever part is set.
func docTitle(page, instance string) string {
	instance = instanceName(instance)
	if page == "" {
		return instance
	}
	return page + " · " + instance
}

// instanceName falls back to a generic product name when none is configured.
func instanceName(s string) string {
	if strings.TrimSpace(s) == "" {
		return "AI Data Analyst"
	}
	return s
}

// initials is up to two letters for the avatar, from the name or the e-mail's local part.
func initials(u ShellUser) string {
	src := strings.TrimSpace(u.Name)
	if src == "" {
		src, _, _ = strings.Cut(u.Email, "@")
		src = strings.NewReplacer(".", " ", "_", " ", "-", " ", "+", " ").Replace(src)
	}
	var out []rune
	for _, w := range strings.Fields(src) {
		r := []rune(w)
		out = append(out, r[0])
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return strings.ToUpper(string(out))
}

// FormatCount formats n with comma thousands separators: 1234567 → "1,234,567".
func FormatCount(n int64) string { return components.FormatInt(n) }

// pct formats a percentage for tables: "100%", "99.5%", "0%".
func pct(v float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + "%"
}

// pctWidth is an inline width style for a percentage bar, clamped to 0–100.
func pctWidth(v float64) templ.SafeCSS {
	if v < 0 {
		v = 0
	}
	if v > 100 {
		v = 100
	}
	return templ.SafeCSS("width: " + strconv.FormatFloat(v, 'f', 1, 64) + "%")
}
