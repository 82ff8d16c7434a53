package views

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"da/auth"
)

// render renders c and parses the HTML.
func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	html := buf.String()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, html
}

// byID finds the single element with the data-testid.
func byID(t *testing.T, doc *goquery.Document, id string) *goquery.Selection {
	t.Helper()
	s := doc.Find(`[data-testid="` + id + `"]`)
	if s.Length() != 1 {
		t.Fatalf("data-testid=%q: found %d elements, want 1", id, s.Length())
	}
	return s
}

func absent(t *testing.T, doc *goquery.Document, id string) {
	t.Helper()
	if n := doc.Find(`[data-testid="` + id + `"]`).Length(); n != 0 {
		t.Errorf("data-testid=%q: found %d elements, want none", id, n)
	}
}

func testShell(role auth.Role) Shell {
	return Shell{
		Title: "Dashboard", Active: "dashboard", CSRF: `tok"en</script>`, InstanceName: "Acme Data",
		Version: "1.2.3", User: ShellUser{ID: "u1", Email: "ana@example.com", Name: "Ana <b>Admin</b>", Role: role},
	}
}

func TestVisibleNav(t *testing.T) {
	t.Parallel()
	keys := func(items []NavItem) map[string]bool {
		m := map[string]bool{}
		for _, it := range items {
			m[it.Key] = true
		}
		return m
	}
	tests := []struct {
		role      auth.Role
		count     int
		has, lack []string
	}{
		{auth.RoleViewer, 6, []string{"dashboard", "catalog", "memory", "access-requests", "activity", "settings"}, []string{"query", "upload", "memory-admin", "admin-tables", "admin-users", "admin-permissions", "admin-replicas"}},
		{auth.RoleAnalyst, 8, []string{"query", "upload", "activity"}, []string{"memory-admin", "admin-tables"}},
		{auth.RoleKMAdmin, 9, []string{"memory-admin", "activity"}, []string{"admin-tables", "admin-users"}},
		{auth.RoleAdmin, len(NavItems), []string{"activity", "admin-tables", "admin-users", "admin-permissions", "admin-replicas", "memory-admin"}, nil},
		{auth.Role("root"), 0, nil, []string{"dashboard"}},
	}
	for _, tt := range tests {
		got := VisibleNav(tt.role)
		if len(got) != tt.count {
			t.Errorf("%s: %d items, want %d", tt.role, len(got), tt.count)
		}
		k := keys(got)
		for _, key := range tt.has {
			if !k[key] {
				t.Errorf("%s: missing %q", tt.role, key)
			}
		}
		for _, key := range tt.lack {
			if k[key] {
				t.Errorf("%s: must not see %q", tt.role, key)
			}
		}
		for _, it := range got {
			if tt.role != auth.RoleAdmin && it.MinRole == auth.RoleAdmin {
				t.Errorf("%s sees admin item %q", tt.role, it.Key)
			}
		}
	}
}

func TestPageNavigationFollowsRole(t *testing.T) {
	t.Parallel()
	body := templ.Raw(`<p data-testid="body">hello</p>`) // static test markup, not user data
	for _, role := range auth.Roles {
		doc, _ := render(t, Page(testShell(role), body))
		byID(t, doc, "body")
		for _, it := range NavItems {
			sel := doc.Find(`[data-testid="nav-` + it.Key + `"]`)
			if want := role.AtLeast(it.MinRole); want != (sel.Length() == 1) {
				t.Errorf("%s: nav-%s present=%v, want %v", role, it.Key, sel.Length() == 1, want)
			}
			if sel.Length() == 1 && sel.AttrOr("href", "") != it.Href {
				t.Errorf("nav-%s href = %q, want %q", it.Key, sel.AttrOr("href", ""), it.Href)
			}
		}
		if got := doc.Find(`[data-testid="nav-admin-heading"]`).Length() == 1; got != (role == auth.RoleAdmin) {
			t.Errorf("%s: Administration heading shown=%v", role, got)
		}
	}
}

