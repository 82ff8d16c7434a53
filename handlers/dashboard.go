package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// Dashboard list sizes.
const (
	dashboardSyncs   = 8
	dashboardQueries = 8
	queryRunsScanned = 500 // recent runs read to count this week's queries
)

// subscriptionData lists the user's readable tables with their subscription state; it backs
// the dashboard's datasets card and the settings fragment.
// dashboardRequests bounds the decided requests shown next to the pending ones.
const dashboardRequests = 8

func (s *Server) subscriptionData(ctx context.Context, u *store.User, d *views.DashboardData) ([]catalogEntry, error) {
	entries, err := s.catalogEntries(ctx, u)
	if err != nil {
		return nil, err
	}
	subs, err := s.store.ListSyncSettings(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	on := map[string]bool{}
	for _, st := range subs {
		on[st.Dataset] = st.Enabled
	}
	d.CanSync = auth.Role(u.Role).AtLeast(auth.RoleAnalyst)
	for i := range entries {
		e := &entries[i]
		if !e.Readable {
			continue
		}
		ds := views.DashboardDataset{ID: e.Table.ID, Name: e.Table.Name, Status: e.Status(), LastSync: e.LastSync,
			Subscribed: on[strings.ToLower(e.Table.ID)]}
		if ds.Subscribed {
			d.Subscribed++
		}
		if e.Info != nil {
			ds.Rows = e.Info.Rows
		}
		d.Datasets = append(d.Datasets, ds)
		d.Tables++
		d.TotalRows += ds.Rows
		if e.LastSync.After(lastSyncTime(d)) {
			d.LastSync = e.LastSync.UTC().Format("2006-01-02 15:04 UTC")
		}
	}
	return entries, nil
}

func lastSyncTime(d *views.DashboardData) time.Time {
	t, _ := time.Parse("2006-01-02 15:04 UTC", d.LastSync)
	return t
}

// showDashboard is GET /dashboard: the user's datasets with freshness and subscriptions,
// recent syncs, recent queries, access requests and the CLI set-up.
func (s *Server) showDashboard(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	d := views.DashboardData{Health: "healthy", Now: time.Now().UTC()}
	if _, err := s.subscriptionData(ctx, u, &d); err != nil {
		return err
	}
	stats, err := s.store.DataStats(ctx, staleAfter)
	if err != nil {
		return err
	}
	if len(stats.Stale) > 0 {
		d.Health = "degraded"
	}
	if !d.CanSync {
		if d.Admins, err = s.adminContacts(ctx); err != nil {
			return err
		}
	}
	readable, err := s.principals.ReadableTables(ctx, u)
	if err != nil {
		return err
	}
	failing, err := s.store.FailingTables(ctx)
	if err != nil {
		return err
	}
	for _, f := range failing {
		if readable.Has(f.TableID) {
			d.Failing = append(d.Failing, f.TableID)
		}
	}
	if len(d.Failing) > 0 && d.Health == "healthy" {
		d.Health = "degraded"
	}
	hist, err := s.store.ListSyncHistory(ctx, "", 100)
	if err != nil {
		return err
	}
	for _, h := range hist {
		if len(d.RecentSyncs) == dashboardSyncs {
			break
		}
		if readable.Has(h.TableID) {
			d.RecentSyncs = append(d.RecentSyncs, views.DashboardSync{TableID: h.TableID, Status: h.Status, Rows: h.Rows, At: h.SyncedAt})
		}
	}
	runs, err := s.store.ListQueryRuns(ctx, u.ID, queryRunsScanned)
	if err != nil {
		return err
	}
	weekAgo := d.Now.Add(-7 * 24 * time.Hour)
	for _, q := range runs {
		if q.StartedAt.After(weekAgo) {
			d.QueriesWeek++
		}
		if len(d.RecentQueries) < dashboardQueries {
			d.RecentQueries = append(d.RecentQueries, views.DashboardQuery{SQL: truncateRunes(q.SQL, 200), Status: q.Status, Rows: q.RowCount, At: q.StartedAt})
		}
	}
	mine, err := s.store.ListAccessRequestsByUser(ctx, u.ID)
	if err != nil {
		return err
	}
	// Pending requests, and the decisions of the last two weeks so the requester sees them.
	decidedSince := time.Now().Add(-14 * 24 * time.Hour)
	for _, r := range mine {
		switch {
		case r.Status == store.RequestPending:
			d.MyRequests = append(d.MyRequests, views.DashboardRequest{TableID: r.TableID, Status: r.Status, At: r.CreatedAt})
		case r.ReviewedAt != nil && r.ReviewedAt.After(decidedSince) && len(d.MyRequests) < dashboardRequests:
			d.MyRequests = append(d.MyRequests, views.DashboardRequest{TableID: r.TableID, Status: r.Status, At: *r.ReviewedAt, ReviewedBy: r.ReviewedBy})
		}
	}
	if auth.Role(u.Role) == auth.RoleAdmin {
		queue, err := s.store.ListPendingAccessRequests(ctx)
		if err != nil {
			return err
		}
		d.PendingRequests = len(queue)
	}
	return render(c, http.StatusOK, views.Dashboard(s.shell(c, "dashboard", "Dashboard"), d))
}

// showSubscriptions is GET /settings/subscriptions: the subscription toggles of every table
// the user can read, as a fragment for the settings page.
func (s *Server) showSubscriptions(c echo.Context) error {
	d := views.DashboardData{Now: time.Now().UTC()}
	if _, err := s.subscriptionData(c.Request().Context(), currentUser(c), &d); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Subscriptions(d))
}

// toggleSubscription is POST /settings/subscriptions (form: dataset, enabled): subscribe to or
// unsubscribe from one readable table; answers with the new toggle.
func (s *Server) toggleSubscription(c echo.Context) error {
	name := store.NormalizeDataset(c.FormValue("dataset"))
	enabled := c.FormValue("enabled") == "true"
	if name == "" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "dataset is required")
	}
	ok, _, err := s.subscribable(c, map[string]bool{name: enabled})
	if err != nil {
		return err
	}
	if len(ok) == 0 {
		return echo.NewHTTPError(http.StatusForbidden, "You cannot read the table '"+name+"'")
	}
	ctx := c.Request().Context()
	if err := s.store.SetSyncSettings(ctx, currentUser(c).ID, ok); err != nil {
		return err
	}
	subs, err := s.store.SubscribedTables(ctx, currentUser(c).ID)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.SubscriptionToggleAnswer(name, enabled, len(subs)))
}
