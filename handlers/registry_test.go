package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/engine"
	"da/store"
)

// waitJob polls GET /api/sync/jobs/{id} until the job has finished.
func (env *testEnv) waitJob(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec := env.do(request{method: "GET", path: "/api/sync/jobs/" + id, token: env.tokens[auth.RoleAdmin]})
		if rec.Code != http.StatusOK {
			t.Fatalf("job %s: %d %s", id, rec.Code, rec.Body)
		}
		j := decodeJSON(t, rec)
		if j["status"] == engine.JobDone || j["status"] == engine.JobFailed {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not finish: %v", id, j)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestRegistryAPIScenarios(t *testing.T) {
	env := newTestEnv(t)
	admin := env.tokens[auth.RoleAdmin]
	tests := []struct {
		name, method, path, body string
		role                     auth.Role
		anon                     bool
		want                     int
		contains, forbidden      []string
	}{
		{"discover with no external source", "GET", "/api/admin/discover-tables", "", auth.RoleAdmin, false, 200,
			[]string{`"tables":[`, `"source_type":"demo"`, `"name":"orders"`, `"is_registered":false`}, []string{"Discovery not implemented"}},
		{"analyst cannot discover", "GET", "/api/admin/discover-tables", "", auth.RoleAnalyst, false, 403, nil, []string{"orders"}},
		{"anonymous cannot list", "GET", "/api/admin/registry", "", "", true, 401, nil, []string{"tables"}},
		{"register", "POST", "/api/admin/register-table", `{"name":"Orders","source_type":"demo","sync_schedule":"@every 1h","folder":"sales","primary_key":["order_id"],"is_public":false}`,
			auth.RoleAdmin, false, 201, []string{`"id":"orders"`, `"name":"Orders"`, `"status":"registered"`}, nil},
		{"duplicate", "POST", "/api/admin/register-table", `{"name":"orders","source_type":"demo"}`, auth.RoleAdmin, false, 409,
			[]string{"Table 'orders' already registered"}, nil},
		{"blank name", "POST", "/api/admin/register-table", `{"name":"  "}`, auth.RoleAdmin, false, 422, []string{"Table name cannot be empty"}, nil},
		{"bad name", "POST", "/api/admin/register-table", `{"name":"drop table; x","source_type":"demo"}`, auth.RoleAdmin, false, 422,
			[]string{`"name"`, "must start with a letter"}, nil},
		{"bad fields named", "POST", "/api/admin/register-table",
			`{"name":"t2","source_type":"demo","query_mode":"cloud","sync_strategy":"sometimes","sync_schedule":"every tuesday","folder":"a/b"}`,
			auth.RoleAdmin, false, 422, []string{`"query_mode"`, `"sync_strategy"`, `"sync_schedule"`, "invalid schedule", `"folder"`}, nil},
		{"remote not supported by demo", "POST", "/api/admin/register-table", `{"name":"t3","source_type":"demo","query_mode":"remote"}`,
			auth.RoleAdmin, false, 422, []string{"supports only: local"}, nil},
		{"unknown source", "POST", "/api/admin/register-table", `{"name":"t4","source_type":"oracle"}`, auth.RoleAdmin, false, 422,
			[]string{`unknown source \"oracle\"`, "upload", "demo"}, nil},
		{"viewer cannot register", "POST", "/api/admin/register-table", `{"name":"t5","source_type":"demo"}`, auth.RoleViewer, false, 403, nil, nil},
		{"list", "GET", "/api/admin/registry", "", auth.RoleAdmin, false, 200,
			[]string{`"count":1`, `"id":"orders"`, `"sync_schedule":"@every 1h"`, `"is_public":false`, `"registered_by":"admin@example.com"`, `"primary_key":"order_id"`, `"folder":"sales"`}, nil},
		{"edit", "PUT", "/api/admin/registry/orders", `{"description":"All orders","is_public":true,"folder":"finance","sync_schedule":"0 6 * * *"}`,
			auth.RoleAdmin, false, 200, []string{`"updated":["folder","description","sync_schedule","is_public"]`}, nil},
		{"edit bad schedule", "PUT", "/api/admin/registry/orders", `{"sync_schedule":"@every 0s"}`, auth.RoleAdmin, false, 422, []string{"at least 1s"}, nil},
		{"rename refused", "PUT", "/api/admin/registry/orders", `{"name":"orders2"}`, auth.RoleAdmin, false, 422, []string{"change the table id"}, nil},
		{"edit unknown", "PUT", "/api/admin/registry/nope", `{"description":"x"}`, auth.RoleAdmin, false, 404, []string{"Table not found"}, nil},
		{"edit bad id", "PUT", "/api/admin/registry/a..b", `{}`, auth.RoleAdmin, false, 400, nil, nil},
		{"sync job unknown", "GET", "/api/sync/jobs/nope", "", auth.RoleAdmin, false, 404, []string{"not found"}, nil},
		{"trigger unknown table", "POST", "/api/sync/trigger", `["orders","ghost"]`, auth.RoleAdmin, false, 422, []string{"ghost"}, nil},
		{"trigger bad body", "POST", "/api/sync/trigger", `"orders"`, auth.RoleAdmin, false, 422, nil, nil},
		{"analyst cannot trigger", "POST", "/api/sync/trigger", ``, auth.RoleAnalyst, false, 403, nil, []string{"job_id"}},
	}
	for _, tc := range tests {
		r := request{method: tc.method, path: tc.path, body: tc.body}
		if !tc.anon {
			r.token = env.tokens[tc.role]
		}
		rec := env.do(r)
		if rec.Code != tc.want {
			t.Errorf("%s: got %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body)
			continue
		}
		for _, s := range tc.contains {
			if !strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s: body lacks %q: %s", tc.name, s, rec.Body)
			}
		}
		for _, s := range tc.forbidden {
			if strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s: body has forbidden %q: %s", tc.name, s, rec.Body)
			}
		}
	}
	// PUT kept registered_at/registered_by, and audit has every change.
	row, err := env.store.GetTable(context.Background(), "orders")
	if err != nil || row.RegisteredBy != "admin@example.com" || row.RegisteredAt.IsZero() || !row.IsPublic || row.Folder != "finance" {
		t.Errorf("row after edit = %+v, %v", row, err)
	}
	for _, action := range []string{auditTableRegister, auditTableUpdate} {
		if n, err := env.store.CountAudit(context.Background(), store.AuditFilter{Action: action}); err != nil || n == 0 {
			t.Errorf("no %s audit entry (%v)", action, err)
		}
	}

	// Sync the demo table, then the catalog lists and serves it.
	rec := env.do(request{method: "POST", path: "/api/sync/trigger", body: `["orders"]`, token: admin})
	if rec.Code != 200 {
		t.Fatalf("trigger: %d %s", rec.Code, rec.Body)
	}
	trig := decodeJSON(t, rec)
	if trig["status"] != "triggered" || trig["job_id"] == "" || trig["message"] == "" {
		t.Fatalf("trigger answer = %v", trig)
	}
	job := env.waitJob(t, trig["job_id"].(string))
	tables := job["tables"].([]any)
	if job["status"] != engine.JobDone || len(tables) != 1 || tables[0].(map[string]any)["state"] != engine.SyncDone {
		t.Fatalf("job = %v", job)
	}
	if info, ok := env.srv.engine.Catalog().Table("orders"); !ok || info.Rows == 0 {
		t.Fatalf("orders not served after the sync: %+v", info)
	}
	cat := env.do(request{method: "GET", path: "/api/catalog/tables", token: env.tokens[auth.RoleViewer]})
	if !strings.Contains(cat.Body.String(), `"id":"orders"`) {
		t.Errorf("catalog lacks orders after sync: %s", cat.Body)
	}
}