func TestPageShell(t *testing.T) {
	t.Parallel()
	s := testShell(auth.RoleAdmin)
	s.Flash = "Table saved"
	doc, html := render(t, Page(s, templ.NopComponent))

	if cur := doc.Find(`[aria-current="page"]`); cur.Length() != 1 || cur.AttrOr("data-testid", "") != "nav-dashboard" {
		t.Errorf("aria-current should mark only nav-dashboard, got %d elements", cur.Length())
	}
	var hdr map[string]string
	if err := json.Unmarshal([]byte(doc.Find("body").AttrOr("hx-headers", "")), &hdr); err != nil {
		t.Fatalf("hx-headers is not JSON: %v", err)
	}
	if hdr["X-CSRF-Token"] != s.CSRF {
		t.Errorf("hx-headers token = %q, want %q", hdr["X-CSRF-Token"], s.CSRF)
	}
	form := doc.Find(`form[action="/logout"]`)
	if form.Length() != 1 || form.AttrOr("method", "") != "post" {
		t.Fatalf("want one POST /logout form")
	}
	if form.Find(`input[name="_csrf"]`).AttrOr("value", "") != s.CSRF {
		t.Errorf("logout form lacks the CSRF token")
	}
	if form.Find(`[data-testid="logout"]`).Length() != 1 {
		t.Errorf("logout button missing")
	}
	if got := byID(t, doc, "user-email").Text(); got != "ana@example.com" {
		t.Errorf("user-email = %q", got)
	}
	if got := strings.TrimSpace(byID(t, doc, "user-role").Text()); got != "Administrator" {
		t.Errorf("user-role = %q", got)
	}
	if got := byID(t, doc, "toast-message").Text(); got != "Table saved" {
		t.Errorf("toast = %q", got)
	}
	byID(t, doc, "shortcuts-dialog")
	if got := doc.Find("title").Text(); got != "Dashboard · Acme Data" {
		t.Errorf("title = %q", got)
	}
	for _, asset := range []string{`href="/static/app.css"`, `src="/static/htmx.min.js"`, `src="/static/app.js"`, `href="/static/favicon.svg"`} {
		if !strings.Contains(html, asset) {
			t.Errorf("document lacks %s", asset)
		}
	}
	if strings.Contains(html, "<b>Admin</b>") || strings.Contains(html, `tok"en</script>`) {
		t.Errorf("user text was not escaped")
	}

	s.Flash = ""
	doc, _ = render(t, Page(s, templ.NopComponent))
	absent(t, doc, "toast")
}

