package faults

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/engine/connectors/jira/jiratest"
)

const faultsJiraSecret = "faults-jira-secret"

// TestJiraKillDuringProcessing accepts a burst of webhook events, kills the server with
// SIGKILL while the queue is being worked off (the fake Jira answers slowly), restarts it and
// checks that every accepted event was applied, no shard is torn and no temporary file is
// left.
func TestJiraKillDuringProcessing(t *testing.T) {
	fake := jiratest.New()
	defer fake.Close()
	const issues = 24
	for i := 1; i <= issues; i++ {
		month := 1 + i%4
		ts := fmt.Sprintf("2026-%02d-10T10:00:00.000+0000", month)
		is := jiratest.NewIssue(fmt.Sprintf("SUP-%d", i), 100+i, ts, ts)
		is["fields"].(map[string]any)["summary"] = fmt.Sprintf("final %d", i)
		fake.Put(is)
	}
	in := newInstance(t)
	in.Env = []string{"JIRA_DOMAIN=acme.atlassian.net", "JIRA_BASE_URL=" + fake.URL, "JIRA_EMAIL=" + jiratest.Email,
		"JIRA_API_TOKEN=" + jiratest.Token, "JIRA_WEBHOOK_SECRET=" + faultsJiraSecret}
	in.StartReady()

	fake.Slow(150 * time.Millisecond)
	for i := 1; i <= issues; i++ {
		body := jiratest.Webhook("jira:issue_updated", map[string]any{"key": fmt.Sprintf("SUP-%d", i), "fields": map[string]any{}}, nil)
		req, _ := http.NewRequest("POST", in.URL()+"/webhooks/jira", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature", jiratest.Sign(faultsJiraSecret, body))
		req.Header.Set("X-Atlassian-Webhook-Identifier", fmt.Sprintf("delivery-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("event %d: HTTP %d", i, resp.StatusCode)
		}
	}
	queue := filepath.Join(in.DataDir, "extracts", "jira", "raw", "queue")
	// Kill once some, but not all, events are applied.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n := countFiles(queue); n < issues-2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	left := countFiles(queue)
	in.Kill()
	if left == 0 {
		t.Fatalf("the queue was empty before the kill: nothing was interrupted")
	}
	t.Logf("killed with %d of %d events still queued", left, issues)

	fake.Slow(0)
	in.StartReady()
	deadline = time.Now().Add(90 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if countFiles(queue) == 0 {
			res, err := in.Client().Query(context.Background(), "SELECT count(DISTINCT issue_key) AS n, count(*) FILTER (WHERE summary LIKE 'final %') AS f FROM issues", 10)
			if err == nil && len(res.Rows) == 1 {
				got = fmt.Sprint(res.Rows[0])
				if got == fmt.Sprintf("[%d %d]", issues, issues) {
					break
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != fmt.Sprintf("[%d %d]", issues, issues) {
		t.Fatalf("after restart: issues = %s, queue = %d, want [%d %d] and an empty queue", got, countFiles(queue), issues, issues)
	}
	// Every shard of every table reads whole.
	for _, tb := range []string{"issues", "comments", "attachments", "changelog", "issuelinks"} {
		res, err := in.Client().Query(context.Background(), "SELECT count(*) FROM "+tb, 10)
		if err != nil || fmt.Sprint(res.Rows[0]) != fmt.Sprintf("[%d]", issues) {
			t.Fatalf("%s: %v %v", tb, res, err)
		}
	}
	var tmps []string
	_ = filepath.Walk(filepath.Join(in.DataDir, "extracts", "jira"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			tmps = append(tmps, p)
		}
		return nil
	})
	if len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	in.Term(30 * time.Second)
	checkDBOpens(t, in.DataDir)
}

func countFiles(dir string) int {
	ents, _ := os.ReadDir(dir)
	return len(ents)
}
