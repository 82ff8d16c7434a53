package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

// memoryEnv is a test server with a second analyst ("other") and tokens by persona.
func memoryEnv(t *testing.T) (*testEnv, map[string]string) {
	t.Helper()
	env := newTestEnv(t)
	u := &store.User{Email: "other@example.com", Name: "Other", Role: string(auth.RoleAnalyst), Active: true}
	if err := env.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	tok, _, err := env.srv.issuer.Issue(u.ID, u.Email, auth.RoleAnalyst)
	if err != nil {
		t.Fatal(err)
	}
	env.users["other"] = u
	return env, map[string]string{"viewer": env.tokens[auth.RoleViewer], "analyst": env.tokens[auth.RoleAnalyst], "other": tok,
		"km_admin": env.tokens[auth.RoleKMAdmin], "admin": env.tokens[auth.RoleAdmin], "anonymous": ""}
}

// createMemoryItem contributes an item through the API and returns its id.
func createMemoryItem(t *testing.T, env *testEnv, token, body string) string {
	t.Helper()
	rec := env.do(request{method: "POST", path: "/api/memory", token: token, body: body})
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	m := decodeJSON(t, rec)
	if m["status"] != "pending" {
		t.Fatalf("create: status %v", m["status"])
	}
	return m["id"].(string)
}

// memoryStatus is an item's stored status.
func memoryStatus(t *testing.T, env *testEnv, id string) string {
	t.Helper()
	k, err := env.store.KnowledgeByID(context.Background(), id)
	if err != nil {
		t.Fatalf("item %s: %v", id, err)
	}
	return k.Status
}