func TestLogin(t *testing.T) {
	t.Parallel()
	doc, _ := render(t, Login(LoginData{InstanceName: "Acme Data", CSRF: "c1", Next: "/catalog"}))
	form := byID(t, doc, "login-form")
	if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/login" {
		t.Errorf("login form must POST /login")
	}
	email := byID(t, doc, "login-email")
	if email.AttrOr("name", "") != "email" || email.AttrOr("type", "") != "email" || email.AttrOr("autocomplete", "") != "username" {
		t.Errorf("email input attributes wrong")
	}
	if _, ok := email.Attr("autofocus"); !ok {
		t.Errorf("email should be autofocused on a fresh form")
	}
	pw := byID(t, doc, "login-password")
	if pw.AttrOr("name", "") != "password" || pw.AttrOr("type", "") != "password" || pw.AttrOr("autocomplete", "") != "current-password" {
		t.Errorf("password input attributes wrong")
	}
	if _, ok := pw.Attr("autofocus"); ok {
		t.Errorf("password must not be autofocused on a fresh form")
	}
	if form.Find(`input[type="hidden"][name="_csrf"]`).AttrOr("value", "") != "c1" {
		t.Errorf("missing _csrf")
	}
	if form.Find(`input[type="hidden"][name="next"]`).AttrOr("value", "") != "/catalog" {
		t.Errorf("missing next")
	}
	if byID(t, doc, "login-submit").AttrOr("type", "") != "submit" {
		t.Errorf("submit button type")
	}
	for _, id := range []string{"login-error", "login-notice", "login-google", "login-magic-form", "field-error-email"} {
		absent(t, doc, id)
	}

	doc, html := render(t, Login(LoginData{
		CSRF: "c2", Email: `x"><script>alert(1)</script>@example.com`, Error: "Invalid email or password",
		Notice: "You have been signed out.", FieldErrors: map[string]string{"password": "Password is required"},
		GoogleEnabled: true, MagicLinkEnabled: true,
	}))
	if strings.Contains(html, "<script>alert(1)") {
		t.Fatalf("re-filled e-mail is not escaped")
	}
	if e := byID(t, doc, "login-error"); e.AttrOr("role", "") != "alert" || !strings.Contains(e.Text(), "Invalid email or password") {
		t.Errorf("login-error wrong: role=%q text=%q", e.AttrOr("role", ""), e.Text())
	}
	byID(t, doc, "login-notice")
	if _, ok := byID(t, doc, "login-password").Attr("autofocus"); !ok {
		t.Errorf("password should be autofocused when the e-mail is re-filled")
	}
	pw = byID(t, doc, "login-password")
	if pw.AttrOr("aria-invalid", "") != "true" || pw.AttrOr("aria-describedby", "") == "" {
		t.Errorf("password field error not tied to the input")
	}
	if got := byID(t, doc, "field-error-password").AttrOr("id", ""); got != pw.AttrOr("aria-describedby", "") {
		t.Errorf("aria-describedby %q does not point at the error %q", pw.AttrOr("aria-describedby", ""), got)
	}
	if byID(t, doc, "login-google").AttrOr("href", "") != "/auth/google/login" {
		t.Errorf("google link href")
	}
	magic := byID(t, doc, "login-magic-form")
	if magic.AttrOr("action", "") != "/auth/email/request" || magic.Find(`input[name="email"]`).Length() != 1 || magic.Find(`input[name="_csrf"]`).AttrOr("value", "") != "c2" {
		t.Errorf("magic-link form wrong")
	}
	if n := doc.Find("[id]").FilterFunction(func(_ int, s *goquery.Selection) bool { return s.AttrOr("id", "") == "login-email" }).Length(); n != 1 {
		t.Errorf("duplicate element ids")
	}
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	data := DashboardData{Tables: 12, TotalRows: 1234567, Users: 4, LastSync: "", PendingRequests: 2, Health: "healthy"}

	doc, _ := render(t, Dashboard(testShell(auth.RoleAdmin), data))
	if got := byID(t, doc, "dashboard-user").Text(); got != "Ana <b>Admin</b>" {
		t.Errorf("dashboard-user = %q", got)
	}
	if got := strings.TrimSpace(byID(t, doc, "dashboard-role").Text()); got != "Administrator" {
		t.Errorf("dashboard-role = %q", got)
	}
	if got := byID(t, doc, "stat-rows").Find(`[data-testid="stat-value"]`).Text(); got != "1,234,567" {
		t.Errorf("rows = %q", got)
	}
	if got := byID(t, doc, "stat-last-sync").Find(`[data-testid="stat-value"]`).Text(); got != "Never" {
		t.Errorf("last sync = %q", got)
	}
	byID(t, doc, "dashboard-pending")
	byID(t, doc, "agent-card")
	byID(t, doc, "quicklink-admin-tables")
	if !strings.Contains(byID(t, doc, "agent-command-1").Text(), "da auth login --server") {
		t.Errorf("agent card lacks the login command")
	}
	absent(t, doc, "dashboard-empty")

	viewer := testShell(auth.RoleViewer)
	viewer.User.Name = ""
	doc, _ = render(t, Dashboard(viewer, DashboardData{PendingRequests: 5}))
	if got := byID(t, doc, "dashboard-user").Text(); got != "ana@example.com" {
		t.Errorf("dashboard-user falls back to e-mail, got %q", got)
	}
	byID(t, doc, "dashboard-empty")
	for _, id := range []string{"dashboard-pending", "empty-upload", "empty-register", "quicklink-query", "quicklink-admin-tables"} {
		absent(t, doc, id)
	}

	doc, _ = render(t, Dashboard(testShell(auth.RoleAnalyst), DashboardData{}))
	if byID(t, doc, "empty-upload").AttrOr("href", "") != "/upload" {
		t.Errorf("empty state upload link")
	}
	absent(t, doc, "empty-register")

	doc, _ = render(t, Dashboard(testShell(auth.RoleAdmin), DashboardData{}))
	if byID(t, doc, "empty-register").AttrOr("href", "") != "/admin/tables" {
		t.Errorf("empty state register link")
	}
}

