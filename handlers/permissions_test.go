package handlers

import (
	"context"
	"testing"

	"da/auth"
	"da/store"
)

// registerTables adds registry rows for the governance tests.
func registerTables(t *testing.T, env *testEnv, tables ...store.Table) {
	t.Helper()
	for i := range tables {
		if err := env.store.RegisterTable(context.Background(), &tables[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPermissionsAPI(t *testing.T) {
	env := newTestEnv(t)
	admin, analyst, viewer := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer]
	gone, _ := env.deactivatedToken()
	aID := env.users[auth.RoleAnalyst].ID
	grant := `{"user_id":"` + aID + `","dataset":"Orders","access":"read"}`
	registerTables(t, env, store.Table{ID: "orders", Name: "orders", SourceType: "keboola", Bucket: "in.c-sales"},
		store.Table{ID: "secret", Name: "secret", SourceType: "keboola"},
		store.Table{ID: "ledger", Name: "ledger", SourceType: "keboola", Bucket: "in.c-finance"})
	runGovCases(t, env, []govCase{
		{"grant: anonymous", request{method: "POST", path: "/api/admin/permissions", body: grant}, 401, nil, nil},
		{"grant: deactivated admin", request{method: "POST", path: "/api/admin/permissions", body: grant, token: gone}, 401, nil, nil},
		{"grant: analyst", request{method: "POST", path: "/api/admin/permissions", body: grant, token: analyst}, 403, nil, nil},
		{"list: viewer", request{method: "GET", path: "/api/admin/permissions", token: viewer}, 403, nil, []string{"dataset"}},
		{"list one: analyst for self", request{method: "GET", path: "/api/admin/permissions/" + aID, token: analyst}, 403, nil, nil},
		{"revoke: viewer", request{method: "DELETE", path: "/api/admin/permissions", body: grant, token: viewer}, 403, nil, nil},

		{"grant read", request{method: "POST", path: "/api/admin/permissions", body: grant, token: admin},
			201, []string{`"user_id":"` + aID + `"`, `"dataset":"orders"`, `"access":"read"`}, nil},
		{"access defaults to read", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `","dataset":"in.c-finance.*"}`}, 201, []string{`"dataset":"in.c-finance.*"`, `"access":"read"`}, nil},
		{"access none", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `","dataset":"secret","access":"none"}`}, 201, []string{`"access":"none"`}, nil},
		{"access write is refused", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `","dataset":"x","access":"write"}`}, 422, []string{`"loc":["body","access"]`, `\"read\" or \"none\"`}, nil},
		{"unknown table", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `","dataset":"no.such.table"}`}, 422, []string{`"loc":["body","dataset"]`, `no table \"no.such.table\" is registered`, "for example: ledger, orders, secret, in.c-finance.*, in.c-sales.*"}, nil},
		{"unknown bucket", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `","dataset":"in.c-nowhere.*"}`}, 422, []string{`no registered table is in the bucket \"in.c-nowhere\"`}, nil},
		{"unknown user", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"nope","dataset":"x"}`}, 404, []string{"User not found"}, nil},
		{"missing dataset", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `"}`}, 422, []string{`"loc":["body","dataset"]`}, nil},
		{"bad dataset", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `","dataset":"x; DROP TABLE users"}`}, 422, []string{`"loc":["body","dataset"]`}, nil},
		{"star alone is not a dataset", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":"` + aID + `","dataset":"*"}`}, 422, []string{`"loc":["body","dataset"]`}, nil},
		{"user_id wrong type", request{method: "POST", path: "/api/admin/permissions", token: admin,
			body: `{"user_id":5,"dataset":"x"}`}, 422, []string{`"loc":["body","user_id"]`}, nil},
		{"malformed", request{method: "POST", path: "/api/admin/permissions", token: admin, body: `{`}, 422, []string{"json_invalid"}, nil},

		{"list all", request{method: "GET", path: "/api/admin/permissions", token: admin},
			200, []string{`"permissions":[`, `"dataset":"in.c-finance.*"`, `"dataset":"orders"`, `"dataset":"secret"`}, nil},
		{"list one user", request{method: "GET", path: "/api/admin/permissions/" + aID, token: admin},
			200, []string{`"user_id":"` + aID + `"`, `"dataset":"orders"`}, nil},
		{"list unknown user", request{method: "GET", path: "/api/admin/permissions/nope", token: admin}, 404, []string{"User not found"}, nil},
		{"list user without grants", request{method: "GET", path: "/api/admin/permissions/" + env.users[auth.RoleViewer].ID, token: admin},
			200, []string{`"permissions":[]`}, nil},

		{"revoke", request{method: "DELETE", path: "/api/admin/permissions", token: admin, body: `{"user_id":"` + aID + `","dataset":"ORDERS"}`},
			200, []string{`"revoked":true`}, nil},
		{"revoke again is 404", request{method: "DELETE", path: "/api/admin/permissions", token: admin, body: `{"user_id":"` + aID + `","dataset":"orders"}`},
			404, []string{"Permission not found"}, []string{`"revoked"`}},
		{"revoke missing body", request{method: "DELETE", path: "/api/admin/permissions", token: admin}, 422, []string{"empty"}, nil},
		{"gone from the list", request{method: "GET", path: "/api/admin/permissions/" + aID, token: admin},
			200, []string{"in.c-finance.*"}, []string{`"dataset":"orders"`}},
	})
}

// TestGrantChangesTableAccess: a grant made through the API is what CanAccessTable sees.
func TestGrantChangesTableAccess(t *testing.T) {
	env := newTestEnv(t)
	registerTables(t, env, store.Table{ID: "payroll", Name: "payroll", SourceType: "keboola", Bucket: "in.c-hr", IsPublic: false})
	ctx := context.Background()
	u := env.users[auth.RoleAnalyst]
	check := func(want bool) {
		t.Helper()
		if ok, err := auth.CanAccessTable(ctx, env.store, u, "payroll"); ok != want || err != nil {
			t.Fatalf("CanAccessTable = %v, %v; want %v", ok, err, want)
		}
	}
	check(false)
	body := `{"user_id":"` + u.ID + `","dataset":"in.c-hr.*"}`
	if rec := env.do(request{method: "POST", path: "/api/admin/permissions", token: env.tokens[auth.RoleAdmin], body: body}); rec.Code != 201 {
		t.Fatalf("grant: %d %s", rec.Code, rec.Body)
	}
	check(true)
	if rec := env.do(request{method: "DELETE", path: "/api/admin/permissions", token: env.tokens[auth.RoleAdmin], body: body}); rec.Code != 200 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	check(false)
}

// registerTablesPrivate registers private tables with the given ids.
func registerTablesPrivate(t *testing.T, env *testEnv, ids ...string) {
	t.Helper()
	for _, id := range ids {
		registerTables(t, env, store.Table{ID: id, Name: id, SourceType: "keboola", IsPublic: false})
	}
}