func TestDeleteRegistryCascades(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	admin := env.tokens[auth.RoleAdmin]
	analyst := env.users[auth.RoleAnalyst]
	env.addTables("uploads", fxTable{name: "notes", public: false, query: "SELECT 1 AS a"})
	if _, err := env.store.Grant(ctx, analyst.ID, "notes", "read"); err != nil {
		t.Fatal(err)
	}
	if err := env.store.SetSyncSettings(ctx, analyst.ID, map[string]bool{"notes": true}); err != nil {
		t.Fatal(err)
	}
	if err := env.store.SaveProfile(ctx, "notes", []byte(`{"row_count":1}`)); err != nil {
		t.Fatal(err)
	}
	if rec := env.do(request{method: "DELETE", path: "/api/admin/registry/notes", token: env.tokens[auth.RoleAnalyst]}); rec.Code != 403 {
		t.Fatalf("analyst delete: %d", rec.Code)
	}
	rec := env.do(request{method: "DELETE", path: "/api/admin/registry/NOTES", token: admin})
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if _, ok := env.srv.engine.Catalog().Table("notes"); ok {
		t.Error("notes still served after delete")
	}
	if perms, _ := env.store.ListPermissions(ctx, analyst.ID); len(perms) != 0 {
		t.Errorf("grants survived: %+v", perms)
	}
	if subs, _ := env.store.ListSyncSettings(ctx, analyst.ID); len(subs) != 0 {
		t.Errorf("subscriptions survived: %+v", subs)
	}
	if _, _, err := env.store.GetProfile(ctx, "notes"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("profile survived: %v", err)
	}
	if rec := env.do(request{method: "DELETE", path: "/api/admin/registry/notes", token: admin}); rec.Code != 404 {
		t.Errorf("second delete: %d", rec.Code)
	}
	q := env.do(request{method: "POST", path: "/api/query", body: `{"sql":"SELECT * FROM notes"}`, token: admin})
	if q.Code == 200 {
		t.Errorf("deleted table still queryable: %s", q.Body)
	}
	entries, _ := env.store.QueryAudit(ctx, store.AuditFilter{Action: auditTableDelete, Limit: 5})
	if len(entries) != 1 || entries[0].Resource != "notes" {
		t.Errorf("delete audit = %+v", entries)
	}
}

