package handlers

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/config"
	"da/engine/connectors/jira"
	"da/engine/connectors/jira/jiratest"
	"da/store"
)

const jiraSecret = "hook-secret-for-tests"

// jiraEnv is a full server with the Jira connector pointed at an in-process fake Jira.
type jiraEnv struct {
	*testEnv
	fake *jiratest.Server
	svc  *jira.Service
}

func newJiraEnv(t testing.TB, vars map[string]string) *jiraEnv {
	t.Helper()
	fake := jiratest.New()
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	envv := map[string]string{"DATA_DIR": dir, "JWT_SECRET_KEY": "test-secret-test-secret-test-secret-42",
		"JIRA_DOMAIN": "acme.atlassian.net", "JIRA_BASE_URL": fake.URL, "JIRA_EMAIL": jiratest.Email,
		"JIRA_API_TOKEN": jiratest.Token, "JIRA_WEBHOOK_SECRET": jiraSecret, "JIRA_PROJECT": "SUP"}
	for k, v := range vars {
		envv[k] = v
	}
	cfg, err := config.Load(func(k string) string { return envv[k] }, config.Overrides{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := store.Open(filepath.Join(dir, "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc, err := jira.NewService(jira.Options{Dir: cfg.Jira.DataDir, Site: cfg.Jira.Domain, BaseURL: cfg.Jira.BaseURL,
		Email: cfg.Jira.Email, Token: cfg.Jira.APIToken, SLABaseURL: cfg.Jira.SLABaseURL, SLAEmail: cfg.Jira.SLAEmail,
		SLAToken: cfg.Jira.SLAAPIToken, Project: cfg.Jira.Project}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.Proc.API.Backoff = time.Millisecond
	deps := testDeps(t, cfg, st)
	deps.Jira = svc
	s, e := newServer(deps)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	env := &testEnv{t: t, srv: s, e: e, store: st, users: map[auth.Role]*store.User{}, tokens: map[auth.Role]string{}}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range auth.Roles {
		u := &store.User{Email: string(r) + "@example.com", Name: string(r), Role: string(r), PasswordHash: hash, Active: true}
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		tok, _, err := s.issuer.Issue(u.ID, u.Email, r)
		if err != nil {
			t.Fatal(err)
		}
		env.users[r], env.tokens[r] = u, tok
	}
	return &jiraEnv{testEnv: env, fake: fake, svc: svc}
}

// post sends a signed webhook.
func (j *jiraEnv) post(body []byte, headers map[string]string) (int, map[string]any) {
	j.t.Helper()
	h := map[string]string{"X-Hub-Signature": jiratest.Sign(jiraSecret, body)}
	for k, v := range headers {
		h[k] = v
	}
	rec := j.do(request{method: "POST", path: "/webhooks/jira", body: string(body), headers: h})
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

func (j *jiraEnv) idle() {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := j.svc.WaitIdle(ctx); err != nil {
		j.t.Fatalf("queue never went idle: %+v", j.svc.Queue.Stats())
	}
}

// query runs SQL through POST /api/query as role and returns the rows.
func (j *jiraEnv) query(role auth.Role, sql string) (int, []any, string) {
	j.t.Helper()
	rec := j.do(request{method: "POST", path: "/api/query", token: j.tokens[role], body: sqlBody(sql)})
	var m struct {
		Rows []any `json:"rows"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m.Rows, rec.Body.String()
}

func TestJiraWebhookSignatureAndBody(t *testing.T) {
	j := newJiraEnv(t, nil)
	is := jiratest.NewIssue("SUP-1", 101, "2026-02-03T12:06:52.829+0100", "2026-02-04T10:00:00.000+0000")
	j.fake.Put(is)
	body := jiratest.Webhook("jira:issue_created", is, nil)
	sig := jiratest.Sign(jiraSecret, body)
	cases := []struct {
		name    string
		path    string
		body    string
		headers map[string]string
		status  int
		want    string
	}{
		{"X-Hub-Signature accepted", "/webhooks/jira", string(body), map[string]string{"X-Hub-Signature": sig}, 200, `"status":"ok"`},
		{"X-Hub-Signature-256 accepted, documented path", "/api/jira/webhook", string(body), map[string]string{"X-Hub-Signature-256": sig}, 200, `"issue":"SUP-1"`},
		{"missing signature", "/webhooks/jira", string(body), nil, 401, `{"detail":"Invalid signature"}`},
		{"wrong signature", "/webhooks/jira", string(body), map[string]string{"X-Hub-Signature": jiratest.Sign("other", body)}, 401, "Invalid signature"},
		{"other algorithm", "/webhooks/jira", string(body), map[string]string{"X-Hub-Signature": strings.Replace(sig, "sha256", "sha1", 1)}, 401, "Invalid signature"},
		{"body changed after signing", "/webhooks/jira", string(body) + " ", map[string]string{"X-Hub-Signature": sig}, 401, "Invalid signature"},
		{"empty body", "/webhooks/jira", "", map[string]string{"X-Hub-Signature": jiratest.Sign(jiraSecret, nil)}, 400, "Empty payload"},
		{"empty object", "/webhooks/jira", "{}", map[string]string{"X-Hub-Signature": jiratest.Sign(jiraSecret, []byte("{}"))}, 400, "Empty payload"},
		{"invalid JSON", "/webhooks/jira", "{nope", map[string]string{"X-Hub-Signature": jiratest.Sign(jiraSecret, []byte("{nope"))}, 400, "Invalid JSON payload"},
		{"no webhookEvent", "/webhooks/jira", `{"a":1}`, map[string]string{"X-Hub-Signature": jiratest.Sign(jiraSecret, []byte(`{"a":1}`))}, 400, "webhookEvent is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := j.do(request{method: "POST", path: tc.path, body: tc.body, headers: tc.headers})
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("%d %s, want %d with %q", rec.Code, rec.Body.String(), tc.status, tc.want)
			}
		})
	}
	j.idle()
	// Only the two accepted deliveries were persisted.
	// The second is the same body without a delivery id: it counts as a duplicate.
	if st := j.svc.Queue.Stats(); st.Received != 1 || st.Duplicates != 1 {
		t.Fatalf("received = %d, duplicates = %d, want 1 and 1", st.Received, st.Duplicates)
	}
	big := `{"webhookEvent":"x","pad":"` + strings.Repeat("a", jiraWebhookMaxBytes) + `"}`
	rec := j.do(request{method: "POST", path: "/webhooks/jira", body: big, headers: map[string]string{"X-Hub-Signature": jiratest.Sign(jiraSecret, []byte(big))}})
	if rec.Code != 413 || !strings.Contains(rec.Body.String(), "detail") {
		t.Fatalf("oversized body: %d %s", rec.Code, rec.Body.String())
	}
	rec = j.do(request{method: "GET", path: "/webhooks/jira/health"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"configured":true`) || !strings.Contains(rec.Body.String(), `"webhook_secret_set":true`) ||
		strings.Contains(rec.Body.String(), jiraSecret) {
		t.Fatalf("health: %s", rec.Body.String())
	}
}

func TestJiraWebhookRefusesUnsignedWithoutSecret(t *testing.T) {
	j := newJiraEnv(t, map[string]string{"JIRA_WEBHOOK_SECRET": ""})
	body := jiratest.Webhook("jira:issue_created", map[string]any{"key": "SUP-1"}, nil)
	rec := j.do(request{method: "POST", path: "/webhooks/jira", body: string(body)})
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "JIRA_WEBHOOK_INSECURE") {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	j2 := newJiraEnv(t, map[string]string{"JIRA_WEBHOOK_SECRET": "", "JIRA_WEBHOOK_INSECURE": "true"})
	j2.fake.Put(jiratest.NewIssue("SUP-1", 101, "2026-02-03T12:00:00.000+0000", "2026-02-04T10:00:00.000+0000"))
	rec = j2.do(request{method: "POST", path: "/webhooks/jira", body: string(body)})
	if rec.Code != 200 {
		t.Fatalf("insecure mode: %d %s", rec.Code, rec.Body.String())
	}
}

func TestJiraEventsBecomeQueryableTables(t *testing.T) {
	j := newJiraEnv(t, nil)
	is := jiratest.NewIssue("SUP-1", 101, "2026-02-03T12:06:52.829+0100", "2026-02-04T10:00:00.000+0000")
	j.fake.Put(is)
	code, ans := j.post(jiratest.Webhook("jira:issue_created", is, nil), map[string]string{"X-Atlassian-Webhook-Identifier": "d-1"})
	if code != 200 || ans["issue"] != "SUP-1" {
		t.Fatalf("%d %v", code, ans)
	}
	j.idle()
	// Registered on first sight: private, folder jira, source jira.
	for _, tb := range jira.Tables {
		row, err := j.store.GetTable(context.Background(), tb.Name)
		if err != nil || row.SourceType != "jira" || row.Folder != "jira" || row.IsPublic {
			t.Fatalf("%s registry row %+v %v", tb.Name, row, err)
		}
	}
	code, rows, raw := j.query(auth.RoleAdmin, "SELECT issue_key, status, comment_count FROM issues")
	if code != 200 || len(rows) != 1 || !strings.Contains(raw, "SUP-1") {
		t.Fatalf("admin query: %d %s", code, raw)
	}
	// remote_links has no shard yet but is a typed, empty table.
	code, rows, raw = j.query(auth.RoleAdmin, "SELECT count(*) AS n, typeof(any_value(url)) AS t FROM remote_links")
	if code != 200 || !strings.Contains(raw, "VARCHAR") {
		t.Fatalf("empty table: %d %s", code, raw)
	}
	// An analyst without a grant cannot read it.
	if code, _, raw := j.query(auth.RoleAnalyst, "SELECT * FROM issues"); code != 400 || !strings.Contains(raw, "access") || strings.Contains(raw, "SUP-1") {
		t.Fatalf("analyst without grant: %d %s", code, raw)
	}
	// A redelivery with the same id changes nothing and is not processed again.
	before := j.fake.Requests("GET issue")
	code, ans = j.post(jiratest.Webhook("jira:issue_created", is, nil), map[string]string{"X-Atlassian-Webhook-Identifier": "d-1", "X-Atlassian-Webhook-Retry": "1"})
	if code != 200 || ans["duplicate"] != true {
		t.Fatalf("duplicate: %d %v", code, ans)
	}
	j.idle()
	if j.fake.Requests("GET issue") != before {
		t.Fatalf("duplicate delivery was processed again")
	}
	// A comment is added, then deleted: the issue stays.
	j.fake.Update("SUP-1", func(m map[string]any) {
		f := m["fields"].(map[string]any)
		f["comment"] = map[string]any{"comments": []any{}, "total": 0}
		f["updated"] = "2026-02-05T10:00:00.000+0000"
	})
	j.post(jiratest.Webhook("comment_deleted", map[string]any{"key": "SUP-1", "fields": map[string]any{}}, map[string]any{"comment": map[string]any{"id": "1011"}}), nil)
	j.idle()
	_, rows, raw = j.query(auth.RoleAdmin, "SELECT (SELECT count(*) FROM comments) AS c, (SELECT count(*) FROM issues) AS i")
	if len(rows) != 1 || !strings.Contains(raw, `"rows":[[0,1]]`) {
		t.Fatalf("after comment_deleted: %s", raw)
	}
	// Health reports the connector.
	rec := j.do(request{method: "GET", path: "/api/health", token: j.tokens[auth.RoleAdmin]})
	if !strings.Contains(rec.Body.String(), `"jira"`) || !strings.Contains(rec.Body.String(), `"processed"`) {
		t.Fatalf("health: %s", rec.Body.String())
	}
	// discover-tables lists the six tables under source jira.
	rec = j.do(request{method: "GET", path: "/api/admin/discover-tables", token: j.tokens[auth.RoleAdmin]})
	if !strings.Contains(rec.Body.String(), `"jira"`) || !strings.Contains(rec.Body.String(), "remote_links") {
		t.Fatalf("discover: %d %s", rec.Code, rec.Body.String())
	}
}

func TestJiraAdminBackfillAndReport(t *testing.T) {
	j := newJiraEnv(t, nil)
	created := time.Now().UTC().AddDate(0, 0, -2).Format("2006-01-02T15:04:05.000-0700")
	for i := 1; i <= 5; i++ {
		j.fake.Put(jiratest.NewIssue("SUP-"+strconv.Itoa(i), 100+i, created, created))
	}
	// Bad input changes nothing.
	for _, body := range []string{`{"issue_keys":["nope"]}`, `{"parallel":99}`, `{"jql":1}`} {
		rec := j.do(request{method: "POST", path: "/api/admin/jira/backfill", token: j.tokens[auth.RoleAdmin], body: body})
		if rec.Code < 400 || rec.Code >= 500 || !strings.Contains(rec.Body.String(), "detail") {
			t.Fatalf("%s: %d %s", body, rec.Code, rec.Body.String())
		}
	}
	if rec := j.do(request{method: "POST", path: "/api/admin/jira/backfill", token: j.tokens[auth.RoleAnalyst], body: `{}`}); rec.Code != 403 {
		t.Fatalf("analyst: %d", rec.Code)
	}
	rec := j.do(request{method: "POST", path: "/api/admin/jira/backfill", token: j.tokens[auth.RoleAdmin], body: `{"issue_keys":["SUP-1","SUP-2"]}`})
	if rec.Code != 202 {
		t.Fatalf("backfill: %d %s", rec.Code, rec.Body.String())
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec = j.do(request{method: "GET", path: "/api/admin/jira/backfill", token: j.tokens[auth.RoleAdmin]})
		if strings.Contains(rec.Body.String(), `"state":"done"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(rec.Body.String(), `"done":2`) {
		t.Fatalf("backfill status: %s", rec.Body.String())
	}
	j.idle()
	// The admin page's panel runs the consistency check: three issues missing, backfilled.
	b := j.browser()
	b.login("admin@example.com", testPassword)
	b.do("GET", "/admin/tables", nil)
	page := b.do("GET", "/admin/jira", nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `data-testid="jira-backfill"`) {
		t.Fatalf("panel: %d %s", page.Code, page.Body.String())
	}
	page = b.do("POST", "/admin/jira/consistency", url.Values{"_csrf": {b.csrf}})
	body := page.Body.String()
	for _, w := range []string{`data-testid="jira-alert-level"`, "INFO", "Backfilled: SUP-3, SUP-4, SUP-5"} {
		if !strings.Contains(body, w) {
			t.Fatalf("panel after check lacks %q: %s", w, body)
		}
	}
	j.idle()
	if _, rows, raw := j.query(auth.RoleAdmin, "SELECT count(*) FROM issues"); len(rows) != 1 || !strings.Contains(raw, `"rows":[[5]]`) {
		t.Fatalf("issues after check: %s", raw)
	}
}
