package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

// memoryFixture seeds knowledge items: one per status by the analyst, a mandatory one by
// the admin, and one whose content is HTML.
type memoryFixture struct {
	approved, mandatory, pending, rejected, revoked, html *store.KnowledgeItem
}

func seedMemory(t *testing.T, env *testEnv) memoryFixture {
	t.Helper()
	ctx := context.Background()
	ana := env.users[auth.RoleAnalyst].Email
	mk := func(title, status, author, content string, tags ...string) *store.KnowledgeItem {
		k := &store.KnowledgeItem{Title: title, Content: content, Category: "Finance", Tags: tags, Status: status, SourceUser: author}
		if err := env.store.CreateKnowledge(ctx, k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	return memoryFixture{
		approved:  mk("Revenue is net of refunds", store.KnowledgeApproved, ana, "Use net_revenue.\nNever gross.", "revenue"),
		mandatory: mk("Always filter test accounts", store.KnowledgeMandatory, env.users[auth.RoleAdmin].Email, "WHERE NOT is_test"),
		pending:   mk("Churn definition draft", store.KnowledgePending, ana, "90 days without orders"),
		rejected:  mk("Rejected idea", store.KnowledgeRejected, ana, "nope"),
		revoked:   mk("Old fiscal calendar", store.KnowledgeRevoked, ana, "FY starts in April"),
		html:      mk("Escaping check", store.KnowledgeApproved, ana, `<script>alert("x")</script><b>bold</b>`),
	}
}

// otherAnalyst signs in a second analyst, who must not see the first one's drafts.
func (env *testEnv) otherAnalyst(t *testing.T) *browser {
	t.Helper()
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: "other@example.com", Name: "Other", Role: string(auth.RoleAnalyst), PasswordHash: hash, Active: true}
	if err := env.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	if rec := b.login(u.Email, testPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("login other: %d", rec.Code)
	}
	b.do("GET", "/settings", nil)
	return b
}

func checkBody(t *testing.T, name, body string, want, forbid []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: body lacks %q", name, w)
		}
	}
	for _, f := range forbid {
		if strings.Contains(body, f) {
			t.Errorf("%s: body has forbidden %q", name, f)
		}
	}
}