func TestSyncTriggerBodies(t *testing.T) {
	env := newTestEnv(t)
	admin := env.tokens[auth.RoleAdmin]
	env.addTables("uploads", fxTable{name: "up1", public: true, query: "SELECT 1 AS a"})
	if _, err := env.store.SetTablePublic(context.Background(), "up1", true); err != nil {
		t.Fatal(err)
	}
	row, _ := env.store.GetTable(context.Background(), "up1")
	row.SourceType = "upload"
	if err := env.store.RegisterTable(context.Background(), row); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"", `[]`, `{"tables":["up1"]}`, `["UP1"]`} {
		rec := env.do(request{method: "POST", path: "/api/sync/trigger", body: body, token: admin})
		if rec.Code != 200 {
			t.Errorf("body %q: %d %s", body, rec.Code, rec.Body)
			continue
		}
		m := decodeJSON(t, rec)
		j := env.waitJob(t, m["job_id"].(string))
		if j["status"] != engine.JobDone {
			t.Errorf("body %q: job %v", body, j)
		}
		if body == "" && m["tables"] != "all" {
			t.Errorf("no body: tables = %v, want \"all\"", m["tables"])
		}
	}
	list := env.do(request{method: "GET", path: "/api/sync/jobs", token: admin})
	var jobs struct{ Jobs []json.RawMessage }
	if err := json.Unmarshal(list.Body.Bytes(), &jobs); err != nil || len(jobs.Jobs) != 4 {
		t.Errorf("jobs list: %v %s", err, list.Body)
	}
}

func TestAdminTablesPage(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.login("admin@example.com", testPassword)
	page := b.do("GET", "/admin/tables", nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `data-testid="table-form"`) || strings.Contains(page.Body.String(), "coming soon") {
		t.Fatalf("page: %d", page.Code)
	}
	disc := b.do("GET", "/admin/tables/discover", nil)
	if !strings.Contains(disc.Body.String(), `data-testid="discovered-demo-orders"`) || !strings.Contains(disc.Body.String(), "register-discovered") {
		t.Fatalf("discover fragment: %s", disc.Body)
	}
	form := url.Values{"_csrf": {b.csrf}, "name": {"bad name"}, "source_type": {"demo"}, "sync_schedule": {"whenever"}, "query_mode": {"local"}, "sync_strategy": {"full_refresh"}}
	bad := b.do("POST", "/admin/tables/register", form)
	if bad.Code != 422 || !strings.Contains(bad.Body.String(), `data-testid="field-error-name"`) || !strings.Contains(bad.Body.String(), `data-testid="field-error-sync_schedule"`) {
		t.Fatalf("invalid form: %d", bad.Code)
	}
	form.Set("_csrf", b.csrf)
	form.Set("name", "customers")
	form.Set("sync_schedule", "@every 1h")
	form.Set("is_public", "true")
	if ok := b.do("POST", "/admin/tables/register", form); ok.Code != http.StatusSeeOther {
		t.Fatalf("register: %d %s", ok.Code, ok.Body)
	}
	page = b.do("GET", "/admin/tables", nil)
	if !strings.Contains(page.Body.String(), `data-testid="registry-row-customers"`) {
		t.Fatal("registered row missing")
	}
	sync := b.do("POST", "/admin/tables/customers/sync", url.Values{"_csrf": {b.csrf}})
	if sync.Code != http.StatusSeeOther || !strings.HasPrefix(sync.Header().Get("Location"), "/admin/tables?job=") {
		t.Fatalf("sync now: %d %v", sync.Code, sync.Header())
	}
	jobID := strings.TrimPrefix(sync.Header().Get("Location"), "/admin/tables?job=")
	env.waitJob(t, jobID)
	frag := b.do("GET", "/admin/tables/jobs/"+jobID, nil)
	if !strings.Contains(frag.Body.String(), `data-status="done"`) || strings.Contains(frag.Body.String(), "hx-trigger") {
		t.Errorf("finished job fragment still polls or is not done: %s", frag.Body)
	}
	edit := b.do("POST", "/admin/tables/customers", url.Values{"_csrf": {b.csrf}, "description": {"People"}, "query_mode": {"local"},
		"sync_strategy": {"full_refresh"}, "sync_schedule": {""}})
	if edit.Code != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", edit.Code, edit.Body)
	}
	if row, _ := env.store.GetTable(context.Background(), "customers"); row.Description != "People" || row.IsPublic || row.SyncSchedule != "" {
		t.Errorf("edited row = %+v", row)
	}
	b.do("GET", "/admin/tables", nil)
	del := b.do("POST", "/admin/tables/customers/delete", url.Values{"_csrf": {b.csrf}})
	if del.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", del.Code)
	}
	if _, err := env.store.GetTable(context.Background(), "customers"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("customers still registered: %v", err)
	}
	// Non-admins get the 403 page, not the registry.
	ab := env.browser()
	ab.login("analyst@example.com", testPassword)
	if rec := ab.do("GET", "/admin/tables", nil); rec.Code != 403 || strings.Contains(rec.Body.String(), "table-form") {
		t.Errorf("analyst page: %d", rec.Code)
	}
}
