package handlers

import (
	"errors"
	"testing"

	"da/auth"
	"da/store"
)

// TestAuditFailureRollsBackTheChange makes every audit insert fail (the audit table is
// renamed away) and sends state-changing requests: each answers a 5xx and changes nothing.
// With the table back, the same requests succeed and each change has its audit row.
func TestAuditFailureRollsBackTheChange(t *testing.T) {
	env := newTestEnv(t)
	ctx := t.Context()
	admin, analyst := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst]
	viewer, an := env.users[auth.RoleViewer], env.users[auth.RoleAnalyst]
	pat, plain, err := env.store.CreatePersonalToken(ctx, an.ID, "cli", store.ScopeFull, nil)
	if err != nil {
		t.Fatal(err)
	}
	registerTablesPrivate(t, env, "orders") // grants name registered tables
	requests := []struct {
		name    string
		req     request
		changed func() bool // reports whether the change is in the database
	}{
		{"create user (handler entry)", request{method: "POST", path: "/api/users", token: admin, body: `{"email":"new@example.com","password":"long-enough-1"}`},
			func() bool { _, err := env.store.GetUserByEmail(ctx, "new@example.com"); return err == nil }},
		{"change role (handler entry)", request{method: "PATCH", path: "/api/users/" + viewer.ID, token: admin, body: `{"role":"analyst"}`},
			func() bool { u, _ := env.store.GetUserByID(ctx, viewer.ID); return u.Role == "analyst" }},
		{"grant (handler entry)", request{method: "POST", path: "/api/admin/permissions", token: admin, body: `{"user_id":"` + viewer.ID + `","dataset":"orders"}`},
			func() bool { ps, _ := env.store.ListPermissions(ctx, viewer.ID); return len(ps) > 0 }},
		{"revoke token (handler entry)", request{method: "DELETE", path: "/api/tokens/" + pat.ID, token: analyst},
			func() bool {
				_, _, err := auth.AuthenticatePAT(ctx, env.store, plain, pat.CreatedAt)
				return errors.Is(err, auth.ErrPATRevoked)
			}},
		{"save query (request entry)", request{method: "POST", path: "/api/queries/saved", token: analyst, body: `{"name":"q1","sql":"SELECT 1"}`},
			func() bool { qs, _ := env.store.ListSavedQueries(ctx, an.ID); return len(qs) > 0 }},
	}
	if _, err := env.store.DB.ExecContext(ctx, `ALTER TABLE audit_log RENAME TO audit_log_away`); err != nil {
		t.Fatal(err)
	}
	for _, r := range requests {
		rec := env.do(r.req)
		if rec.Code < 500 {
			t.Errorf("%s with a failing audit log: %d, want a 5xx: %s", r.name, rec.Code, rec.Body)
		}
		if r.changed() {
			t.Errorf("%s: the change committed although its audit row could not be written", r.name)
		}
	}
	// A sign-in that cannot be recorded issues no token.
	if rec := env.do(request{method: "POST", path: "/auth/token", body: `{"email":"analyst@example.com","password":"` + testPassword + `"}`}); rec.Code < 500 {
		t.Errorf("unrecorded sign-in: %d", rec.Code)
	}

	if _, err := env.store.DB.ExecContext(ctx, `ALTER TABLE audit_log_away RENAME TO audit_log`); err != nil {
		t.Fatal(err)
	}
	for _, r := range requests {
		if rec := env.do(r.req); rec.Code >= 300 {
			t.Fatalf("%s: %d %s", r.name, rec.Code, rec.Body)
		}
		if !r.changed() {
			t.Errorf("%s: no change with a working audit log", r.name)
		}
	}
	entries, err := env.store.QueryAudit(ctx, store.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.AuditEntry{}
	for _, e := range entries {
		got[e.Action] = e
	}
	for _, action := range []string{auditUserCreate, auditUserUpdate, auditPermGrant, auditTokenRevoke, "POST /api/queries/saved"} {
		e, ok := got[action]
		if !ok {
			t.Errorf("no %s audit row", action)
			continue
		}
		if e.ClientIP == "" || e.UserID == "" {
			t.Errorf("%s row lacks the client or the user: %+v", action, e)
		}
	}
	if u, err := env.store.GetUserByEmail(ctx, "new@example.com"); err != nil || got[auditUserCreate].Resource != u.ID {
		t.Errorf("user_create names resource %q", got[auditUserCreate].Resource)
	}
	if got[auditPermGrant].Params["user_id"] != viewer.ID {
		t.Errorf("permission_grant params %v", got[auditPermGrant].Params)
	}
}
