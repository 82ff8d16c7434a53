package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// Why a user may read a table, as the permissions page names it.
const (
	reasonAdmin  = "admin"
	reasonPublic = "public"
	reasonOwner  = "owner"
	reasonGrant  = "grant"
	reasonBucket = "bucket"
)

func permUser(u *store.User) views.PermUser {
	return views.PermUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: auth.Role(u.Role), Active: u.Active}
}

func permTable(t *store.Table) views.PermTable {
	return views.PermTable{ID: t.ID, Name: t.Name, Bucket: t.Bucket, SourceType: t.SourceType, Owner: t.RegisteredBy, Public: t.IsPublic}
}

// readReasons lists why u may read t under the table-access rule (auth.CanAccessTable),
// with the grant rows behind it; none for a deactivated user.
func readReasons(u *store.User, t *store.Table, grants []store.Permission) (reasons, rows []string) {
	if !u.Active {
		return nil, nil
	}
	if auth.Role(u.Role) == auth.RoleAdmin {
		reasons = append(reasons, reasonAdmin)
	}
	if t.IsPublic {
		reasons = append(reasons, reasonPublic)
	}
	if t.SourceType == "upload" && store.NormalizeEmail(t.RegisteredBy) == store.NormalizeEmail(u.Email) && u.Email != "" {
		reasons = append(reasons, reasonOwner)
	}
	id := strings.ToLower(t.ID)
	bucket := ""
	if t.Bucket != "" {
		bucket = strings.ToLower(t.Bucket) + ".*"
	}
	for _, g := range grants {
		if g.UserID != u.ID || strings.ToLower(g.Access) != store.AccessRead {
			continue
		}
		switch strings.ToLower(g.Dataset) {
		case id:
			reasons, rows = append(reasons, reasonGrant), append(rows, g.Dataset)
		case bucket:
			reasons, rows = append(reasons, reasonBucket), append(rows, g.Dataset)
		}
	}
	return reasons, rows
}

// showPermissions renders GET /admin/permissions (admin): ?view=user&user=<id> or
// ?view=table&table=<id>.
func (s *Server) showPermissions(c echo.Context) error {
	d, err := s.permissionsData(c, c.QueryParam("view"), c.QueryParam("user"), c.QueryParam("table"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminPermissions(s.pageShell(c, "admin-permissions", "Permissions"), d))
}

func (s *Server) permissionsData(c echo.Context, view, userID, tableID string) (views.PermissionsData, error) {
	ctx := c.Request().Context()
	if view != "table" {
		view = "user"
	}
	d := views.PermissionsData{View: view, CSRF: s.csrfToken(c)}
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return d, err
	}
	tables, err := s.store.ListTables(ctx)
	if err != nil {
		return d, err
	}
	grants, err := s.store.ListPermissions(ctx, "")
	if err != nil {
		return d, err
	}
	known := map[string]bool{}
	for i := range tables {
		t := &tables[i]
		d.Tables = append(d.Tables, permTable(t))
		d.Datasets = append(d.Datasets, t.ID)
		known[strings.ToLower(t.ID)] = true
		if b := strings.ToLower(t.Bucket); b != "" && !known[b+".*"] {
			known[b+".*"] = true
			d.Datasets = append(d.Datasets, b+".*")
		}
	}
	for i := range users {
		d.Users = append(d.Users, permUser(&users[i]))
	}
	if view == "user" && userID != "" {
		i := slices.IndexFunc(users, func(u store.User) bool { return u.ID == userID })
		if i < 0 {
			return d, apiError(http.StatusNotFound, "User not found")
		}
		pu := permUser(&users[i])
		d.SelUser = &pu
		for _, g := range grants {
			if g.UserID == userID {
				d.Grants = append(d.Grants, views.PermGrant{Dataset: g.Dataset, Access: g.Access,
					Bucket: strings.HasSuffix(g.Dataset, ".*"), Known: known[strings.ToLower(g.Dataset)]})
			}
		}
	}
	if view == "table" && tableID != "" {
		t, err := s.lookupTable(c, tableID)
		if errors.Is(err, store.ErrNotFound) {
			return d, apiError(http.StatusNotFound, "Table not found: "+tableID)
		}
		if err != nil {
			return d, err
		}
		pt := permTable(t)
		d.SelTable = &pt
		for i := range users {
			u := &users[i]
			reasons, rows := readReasons(u, t, grants)
			if len(reasons) > 0 {
				d.Readers = append(d.Readers, views.PermReader{User: permUser(u), Reasons: reasons, Grants: rows})
			} else if u.Active {
				d.NonReaders = append(d.NonReaders, permUser(u))
			}
		}
	}
	return d, nil
}

// permissionsBack is where a permissions form returns to.
func permissionsBack(back, userID, dataset string) string {
	if back == "table" {
		return "/admin/permissions?" + url.Values{"view": {"table"}, "table": {dataset}}.Encode()
	}
	return "/admin/permissions?" + url.Values{"view": {"user"}, "user": {userID}}.Encode()
}

