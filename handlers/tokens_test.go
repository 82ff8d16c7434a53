package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/store"
)

func TestTokensAPI(t *testing.T) {
	env := newTestEnv(t)
	analyst, viewer := env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer]
	gone, _ := env.deactivatedToken()
	runGovCases(t, env, []govCase{
		{"create: anonymous", request{method: "POST", path: "/api/tokens", body: `{"name":"x"}`}, 401, nil, nil},
		{"create: deactivated", request{method: "POST", path: "/api/tokens", body: `{"name":"x"}`, token: gone}, 401, nil, nil},
		{"list: anonymous", request{method: "GET", path: "/api/tokens"}, 401, nil, nil},
		{"delete: anonymous", request{method: "DELETE", path: "/api/tokens/x"}, 401, nil, nil},
		{"create: viewer", request{method: "POST", path: "/api/tokens", token: viewer, body: `{"name":"laptop","expires_in_days":30,"scope":"read"}`},
			201, []string{`"token":"da_pat_`, `"prefix":"da_pat_`, `"scope":"read"`, `"name":"laptop"`, `"expires_at":"20`, `"last_used_at":null`}, nil},
		{"missing name", request{method: "POST", path: "/api/tokens", token: viewer, body: `{}`}, 422, []string{`"loc":["body","name"]`}, nil},
		{"bad scope", request{method: "POST", path: "/api/tokens", token: viewer, body: `{"name":"x","scope":"admin"}`},
			422, []string{`"loc":["body","scope"]`}, []string{"da_pat_"}},
		{"zero days", request{method: "POST", path: "/api/tokens", token: viewer, body: `{"name":"x","expires_in_days":0}`},
			422, []string{`"loc":["body","expires_in_days"]`}, nil},
		{"fractional days", request{method: "POST", path: "/api/tokens", token: viewer, body: `{"name":"x","expires_in_days":1.5}`},
			422, []string{`"loc":["body","expires_in_days"]`}, nil},
		{"days as string", request{method: "POST", path: "/api/tokens", token: viewer, body: `{"name":"x","expires_in_days":"30"}`},
			422, []string{`"loc":["body","expires_in_days"]`}, nil},
		{"too many days", request{method: "POST", path: "/api/tokens", token: viewer, body: `{"name":"x","expires_in_days":100000}`},
			422, []string{`"loc":["body","expires_in_days"]`}, nil},
		{"list: viewer sees own, without the secret", request{method: "GET", path: "/api/tokens", token: viewer},
			200, []string{`"tokens":[`, `"name":"laptop"`, `"last_used_at":null`}, []string{`"token":`}},
		{"list: analyst sees none", request{method: "GET", path: "/api/tokens", token: analyst}, 200, []string{`"tokens":[]`}, []string{"laptop"}},
	})
}

