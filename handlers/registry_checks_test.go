package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/store"
)

// TestRegisterChecksTheSource: a table the source does not list is refused with the field
// and what the source has; new tables are private.
func TestRegisterChecksTheSource(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	admin := env.tokens[auth.RoleAdmin]
	cases := []struct {
		name, body   string
		want         int
		wantBody     []string
		forbidBody   []string
		registeredID string
	}{
		{"unknown demo table", `{"name":"ghost","source_type":"demo"}`, 422,
			[]string{`"name"`, `has no table \"ghost\"`, "orders"}, nil, ""},
		{"unknown source table", `{"name":"sales","source_type":"demo","source_table":"nope"}`, 422,
			[]string{`"source_table"`, `has no table \"nope\"`}, nil, ""},
		{"wrong bucket", `{"name":"orders","source_type":"demo","bucket":"in.c-nowhere"}`, 422,
			[]string{`in bucket \"in.c-nowhere\"`}, nil, ""},
		{"empty upload source", `{"name":"notes","source_type":"upload"}`, 422,
			[]string{"lists no tables yet"}, nil, ""},
		{"real demo table", `{"name":"customers","source_type":"demo"}`, 201, []string{`"id":"customers"`}, nil, "customers"},
		{"by source table", `{"name":"clients","source_type":"demo","source_table":"CUSTOMERS"}`, 201, nil, nil, "clients"},
	}
	for _, tc := range cases {
		rec := env.do(request{method: "POST", path: "/api/admin/register-table", body: tc.body, token: admin})
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body)
			continue
		}
		for _, w := range tc.wantBody {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s: body lacks %q: %s", tc.name, w, rec.Body)
			}
		}
		if tc.registeredID != "" {
			row, err := env.store.GetTable(context.Background(), tc.registeredID)
			if err != nil || row.IsPublic {
				t.Errorf("%s: row %+v, %v: want a private table", tc.name, row, err)
			}
		}
	}
	if _, err := env.store.GetTable(context.Background(), "ghost"); err == nil {
		t.Error("ghost was registered")
	}
	// The register form starts private.
	b := env.browser()
	b.login("admin@example.com", testPassword)
	if body := b.do("GET", "/admin/tables", nil).Body.String(); strings.Contains(body, `name="is_public" value="true" checked`) {
		t.Error("the register form pre-ticks Public")
	}
}

// TestHealthPrivacyAndFailingTables: anonymous callers get the status and service names
// only; admins and the scrape token get the details; a table whose every sync failed makes
// health degraded and shows on the dashboard.
func TestHealthPrivacyAndFailingTables(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.srv.cfg.HealthToken = "scrape-token-0123456789"
	ctx := context.Background()
	if err := env.store.RegisterTable(ctx, &store.Table{ID: "ghost", Name: "ghost", SourceType: "upload"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := env.store.AddSyncHistory(ctx, store.SyncHistory{TableID: "ghost", Status: store.SyncStatusError,
			Error: "table ghost is not in the upload source", SyncedAt: time.Now().Add(-time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		r      request
		want   []string
		forbid []string
	}{
		{"anonymous", request{method: "GET", path: "/api/health"},
			[]string{`"status":"degraded"`, `"data":{"status":"warning"}`, `"users":{"status":"ok"}`},
			[]string{"ghost", `"count"`, "total_rows", "free_bytes", `"version"`, "uptime"}},
		{"analyst", request{method: "GET", path: "/api/health", token: env.tokens[auth.RoleAnalyst]},
			[]string{`"status":"degraded"`}, []string{"ghost", `"count"`}},
		{"wrong scrape token", request{method: "GET", path: "/api/health", headers: map[string]string{"Authorization": "Bearer scrape-token-wrong"}},
			[]string{`"status":"degraded"`}, []string{"ghost", `"count"`}},
		{"scrape token", request{method: "GET", path: "/api/health", headers: map[string]string{"Authorization": "Bearer scrape-token-0123456789"}},
			[]string{`"failing_tables":["ghost"]`, `"count":4`, `"total_rows"`, `"version":"test"`}, nil},
		{"admin", request{method: "GET", path: "/api/health", token: env.tokens[auth.RoleAdmin]},
			[]string{`"status":"degraded"`, `"failing_tables":["ghost"]`, `"count":4`}, nil},
	}
	for _, tc := range cases {
		rec := env.do(tc.r)
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Errorf("%s: %d %s", tc.name, rec.Code, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: lacks %q: %s", tc.name, w, body)
			}
		}
		for _, f := range tc.forbid {
			if strings.Contains(body, f) {
				t.Errorf("%s: must not contain %q: %s", tc.name, f, body)
			}
		}
	}
	b := env.browser()
	b.login("admin@example.com", testPassword)
	body := b.do("GET", "/dashboard", nil).Body.String()
	if !strings.Contains(body, `data-testid="dashboard-failing"`) || !strings.Contains(body, "ghost") || !strings.Contains(body, `data-health="degraded"`) {
		t.Errorf("dashboard lacks the failing notice:\n%.3000s", body)
	}
	// A successful sync clears it.
	if err := env.store.AddSyncHistory(ctx, store.SyncHistory{TableID: "ghost", Status: store.SyncStatusOK}); err != nil {
		t.Fatal(err)
	}
	if body := env.do(request{method: "GET", path: "/api/health", token: env.tokens[auth.RoleAdmin]}).Body.String(); !strings.Contains(body, `"failing_tables":[]`) {
		t.Errorf("after a good sync: %s", body)
	}
}

// TestGrantPageChecksTheRegistry: the permissions page refuses a table or bucket this
// instance does not have, and its placeholder shows this instance's own ids.
func TestGrantPageChecksTheRegistry(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	registerTables(t, env, store.Table{ID: "payroll", Name: "payroll", SourceType: "keboola", Bucket: "in.c-hr"})
	b := env.signedIn(auth.RoleAdmin)
	viewer := env.users[auth.RoleViewer]
	page := b.do("GET", "/admin/permissions?view=user&user="+viewer.ID, nil).Body.String()
	if !strings.Contains(page, `placeholder="payroll or in.c-hr.*"`) {
		t.Errorf("placeholder does not use this instance's ids")
	}
	for _, ds := range []string{"no.such.table", "in.c-nowhere.*"} {
		rec := b.do("POST", "/admin/permissions/grant", map[string][]string{"_csrf": {b.csrf}, "dataset": {ds}, "user_id": {viewer.ID}})
		if body := rec.Body.String(); rec.Code != 422 || !strings.Contains(body, "for example: payroll, in.c-hr.*") || strings.Contains(body, "Granted") {
			t.Errorf("grant %s: %d", ds, rec.Code)
		}
	}
	if ps, _ := env.store.ListPermissions(context.Background(), viewer.ID); len(ps) != 0 {
		t.Errorf("grants stored: %v", ps)
	}
	rec := b.do("POST", "/admin/permissions/grant", map[string][]string{"_csrf": {b.csrf}, "dataset": {"in.c-hr.*"}, "user_id": {viewer.ID}})
	if rec.Code != 303 {
		t.Errorf("grant of a known bucket: %d", rec.Code)
	}
}
