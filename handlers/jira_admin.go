package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/engine/connectors/jira"
	"da/views"
)

// jiraPanelData gathers the Jira panel of the admin tables page.
func (s *Server) jiraPanelData(c echo.Context, msg string) views.JiraPanelData {
	d := views.JiraPanelData{CSRF: s.csrfToken(c), Domain: s.cfg.Jira.Domain, SecretSet: s.cfg.Jira.WebhookSecret != "", Message: msg}
	if d.Domain == "" {
		d.Domain = "(not set)"
	}
	if s.jira == nil {
		return d
	}
	d.Configured, d.SLAConfigured = s.jira.Configured(), s.jira.SLAConfigured()
	st := s.jira.Queue.Stats()
	d.Received, d.Processed, d.Failed, d.Pending, d.LastError = st.Received, st.Processed, st.Failed, st.Pending, st.LastError
	if !st.LastEventAt.IsZero() {
		d.LastEvent = st.LastEventAt.Format(time.RFC3339)
	}
	if r := s.jira.LastConsistency(); r != nil {
		d.Report = &views.JiraReportView{Timestamp: r.Timestamp.Format("2006-01-02 15:04 UTC"), CheckType: r.CheckType,
			AlertLevel: r.AlertLevel, Status: r.Status, JiraCount: r.Counts.JiraAPI, JSONCount: r.Counts.RawJSON,
			ParquetCount: r.Counts.Parquet, MissingInJSON: r.Discrepancies.MissingInJSON,
			MissingInParquet: r.Discrepancies.MissingInParquet, Backfilled: r.Actions.AutoBackfilled, Note: r.Note}
	}
	if b := s.jira.CurrentBackfill(); b != nil {
		bs := b.Status()
		d.Backfill = &views.JiraBackfillView{State: bs.State, Total: bs.Total, Done: bs.Done, Failed: bs.Failed,
			Skipped: bs.Skipped, Percent: bs.Percent, Error: bs.Error}
	}
	return d
}

// showJiraPanel renders GET /admin/jira (admin): the panel fragment, polled during a backfill.
func (s *Server) showJiraPanel(c echo.Context) error {
	return render(c, http.StatusOK, views.JiraPanel(s.jiraPanelData(c, "")))
}

// startJiraBackfillPage handles POST /admin/jira/backfill (admin): the whole history, resumable.
func (s *Server) startJiraBackfillPage(c echo.Context) error {
	msg := ""
	switch {
	case s.jira == nil || !s.jira.Configured():
		return render(c, http.StatusConflict, views.JiraPanel(s.jiraPanelData(c, "Jira is not configured (JIRA_DOMAIN or JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN).")))
	default:
		if _, err := s.jira.StartBackfill(jira.BackfillOptions{}); errors.Is(err, jira.ErrBackfillRunning) {
			msg = "A backfill is already running."
		}
	}
	return render(c, http.StatusOK, views.JiraPanel(s.jiraPanelData(c, msg)))
}

// runJiraConsistencyPage handles POST /admin/jira/consistency (admin): a 30-day check now.
func (s *Server) runJiraConsistencyPage(c echo.Context) error {
	if s.jira == nil || !s.jira.Configured() {
		return render(c, http.StatusConflict, views.JiraPanel(s.jiraPanelData(c, "Jira is not configured.")))
	}
	msg := "Consistency check finished."
	if _, err := s.jira.RunConsistency(context.WithoutCancel(c.Request().Context()), false); err != nil {
		s.log.Warn("jira consistency check", "error", err)
		msg = "The consistency check failed: Jira did not answer the search."
	}
	return render(c, http.StatusOK, views.JiraPanel(s.jiraPanelData(c, msg)))
}

// runJiraSLAPollPage handles POST /admin/jira/sla-poll (admin).
func (s *Server) runJiraSLAPollPage(c echo.Context) error {
	if s.jira == nil || !s.jira.SLAConfigured() {
		return render(c, http.StatusConflict, views.JiraPanel(s.jiraPanelData(c, "The SLA account is not configured.")))
	}
	var msg string
	if r, err := s.jira.RunSLAPoll(context.WithoutCancel(c.Request().Context())); err != nil {
		msg = "The SLA poll failed."
	} else {
		msg = "SLA poll: " + strconv.Itoa(len(r.Updated)) + " updated, " + strconv.Itoa(len(r.Healed)) + " healed, " + strconv.Itoa(len(r.Failed)) + " failed."
	}
	return render(c, http.StatusOK, views.JiraPanel(s.jiraPanelData(c, msg)))
}

// jiraBackfillBody is the JSON body of POST /api/admin/jira/backfill.
type jiraBackfillBody struct {
	JQL       string   `json:"jql"`
	IssueKeys []string `json:"issue_keys"`
	Parallel  int      `json:"parallel"`
	DryRun    bool     `json:"dry_run"`
	Force     bool     `json:"force"`
}

// startJiraBackfill handles POST /api/admin/jira/backfill (admin) → 202 with the status.
func (s *Server) startJiraBackfill(c echo.Context) error {
	var body jiraBackfillBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if s.jira == nil || !s.jira.Configured() {
		return apiError(http.StatusServiceUnavailable, "Jira service not configured")
	}
	if body.Parallel < 0 || body.Parallel > 32 {
		return apiError(http.StatusUnprocessableEntity, "parallel must be between 1 and 32")
	}
	if len(body.JQL) > 4000 {
		return apiError(http.StatusUnprocessableEntity, "jql is longer than 4000 characters")
	}
	for i, k := range body.IssueKeys {
		body.IssueKeys[i] = strings.TrimSpace(k)
		if !jira.ValidKey(body.IssueKeys[i]) {
			return apiError(http.StatusUnprocessableEntity, "issue_keys: "+strconv.Quote(k)+" is not an issue key like SUP-123")
		}
	}
	b, err := s.jira.StartBackfill(jira.BackfillOptions{JQL: body.JQL, Keys: body.IssueKeys, Parallel: body.Parallel,
		DryRun: body.DryRun, Force: body.Force || len(body.IssueKeys) > 0})
	if errors.Is(err, jira.ErrBackfillRunning) {
		return apiError(http.StatusConflict, "A backfill is already running")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, b.Status())
}

// showJiraBackfill handles GET /api/admin/jira/backfill (admin): the last backfill's status.
func (s *Server) showJiraBackfill(c echo.Context) error {
	if s.jira == nil {
		return apiError(http.StatusServiceUnavailable, "Jira service not configured")
	}
	b := s.jira.CurrentBackfill()
	if b == nil {
		return apiError(http.StatusNotFound, "No backfill has run since the server started")
	}
	return c.JSON(http.StatusOK, b.Status())
}

// showJiraStatus handles GET /api/admin/jira (admin): queue, reports and backfill.
func (s *Server) showJiraStatus(c echo.Context) error {
	out := s.jiraStatus()
	if s.jira != nil {
		if r := s.jira.LastConsistency(); r != nil {
			out["consistency"] = r
		}
		if r := s.jira.Report("sla_poll"); r != nil {
			out["sla_poll"] = r
		}
		if b := s.jira.CurrentBackfill(); b != nil {
			out["backfill"] = b.Status()
		}
	}
	return c.JSON(http.StatusOK, out)
}
