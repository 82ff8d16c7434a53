package handlers

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

// htmx sends an htmx request from the browser b: its cookies, the CSRF header, HX-Request.
func (b *browser) htmx(method, path string, form url.Values) *httptest.ResponseRecorder {
	b.env.t.Helper()
	r := request{method: method, path: path, headers: map[string]string{"HX-Request": "true", "X-CSRF-Token": b.csrf}}
	if form != nil {
		r.body, r.ctype = form.Encode(), "application/x-www-form-urlencoded"
	}
	for _, c := range b.jar {
		r.cookies = append(r.cookies, c)
	}
	return b.env.do(r)
}

// signedIn returns a browser signed in as the env user of role r.
func (env *testEnv) signedIn(r auth.Role) *browser {
	env.t.Helper()
	b := env.browser()
	if rec := b.login(env.users[r].Email, testPassword); rec.Code != http.StatusSeeOther {
		env.t.Fatalf("login %s: %d %s", r, rec.Code, rec.Body)
	}
	b.do("GET", "/settings", nil) // picks up the CSRF token
	return b
}

// privateTable registers a private table in bucket in.c-sales.
func (env *testEnv) privateTable(id string) {
	env.t.Helper()
	if err := env.store.RegisterTable(context.Background(), &store.Table{ID: id, Name: id, Bucket: "in.c-sales", SourceType: "keboola", IsPublic: false}); err != nil {
		env.t.Fatal(err)
	}
}

