package handlers

import (
	"context"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

func TestAccessRequestsAPI(t *testing.T) {
	env := newTestEnv(t)
	admin, analyst, viewer := env.tokens[auth.RoleAdmin], env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer]
	gone, _ := env.deactivatedToken()
	registerTables(t, env,
		store.Table{ID: "salaries", Name: "salaries", SourceType: "keboola", IsPublic: false},
		store.Table{ID: "revenue", Name: "revenue", SourceType: "keboola", IsPublic: false},
		store.Table{ID: "open_data", Name: "open_data", SourceType: "keboola", IsPublic: true},
	)
	ctx := context.Background()
	create := func(tok, table string) string {
		t.Helper()
		rec := env.do(request{method: "POST", path: "/api/access-requests", token: tok, body: `{"table_id":"` + table + `","reason":"quarterly report"}`})
		if rec.Code != 201 {
			t.Fatalf("create %s: %d %s", table, rec.Code, rec.Body)
		}
		return decodeJSON(t, rec)["id"].(string)
	}
	runGovCases(t, env, []govCase{
		{"create: anonymous", request{method: "POST", path: "/api/access-requests", body: `{"table_id":"salaries"}`}, 401, nil, nil},
		{"create: deactivated", request{method: "POST", path: "/api/access-requests", token: gone, body: `{"table_id":"salaries"}`}, 401, nil, nil},
		{"create: viewer", request{method: "POST", path: "/api/access-requests", token: viewer, body: `{"table_id":"Salaries","reason":"audit"}`},
			201, []string{`"status":"pending"`, `"table_id":"salaries"`, `"id":"`}, nil},
		{"duplicate pending", request{method: "POST", path: "/api/access-requests", token: viewer, body: `{"table_id":"salaries"}`},
			409, []string{"pending request"}, nil},
		{"missing table_id", request{method: "POST", path: "/api/access-requests", token: viewer, body: `{"reason":"x"}`},
			422, []string{`"loc":["body","table_id"]`, "Field required"}, nil},
		{"table_id wrong type", request{method: "POST", path: "/api/access-requests", token: viewer, body: `{"table_id":["x"]}`},
			422, []string{`"loc":["body","table_id"]`}, nil},
		{"unknown table", request{method: "POST", path: "/api/access-requests", token: viewer, body: `{"table_id":"nope"}`},
			404, []string{"Table not found"}, nil},
		{"already readable (public)", request{method: "POST", path: "/api/access-requests", token: viewer, body: `{"table_id":"open_data"}`},
			409, []string{"already have access"}, nil},
		{"admin already reads everything", request{method: "POST", path: "/api/access-requests", token: admin, body: `{"table_id":"salaries"}`},
			409, []string{"already have access"}, nil},
		{"reason too long", request{method: "POST", path: "/api/access-requests", token: analyst, body: `{"table_id":"revenue","reason":"` + strings.Repeat("r", 2001) + `"}`},
			422, []string{`"loc":["body","reason"]`}, nil},
		{"my: anonymous", request{method: "GET", path: "/api/access-requests/my"}, 401, nil, nil},
		{"my: viewer sees own", request{method: "GET", path: "/api/access-requests/my", token: viewer},
			200, []string{`"requests":[`, `"user_email":"viewer@example.com"`, `"reason":"audit"`, `"reviewed_at":null`}, nil},
		{"my: analyst sees none of the viewer's", request{method: "GET", path: "/api/access-requests/my", token: analyst},
			200, []string{`"requests":[]`}, []string{"viewer@example.com"}},
		{"pending: analyst", request{method: "GET", path: "/api/access-requests/pending", token: analyst}, 403, nil, []string{"salaries"}},
		{"pending: admin", request{method: "GET", path: "/api/access-requests/pending", token: admin},
			200, []string{`"count":1`, `"table_id":"salaries"`}, nil},
		{"approve: viewer", request{method: "POST", path: "/api/access-requests/x/approve", token: viewer}, 403, nil, nil},
		{"deny: analyst", request{method: "POST", path: "/api/access-requests/x/deny", token: analyst}, 403, nil, nil},
		{"approve unknown", request{method: "POST", path: "/api/access-requests/nope/approve", token: admin}, 404, []string{"not found"}, nil},
		{"deny unknown", request{method: "POST", path: "/api/access-requests/nope/deny", token: admin}, 404, []string{"not found"}, nil},
	})

	viewerU := env.users[auth.RoleViewer]
	if ok, _ := auth.CanAccessTable(ctx, env.store, viewerU, "salaries"); ok {
		t.Fatal("viewer reads salaries before approval")
	}
	mine, _ := env.store.ListAccessRequestsByUser(ctx, viewerU.ID)
	id := mine[0].ID
	runGovCases(t, env, []govCase{
		{"approve", request{method: "POST", path: "/api/access-requests/" + id + "/approve", token: admin},
			200, []string{`"status":"approved"`, `"id":"` + id + `"`}, nil},
		{"approve again", request{method: "POST", path: "/api/access-requests/" + id + "/approve", token: admin}, 409, []string{"already processed"}, nil},
		{"deny after approval", request{method: "POST", path: "/api/access-requests/" + id + "/deny", token: admin}, 409, []string{"already processed"}, nil},
		{"now readable: a new request is refused", request{method: "POST", path: "/api/access-requests", token: viewer, body: `{"table_id":"salaries"}`},
			409, []string{"already have access"}, nil},
		{"my shows the review", request{method: "GET", path: "/api/access-requests/my", token: viewer},
			200, []string{`"status":"approved"`, `"reviewed_by":"admin@example.com"`}, []string{`"reviewed_at":null`}},
		{"pending is empty", request{method: "GET", path: "/api/access-requests/pending", token: admin}, 200, []string{`"count":0`, `"requests":[]`}, nil},
	})
	if ok, _ := auth.CanAccessTable(ctx, env.store, viewerU, "salaries"); !ok {
		t.Fatal("approval did not grant read")
	}

	denied := create(analyst, "revenue")
	runGovCases(t, env, []govCase{
		{"deny", request{method: "POST", path: "/api/access-requests/" + denied + "/deny", token: admin},
			200, []string{`"status":"denied"`}, nil},
		{"approve after deny", request{method: "POST", path: "/api/access-requests/" + denied + "/approve", token: admin}, 409, nil, nil},
	})
	if ok, _ := auth.CanAccessTable(ctx, env.store, env.users[auth.RoleAnalyst], "revenue"); ok {
		t.Fatal("denial granted access")
	}
	// After a denial the user may ask again.
	create(analyst, "revenue")
}