// TestPATLifecycle: create → use → last_used_at set → read scope limits → revoke → 401.
func TestPATLifecycle(t *testing.T) {
	env := newTestEnv(t)
	registerTablesPrivate(t, env, "t") // grants name registered tables
	ctx := context.Background()
	admin := env.tokens[auth.RoleAdmin]
	mk := func(body string) (id, tok string) {
		t.Helper()
		rec := env.do(request{method: "POST", path: "/api/tokens", token: admin, body: body})
		if rec.Code != 201 {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		m := decodeJSON(t, rec)
		return m["id"].(string), m["token"].(string)
	}
	fullID, full := mk(`{"name":"full one"}`)
	_, read := mk(`{"name":"read one","scope":"read"}`)
	if !strings.HasPrefix(full, store.PATPrefix) || len(full) < len(store.PATPrefix)+32 {
		t.Fatalf("token %q", full)
	}
	runGovCases(t, env, []govCase{
		{"full token works like the owner", request{method: "GET", path: "/api/users", token: full}, 200, []string{"admin@example.com"}, nil},
		{"full token may write", request{method: "POST", path: "/api/admin/permissions", token: full,
			body: `{"user_id":"` + env.users[auth.RoleViewer].ID + `","dataset":"t"}`}, 201, nil, nil},
		{"read token may GET", request{method: "GET", path: "/api/me", token: read}, 200, []string{`"role":"admin"`}, nil},
		{"read token refused on POST", request{method: "POST", path: "/api/admin/permissions", token: read,
			body: `{"user_id":"x","dataset":"t"}`}, 403, []string{"read scope"}, nil},
		{"read token refused on DELETE", request{method: "DELETE", path: "/api/tokens/" + fullID, token: read}, 403, []string{"read scope"}, nil},
		{"read token cannot mint tokens", request{method: "POST", path: "/api/tokens", token: read, body: `{"name":"x"}`}, 403, nil, []string{"da_pat_"}},
		{"token in a cookie is not accepted", request{method: "GET", path: "/api/me", headers: map[string]string{"Cookie": "access_token=" + full}}, 401, nil, nil},
		{"unknown token", request{method: "GET", path: "/api/me", token: "da_pat_" + strings.Repeat("A", 40)}, 401, []string{"Invalid or expired token"}, nil},
		{"token of another shape", request{method: "GET", path: "/api/me", token: "da_pat_"}, 401, nil, nil},
		{"public routes ignore a bad token", request{method: "GET", path: "/api/health", token: "da_pat_nope"}, 200, nil, nil},
	})
	got, err := env.store.FindPersonalToken(ctx, full)
	if err != nil || got.LastUsedAt == nil || time.Since(*got.LastUsedAt) > time.Minute {
		t.Fatalf("last_used_at not recorded: %+v %v", got, err)
	}
	list := env.do(request{method: "GET", path: "/api/tokens", token: admin})
	if !strings.Contains(list.Body.String(), `"last_used_at":"20`) {
		t.Errorf("list lacks last_used_at: %s", list.Body)
	}
	runGovCases(t, env, []govCase{
		{"another user cannot revoke it", request{method: "DELETE", path: "/api/tokens/" + fullID, token: env.tokens[auth.RoleViewer]}, 404, []string{"Token not found"}, nil},
		{"owner revokes", request{method: "DELETE", path: "/api/tokens/" + fullID, token: admin}, 204, nil, nil},
		{"revoked token is 401", request{method: "GET", path: "/api/me", token: full}, 401, []string{"revoked"}, nil},
		{"revoke twice", request{method: "DELETE", path: "/api/tokens/" + fullID, token: admin}, 404, nil, nil},
		{"list no longer shows it", request{method: "GET", path: "/api/tokens", token: admin}, 200, []string{"read one"}, []string{"full one"}},
	})

	// Expired token.
	past := time.Now().Add(-time.Hour)
	_, expired, err := env.store.CreatePersonalToken(ctx, env.users[auth.RoleAdmin].ID, "old", "full", &past)
	if err != nil {
		t.Fatal(err)
	}
	// Owner deactivated: the token stops working too.
	_, analystTok, err := env.store.CreatePersonalToken(ctx, env.users[auth.RoleAnalyst].ID, "a", "full", nil)
	if err != nil {
		t.Fatal(err)
	}
	runGovCases(t, env, []govCase{
		{"expired token is 401", request{method: "GET", path: "/api/me", token: expired}, 401, []string{"expired"}, nil},
		{"analyst token works", request{method: "GET", path: "/api/me", token: analystTok}, 200, nil, nil},
		{"analyst token is still analyst", request{method: "GET", path: "/api/users", token: analystTok}, 403, nil, nil},
		{"deactivate the analyst", request{method: "PATCH", path: "/api/users/" + env.users[auth.RoleAnalyst].ID, token: admin, body: `{"active":false}`}, 200, nil, nil},
		{"deactivated owner's token is 401", request{method: "GET", path: "/api/me", token: analystTok}, 401, []string{"deactivated"}, nil},
	})
	if _, err := env.store.FindPersonalToken(ctx, read); err != nil {
		t.Fatal(err)
	}
	// Deleting the owner deletes the tokens.
	_, viewerTok, _ := env.store.CreatePersonalToken(ctx, env.users[auth.RoleViewer].ID, "v", "full", nil)
	runGovCases(t, env, []govCase{
		{"delete the viewer", request{method: "DELETE", path: "/api/users/" + env.users[auth.RoleViewer].ID, token: admin}, 204, nil, nil},
		{"deleted owner's token is 401", request{method: "GET", path: "/api/me", token: viewerTok}, 401, nil, nil},
	})
	if _, err := env.store.FindPersonalToken(ctx, viewerTok); err == nil {
		t.Error("token of a deleted user still stored")
	}
}