// TestMemoryPages runs the memory pages for each kind of caller.
func TestMemoryPages(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	fx := seedMemory(t, env)
	other := env.otherAnalyst(t)
	tests := []struct {
		name   string
		role   auth.Role // "" = the second analyst
		path   string
		htmx   bool
		status int
		want   []string
		forbid []string
	}{
		{"viewer reads", auth.RoleViewer, "/corporate-memory", false, 200,
			[]string{fx.approved.Title, fx.mandatory.Title, `data-testid="memory-readonly"`, `data-testid="memory-score"`},
			[]string{`data-testid="memory-contribute"`, `data-testid="memory-upvote"`, fx.pending.Title, fx.rejected.Title, fx.revoked.Title}},
		{"analyst sees form, votes and own drafts", auth.RoleAnalyst, "/corporate-memory", false, 200,
			[]string{`data-testid="memory-contribute"`, `data-testid="memory-upvote"`, `data-testid="memory-mine"`, fx.pending.Title, fx.rejected.Title},
			[]string{fx.revoked.Title}},
		{"other analyst does not see drafts", "", "/corporate-memory", false, 200,
			[]string{fx.approved.Title, `data-testid="memory-mine-empty"`}, []string{fx.pending.Title, fx.rejected.Title}},
		{"line breaks and escaping", auth.RoleViewer, "/corporate-memory", false, 200,
			[]string{"Use net_revenue.\nNever gross.", "&lt;script&gt;", "whitespace-pre-line"}, []string{`<script>alert`, "<b>bold</b>"}},
		{"revoked chip", auth.RoleViewer, "/corporate-memory?status=revoked", false, 200,
			[]string{fx.revoked.Title, `data-testid="memory-chip-revoked"`}, []string{fx.approved.Title, `data-testid="memory-upvote"`}},
		{"mandatory only", auth.RoleAnalyst, "/corporate-memory?status=mandatory", false, 200,
			[]string{fx.mandatory.Title, "ring-indigo-200"}, []string{"memory-item-title\">" + fx.approved.Title}},
		{"search", auth.RoleViewer, "/corporate-memory?q=REFUNDS", false, 200, []string{fx.approved.Title}, []string{fx.mandatory.Title}},
		{"search by tag", auth.RoleViewer, "/corporate-memory?q=revenue&sort=title", false, 200, []string{fx.approved.Title}, []string{fx.mandatory.Title}},
		{"category", auth.RoleViewer, "/corporate-memory?category=Nothing", false, 200, []string{"Nothing matches", `data-testid="memory-clear"`}, []string{fx.approved.Title}},
		{"htmx search is a fragment", auth.RoleViewer, "/corporate-memory?q=fiscal&status=all", true, 200,
			[]string{`id="memory-list"`, fx.revoked.Title}, []string{`data-testid="app-shell"`, fx.approved.Title}},
		{"bad status", auth.RoleViewer, "/corporate-memory?status=pending", false, 400, []string{"Unknown status"}, nil},
		{"bad sort", auth.RoleViewer, "/corporate-memory?sort=drop", false, 400, []string{"Unknown sort"}, nil},
		{"bad page", auth.RoleViewer, "/corporate-memory?page=0", false, 400, []string{"page must be"}, nil},
		{"admin page for analyst", auth.RoleAnalyst, "/corporate-memory/admin", false, 403, nil, []string{fx.pending.Title}},
		{"admin page for viewer", auth.RoleViewer, "/corporate-memory/admin", false, 403, nil, []string{fx.pending.Title}},
		{"review queue", auth.RoleKMAdmin, "/corporate-memory/admin", false, 200,
			[]string{`data-testid="km-stats"`, fx.pending.Title, `data-testid="km-batch"`, `data-testid="km-approve"`}, []string{fx.approved.Title, fx.rejected.Title}},
		{"all items filtered", auth.RoleAdmin, "/corporate-memory/admin?tab=all&status=rejected", false, 200, []string{fx.rejected.Title, "Re-approve"}, []string{fx.pending.Title}},
		{"all items searched", auth.RoleKMAdmin, "/corporate-memory/admin?tab=all&q=fiscal", false, 200, []string{fx.revoked.Title}, []string{fx.pending.Title}},
		{"audit empty", auth.RoleKMAdmin, "/corporate-memory/admin?tab=audit", false, 200, []string{"No governance actions yet"}, nil},
		{"bad tab", auth.RoleKMAdmin, "/corporate-memory/admin?tab=x", false, 400, []string{"Unknown tab"}, nil},
		{"bad admin status", auth.RoleKMAdmin, "/corporate-memory/admin?tab=all&status=x", false, 400, []string{"Unknown status"}, nil},
	}
	browsers := map[auth.Role]*browser{"": other}
	for _, tc := range tests {
		b, ok := browsers[tc.role]
		if !ok {
			b = env.signedIn(tc.role)
			browsers[tc.role] = b
		}
		var rec = b.do("GET", tc.path, nil)
		if tc.htmx {
			r := request{method: "GET", path: tc.path, headers: map[string]string{"HX-Request": "true", "HX-Target": "memory-list"}}
			for _, c := range b.jar {
				r.cookies = append(r.cookies, c)
			}
			rec = env.do(r)
		}
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %.300s", tc.name, rec.Code, tc.status, rec.Body)
			continue
		}
		checkBody(t, tc.name, rec.Body.String(), tc.want, tc.forbid)
	}
}

