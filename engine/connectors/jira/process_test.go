package jira_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"da/engine/connectors/jira"
	"da/engine/connectors/jira/jiratest"
)

type env struct {
	t     testing.TB
	fake  *jiratest.Server
	store *jira.Store
	proc  *jira.Processor
	db    *sql.DB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	fake := jiratest.New()
	t.Cleanup(fake.Close)
	st, err := jira.OpenStore(filepath.Join(t.TempDir(), "extracts", "jira"), "acme.atlassian.net")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := jira.NewClient(fake.URL, jiratest.Email, jiratest.Token)
	api.Backoff = time.Millisecond
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{t: t, fake: fake, store: st, proc: &jira.Processor{Store: st, API: api, AttachmentMax: -1}, db: db}
}

func (e *env) event(name string, body []byte) jira.Result {
	e.t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytesReader(body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		e.t.Fatal(err)
	}
	res, err := e.proc.Process(context.Background(), jira.Event{Name: name, Body: m})
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return res
}

// count runs a count over one table's shards of one month ("*" for all).
func (e *env) count(table, month, where string) int {
	e.t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.store.DataDir(), table, month+".parquet"))
	if len(files) == 0 {
		return 0
	}
	q := "SELECT count(*) FROM read_parquet(" + quoteList(files) + ")"
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := e.db.QueryRow(q).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestEventKindsDecideWhatIsDeleted(t *testing.T) {
	e := newEnv(t)
	is := jiratest.NewIssue("SUP-1", 101, "2026-02-03T12:06:52.829+0100", "2026-02-04T10:00:00.000+0000")
	e.fake.Put(is)
	e.event("jira:issue_created", jiratest.Webhook("jira:issue_created", is, nil))
	for _, tb := range []string{"issues", "comments", "attachments", "changelog", "issuelinks"} {
		if n := e.count(tb, "2026-02", "issue_key = 'SUP-1'"); n != 1 {
			t.Fatalf("%s rows = %d, want 1", tb, n)
		}
	}
	// A worklog deletion changes nothing.
	e.event("worklog_deleted", jiratest.Webhook("worklog_deleted", nil, map[string]any{"worklog": map[string]any{"id": "5", "issueId": "101"}}))
	if n := e.count("issues", "2026-02", ""); n != 1 {
		t.Fatalf("issues after worklog_deleted = %d", n)
	}
	// A comment deletion removes that comment only.
	e.fake.Update("SUP-1", func(m map[string]any) {
		m["fields"].(map[string]any)["comment"] = map[string]any{"comments": []any{}, "total": 0}
	})
	e.event("comment_deleted", jiratest.Webhook("comment_deleted", map[string]any{"key": "SUP-1", "id": "101", "fields": map[string]any{}},
		map[string]any{"comment": map[string]any{"id": "1011"}}))
	if n := e.count("comments", "*", ""); n != 0 {
		t.Fatalf("comments after comment_deleted = %d", n)
	}
	if n := e.count("issues", "2026-02", "issue_key = 'SUP-1'"); n != 1 {
		t.Fatalf("issue gone after comment_deleted: %d", n)
	}
	// A link deletion (ids only) removes that link.
	e.fake.Update("SUP-1", func(m map[string]any) { m["fields"].(map[string]any)["issuelinks"] = []any{} })
	e.event("issuelink_deleted", jiratest.LinkWebhook("issuelink_deleted", 1013, 101, 999999))
	if n := e.count("issuelinks", "*", ""); n != 0 {
		t.Fatalf("issuelinks after issuelink_deleted = %d", n)
	}
	if n := e.count("issues", "2026-02", ""); n != 1 {
		t.Fatalf("issue gone after issuelink_deleted")
	}
	// Only jira:issue_deleted removes the issue.
	e.fake.Delete("SUP-1")
	e.event("jira:issue_deleted", jiratest.Webhook("jira:issue_deleted", is, nil))
	for _, tb := range []string{"issues", "changelog", "attachments"} {
		if n := e.count(tb, "*", ""); n != 0 {
			t.Fatalf("%s rows after issue_deleted = %d", tb, n)
		}
	}
	// The month has no empty shards left behind.
	if files, _ := filepath.Glob(filepath.Join(e.store.DataDir(), "*", "2026-02.parquet")); len(files) != 0 {
		t.Fatalf("empty shards left: %v", files)
	}
	// A late event for the deleted issue does not bring it back.
	e.event("comment_created", jiratest.Webhook("comment_created", is, map[string]any{"comment": map[string]any{"id": "7"}}))
	if n := e.count("issues", "*", ""); n != 0 {
		t.Fatalf("deleted issue came back")
	}
}