func TestErrorPage(t *testing.T) {
	t.Parallel()
	doc, _ := render(t, ErrorPage(nil, ErrorData{Status: 404, Title: "Page not found", Message: "Gone.", RequestID: "rid-1"}))
	if got := byID(t, doc, "error-status").Text(); got != "404" {
		t.Errorf("status = %q", got)
	}
	if got := byID(t, doc, "error-title").Text(); got != "Page not found" {
		t.Errorf("title = %q", got)
	}
	if !strings.Contains(byID(t, doc, "error-request-id").Text(), "rid-1") {
		t.Errorf("request id missing")
	}
	if byID(t, doc, "error-signin").AttrOr("href", "") != "/login" {
		t.Errorf("sign-in link")
	}
	absent(t, doc, "logout")
	absent(t, doc, "nav-dashboard")

	s := testShell(auth.RoleAnalyst)
	s.Title = ""
	doc, _ = render(t, ErrorPage(&s, ErrorData{Status: 403}))
	if got := byID(t, doc, "error-status").Text(); got != "403" {
		t.Errorf("status = %q", got)
	}
	if got := byID(t, doc, "error-title").Text(); got != "Forbidden" {
		t.Errorf("default title = %q", got)
	}
	byID(t, doc, "logout")
	absent(t, doc, "error-request-access") // a role refusal: no table to request
	absent(t, doc, "error-request-id")
	absent(t, doc, "page-title")
	doc, _ = render(t, ErrorPage(&s, ErrorData{Status: 403, RequestTable: "ledger"}))
	if href := byID(t, doc, "error-request-access").AttrOr("href", ""); href != "/access-requests?table=ledger" {
		t.Errorf("request access link = %q", href)
	}
}

func TestFormatCount(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := FormatCount(in); got != want {
			t.Errorf("FormatCount(%d) = %q, want %q", in, got, want)
		}
	}
}

// TestProfilePanelPolls shows a running background profile and polls for the finished panel,
// and stops polling once there is no background profile.
func TestProfilePanelPolls(t *testing.T) {
	d := CatalogTableData{Row: CatalogRow{ID: "big_one", Name: "big_one", Readable: true, Profiling: true}, Profiling: true}
	doc, _ := render(t, ProfilePanel(d))
	p := byID(t, doc, "profile-pending")
	if p.AttrOr("hx-get", "") != "/catalog/big_one/profile" || !strings.Contains(p.AttrOr("hx-trigger", ""), "every") ||
		p.AttrOr("hx-target", "") != "#profile-panel" {
		t.Errorf("pending panel attributes: %v", p.Nodes[0].Attr)
	}
	if !strings.Contains(p.Text(), "Profiling in progress") {
		t.Errorf("pending text: %q", p.Text())
	}
	d.Profiling = false
	doc, _ = render(t, ProfilePanel(d))
	absent(t, doc, "profile-pending")

	doc, _ = render(t, catalogBadges(CatalogRow{Readable: true, Profiling: true}))
	byID(t, doc, "profiling-badge")
	doc, _ = render(t, catalogBadges(CatalogRow{Readable: true}))
	absent(t, doc, "profiling-badge")
}
