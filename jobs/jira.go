package jobs

import (
	"context"
)

// JiraJobs is what the Jira jobs drive (the connector's service).
type JiraJobs interface {
	// SLAConfigured reports whether the SLA account is set (the poll needs it).
	SLAConfigured() bool
	// PollSLA refreshes the SLA fields of open issues.
	PollSLA(ctx context.Context) error
	// CheckConsistency compares Jira with the stored issues and backfills a few missing
	// ones; deep covers the whole history instead of 30 days.
	CheckConsistency(ctx context.Context, deep bool) error
}

// Schedules of the Jira jobs.
const (
	JiraSLAPollSchedule     = "@every 5m"
	JiraConsistencySchedule = "0 */6 * * *" // every 6 h, 30 days deep
	JiraDeepCheckSchedule   = "0 3 * * 0"   // Sundays 03:00 UTC, the full history
)

// JiraTasks are the Jira connector's periodic jobs: the SLA poll (when its account is set),
// the 6-hourly consistency check and the weekly deep check.
func JiraTasks(j JiraJobs) []Task {
	tasks := []Task{
		{Name: "jira_consistency", Schedule: JiraConsistencySchedule, Run: func(ctx context.Context) error { return j.CheckConsistency(ctx, false) }},
		{Name: "jira_consistency_deep", Schedule: JiraDeepCheckSchedule, Run: func(ctx context.Context) error { return j.CheckConsistency(ctx, true) }},
	}
	if j.SLAConfigured() {
		tasks = append(tasks, Task{Name: "jira_sla_poll", Schedule: JiraSLAPollSchedule, Run: j.PollSLA})
	}
	return tasks
}
