package handlers

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// Activity center limits.
const (
	activityPageSize  = 50
	activityExportMax = 100_000 // rows in one CSV export
	activitySyncRows  = 200
)

// activityFilter reads the activity center's filters. Non-admins always see their own
// entries only, whatever user they ask for.
func activityFilter(c echo.Context) (store.AuditFilter, views.ActivityFilter, url.Values, string) {
	u := currentUser(c)
	admin := auth.Role(u.Role) == auth.RoleAdmin
	vf := views.ActivityFilter{Action: strings.TrimSpace(c.QueryParam("action")), From: strings.TrimSpace(c.QueryParam("from")),
		To: strings.TrimSpace(c.QueryParam("to")), Query: strings.TrimSpace(c.QueryParam("q"))}
	f := store.AuditFilter{Action: vf.Action, Search: vf.Query, Kind: store.AuditEvents}
	if c.QueryParam("tab") == "requests" {
		vf.Requests, f.Kind = true, store.AuditRequests
	}
	if admin {
		vf.UserID = strings.TrimSpace(c.QueryParam("user"))
		f.UserID = vf.UserID
	} else {
		f.UserID = u.ID
	}
	var problems []string
	if vf.From != "" {
		t, err := time.Parse(auditSinceDateLayout, vf.From)
		if err != nil {
			problems = append(problems, "From must be a date such as 2026-01-31")
		}
		f.Since = t
	}
	if vf.To != "" {
		t, err := time.Parse(auditSinceDateLayout, vf.To)
		if err != nil {
			problems = append(problems, "To must be a date such as 2026-01-31")
		} else {
			f.Before = t.AddDate(0, 0, 1) // the whole "to" day
		}
	}
	if !f.Since.IsZero() && !f.Before.IsZero() && !f.Since.Before(f.Before) {
		problems = append(problems, "From must not be after To")
	}
	q := url.Values{}
	tab := ""
	if vf.Requests {
		tab = "requests"
	}
	for k, v := range map[string]string{"user": vf.UserID, "action": vf.Action, "from": vf.From, "to": vf.To, "q": vf.Query, "tab": tab} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return f, vf, q, strings.Join(problems, "; ")
}

// userEmails maps user ids to e-mails for display.
func (s *Server) userEmails(c echo.Context) (map[string]string, []views.PermUser, error) {
	users, err := s.store.ListUsers(c.Request().Context())
	if err != nil {
		return nil, nil, err
	}
	m := make(map[string]string, len(users))
	list := make([]views.PermUser, 0, len(users))
	for i := range users {
		m[users[i].ID] = users[i].Email
		list = append(list, permUser(&users[i]))
	}
	return m, list, nil
}

func emailOr(m map[string]string, id string) string {
	if id == "" {
		return "anonymous"
	}
	if e, ok := m[id]; ok {
		return e
	}
	return id + " (deleted)"
}

// showActivity renders GET /activity-center (viewer+): the audit log (admins: everyone's,
// others: their own) with filters and 50 rows a page, or ?tab=sync the sync history.
func (s *Server) showActivity(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	admin := auth.Role(u.Role) == auth.RoleAdmin
	d := views.ActivityData{Tab: c.QueryParam("tab"), IsAdmin: admin}
	sh := s.pageShell(c, "activity", "Activity")
	if d.Tab == "sync" {
		hist, err := s.store.ListSyncHistory(ctx, "", activitySyncRows)
		if err != nil {
			return err
		}
		readable, err := s.principals.ReadableTables(ctx, u)
		if err != nil {
			return err
		}
		for _, h := range hist {
			if !readable.Has(h.TableID) {
				continue
			}
			d.Sync = append(d.Sync, views.SyncRow{Time: shortTime(h.SyncedAt), TableID: h.TableID,
				Rows: views.FormatCount(h.Rows), Duration: views.FormatCount(h.DurationMS), Status: h.Status, Error: h.Error})
		}
		return render(c, http.StatusOK, views.Activity(sh, d))
	}
	f, vf, q, problem := activityFilter(c)
	d.Filter, d.Query, d.Error = vf, q.Encode(), problem
	emails, users, err := s.userEmails(c)
	if err != nil {
		return err
	}
	if admin {
		d.Users = users
		d.Actions, err = s.store.AuditActions(ctx, "")
	} else {
		d.Actions, err = s.store.AuditActions(ctx, u.ID)
	}
	if err != nil {
		return err
	}
	// The action picker offers what the tab lists: events or request rows.
	kept := d.Actions[:0]
	for _, a := range d.Actions {
		if strings.Contains(a, " /") == vf.Requests {
			kept = append(kept, a)
		}
	}
	d.Actions = kept
	d.Page = 1
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 1 {
		d.Page = p
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusUnprocessableEntity
		return render(c, status, views.Activity(sh, d))
	}
	total, err := s.store.CountAudit(ctx, f)
	if err != nil {
		return err
	}
	d.Total = total
	d.Pages = max(1, (total+activityPageSize-1)/activityPageSize)
	d.Page = min(d.Page, d.Pages)
	f.Limit, f.Offset = activityPageSize, (d.Page-1)*activityPageSize
	entries, err := s.store.QueryAudit(ctx, f)
	if err != nil {
		return err
	}
	for _, e := range entries {
		d.Rows = append(d.Rows, activityRow(e, emails))
	}
	return render(c, status, views.Activity(sh, d))
}

// exportActivity answers GET /activity-center/export.csv (viewer+): the filtered audit rows
// (the same scope as the page), up to 100,000, as CSV with formula-like cells neutralised.
func (s *Server) exportActivity(c echo.Context) error {
	f, _, _, problem := activityFilter(c)
	if problem != "" {
		return apiError(http.StatusUnprocessableEntity, problem)
	}
	emails, _, err := s.userEmails(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="activity-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"timestamp", "user_id", "user_email", "action", "resource", "result", "duration_ms", "client_ip", "params"})
	f.Limit = store.MaxAuditLimit
	for f.Offset = 0; f.Offset < activityExportMax; f.Offset += f.Limit {
		entries, err := s.store.QueryAudit(ctx, f)
		if err != nil {
			// The header is sent: end the file with a clear last line rather than a bare cut.
			s.log.ErrorContext(c.Request().Context(), "activity export failed", "error", err)
			_ = w.Write([]string{"# export stopped by a server error; the file is incomplete"})
			break
		}
		for _, e := range entries {
			params := ""
			if len(e.Params) > 0 {
				b, _ := json.Marshal(e.Params)
				params = string(b)
			}
			dur := ""
			if e.DurationMS > 0 {
				dur = strconv.Itoa(e.DurationMS)
			}
			email := ""
			if e.UserID != "" {
				email = emailOr(emails, e.UserID)
			}
			rec := []string{naiveUTC(e.Timestamp), e.UserID, email, e.Action, e.Resource, e.Result, dur, e.ClientIP, params}
			for i := range rec {
				rec[i] = csvSafe(rec[i])
			}
			_ = w.Write(rec)
		}
		if len(entries) < f.Limit {
			break
		}
	}
	w.Flush()
	return w.Error()
}

// csvSafe neutralises a cell that a spreadsheet would run as a formula (=, +, -, @, tab,
// carriage return) by prefixing a single quote.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