// kmAuditCount counts audit rows with an action starting with km_.
func kmAuditCount(t *testing.T, env *testEnv) int {
	t.Helper()
	n, err := env.store.CountAudit(context.Background(), store.AuditFilter{ActionPrefix: "km_"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMemoryAPIScenarios(t *testing.T) {
	t.Parallel()
	env, tok := memoryEnv(t)
	ctx := context.Background()

	// Contributions: two by the analyst, one by the other analyst, all pending.
	cases := []scenario{
		{who: "viewer", method: "POST", path: "/api/memory", body: `{"title":"x","content":"y","category":"z"}`, status: 403},
		{who: "anonymous", method: "POST", path: "/api/memory", body: `{"title":"x","content":"y","category":"z"}`, status: 401},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"title":"` + strings.Repeat("t", 201) + `","content":"y"}`,
			status: 422, want: []string{`"detail":"Title is too long`}},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"content":"y"}`, status: 422, want: []string{`"detail":"Title is required"`}},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"title":"   ","content":"y"}`, status: 422, want: []string{"Title is required"}},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"title":"x"}`, status: 422, want: []string{`"detail":"Content is required"`}},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"title":"x","content":"y","category":"` + strings.Repeat("c", 61) + `"}`,
			status: 422, want: []string{"Category is too long"}},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"title":"x","content":"y","tags":"kpi"}`, status: 422, want: []string{"tags"}},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"title":"x","content":"y","tags":[` + manyTags(21) + `]}`,
			status: 422, want: []string{"At most 20 tags"}},
		{who: "analyst", method: "POST", path: "/api/memory", body: `{"title":"x",`, status: 422, want: []string{"detail"}},
	}
	runScenarios(t, env, tok, cases)
	if n, _, _, _ := env.store.KnowledgeStats(ctx, store.KnowledgeFilter{SeeAll: true}); n != 0 {
		t.Fatalf("refused contributions stored %d items", n)
	}

	a := createMemoryItem(t, env, tok["analyst"], `{"title":"Revenue definition","content":"Revenue is net of VAT","category":"finance","tags":["KPI"," revenue ","kpi"]}`)
	b := createMemoryItem(t, env, tok["other"], `{"title":"Other draft","content":"A secret pending idea about revenue","category":"ops"}`)
	c := createMemoryItem(t, env, tok["analyst"], `{"title":"Churn rule","content":"A customer churns after 90 days","category":"product"}`)

	// Before review: pending items are seen by their author and km_admins only.
	cases = []scenario{
		{who: "analyst", method: "GET", path: "/api/memory", status: 200,
			want:      []string{"Revenue definition", "Churn rule", `"total":2`, `"count":2`, `"page":1`, `"per_page":50`, `"my_vote":0`},
			forbidden: []string{"Other draft", "secret"}},
		{who: "other", method: "GET", path: "/api/memory", status: 200, want: []string{"Other draft", `"total":1`}, forbidden: []string{"Revenue", "Churn"}},
		{who: "viewer", method: "GET", path: "/api/memory", status: 200, want: []string{`"items":[]`, `"total":0`}, forbidden: []string{"Revenue", "Other draft"}},
		{who: "km_admin", method: "GET", path: "/api/memory", status: 200, want: []string{"Revenue definition", "Other draft", "Churn rule", `"total":3`}},
		{who: "admin", method: "GET", path: "/api/memory?status_filter=pending", status: 200, want: []string{`"total":3`}},
		{who: "anonymous", method: "GET", path: "/api/memory", status: 401, forbidden: []string{"Revenue"}},
		{who: "other", method: "GET", path: "/api/memory?status_filter=pending", status: 200, want: []string{`"total":1`}, forbidden: []string{"Revenue"}},
		{who: "other", method: "GET", path: "/api/memory?search=revenue", status: 200, want: []string{"Other draft", `"total":1`}, forbidden: []string{"Revenue definition"}},

		{who: "analyst", method: "GET", path: "/api/memory/" + a, status: 200,
			want: []string{`"id":"` + a + `"`, `"tags":"[\"kpi\",\"revenue\"]"`, `"contributors":null`, `"audience":null`,
				`"source_user":"analyst@example.com"`, `"status":"pending"`, `"category":"finance"`, `"upvotes":0`, `"score":0`, `"my_vote":0`}},
		{who: "other", method: "GET", path: "/api/memory/" + a, status: 404, want: []string{`"detail":"Knowledge item not found"`}, forbidden: []string{"Revenue"}},
		{who: "viewer", method: "GET", path: "/api/memory/" + a, status: 404, forbidden: []string{"Revenue"}},
		{who: "km_admin", method: "GET", path: "/api/memory/" + b, status: 200, want: []string{"Other draft", `"tags":null`}},
		{who: "analyst", method: "GET", path: "/api/memory/nope", status: 404, want: []string{"Knowledge item not found"}},

		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":1}`, status: 409,
			want: []string{"Only approved or mandatory items can be voted on"}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":0}`, status: 200, want: []string{`"upvotes":0`, `"my_vote":0`}},
		{who: "other", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":1}`, status: 404, want: []string{"Knowledge item not found"}},

		{who: "viewer", method: "GET", path: "/api/memory/stats", status: 200, want: []string{`"total":0`, `"by_status":{}`, `"categories":[]`}},
		{who: "analyst", method: "GET", path: "/api/memory/stats", status: 200, want: []string{`"total":2`, `"pending":2`, `"categories":["finance","product"]`}},
		{who: "km_admin", method: "GET", path: "/api/memory/stats", status: 200, want: []string{`"total":3`, `"pending":3`, `"categories":["finance","ops","product"]`}},

		{who: "km_admin", method: "GET", path: "/api/memory/admin/pending", status: 200, want: []string{`"count":3`, `"total":3`, "Other draft"}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/pending?category=finance", status: 200, want: []string{`"count":1`, "Revenue definition"}, forbidden: []string{"Churn"}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/pending?per_page=1&page=3", status: 200, want: []string{`"count":1`, `"total":3`}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/pending?per_page=0", status: 400, want: []string{"per_page"}},
		{who: "analyst", method: "GET", path: "/api/memory/admin/pending", status: 403, forbidden: []string{"Other draft"}},
		{who: "viewer", method: "GET", path: "/api/memory/admin/audit", status: 403},
	}
	runScenarios(t, env, tok, cases)

	// Governance, with refusals that must change nothing.
	auditBefore := kmAuditCount(t, env)
	cases = []scenario{
		{who: "analyst", method: "POST", path: "/api/memory/admin/approve?item_id=" + a, status: 403},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/approve", status: 422, want: []string{`"detail":"item_id is required"`}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/approve?item_id=nope", status: 404, want: []string{"Knowledge item not found"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/reject?item_id=" + b, body: `{"reason":`, status: 400, want: []string{"Malformed JSON"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/reject?item_id=" + b, body: `{"reason":"` + strings.Repeat("r", 2001) + `"}`,
			status: 422, want: []string{"reason is too long"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/mandate?item_id=" + c, body: `{"audience":"` + strings.Repeat("a", 201) + `"}`,
			status: 422, want: []string{"audience is too long"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/mandate?item_id=" + c, body: `{"audience":"all analysts"}`,
			status: 422, want: []string{"the reason is required"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/mandate?item_id=" + c, body: `{"reason":"policy"}`,
			status: 409, want: []string{"Only approved items can be made mandatory; this item is pending: approve it first"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/revoke?item_id=" + c, status: 409, want: []string{"this item is pending"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/batch", body: `{"item_ids":["` + c + `"],"action":"mandate"}`,
			status: 422, want: []string{"the reason is required"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/edit?item_id=" + a, body: `{"title":"` + strings.Repeat("t", 201) + `"}`,
			status: 422, want: []string{"Title is too long"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/edit", body: `{"title":"x"}`, status: 422, want: []string{"item_id is required"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/edit?item_id=nope", body: `{"title":"x"}`, status: 404, want: []string{"Knowledge item not found"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/batch", body: `{"item_ids":["` + a + `"],"action":"zap"}`, status: 400,
			want: []string{`"detail":"Invalid action: zap"`}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/batch", body: `{"item_ids":[],"action":"approve"}`, status: 422, want: []string{"item_ids"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/batch", body: `{"action":"approve"}`, status: 422, want: []string{"item_ids"}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/batch", body: `{"item_ids":[` + manyTags(501) + `],"action":"approve"}`, status: 422, want: []string{"500"}},
		{who: "analyst", method: "POST", path: "/api/memory/admin/batch", body: `{"item_ids":["` + a + `"],"action":"approve"}`, status: 403},
	}
	runScenarios(t, env, tok, cases)
	for id, want := range map[string]string{a: "pending", b: "pending", c: "pending"} {
		if got := memoryStatus(t, env, id); got != want {
			t.Errorf("refused governance changed %s to %s", id, got)
		}
	}
	if k, _ := env.store.KnowledgeByID(ctx, a); k.Title != "Revenue definition" {
		t.Errorf("refused edit changed the title to %q", k.Title)
	}
	if n := kmAuditCount(t, env); n != auditBefore {
		t.Errorf("refused governance wrote %d km_ audit rows", n-auditBefore)
	}

	cases = []scenario{
		{who: "km_admin", method: "POST", path: "/api/memory/admin/approve?item_id=" + a, status: 200,
			want: []string{`"id":"` + a + `"`, `"status":"approved"`}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/batch", body: `{"item_ids":["` + c + `"],"action":"mandate","reason":"policy"}`,
			status: 200, want: []string{`"success":[]`, `"refused":[{"detail":"Only approved items can be made mandatory`}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/approve?item_id=" + c, status: 200},
		{who: "admin", method: "POST", path: "/api/memory/admin/mandate?item_id=" + c, body: `{"reason":"company policy","audience":"all analysts"}`, status: 200,
			want: []string{`"status":"mandatory"`}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/reject?item_id=" + b, status: 200, want: []string{`"status":"rejected"`}},
		{who: "km_admin", method: "GET", path: "/api/memory/" + c, status: 200, want: []string{`"audience":"all analysts"`, `"status":"mandatory"`}},
	}
	runScenarios(t, env, tok, cases)

	// After review: published items for everyone, the rejected one for its author only.
	cases = []scenario{
		{who: "viewer", method: "GET", path: "/api/memory", status: 200, want: []string{"Revenue definition", "Churn rule", `"total":2`}, forbidden: []string{"Other draft"}},
		{who: "analyst", method: "GET", path: "/api/memory", status: 200, want: []string{`"total":2`}, forbidden: []string{"Other draft"}},
		{who: "other", method: "GET", path: "/api/memory", status: 200, want: []string{"Other draft", `"status":"rejected"`, `"total":3`}},
		{who: "viewer", method: "GET", path: "/api/memory/" + b, status: 404},
		{who: "viewer", method: "GET", path: "/api/memory/stats", status: 200, want: []string{`"total":2`, `"approved":1`, `"mandatory":1`}, forbidden: []string{"rejected", "ops"}},

		{who: "viewer", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":1}`, status: 403},
		{who: "viewer", method: "DELETE", path: "/api/memory/" + a + "/vote", status: 403},
		{who: "anonymous", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":1}`, status: 401},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":2}`, status: 400, want: []string{`"detail":"Vote must be 1, -1 or 0"`}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":"1"}`, status: 400, want: []string{"Vote must be 1, -1 or 0"}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":1.5}`, status: 400, want: []string{"Vote must be 1, -1 or 0"}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{}`, status: 400, want: []string{"Vote must be 1, -1 or 0"}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":null}`, status: 400, want: []string{"Vote must be 1, -1 or 0"}},
		{who: "analyst", method: "POST", path: "/api/memory/nope/vote", body: `{"vote":1}`, status: 404, want: []string{"Knowledge item not found"}},
		{who: "analyst", method: "POST", path: "/api/memory/" + b + "/vote", body: `{"vote":1}`, status: 404, want: []string{"Knowledge item not found"}},
		{who: "km_admin", method: "POST", path: "/api/memory/" + b + "/vote", body: `{"vote":1}`, status: 409, want: []string{"Only approved or mandatory"}},
		{who: "other", method: "POST", path: "/api/memory/" + b + "/vote", body: `{"vote":-1}`, status: 409},

		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":1}`, status: 200, want: []string{`{"downvotes":0,"my_vote":1,"upvotes":1}`}},
		{who: "other", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":-1}`, status: 200, want: []string{`{"downvotes":1,"my_vote":-1,"upvotes":1}`}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":-1}`, status: 200, want: []string{`{"downvotes":2,"my_vote":-1,"upvotes":0}`}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":0}`, status: 200, want: []string{`{"downvotes":1,"my_vote":0,"upvotes":0}`}},
		{who: "analyst", method: "POST", path: "/api/memory/" + a + "/vote", body: `{"vote":1}`, status: 200, want: []string{`"upvotes":1`}},
		{who: "analyst", method: "DELETE", path: "/api/memory/" + a + "/vote", status: 200, want: []string{`{"downvotes":1,"my_vote":0,"upvotes":0}`}},
		{who: "analyst", method: "DELETE", path: "/api/memory/" + a + "/vote", status: 200, want: []string{`"downvotes":1`}},
		{who: "analyst", method: "DELETE", path: "/api/memory/nope/vote", status: 404},
		{who: "analyst", method: "POST", path: "/api/memory/" + c + "/vote", body: `{"vote":1}`, status: 200, want: []string{`"upvotes":1`}},
		{who: "km_admin", method: "POST", path: "/api/memory/" + c + "/vote", body: `{"vote":1}`, status: 200, want: []string{`"upvotes":2`}},

		{who: "analyst", method: "GET", path: "/api/memory/my-votes", status: 200, want: []string{`{"` + c + `":1}`}},
		{who: "other", method: "GET", path: "/api/memory/my-votes", status: 200, want: []string{`{"` + a + `":-1}`}},
		{who: "viewer", method: "GET", path: "/api/memory/my-votes", status: 200, want: []string{`{}`}},
		{who: "other", method: "GET", path: "/api/memory/" + a, status: 200, want: []string{`"my_vote":-1`, `"downvotes":1`, `"score":-1`}},

		// Search honours filters, sort and pagination (bug 30).
		{who: "viewer", method: "GET", path: "/api/memory?search=REVENUE", status: 200, want: []string{"Revenue definition", `"total":1`}, forbidden: []string{"Other draft"}},
		{who: "km_admin", method: "GET", path: "/api/memory?search=revenue", status: 200, want: []string{"Revenue definition", "Other draft", `"total":2`}},
		{who: "km_admin", method: "GET", path: "/api/memory?search=revenue&status_filter=approved", status: 200, want: []string{`"total":1`, "Revenue definition"}, forbidden: []string{"Other draft"}},
		{who: "km_admin", method: "GET", path: "/api/memory?search=revenue&category=ops", status: 200, want: []string{`"total":1`, "Other draft"}, forbidden: []string{"Revenue definition"}},
		{who: "km_admin", method: "GET", path: "/api/memory?search=a&per_page=1&page=2&sort=title", status: 200,
			want: []string{`"count":1`, `"total":3`, `"page":2`, `"per_page":1`, "Other draft"}, forbidden: []string{"Churn", "Revenue"}},
		{who: "km_admin", method: "GET", path: "/api/memory?search=nothing-matches", status: 200, want: []string{`"items":[]`, `"total":0`}},
		{who: "viewer", method: "GET", path: "/api/memory?status_filter=rejected", status: 200, want: []string{`"total":0`}, forbidden: []string{"Other draft"}},

		{who: "viewer", method: "GET", path: "/api/memory?sort=popularity", status: 400, want: []string{"Invalid sort", "created_at, score, title, updated_at"}},
		{who: "viewer", method: "GET", path: "/api/memory?per_page=0", status: 400, want: []string{"per_page must be a whole number of at least 1"}},
		{who: "viewer", method: "GET", path: "/api/memory?per_page=201", status: 200, want: []string{`"per_page":200`}},
		{who: "viewer", method: "GET", path: "/api/memory?per_page=99999999999999999999999", status: 200, want: []string{`"per_page":200`}},
		{who: "viewer", method: "GET", path: "/api/memory?per_page=ten", status: 400, want: []string{"per_page"}},
		{who: "viewer", method: "GET", path: "/api/memory?page=0", status: 400, want: []string{"page must be"}},
		{who: "viewer", method: "GET", path: "/api/memory?page=1.5", status: 400, want: []string{"page must be"}},
		{who: "viewer", method: "GET", path: "/api/memory?status_filter=live", status: 400, want: []string{"Invalid status_filter", "approved"}},
		{who: "viewer", method: "GET", path: "/api/memory?search=" + strings.Repeat("s", 201), status: 400, want: []string{"search is too long"}},
	}
	runScenarios(t, env, tok, cases)

	// Sort by score: c (+2) before a (-1).
	rec := env.do(request{method: "GET", path: "/api/memory?sort=score", token: tok["viewer"]})
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || len(page.Items) != 2 {
		t.Fatalf("sort=score: %v %s", err, rec.Body)
	}
	if page.Items[0]["id"] != c || page.Items[1]["id"] != a || page.Items[0]["score"] != float64(2) {
		t.Errorf("sort=score order: %v, %v", page.Items[0]["id"], page.Items[1]["id"])
	}
	keys := make([]string, 0, len(page.Items[0]))
	for k := range page.Items[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wantKeys := []string{"audience", "category", "content", "contributors", "created_at", "downvotes", "id", "my_vote", "score",
		"source_user", "status", "tags", "title", "updated_at", "upvotes"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("item fields %v, want %v", keys, wantKeys)
	}
	if ts, _ := page.Items[0]["created_at"].(string); len(ts) < 19 || strings.ContainsAny(ts, "Z+") {
		t.Errorf("created_at %q is not a naive UTC timestamp", ts)
	}

	// Edit and batch.
	cases = []scenario{
		{who: "km_admin", method: "POST", path: "/api/memory/admin/edit?item_id=" + a, body: `{"title":" Revenue (net) ","tags":["Finance"]}`, status: 200,
			want: []string{`"id":"` + a + `"`, `"updated":["title","tags"]`}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/edit?item_id=" + a, body: `{}`, status: 200, want: []string{`"updated":[]`}},
		{who: "viewer", method: "GET", path: "/api/memory/" + a, status: 200, want: []string{`"title":"Revenue (net)"`, `"tags":"[\"finance\"]"`, `"content":"Revenue is net of VAT"`}},
		{who: "km_admin", method: "POST", path: "/api/memory/admin/batch", body: `{"item_ids":["` + a + `","nope","` + c + `","` + a + `"],"action":"revoke","reason":"cleanup"}`,
			status: 200, want: []string{`"success":["` + a + `","` + c + `"]`, `"not_found":["nope"]`}},
	}
	runScenarios(t, env, tok, cases)
	for id, want := range map[string]string{a: "revoked", b: "rejected", c: "revoked"} {
		if got := memoryStatus(t, env, id); got != want {
			t.Errorf("item %s is %s, want %s", id, got, want)
		}
	}

	// Audit: every governance step is a km_<action> row naming the item.
	type auditWant struct {
		action, resource string
		params           map[string]any
	}
	wants := []auditWant{
		{"km_create", a, map[string]any{"title": "Revenue definition"}},
		{"km_create", b, nil}, {"km_create", c, nil},
		{"km_approve", a, nil},
		{"km_mandate", c, map[string]any{"reason": "company policy", "audience": "all analysts"}},
		{"km_reject", b, nil},
		{"km_edit", a, map[string]any{"fields": []any{"title", "tags"}}},
		{"km_revoke", a, map[string]any{"reason": "cleanup", "batch": true}},
		{"km_revoke", c, map[string]any{"reason": "cleanup", "batch": true}},
		{"km_batch", "", map[string]any{"action": "revoke", "not_found": []any{"nope"}}},
	}
	for _, w := range wants {
		rows, err := env.store.QueryAudit(ctx, store.AuditFilter{Action: w.action, Resource: w.resource})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rows {
			if w.resource == "" && r.Resource != "" {
				continue
			}
			ok := true
			for k, v := range w.params {
				if fmt.Sprint(r.Params[k]) != fmt.Sprint(v) {
					ok = false
				}
			}
			found = found || ok
		}
		if !found {
			t.Errorf("no audit row %s resource %q params %v (rows %+v)", w.action, w.resource, w.params, rows)
		}
	}
	kmAdminID := env.users[auth.RoleKMAdmin].ID
	cases = []scenario{
		{who: "km_admin", method: "GET", path: "/api/memory/admin/audit", status: 200,
			want:      []string{`"entries":[`, `"action":"km_approve"`, `"action":"km_create"`, `"action":"km_batch"`, `"resource":"` + a + `"`, `"user_id":"` + kmAdminID + `"`},
			forbidden: []string{`"action":"POST `, `"action":"login_`}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/audit?action=approve", status: 200,
			want: []string{`"count":2`, `"action":"km_approve"`, `"resource":"` + a + `"`, `"resource":"` + c + `"`}, forbidden: []string{"km_create", "km_revoke"}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/audit?action=revoke&per_page=1", status: 200,
			want: []string{`"count":1`, `"total":2`, `"batch":true`}},
		{who: "admin", method: "GET", path: "/api/memory/admin/audit?action=create", status: 200, want: []string{`"count":3`}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/audit?action=vote", status: 400, want: []string{"Invalid action", "approve, reject"}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/audit?per_page=501", status: 200, want: []string{`"per_page":500`}},
		{who: "km_admin", method: "GET", path: "/api/memory/admin/audit?per_page=x", status: 400, want: []string{"per_page"}},
		{who: "analyst", method: "GET", path: "/api/memory/admin/audit", status: 403, forbidden: []string{"km_approve", "km_create"}},
	}
	runScenarios(t, env, tok, cases)

	// Newest first.
	rec = env.do(request{method: "GET", path: "/api/memory/admin/audit", token: tok["km_admin"]})
	var audit struct {
		Entries []auditRow `json:"entries"`
		Count   int        `json:"count"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &audit); err != nil || audit.Count != len(audit.Entries) || audit.Count < len(wants) {
		t.Fatalf("audit: %v %s", err, rec.Body)
	}
	for i := 1; i < len(audit.Entries); i++ {
		if audit.Entries[i].Timestamp > audit.Entries[i-1].Timestamp {
			t.Errorf("audit not newest first at %d: %s after %s", i, audit.Entries[i].Timestamp, audit.Entries[i-1].Timestamp)
		}
		if !strings.HasPrefix(audit.Entries[i].Action, "km_") {
			t.Errorf("non-memory audit row %s", audit.Entries[i].Action)
		}
	}
}

// manyTags is n distinct quoted strings joined by commas.
func manyTags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"t%d"`, i)
	}
	return strings.Join(parts, ",")
}

func TestMemoryGovernBodies(t *testing.T) {
	t.Parallel()
	env, tok := memoryEnv(t)
	cases := []struct {
		name   string
		action string
		body   string
		status int
		want   string
	}{
		{"approve without body", "approve", "", 200, `"status":"approved"`},
		{"reject with empty object", "reject", `{}`, 200, `"status":"rejected"`},
		{"revoke with whitespace body", "revoke", "  \n", 200, `"status":"revoked"`},
		{"mandate with reason only", "mandate", `{"reason":"policy"}`, 200, `"status":"mandatory"`},
		{"mandate without a reason", "mandate", `{"audience":""}`, 422, `the reason is required`},
		{"reject with wrong reason type", "reject", `{"reason":5}`, 422, `reason`},
		{"reject with a JSON array", "reject", `["x"]`, 422, `JSON object`},
		{"revoke with garbage", "revoke", `reason=x`, 400, `Malformed JSON`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := createMemoryItem(t, env, tok["analyst"], `{"title":"`+tc.name+`","content":"c"}`)
			before := "pending"
			if tc.action == "mandate" || tc.action == "revoke" {
				// Only approved items may be made mandatory or revoked.
				if err := env.store.SetKnowledgeStatus(context.Background(), id, store.KnowledgeApproved, nil); err != nil {
					t.Fatal(err)
				}
				before = "approved"
			}
			rec := env.do(request{method: "POST", path: "/api/memory/admin/" + tc.action + "?item_id=" + id, body: tc.body, token: tok["km_admin"]})
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("status %d body %s; want %d with %q", rec.Code, rec.Body, tc.status, tc.want)
			}
			wantStatus := before
			if tc.status == 200 {
				wantStatus = memoryActions[tc.action]
			}
			if got := memoryStatus(t, env, id); got != wantStatus {
				t.Errorf("item is %s, want %s", got, wantStatus)
			}
		})
	}
}