func TestIssueMovingMonthLeavesNoStaleRows(t *testing.T) {
	e := newEnv(t)
	is := jiratest.NewIssue("SUP-2", 102, "2026-01-31T23:30:00.000+0000", "2026-02-01T00:00:00.000+0000")
	e.fake.Put(is)
	e.event("jira:issue_created", jiratest.Webhook("jira:issue_created", is, nil))
	if n := e.count("issues", "2026-01", ""); n != 1 {
		t.Fatalf("january rows = %d", n)
	}
	e.fake.Update("SUP-2", func(m map[string]any) {
		f := m["fields"].(map[string]any)
		f["created"] = "2026-03-02T08:00:00.000+0000"
		f["updated"] = "2026-03-02T09:00:00.000+0000"
	})
	e.event("jira:issue_updated", jiratest.Webhook("jira:issue_updated", is, nil))
	for _, tb := range []string{"issues", "comments", "changelog"} {
		if n := e.count(tb, "2026-01", ""); n != 0 {
			t.Fatalf("%s: stale rows in old month: %d", tb, n)
		}
		if n := e.count(tb, "2026-03", ""); n != 1 {
			t.Fatalf("%s: rows in new month = %d", tb, n)
		}
	}
}

func TestReplayOfOlderStateChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.proc.API = nil // only the embedded issue
	newer := jiratest.NewIssue("SUP-3", 103, "2026-02-03T12:00:00.000+0000", "2026-02-05T00:00:00.000+0000")
	newer["fields"].(map[string]any)["summary"] = "newer"
	e.event("jira:issue_updated", jiratest.Webhook("jira:issue_updated", newer, nil))
	older := jiratest.NewIssue("SUP-3", 103, "2026-02-03T12:00:00.000+0000", "2026-02-04T00:00:00.000+0000")
	older["fields"].(map[string]any)["summary"] = "older"
	res := e.event("jira:issue_updated", jiratest.Webhook("jira:issue_updated", older, nil))
	if res.Skipped == "" {
		t.Fatalf("older state was applied: %+v", res)
	}
	if n := e.count("issues", "2026-02", "summary = 'newer'"); n != 1 {
		t.Fatalf("summary changed by a replay")
	}
}

func TestFetchHonoursRetryAfter(t *testing.T) {
	e := newEnv(t)
	is := jiratest.NewIssue("SUP-4", 104, "2026-02-03T12:00:00.000+0000", "2026-02-05T00:00:00.000+0000")
	e.fake.Put(is)
	e.fake.Fail429(2, "0")
	e.event("jira:issue_created", jiratest.Webhook("jira:issue_created", map[string]any{"key": "SUP-4"}, nil))
	if e.fake.Requests("429") != 2 || e.fake.Requests("GET issue") != 1 {
		t.Fatalf("429s = %d, fetches = %d", e.fake.Requests("429"), e.fake.Requests("GET issue"))
	}
	if n := e.count("issues", "2026-02", "summary = 'Summary of SUP-4'"); n != 1 {
		t.Fatalf("issue not written after 429s")
	}
}

func TestTransformTypesAndSLA(t *testing.T) {
	e := newEnv(t)
	is := jiratest.NewIssue("SUP-5", 105, "2026-02-03T12:06:52.829+0100", "2026-02-04T10:00:00.000+0000")
	e.fake.Put(is)
	e.event("jira:issue_created", jiratest.Webhook("jira:issue_created", is, nil))
	f := filepath.Join(e.store.DataDir(), "issues", "2026-02.parquet")
	var created time.Time
	var goal int64
	var desc, breached, labels string
	err := e.db.QueryRow("SELECT created_at, first_response_goal_millis, description, first_response_breached, labels FROM read_parquet('"+f+"')").
		Scan(&created, &goal, &desc, &breached, &labels)
	if err != nil {
		t.Fatal(err)
	}
	if !created.Equal(time.Date(2026, 2, 3, 11, 6, 52, 0, time.UTC)) || goal != 3600000 || desc != "Description of SUP-5" ||
		breached != "False" || labels != `["vip","billing"]` {
		t.Fatalf("got %v %d %q %q %q", created, goal, desc, breached, labels)
	}
	var typ string
	if err := e.db.QueryRow("SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet('" + f + "')) WHERE column_name = 'satisfaction'").Scan(&typ); err != nil || typ != "BIGINT" {
		t.Fatalf("satisfaction type %q %v", typ, err)
	}
}