// TestMemoryContribute covers the contribute form: valid, invalid, roles and CSRF.
func TestMemoryContribute(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	ana := env.signedIn(auth.RoleAnalyst)
	count := func() int {
		_, n, err := env.store.ListKnowledge(ctx, store.KnowledgeFilter{SeeAll: true})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	form := func(title, category, tags, content string) url.Values {
		return url.Values{"_csrf": {ana.csrf}, "title": {title}, "category": {category}, "tags": {tags}, "content": {content}}
	}
	bad := []struct {
		name  string
		form  url.Values
		field string
		keep  string
	}{
		{"empty title", form("   ", "Finance", "a", "Kept content\nline two"), "title", "Kept content\nline two"},
		{"long title", form(strings.Repeat("t", 201), "", "", "x"), "title", strings.Repeat("t", 201)},
		{"long category", form("ok", strings.Repeat("c", 61), "", ""), "category", strings.Repeat("c", 61)},
		{"long tag", form("ok", "", "fine, "+strings.Repeat("g", 41), ""), "tags", "fine, " + strings.Repeat("g", 41)},
		{"long content", form("ok", "", "", strings.Repeat("x", 20001)), "content", ""},
	}
	for _, tc := range bad {
		rec := ana.do("POST", "/corporate-memory", tc.form)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", tc.name, rec.Code)
			continue
		}
		want := []string{`data-testid="field-error-` + tc.field + `"`}
		if tc.keep != "" {
			want = append(want, tc.keep)
		}
		checkBody(t, tc.name, rec.Body.String(), want, nil)
	}
	if n := count(); n != 0 {
		t.Fatalf("invalid contributions created %d items", n)
	}

	rec := ana.do("POST", "/corporate-memory", form("  Orders are UTC  ", "Data definitions", "Time, utc, time", "All order timestamps are UTC."))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/corporate-memory" {
		t.Fatalf("contribute: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	items, _, err := env.store.ListKnowledge(ctx, store.KnowledgeFilter{SeeAll: true})
	if err != nil || len(items) != 1 {
		t.Fatalf("items: %v %v", items, err)
	}
	k := items[0]
	if k.Title != "Orders are UTC" || k.Status != store.KnowledgePending || k.SourceUser != env.users[auth.RoleAnalyst].Email ||
		strings.Join(k.Tags, ",") != "time,utc" || k.Category != "Data definitions" {
		t.Errorf("stored item = %+v", k)
	}
	page := ana.do("GET", "/corporate-memory", nil).Body.String()
	checkBody(t, "after contributing", page, []string{`data-testid="toast"`, "waiting for review", `data-testid="memory-mine-item"`,
		`data-status="pending"`, "Waiting for review by a knowledge admin"}, []string{`data-testid="memory-item"`})
	if other := env.otherAnalyst(t).do("GET", "/corporate-memory", nil).Body.String(); strings.Contains(other, "Orders are UTC") {
		t.Error("another analyst sees the pending item")
	}

	viewer := env.signedIn(auth.RoleViewer)
	if rec := viewer.do("POST", "/corporate-memory", url.Values{"_csrf": {viewer.csrf}, "title": {"x"}}); rec.Code != http.StatusForbidden {
		t.Errorf("viewer contributes: %d, want 403", rec.Code)
	}
	if rec := ana.do("POST", "/corporate-memory", url.Values{"title": {"no csrf"}}); rec.Code != http.StatusForbidden {
		t.Errorf("missing CSRF: %d, want 403", rec.Code)
	}
	if rec := ana.do("POST", "/corporate-memory", url.Values{"title": {"bad csrf"}, "_csrf": {"forged"}}); rec.Code != http.StatusForbidden {
		t.Errorf("forged CSRF: %d, want 403", rec.Code)
	}
	if n := count(); n != 1 {
		t.Errorf("refused posts created items: %d", n)
	}
}

// TestMemoryVoteForm votes, changes and withdraws through the page route.
func TestMemoryVoteForm(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	fx := seedMemory(t, env)
	ana := env.signedIn(auth.RoleAnalyst)
	other := env.otherAnalyst(t)
	path := "/corporate-memory/" + fx.approved.ID + "/vote"
	steps := []struct {
		name     string
		b        *browser
		path     string
		vote     string
		htmx     bool
		status   int
		up, down int // expected counts of fx.approved afterwards
		want     []string
	}{
		{"upvote", ana, path, "1", true, 200, 1, 0, []string{`data-my-vote="1"`, `data-testid="memory-score"`, ">1</span>", `value="0"`, "Withdraw your upvote"}},
		{"other downvotes", other, path, "-1", true, 200, 1, 1, []string{`data-my-vote="-1"`, ">0</span>"}},
		{"switch to downvote", ana, path, "-1", true, 200, 0, 2, []string{`data-my-vote="-1"`, ">-2</span>"}},
		{"withdraw", ana, path, "0", true, 200, 0, 1, []string{`data-my-vote="0"`, ">-1</span>"}},
		{"plain form post", ana, path, "1", false, 303, 1, 1, nil},
		{"bad vote", ana, path, "2", true, 400, 1, 1, []string{"vote must be"}},
		{"no vote", ana, path, "", true, 400, 1, 1, nil},
		{"unknown item", ana, "/corporate-memory/nope/vote", "1", true, 404, 1, 1, nil},
		{"own pending item", ana, "/corporate-memory/" + fx.pending.ID + "/vote", "1", true, 409, 1, 1, []string{"Only approved or mandatory"}},
		{"someone else's pending item", other, "/corporate-memory/" + fx.pending.ID + "/vote", "1", true, 404, 1, 1, nil},
		{"revoked item", ana, "/corporate-memory/" + fx.revoked.ID + "/vote", "1", true, 409, 1, 1, nil},
	}
	for _, st := range steps {
		f := url.Values{"vote": {st.vote}}
		var code int
		var body string
		if st.htmx {
			res := st.b.htmx("POST", st.path, f)
			code, body = res.Code, res.Body.String()
		} else {
			f.Set("_csrf", st.b.csrf)
			res := st.b.do("POST", st.path, f)
			code, body = res.Code, res.Body.String()
		}
		if code != st.status {
			t.Errorf("%s: status %d, want %d: %.200s", st.name, code, st.status, body)
			continue
		}
		checkBody(t, st.name, body, st.want, nil)
		k, err := env.store.KnowledgeByID(context.Background(), fx.approved.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.Upvotes != st.up || k.Downvotes != st.down {
			t.Errorf("%s: votes %d/%d, want %d/%d", st.name, k.Upvotes, k.Downvotes, st.up, st.down)
		}
	}
	viewer := env.signedIn(auth.RoleViewer)
	if rec := viewer.htmx("POST", path, url.Values{"vote": {"1"}}); rec.Code != http.StatusForbidden {
		t.Errorf("viewer votes: %d, want 403", rec.Code)
	}
	if rec := ana.do("POST", path, url.Values{"vote": {"1"}}); rec.Code != http.StatusForbidden {
		t.Errorf("vote without CSRF: %d, want 403", rec.Code)
	}
	page := ana.do("GET", "/corporate-memory", nil).Body.String()
	if !strings.Contains(page, `data-my-vote="1"`) {
		t.Error("the page does not highlight the analyst's vote")
	}
}

// TestMemoryAdminActions runs governance through the admin page routes.
func TestMemoryAdminActions(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	fx := seedMemory(t, env)
	km := env.signedIn(auth.RoleKMAdmin)
	extra := &store.KnowledgeItem{Title: "Second draft", Status: store.KnowledgePending, SourceUser: "analyst@example.com"}
	if err := env.store.CreateKnowledge(ctx, extra); err != nil {
		t.Fatal(err)
	}
	status := func(id string) string {
		k, err := env.store.KnowledgeByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return k.Status
	}
	base := "/corporate-memory/admin/"
	steps := []struct {
		name       string
		path       string
		form       url.Values
		code       int
		id, status string // item and its status afterwards
		want       []string
	}{
		{"approve", base + fx.pending.ID + "/approve", url.Values{}, 200, fx.pending.ID, "approved",
			[]string{`data-testid="km-message"`, "Approved: “Churn definition draft”", `hx-swap-oob="true"`, `data-testid="toast"`, `data-status="approved"`}},
		{"mandate needs a reason", base + fx.approved.ID + "/mandate", url.Values{"audience": {""}}, 422, fx.approved.ID, "approved",
			[]string{`data-testid="km-error"`, "reason is required"}},
		{"mandate unknown group", base + fx.approved.ID + "/mandate", url.Values{"reason": {"policy"}, "audience": {"group:nope"}}, 422, fx.approved.ID, "approved",
			[]string{"Unknown audience"}},
		{"reason too long", base + fx.approved.ID + "/reject", url.Values{"reason": {strings.Repeat("r", 2001)}}, 422, fx.approved.ID, "approved",
			[]string{"at most 2,000"}},
		{"mandate", base + fx.approved.ID + "/mandate", url.Values{"reason": {"finance policy"}, "audience": {""}}, 200, fx.approved.ID, "mandatory",
			[]string{"Made mandatory"}},
		{"revoke", base + fx.mandatory.ID + "/revoke", url.Values{"reason": {"outdated"}}, 200, fx.mandatory.ID, "revoked", []string{"Revoked"}},
		{"reject", base + extra.ID + "/reject", url.Values{"reason": {"duplicate of churn"}}, 200, extra.ID, "rejected", []string{"Rejected"}},
		{"unknown item", base + "missing/approve", url.Values{}, 404, fx.rejected.ID, "rejected", nil},
		{"unknown action", base + fx.rejected.ID + "/publish", url.Values{}, 404, fx.rejected.ID, "rejected", nil},
		{"edit", base + fx.rejected.ID + "/edit", url.Values{"title": {"Better idea"}, "category": {"Finance"}, "tags": {""}, "content": {"nope"}}, 200, fx.rejected.ID, "rejected",
			[]string{"Saved title", "Better idea"}},
		{"edit nothing", base + fx.rejected.ID + "/edit", url.Values{"title": {"Better idea"}, "category": {"Finance"}, "tags": {""}, "content": {"nope"}}, 200, fx.rejected.ID, "rejected",
			[]string{"Nothing to save"}},
		{"CRLF from a browser is no change", base + fx.approved.ID + "/edit", url.Values{"content": {"Use net_revenue.\r\nNever gross."}, "tags": {"Revenue"}}, 200, fx.approved.ID, "mandatory",
			[]string{"Nothing to save"}},
		{"edit invalid", base + fx.rejected.ID + "/edit", url.Values{"title": {" "}, "content": {"typed text"}}, 422, fx.rejected.ID, "rejected",
			[]string{`data-testid="field-error-title"`, "typed text", "Not saved: Title is required", "data-autoopen"}},
		{"edit unknown", base + "missing/edit", url.Values{"title": {"x"}}, 404, fx.rejected.ID, "rejected", nil},
	}
	for _, st := range steps {
		rec := km.htmx("POST", st.path, st.form)
		if rec.Code != st.code {
			t.Errorf("%s: status %d, want %d: %.300s", st.name, rec.Code, st.code, rec.Body)
			continue
		}
		checkBody(t, st.name, rec.Body.String(), st.want, nil)
		if got := status(st.id); got != st.status {
			t.Errorf("%s: status of item = %s, want %s", st.name, got, st.status)
		}
	}
	if k, _ := env.store.KnowledgeByID(ctx, fx.rejected.ID); k.Title != "Better idea" {
		t.Errorf("edited title = %q", k.Title)
	}
	if k, _ := env.store.KnowledgeByID(ctx, fx.approved.ID); k.Audience != "" {
		t.Errorf("audience = %q", k.Audience)
	}

	// The author sees why the item was rejected.
	ana := env.signedIn(auth.RoleAnalyst)
	checkBody(t, "rejection reason", ana.do("GET", "/corporate-memory", nil).Body.String(), []string{"Reason: duplicate of churn"}, nil)

	// The audit tab lists every governance action, newest first, with reasons.
	audit := km.do("GET", "/corporate-memory/admin?tab=audit", nil).Body.String()
	checkBody(t, "audit", audit, []string{"km-audit-row", "finance policy", "changed title", "km_admin@example.com", "Better idea"}, []string{"No governance actions yet"})
	if i, j := strings.Index(audit, "changed title"), strings.Index(audit, "finance policy"); i < 0 || j < 0 || i > j {
		t.Error("audit is not newest first")
	}
	checkBody(t, "audit filtered", km.do("GET", "/corporate-memory/admin?tab=audit&action=revoke", nil).Body.String(), []string{"outdated"}, []string{"finance policy"})

	// Batch: two drafts approved, one id gone.
	d1 := &store.KnowledgeItem{Title: "Batch one", Status: store.KnowledgePending, SourceUser: "analyst@example.com"}
	d2 := &store.KnowledgeItem{Title: "Batch two", Status: store.KnowledgePending, SourceUser: "analyst@example.com"}
	for _, k := range []*store.KnowledgeItem{d1, d2} {
		if err := env.store.CreateKnowledge(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	batch := []struct {
		name string
		form url.Values
		code int
		want []string
	}{
		{"nothing selected", url.Values{"action": {"approve"}, "tab": {"pending"}}, 422, []string{`data-testid="km-batch-error"`, "Select at least one item"}},
		{"bad action", url.Values{"action": {"publish"}, "ids": {d1.ID}}, 422, []string{"Unknown action"}},
		{"mandate without reason", url.Values{"action": {"mandate"}, "ids": {d1.ID}}, 422, []string{"reason is required"}},
		{"approve", url.Values{"action": {"approve"}, "ids": {d1.ID, d2.ID, "gone"}, "tab": {"pending"}}, 200,
			[]string{"Approved 2 items; 1 no longer exists", `id="km-list"`, "The review queue is empty"}},
	}
	for _, st := range batch {
		rec := km.htmx("POST", "/corporate-memory/admin/batch", st.form)
		if rec.Code != st.code {
			t.Errorf("batch %s: status %d, want %d: %.300s", st.name, rec.Code, st.code, rec.Body)
			continue
		}
		checkBody(t, "batch "+st.name, rec.Body.String(), st.want, nil)
	}
	if status(d1.ID) != "approved" || status(d2.ID) != "approved" {
		t.Errorf("batch statuses %s %s", status(d1.ID), status(d2.ID))
	}
	entries, err := env.store.QueryAudit(ctx, store.AuditFilter{Action: "km_approve", Resource: d1.ID})
	if err != nil || len(entries) != 1 || entries[0].Params["batch"] != true {
		t.Errorf("batch audit = %+v %v", entries, err)
	}

	// A plain form post (no htmx) redirects with a flash.
	rec := km.do("POST", base+d1.ID+"/revoke", url.Values{"_csrf": {km.csrf}, "reason": {"plain"}})
	if rec.Code != http.StatusSeeOther || status(d1.ID) != "revoked" {
		t.Errorf("plain revoke: %d %s", rec.Code, status(d1.ID))
	}

	// Lower roles and missing CSRF are refused, and nothing changes.
	analyst := env.signedIn(auth.RoleAnalyst)
	for _, p := range []string{base + d2.ID + "/revoke", base + d2.ID + "/edit", "/corporate-memory/admin/batch"} {
		if rec := analyst.htmx("POST", p, url.Values{"action": {"revoke"}, "ids": {d2.ID}, "title": {"x"}}); rec.Code != http.StatusForbidden {
			t.Errorf("analyst %s: %d, want 403", p, rec.Code)
		}
		if rec := km.do("POST", p, url.Values{"action": {"revoke"}, "ids": {d2.ID}, "title": {"x"}}); rec.Code != http.StatusForbidden {
			t.Errorf("no CSRF %s: %d, want 403", p, rec.Code)
		}
	}
	if status(d2.ID) != "approved" {
		t.Errorf("refused requests changed the item: %s", status(d2.ID))
	}
}