// TestGovernancePagesAccess runs every governance page for each kind of caller.
func TestGovernancePagesAccess(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	gone := &store.User{Email: "gone@example.com", Name: "Gone", Role: "admin", Active: true}
	if err := env.store.CreateUser(ctx, gone); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := env.store.PatchUser(ctx, gone.ID, store.UserPatch{Active: &off}); err != nil {
		t.Fatal(err)
	}
	goneTok, _, _ := env.srv.issuer.Issue(gone.ID, gone.Email, auth.RoleAdmin)
	if err := env.store.LogAudit(ctx, &store.AuditEntry{UserID: env.users[auth.RoleAdmin].ID, Action: "secret_admin_action", Resource: "admin-only-resource"}); err != nil {
		t.Fatal(err)
	}
	if err := env.store.LogAudit(ctx, &store.AuditEntry{UserID: env.users[auth.RoleViewer].ID, Action: "viewer_action", Resource: "viewer-resource"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		role   auth.Role // "" = anonymous
		token  string    // bearer instead of a role
		status int
		want   []string
		forbid []string
	}{
		{"/admin/users", auth.RoleAdmin, "", 200, []string{`data-testid="admin-users"`, "viewer@example.com", `data-testid="invite-form"`}, nil},
		{"/admin/users?q=analyst", auth.RoleAdmin, "", 200, []string{"analyst@example.com"}, []string{"viewer@example.com"}},
		{"/admin/users", auth.RoleAnalyst, "", 403, nil, []string{"viewer@example.com"}},
		{"/admin/users", "", "", 303, nil, nil},
		{"/admin/users", "", goneTok, 401, nil, []string{"viewer@example.com"}},
		{"/admin/permissions", auth.RoleAdmin, "", 200, []string{`data-testid="admin-permissions"`, "Pick a user"}, nil},
		{"/admin/permissions?view=table", auth.RoleAdmin, "", 200, []string{"Pick a table"}, nil},
		{"/admin/permissions", auth.RoleKMAdmin, "", 403, nil, nil},
		{"/admin/permissions", "", goneTok, 401, nil, nil},
		{"/access-requests", auth.RoleViewer, "", 200, []string{`data-testid="request-form"`, `data-testid="my-requests"`}, []string{`data-testid="review-queue"`}},
		{"/access-requests", auth.RoleAdmin, "", 200, []string{`data-testid="review-queue"`, "No pending access requests"}, nil},
		{"/access-requests", "", "", 303, nil, nil},
		{"/activity-center", auth.RoleViewer, "", 200, []string{"viewer_action", "viewer-resource"}, []string{"secret_admin_action", "admin-only-resource", `data-testid="filter-user"`}},
		{"/activity-center?user=" + "x", auth.RoleViewer, "", 200, []string{"viewer_action"}, []string{"secret_admin_action"}},
		{"/activity-center", auth.RoleAdmin, "", 200, []string{"viewer_action", "secret_admin_action", `data-testid="filter-user"`}, nil},
		{"/activity-center?from=nope", auth.RoleAdmin, "", 422, []string{"From must be a date"}, nil},
		{"/activity-center?tab=sync", auth.RoleAnalyst, "", 200, []string{"No syncs yet"}, nil},
		{"/activity-center", "", goneTok, 401, nil, []string{"viewer_action"}},
		{"/settings", auth.RoleViewer, "", 200, []string{`data-testid="tokens"`, `data-testid="subscriptions"`, `href="/catalog"`}, nil},
		{"/settings", "", "", 303, nil, nil},
		{"/settings", "", goneTok, 401, nil, nil},
	}
	browsers := map[auth.Role]*browser{}
	for _, tt := range tests {
		t.Run(string(tt.role)+" "+tt.path, func(t *testing.T) {
			var rec *httptest.ResponseRecorder
			switch {
			case tt.token != "":
				rec = env.do(request{method: "GET", path: tt.path, token: tt.token})
			case tt.role == "":
				rec = env.do(request{method: "GET", path: tt.path})
			default:
				if browsers[tt.role] == nil {
					browsers[tt.role] = env.signedIn(tt.role)
				}
				rec = browsers[tt.role].do("GET", tt.path, nil)
			}
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 303 && !strings.HasPrefix(rec.Header().Get("Location"), "/login?next=") {
				t.Errorf("redirect to %q, want the login page", rec.Header().Get("Location"))
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for _, f := range tt.forbid {
				if strings.Contains(rec.Body.String(), f) {
					t.Errorf("body must not contain %q", f)
				}
			}
		})
	}
}

// TestAdminUsersPage covers invite, the set-up link, inline errors and the protections.
func TestAdminUsersPage(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(auth.RoleAdmin)
	admin := env.users[auth.RoleAdmin]
	viewer := env.users[auth.RoleViewer]

	rec := b.htmx("POST", "/admin/users", url.Values{"email": {"New.Person@Example.com"}, "name": {"New Person"}, "role": {"viewer"}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="invite-setup-url"`) || !strings.Contains(rec.Body.String(), "/password/setup?token=") {
		t.Fatalf("invite without password: %d %.400s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "new.person@example.com") {
		t.Error("the refreshed users table lacks the invited user")
	}
	u, err := env.store.GetUserByEmail(context.Background(), "new.person@example.com")
	if err != nil || u.Role != "viewer" || u.PasswordHash != "" {
		t.Fatalf("invited user: %+v %v", u, err)
	}
	// The link is shown once: the page never shows it again.
	if page := b.do("GET", "/admin/users", nil); strings.Contains(page.Body.String(), "/password/setup?token=") {
		t.Error("the set-up link appears again on the users page")
	}

	invites := []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"duplicate", url.Values{"email": {"new.person@example.com"}}, "email", "already exists"},
		{"bad email", url.Values{"email": {"not-an-email"}}, "email", "not a valid e-mail"},
		{"missing email", url.Values{"email": {""}}, "email", "Enter the e-mail"},
		{"bad role", url.Values{"email": {"x@example.com"}, "role": {"root"}}, "role", "role"},
		{"short password", url.Values{"email": {"y@example.com"}, "password": {"short"}}, "password", "8"},
	}
	for _, tt := range invites {
		rec := b.htmx("POST", "/admin/users", tt.form)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `data-testid="field-error-`+tt.field+`"`) ||
			!strings.Contains(rec.Body.String(), tt.msg) {
			t.Errorf("%s: %d %.300s", tt.name, rec.Code, rec.Body)
		}
	}
	if rec := b.do("POST", "/admin/users", url.Values{"email": {"pw@example.com"}, "password": {"long-enough-pw"}, "_csrf": {b.csrf}}); rec.Code != 303 {
		t.Errorf("invite with password: %d", rec.Code)
	}

	// Row actions: the last admin and self protections are inline errors on the row.
	rows := []struct {
		name   string
		path   string
		form   url.Values
		status int
		want   string
	}{
		{"demote last admin", "/admin/users/" + admin.ID + "/role", url.Values{"role": {"viewer"}}, 422, "last active admin"},
		{"deactivate self", "/admin/users/" + admin.ID + "/active", url.Values{"active": {"false"}}, 422, "cannot deactivate your own"},
		{"delete self", "/admin/users/" + admin.ID + "/delete", url.Values{}, 422, "cannot delete your own"},
		{"bad role", "/admin/users/" + viewer.ID + "/role", url.Values{"role": {"boss"}}, 422, "role"},
		{"promote viewer", "/admin/users/" + viewer.ID + "/role", url.Values{"role": {"analyst"}}, 200, `value="analyst" selected`},
		{"deactivate viewer", "/admin/users/" + viewer.ID + "/active", url.Values{"active": {"false"}}, 200, "Deactivated"},
		{"reactivate viewer", "/admin/users/" + viewer.ID + "/active", url.Values{"active": {"true"}}, 200, "Active"},
		{"unknown user", "/admin/users/nope/role", url.Values{"role": {"viewer"}}, 404, ""},
		{"delete viewer", "/admin/users/" + viewer.ID + "/delete", url.Values{}, 200, "was deleted"},
	}
	for _, tt := range rows {
		rec := b.htmx("POST", tt.path, tt.form)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s: %d %.300s", tt.name, rec.Code, rec.Body)
		}
	}
	if _, err := env.store.GetUserByID(context.Background(), viewer.ID); err == nil {
		t.Error("the viewer was not deleted")
	}
	if got, _ := env.store.GetUserByID(context.Background(), admin.ID); got.Role != "admin" || !got.Active {
		t.Errorf("the last admin changed: %+v", got)
	}
	// Without CSRF the page actions are refused.
	rec = env.do(request{method: "POST", path: "/admin/users", body: "email=z@example.com", ctype: "application/x-www-form-urlencoded", cookies: jarCookies(b)})
	if rec.Code != http.StatusForbidden {
		t.Errorf("no CSRF: %d", rec.Code)
	}
}

func jarCookies(b *browser) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range b.jar {
		out = append(out, c)
	}
	return out
}

// TestPermissionsPage covers the bulk grant, the reasons by table, revoke and public/private.
func TestPermissionsPage(t *testing.T) {
	env := newTestEnv(t)
	env.privateTable("in.c-sales.orders")
	b := env.signedIn(auth.RoleAdmin)
	analyst, viewer := env.users[auth.RoleAnalyst], env.users[auth.RoleViewer]
	ctx := context.Background()

	rec := b.do("POST", "/admin/permissions/grant", url.Values{"_csrf": {b.csrf}, "back": {"table"}, "dataset": {"in.c-sales.orders"},
		"user_id": {analyst.ID, viewer.ID}})
	if rec.Code != 303 {
		t.Fatalf("bulk grant: %d %.300s", rec.Code, rec.Body)
	}
	for _, u := range []*store.User{analyst, viewer} {
		if ok, _ := auth.CanAccessTable(ctx, env.store, u, "in.c-sales.orders"); !ok {
			t.Errorf("%s cannot read the table after the bulk grant", u.Email)
		}
	}
	if _, err := env.store.Grant(ctx, viewer.ID, "in.c-sales.*", store.AccessRead); err != nil {
		t.Fatal(err)
	}
	page := b.do("GET", rec.Header().Get("Location"), nil).Body.String()
	for _, want := range []string{"Granted in.c-sales.orders", `data-testid="perm-reader-viewer@example.com"`, ">bucket<", ">grant<", ">admin<", `data-testid="perm-bulk-km_admin@example.com"`} {
		if !strings.Contains(page, want) {
			t.Errorf("by-table page lacks %q", want)
		}
	}
	if strings.Contains(page, `data-testid="perm-bulk-viewer@example.com"`) {
		t.Error("a reader is offered in the bulk grant list")
	}
	refused := []struct {
		name string
		form url.Values
		want string
	}{
		{"no users", url.Values{"dataset": {"in.c-sales.orders"}, "back": {"table"}}, "Choose at least one user"},
		{"bad dataset", url.Values{"dataset": {"a..b"}, "user_id": {viewer.ID}}, "is not a table id"},
		{"unknown user", url.Values{"dataset": {"x.y"}, "user_id": {"nope"}}, "no longer exists"},
	}
	for _, tt := range refused {
		tt.form.Set("_csrf", b.csrf)
		rec := b.do("POST", "/admin/permissions/grant", tt.form)
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s: %d, want 422 with %q", tt.name, rec.Code, tt.want)
		}
	}
	rec = b.do("POST", "/admin/permissions/revoke", url.Values{"_csrf": {b.csrf}, "user_id": {analyst.ID}, "dataset": {"in.c-sales.orders"}, "back": {"user"}})
	if rec.Code != 303 {
		t.Fatalf("revoke: %d", rec.Code)
	}
	if ok, _ := auth.CanAccessTable(ctx, env.store, analyst, "in.c-sales.orders"); ok {
		t.Error("the analyst still reads the table after revoke")
	}
	if rec := b.do("POST", "/admin/permissions/revoke", url.Values{"_csrf": {b.csrf}, "user_id": {analyst.ID}, "dataset": {"in.c-sales.orders"}}); rec.Code != 404 {
		t.Errorf("second revoke: %d, want 404", rec.Code)
	}
	rec = b.do("POST", "/admin/permissions/public", url.Values{"_csrf": {b.csrf}, "table": {"in.c-sales.orders"}, "public": {"true"}})
	if tb, _ := env.store.GetTable(ctx, "in.c-sales.orders"); rec.Code != 303 || !tb.IsPublic {
		t.Errorf("make public: %d public=%v", rec.Code, tb.IsPublic)
	}
	if ok, _ := auth.CanAccessTable(ctx, env.store, analyst, "in.c-sales.orders"); !ok {
		t.Error("a public table is not readable")
	}
	entries, _ := env.store.QueryAudit(ctx, store.AuditFilter{Action: auditTablePublic})
	if len(entries) != 1 || entries[0].ClientIP == "" {
		t.Errorf("table visibility audit: %+v", entries)
	}
}

// TestReadReasonsMatchAccessRule checks the page's "why" against auth.CanAccessTable.
func TestReadReasonsMatchAccessRule(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	env.privateTable("in.c-sales.orders")
	up := &store.Table{ID: "upl", Name: "upl", SourceType: "upload", RegisteredBy: "analyst@example.com"}
	if err := env.store.RegisterTable(ctx, up); err != nil {
		t.Fatal(err)
	}
	_, _ = env.store.Grant(ctx, env.users[auth.RoleViewer].ID, "in.c-sales.*", store.AccessRead)
	_, _ = env.store.Grant(ctx, env.users[auth.RoleKMAdmin].ID, "in.c-sales.orders", store.AccessNone)
	grants, _ := env.store.ListPermissions(ctx, "")
	for _, id := range []string{"in.c-sales.orders", "upl"} {
		tb, _ := env.store.GetTable(ctx, id)
		for _, u := range env.users {
			reasons, _ := readReasons(u, tb, grants)
			ok, err := auth.CanAccessTable(ctx, env.store, u, id)
			if err != nil || ok != (len(reasons) > 0) {
				t.Errorf("%s on %s: reasons %v, CanAccessTable %v %v", u.Email, id, reasons, ok, err)
			}
		}
	}
}

// TestAccessRequestsPage: request from the page and the dialog, approve in place, twice.
func TestAccessRequestsPage(t *testing.T) {
	env := newTestEnv(t)
	env.privateTable("in.c-sales.orders")
	env.privateTable("in.c-sales.refunds")
	v := env.signedIn(auth.RoleViewer)
	if page := v.do("GET", "/access-requests", nil).Body.String(); !strings.Contains(page, `<option value="in.c-sales.orders"`) {
		t.Fatal("the request form does not offer the private table")
	}
	if rec := v.do("POST", "/access-requests", url.Values{"_csrf": {v.csrf}, "table_id": {""}}); rec.Code != 422 || !strings.Contains(rec.Body.String(), "Choose the table") {
		t.Errorf("empty table: %d", rec.Code)
	}
	if rec := v.do("POST", "/access-requests", url.Values{"_csrf": {v.csrf}, "table_id": {"nope"}}); rec.Code != 422 || !strings.Contains(rec.Body.String(), "There is no table nope") {
		t.Errorf("unknown table: %d", rec.Code)
	}
	rec := v.do("POST", "/access-requests", url.Values{"_csrf": {v.csrf}, "table_id": {"in.c-sales.orders"}, "reason": {"Q3 report"}})
	if rec.Code != 303 {
		t.Fatalf("request: %d %.300s", rec.Code, rec.Body)
	}
	if rec := v.do("POST", "/access-requests", url.Values{"_csrf": {v.csrf}, "table_id": {"in.c-sales.orders"}}); rec.Code != 422 || !strings.Contains(rec.Body.String(), "already have a pending request") {
		t.Errorf("second request: %d", rec.Code)
	}
	// The catalog's dialog fragment.
	dlg := v.htmx("GET", "/access-requests/new?table=in.c-sales.refunds", nil)
	if dlg.Code != 200 || !strings.Contains(dlg.Body.String(), "data-autoopen") || !strings.Contains(dlg.Body.String(), `name="dialog" value="1"`) {
		t.Fatalf("dialog: %d %.300s", dlg.Code, dlg.Body)
	}
	if rec := v.htmx("GET", "/access-requests/new?table=in.c-sales.orders", nil); !strings.Contains(rec.Body.String(), "waiting for an admin") {
		t.Error("the dialog of a pending request does not say so")
	}
	if rec := v.htmx("GET", "/access-requests/new?table=missing", nil); rec.Code != 404 {
		t.Errorf("dialog of unknown table: %d", rec.Code)
	}
	rec = v.htmx("POST", "/access-requests", url.Values{"table_id": {"in.c-sales.refunds"}, "dialog": {"1"}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="request-dialog-done"`) {
		t.Errorf("dialog request: %d %.300s", rec.Code, rec.Body)
	}
	if rec := v.htmx("POST", "/access-requests/x/approve", nil); rec.Code != 403 {
		t.Errorf("viewer approves: %d", rec.Code)
	}

	a := env.signedIn(auth.RoleAdmin)
	queue := a.do("GET", "/access-requests", nil).Body.String()
	if !strings.Contains(queue, `data-testid="review-row-in.c-sales.orders"`) || !strings.Contains(queue, "Q3 report") {
		t.Fatal("the queue lacks the request")
	}
	rs, _ := env.store.ListPendingAccessRequests(context.Background())
	var id string
	for _, r := range rs {
		if r.TableID == "in.c-sales.orders" {
			id = r.ID
		}
	}
	rec = a.htmx("POST", "/access-requests/"+id+"/approve", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "can now read in.c-sales.orders") {
		t.Fatalf("approve: %d %.300s", rec.Code, rec.Body)
	}
	rec = a.htmx("POST", "/access-requests/"+id+"/deny", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Already approved by admin@example.com") {
		t.Errorf("processed twice: %d %.300s", rec.Code, rec.Body)
	}
	if ok, _ := auth.CanAccessTable(context.Background(), env.store, env.users[auth.RoleViewer], "in.c-sales.orders"); !ok {
		t.Error("approval gave no access")
	}
	mine := v.do("GET", "/access-requests", nil).Body.String()
	if !strings.Contains(mine, `data-testid="my-request-in.c-sales.orders"`) || !strings.Contains(mine, ">approved<") {
		t.Error("my requests do not show the approval")
	}
}

// TestActivityExport: scope, CSV escaping and formula neutralising.
func TestActivityExport(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	viewer := env.users[auth.RoleViewer]
	for _, e := range []*store.AuditEntry{
		{UserID: viewer.ID, Action: "probe", Resource: `=HYPERLINK("http://x","y")`},
		{UserID: viewer.ID, Action: "probe", Resource: "a,b \"quoted\"\nline"},
		{UserID: env.users[auth.RoleAdmin].ID, Action: "probe", Resource: "admins-only"},
	} {
		if err := env.store.LogAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	v := env.signedIn(auth.RoleViewer)
	rec := v.do("GET", "/activity-center/export.csv?action=probe", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	if err != nil {
		t.Fatalf("export is not valid CSV: %v", err)
	}
	if len(recs) != 3 || recs[0][7] != "client_ip" {
		t.Fatalf("rows = %q", recs)
	}
	resources := map[string]bool{recs[1][4]: true, recs[2][4]: true}
	if !resources[`'=HYPERLINK("http://x","y")`] || !resources["a,b \"quoted\"\nline"] {
		t.Errorf("resources = %v", resources)
	}
	if strings.Contains(rec.Body.String(), "admins-only") {
		t.Error("a viewer's export holds another user's row")
	}
	a := env.signedIn(auth.RoleAdmin)
	if body := a.do("GET", "/activity-center/export.csv?action=probe", nil).Body.String(); !strings.Contains(body, "admins-only") {
		t.Error("the admin's export lacks rows")
	}
	for in, want := range map[string]string{"=1": "'=1", "+1": "'+1", "-1": "'-1", "@x": "'@x", "\tx": "'\tx", "ok": "ok", "": ""} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
	// Pagination: 50 a page.
	for i := 0; i < 60; i++ {
		_ = env.store.LogAudit(ctx, &store.AuditEntry{UserID: viewer.ID, Action: "bulk", Resource: "r"})
	}
	p2 := v.do("GET", "/activity-center?action=bulk&page=2", nil).Body.String()
	if n := strings.Count(p2, `data-testid="activity-row"`); n != 10 || !strings.Contains(p2, "Page 2 of 2") {
		t.Errorf("page 2 has %d rows", n)
	}
}

// TestSettingsPage: profile, password change, token shown once and revoked.
func TestSettingsPage(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(auth.RoleAnalyst)
	ctx := context.Background()
	u := env.users[auth.RoleAnalyst]
	if rec := b.do("POST", "/settings/profile", url.Values{"_csrf": {b.csrf}, "name": {""}}); rec.Code != 422 || !strings.Contains(rec.Body.String(), "Enter your name") {
		t.Errorf("empty name: %d", rec.Code)
	}
	if rec := b.do("POST", "/settings/profile", url.Values{"_csrf": {b.csrf}, "name": {"Ana Lyst"}}); rec.Code != 303 {
		t.Errorf("profile: %d", rec.Code)
	}
	pw := []struct {
		name  string
		form  url.Values
		field string
	}{
		{"wrong current", url.Values{"current_password": {"wrong-password"}, "new_password": {"new-password-1"}, "confirm_password": {"new-password-1"}}, "current_password"},
		{"missing current", url.Values{"new_password": {"new-password-1"}, "confirm_password": {"new-password-1"}}, "current_password"},
		{"short", url.Values{"current_password": {testPassword}, "new_password": {"short"}, "confirm_password": {"short"}}, "new_password"},
		{"mismatch", url.Values{"current_password": {testPassword}, "new_password": {"new-password-1"}, "confirm_password": {"new-password-2"}}, "confirm_password"},
	}
	for _, tt := range pw {
		tt.form.Set("_csrf", b.csrf)
		rec := b.do("POST", "/settings/password", tt.form)
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), `data-testid="field-error-`+tt.field+`"`) {
			t.Errorf("%s: %d", tt.name, rec.Code)
		}
	}
	if rec := b.do("POST", "/settings/password", url.Values{"_csrf": {b.csrf}, "current_password": {testPassword}, "new_password": {"new-password-1"}, "confirm_password": {"new-password-1"}}); rec.Code != 303 {
		t.Fatalf("password change: %d", rec.Code)
	}
	got, _ := env.store.GetUserByID(ctx, u.ID)
	if auth.VerifyPassword(got.PasswordHash, "new-password-1") != nil || got.Name != "Ana Lyst" {
		t.Error("the password or name did not change")
	}
	if rec := b.do("POST", "/settings/tokens", url.Values{"_csrf": {b.csrf}, "name": {"cli"}, "expires_days": {"0"}}); rec.Code != 422 {
		t.Errorf("bad days: %d", rec.Code)
	}
	rec := b.do("POST", "/settings/tokens", url.Values{"_csrf": {b.csrf}, "name": {"cli"}, "expires_days": {"30"}, "read_only": {"1"}})
	body := rec.Body.String()
	i := strings.Index(body, store.PATPrefix)
	if rec.Code != 200 || i < 0 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create token: %d", rec.Code)
	}
	secret := body[i : i+len(store.PATPrefix)+store.PATSecretLen]
	if me := env.do(request{method: "GET", path: "/api/me", token: secret}); me.Code != 200 {
		t.Fatalf("the new token does not work: %d", me.Code)
	}
	page := b.do("GET", "/settings", nil).Body.String()
	if strings.Contains(page, secret) || !strings.Contains(page, "read-only") {
		t.Error("the token secret appears again, or the scope is missing")
	}
	ts, _ := env.store.ListPersonalTokens(ctx, u.ID)
	other := env.signedIn(auth.RoleViewer)
	if rec := other.do("POST", "/settings/tokens/"+ts[0].ID+"/revoke", url.Values{"_csrf": {other.csrf}}); rec.Code != 404 {
		t.Errorf("another user revokes: %d", rec.Code)
	}
	if rec := b.do("POST", "/settings/tokens/"+ts[0].ID+"/revoke", url.Values{"_csrf": {b.csrf}}); rec.Code != 303 {
		t.Errorf("revoke: %d", rec.Code)
	}
	if me := env.do(request{method: "GET", path: "/api/me", token: secret}); me.Code != 401 {
		t.Errorf("revoked token: %d", me.Code)
	}
}

// TestAuditMiddleware: unsafe requests are audited once, with client address and duration,
// and bodies are never recorded.
func TestAuditMiddleware(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	admin := env.tokens[auth.RoleAdmin]
	// Explicitly audited: one entry, with the client address filled in.
	rec := env.do(request{method: "POST", path: "/api/users", token: admin, body: `{"email":"m@example.com","password":"super-secret-pw"}`})
	if rec.Code != 201 {
		t.Fatalf("create: %d", rec.Code)
	}
	all, _ := env.store.QueryAudit(ctx, store.AuditFilter{Limit: 500})
	count := func(action string) (n int, last store.AuditEntry) {
		for _, e := range all {
			if e.Action == action {
				n, last = n+1, e
			}
		}
		return n, last
	}
	if n, e := count(auditUserCreate); n != 1 || e.ClientIP == "" || e.DurationMS < 1 {
		t.Errorf("user_create: %d entries, %+v", n, e)
	}
	if n, _ := count("POST /api/users"); n != 0 {
		t.Error("an explicitly audited request was audited twice")
	}
	// Not audited by its handler: the middleware records it, with the status class.
	rec = env.do(request{method: "DELETE", path: "/api/tokens/nope", token: env.tokens[auth.RoleViewer]})
	if rec.Code != 404 {
		t.Fatalf("revoke unknown token: %d", rec.Code)
	}
	rec = env.do(request{method: "POST", path: "/api/users", token: env.tokens[auth.RoleViewer], body: `{"email":"q@example.com","password":"hunter2-hunter2"}`})
	if rec.Code != 403 {
		t.Fatalf("viewer creates user: %d", rec.Code)
	}
	all, _ = env.store.QueryAudit(ctx, store.AuditFilter{Limit: 500})
	n, e := count("DELETE /api/tokens/:id")
	if n != 1 || e.Resource != "id=nope" || e.Result != "4xx" || e.ClientIP == "" || e.UserID != env.users[auth.RoleViewer].ID || e.Params["status"] != float64(404) {
		t.Errorf("middleware entry: %d %+v", n, e)
	}
	if n, e := count("POST /api/users"); n != 1 || e.Result != "4xx" {
		t.Errorf("refused request: %d %+v", n, e)
	}
	for _, e := range all {
		for k, v := range e.Params {
			if s, ok := v.(string); ok && (strings.Contains(s, "hunter2") || strings.Contains(s, "super-secret")) {
				t.Errorf("%s records a body value under %s", e.Action, k)
			}
		}
	}
	// The API shows client_ip.
	body := env.do(request{method: "GET", path: "/api/audit", token: admin}).Body.String()
	if !strings.Contains(body, `"client_ip":"192.0.2.1"`) {
		t.Errorf("GET /api/audit lacks client_ip: %.300s", body)
	}
}

// TestSettingsConsent: the settings page shows what the knowledge collector may read, and
// saving the form changes exactly that (transcripts stay off until ticked; no CSRF, no change).
func TestSettingsConsent(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(auth.RoleViewer)
	ctx := context.Background()
	u := env.users[auth.RoleViewer]
	page := b.do("GET", "/settings", nil).Body.String()
	if !strings.Contains(page, `data-testid="consent-form"`) || strings.Contains(page, `checked data-testid="consent-transcripts"`) {
		t.Fatalf("settings page lacks the consent form or shows transcripts on by default")
	}
	if rec := b.do("POST", "/settings/consent", url.Values{"notes": {"1"}, "transcripts": {"1"}}); rec.Code != 403 {
		t.Errorf("without CSRF: %d", rec.Code)
	}
	if cs, err := env.store.ConsentOf(ctx, u.ID); err != nil || cs.Transcripts {
		t.Fatalf("consent changed without CSRF: %+v %v", cs, err)
	}
	if rec := b.do("POST", "/settings/consent", url.Values{"_csrf": {b.csrf}, "transcripts": {"1"}}); rec.Code != 303 {
		t.Fatalf("save: %d", rec.Code)
	}
	cs, err := env.store.ConsentOf(ctx, u.ID)
	if err != nil || cs.Notes || !cs.Transcripts {
		t.Fatalf("consent after saving transcripts only = %+v, %v", cs, err)
	}
	if page := b.do("GET", "/settings", nil).Body.String(); !strings.Contains(page, "consent-transcripts") {
		t.Errorf("settings page lost the form")
	}
}