// grantPermissionPage handles POST /admin/permissions/grant (admin): dataset to one or
// several user_id values (the bulk form).
func (s *Server) grantPermissionPage(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return apiError(http.StatusBadRequest, "Could not read the form")
	}
	back := form.Get("back")
	userIDs := form["user_id"]
	raw := strings.TrimSpace(form.Get("dataset"))
	dataset := store.NormalizeDataset(raw)
	refuse := func(msg string) error {
		sel := ""
		if len(userIDs) > 0 {
			sel = userIDs[0]
		}
		d, err := s.permissionsData(c, back, sel, raw)
		if err != nil {
			// The selection itself is gone (a deleted user or table): show the page without it.
			if d, err = s.permissionsData(c, back, "", ""); err != nil {
				return err
			}
		}
		d.Dataset, d.Error = raw, msg
		return render(c, http.StatusUnprocessableEntity, views.AdminPermissions(s.shell(c, "admin-permissions", "Permissions"), d))
	}
	ctx := c.Request().Context()
	switch {
	case len(userIDs) == 0:
		return refuse("Choose at least one user")
	case raw == "":
		return refuse("Enter a table id or a bucket wildcard" + datasetExample(s.exampleDatasets(ctx)))
	case !validDataset(dataset):
		return refuse(`"` + raw + `" is not a table id or a bucket wildcard` + datasetExample(s.exampleDatasets(ctx)))
	}
	var emails []string
	for _, id := range userIDs {
		u, err := s.store.GetUserByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return refuse("One of the chosen users no longer exists; reload the page")
		}
		if err != nil {
			return err
		}
		emails = append(emails, u.Email)
	}
	if msg, err := s.unknownDataset(ctx, dataset); err != nil {
		return err
	} else if msg != "" {
		return refuse(msg)
	}
	for _, id := range userIDs {
		actx := s.auditing(c, auditPermGrant, dataset, map[string]any{"user_id": id, "access": store.AccessRead, "via": "page"})
		if _, err := s.store.Grant(actx, id, dataset, store.AccessRead); err != nil {
			return err
		}
	}
	msg := "Granted " + dataset + " to " + strings.Join(emails, ", ")
	return s.flashRedirect(c, permissionsBack(back, userIDs[0], dataset), msg)
}

// revokePermissionPage handles POST /admin/permissions/revoke (admin).
func (s *Server) revokePermissionPage(c echo.Context) error {
	userID, raw, back := c.FormValue("user_id"), c.FormValue("dataset"), c.FormValue("back")
	dataset := store.NormalizeDataset(raw)
	if userID == "" || dataset == "" {
		return fieldInvalid("dataset", "user_id and dataset are required")
	}
	err := s.store.Revoke(s.auditing(c, auditPermRevoke, dataset, map[string]any{"user_id": userID, "via": "page"}), userID, dataset)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Permission not found: this user has no grant for "+dataset)
	}
	if err != nil {
		return err
	}
	target := dataset
	if back == "table" {
		target = c.FormValue("table")
		if target == "" {
			target = dataset
		}
	}
	return s.flashRedirect(c, permissionsBack(back, userID, target), "Revoked "+dataset)
}

// auditTablePublic is the audit action of a public/private switch.
const auditTablePublic = "table_visibility"

// setTablePublicPage handles POST /admin/permissions/public (admin): table, public=true|false.
func (s *Server) setTablePublicPage(c echo.Context) error {
	id := strings.TrimSpace(c.FormValue("table"))
	var public bool
	switch c.FormValue("public") {
	case "true":
		public = true
	case "false":
	default:
		return fieldInvalid("public", `must be "true" or "false"`)
	}
	t, err := s.lookupTable(c, id)
	if errors.Is(err, store.ErrNotFound) || id == "" {
		return apiError(http.StatusNotFound, "Table not found: "+id)
	}
	if err != nil {
		return err
	}
	t, err = s.setTablePublic(s.auditing(c, auditTablePublic, t.ID, map[string]any{"public": public, "via": "page"}), t.ID, public)
	if err != nil {
		return err
	}
	state := "private"
	if public {
		state = "public"
	}
	return s.flashRedirect(c, permissionsBack("table", "", t.ID), t.ID+" is now "+state)
}

func (s *Server) setTablePublic(ctx context.Context, id string, public bool) (*store.Table, error) {
	t, err := s.store.SetTablePublic(ctx, id, public)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apiError(http.StatusNotFound, "Table not found: "+id)
	}
	return t, err
}

// exampleDatasets returns a table id and a bucket wildcard of this instance, for hints.
func (s *Server) exampleDatasets(ctx context.Context) []string {
	tables, err := s.store.ListTables(ctx)
	if err != nil {
		return nil
	}
	var id, bucket string
	for _, t := range tables {
		if id == "" {
			id = strings.ToLower(t.ID)
		}
		if bucket == "" && t.Bucket != "" {
			bucket = strings.ToLower(t.Bucket) + ".*"
		}
	}
	var out []string
	for _, v := range []string{id, bucket} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// datasetExample is " such as a or b" for the examples, or "".
func datasetExample(ex []string) string {
	if len(ex) == 0 {
		return ""
	}
	return " such as " + strings.Join(ex, " or ")
}
