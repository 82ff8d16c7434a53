package jira_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"da/engine/connectors/jira"
	"da/engine/connectors/jira/jiratest"
)

func TestSLAPollHealsDoneIssue(t *testing.T) {
	e := newEnv(t)
	e.proc.SLA = jira.NewClient(e.fake.SLABaseURL(), jiratest.Email, jiratest.Token)
	for i, k := range []string{"SUP-1", "SUP-2"} {
		is := jiratest.NewIssue(k, 100+i, "2026-02-03T12:00:00.000+0000", "2026-02-04T10:00:00.000+0000")
		e.fake.Put(is)
		e.event("jira:issue_created", jiratest.Webhook("jira:issue_created", is, nil))
	}
	// Jira closed SUP-1 without a webhook reaching us; SUP-2's clock ran on.
	e.fake.SetSLA("SUP-1", map[string]any{
		"status":            map[string]any{"name": "Done", "statusCategory": map[string]any{"name": "Done"}},
		"resolutiondate":    "2026-02-05T09:00:00.000+0000",
		"customfield_10161": jiratest.SLA(true, 14400000, 20000000, false),
	})
	e.fake.SetSLA("SUP-2", map[string]any{"customfield_10328": jiratest.SLA(false, 3600000, 900000, true)})
	r, err := e.proc.PollSLA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Candidates != 2 || len(r.Healed) != 1 || r.Healed[0] != "SUP-1" || len(r.Updated) != 1 {
		t.Fatalf("report %+v", r)
	}
	if n := e.count("issues", "2026-02", "issue_key = 'SUP-1' AND status_category = 'Done' AND time_to_resolution_breached = 'True' AND resolved_at IS NOT NULL"); n != 1 {
		t.Fatalf("SUP-1 not healed")
	}
	if n := e.count("issues", "2026-02", "issue_key = 'SUP-2' AND first_response_elapsed_millis = 900000"); n != 1 {
		t.Fatalf("SUP-2 SLA not updated")
	}
	// A healed issue is no longer a candidate.
	r, _ = e.proc.PollSLA(context.Background())
	if r.Candidates != 1 {
		t.Fatalf("candidates after healing = %d", r.Candidates)
	}
}

func TestConsistencyCheckBackfillsMissingIssues(t *testing.T) {
	e := newEnv(t)
	e.fake.PageSize = 2 // several pages of search/jql
	now := time.Now().UTC()
	created := now.AddDate(0, 0, -3).Format("2006-01-02T15:04:05.000-0700")
	for i := 1; i <= 7; i++ {
		is := jiratest.NewIssue(fmt.Sprintf("SUP-%d", i), 100+i, created, created)
		e.fake.Put(is)
		if i <= 4 {
			e.event("jira:issue_created", jiratest.Webhook("jira:issue_created", is, nil))
		}
	}
	e.fake.Delete("SUP-7") // deleted in Jira after we never saw it: not missing
	r, err := e.proc.CheckConsistency(context.Background(), "SUP", 30, true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Discrepancies.MissingInJSON) != "[SUP-5 SUP-6]" {
		t.Fatalf("missing = %v", r.Discrepancies.MissingInJSON)
	}
	e.fake.Put(jiratest.NewIssue("SUP-7", 107, created, created))
	r, err = e.proc.CheckConsistency(context.Background(), "SUP", 30, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Discrepancies.MissingInJSON) != 1 || r.Status != "success" || r.AlertLevel != "INFO" {
		t.Fatalf("report %+v", r)
	}
	if e.fake.Requests("POST search") < 4 {
		t.Fatalf("search was not paged: %d requests", e.fake.Requests("POST search"))
	}
	if n := e.count("issues", "*", ""); n != 7 {
		t.Fatalf("issues after backfill = %d, want 7", n)
	}
	if got := e.store.LastConsistencyReport(); got == nil || got.Counts.JiraAPI != 7 {
		t.Fatalf("report on disk: %+v", got)
	}
}

func TestConsistencyCheckFindsThreeMissing(t *testing.T) {
	e := newEnv(t)
	created := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02T15:04:05.000-0700")
	for i := 1; i <= 5; i++ {
		is := jiratest.NewIssue(fmt.Sprintf("SUP-%d", i), 100+i, created, created)
		e.fake.Put(is)
		if i <= 2 {
			e.event("jira:issue_created", jiratest.Webhook("jira:issue_created", is, nil))
		}
	}
	r, err := e.proc.CheckConsistency(context.Background(), "SUP", 30, true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Discrepancies.MissingInJSON) != "[SUP-3 SUP-4 SUP-5]" || fmt.Sprint(r.Actions.AutoBackfilled) != "[SUP-3 SUP-4 SUP-5]" {
		t.Fatalf("report %+v", r)
	}
	if n := e.count("issues", "*", ""); n != 5 {
		t.Fatalf("issues = %d, want 5", n)
	}
}

func TestBackfillResumes(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 12; i++ {
		e.fake.Put(jiratest.NewIssue(fmt.Sprintf("SUP-%d", i), 100+i, "2026-01-10T10:00:00.000+0000", "2026-01-10T10:00:00.000+0000"))
	}
	e.fake.PageSize = 5
	b := &jira.Backfill{}
	e.proc.RunBackfill(context.Background(), jira.BackfillOptions{Project: "SUP", Parallel: 3}, b)
	if st := b.Status(); st.State != "done" || st.Done != 12 || st.Percent != 100 {
		t.Fatalf("status %+v", st)
	}
	b2 := &jira.Backfill{}
	e.proc.RunBackfill(context.Background(), jira.BackfillOptions{Project: "SUP"}, b2)
	if st := b2.Status(); st.Skipped != 12 || st.Done != 0 {
		t.Fatalf("rerun did not skip loaded issues: %+v", st)
	}
	if n := e.count("issues", "2026-01", ""); n != 12 {
		t.Fatalf("issues = %d", n)
	}
}

// BenchmarkBackfill measures backfill throughput against the in-process fake (issues/s).
func BenchmarkBackfill(b *testing.B) {
	const n = 200
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		for k := 1; k <= n; k++ {
			month := 1 + k%6
			ts := fmt.Sprintf("2025-%02d-10T10:00:00.000+0000", month)
			e.fake.Put(jiratest.NewIssue(fmt.Sprintf("SUP-%d", k), 1000+k, ts, ts))
		}
		b.StartTimer()
		start := time.Now()
		bf := &jira.Backfill{}
		e.proc.RunBackfill(context.Background(), jira.BackfillOptions{Project: "SUP", Parallel: 16}, bf)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "issues/s")
		if st := bf.Status(); st.Done != n {
			b.Fatalf("backfill %+v", st)
		}
	}
}
