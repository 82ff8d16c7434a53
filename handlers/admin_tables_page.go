package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"da/engine"
	"da/engine/connectors"
	"da/engine/connectors/keboola"
	"da/store"
	"da/views"
)

// syncJobView maps a job to its view.
func syncJobView(j *engine.SyncJob) views.SyncJobView {
	done, failed, total := j.Counts()
	v := views.SyncJobView{ID: j.ID, Status: j.Status, Error: j.Error, Trigger: j.Trigger, Finished: j.Finished(),
		Done: done, Failed: failed, Total: total}
	for _, t := range j.Tables {
		v.Tables = append(v.Tables, views.SyncTableView{ID: t.ID, State: t.State, Reason: t.Reason, Warning: t.Warning, Rows: t.Rows})
	}
	return v
}

// tableFormOf is the edit form of a stored row.
func tableFormOf(t *store.Table) views.TableForm {
	return views.TableForm{Editing: t.ID, Name: t.Name, SourceType: t.SourceType, Bucket: t.Bucket, SourceTable: t.SourceTable,
		Folder: t.Folder, Description: t.Description, QueryMode: t.QueryMode, SyncStrategy: t.SyncStrategy,
		PrimaryKey: t.PrimaryKey, Schedule: t.SyncSchedule, Public: t.IsPublic, ProfileAfterSync: t.ProfileAfterSync,
		Errors: map[string]string{}}
}

// adminTablesData gathers the page: registry rows with their last sync, the sources and form.
func (s *Server) adminTablesData(c echo.Context, form views.TableForm) (views.AdminTablesData, error) {
	ctx := c.Request().Context()
	d := views.AdminTablesData{CSRF: s.csrfToken(c), Form: form, Registered: []views.RegistryRow{}, Keboola: s.keboolaView(c)}
	kbc := s.keboolaConnector()
	for _, conn := range s.connectorsRegistry().All() {
		d.Sources = append(d.Sources, views.SourceOption{Type: conn.Type(), Label: conn.Label(),
			Remote: connectors.SupportsMode(conn, "remote")})
	}
	tables, err := s.store.ListTables(ctx)
	if err != nil {
		return d, err
	}
	// Failures and changes survive restarts in sync_history; this process's jobs are newer.
	history, err := s.store.ListSyncHistory(ctx, "", 500)
	if err != nil {
		return d, err
	}
	lastHist := map[string]store.SyncHistory{}
	for _, h := range history {
		if _, ok := lastHist[h.TableID]; !ok {
			lastHist[h.TableID] = h
		}
	}
	var latest map[string]engine.LatestProgress
	if s.syncer != nil {
		latest = s.syncer.LatestByTable()
	}
	var next map[string]string
	if s.scheduler != nil {
		next = map[string]string{}
		for id, t := range s.scheduler.Next() {
			if !t.IsZero() {
				next[id] = shortTime(t)
			}
		}
	}
	cat := s.engine.Catalog()
	for _, t := range tables {
		r := views.RegistryRow{ID: t.ID, Name: t.Name, SourceType: t.SourceType, Folder: t.Folder, Description: t.Description,
			QueryMode: t.QueryMode, SyncStrategy: t.SyncStrategy, Schedule: t.SyncSchedule, NextRun: next[t.ID], Public: t.IsPublic}
		if info, ok := cat.Table(t.ID); ok {
			r.Served, r.Rows = true, info.Rows
		}
		if h, ok := lastHist[t.ID]; ok {
			r.LastAt = shortTime(h.SyncedAt)
			r.LastStatus = engine.SyncDone
			if h.Status == store.SyncStatusError {
				r.LastStatus, r.LastError = engine.SyncFailed, h.Error
			}
		}
		r.NotConfigured = t.SourceType == keboola.Type && kbc != nil && !kbc.Configured()
		if lp, ok := latest[t.ID]; ok {
			p := lp.Progress
			r.LastFigures = lastFigures(p)
			if !p.Finished() || p.FinishedAt.After(lastHist[t.ID].SyncedAt) {
				r.LastStatus, r.LastError = p.State, p.Reason
				if p.Finished() {
					r.LastAt = shortTime(p.FinishedAt)
				} else {
					r.LastAt, r.Busy = "", true
				}
			}
		}
		d.Registered = append(d.Registered, r)
	}
	if id := c.QueryParam("job"); id != "" && s.syncer != nil {
		if j, ok := s.syncer.Job(id); ok {
			v := syncJobView(j)
			d.Job = &v
		}
	}
	return d, nil
}

// newTableForm is the register form's defaults, pre-filled from the query (?name=&source_type=
// from a discovered table's Register link).
func (s *Server) newTableForm(c echo.Context) views.TableForm {
	f := views.TableForm{Name: c.QueryParam("name"), SourceType: c.QueryParam("source_type"), Bucket: c.QueryParam("bucket"),
		SourceTable: c.QueryParam("source_table"), Description: c.QueryParam("description"), Folder: c.QueryParam("folder"),
		QueryMode: "local", SyncStrategy: "full_refresh", Public: false, ProfileAfterSync: true, Errors: map[string]string{}}
	if f.SourceType == "" {
		f.SourceType = s.cfg.DataSource
	}
	return f
}

// showAdminTables renders GET /admin/tables (admin); ?edit=<id> shows that table's edit form.
func (s *Server) showAdminTables(c echo.Context) error {
	form := s.newTableForm(c)
	if id := strings.ToLower(c.QueryParam("edit")); id != "" {
		t, err := s.store.GetTable(c.Request().Context(), id)
		if err == nil {
			form = tableFormOf(t)
			o, err := s.store.TableSyncOptions(c.Request().Context(), t.ID)
			if err != nil {
				return err
			}
			form.Columns, form.PartitionBy, form.PartitionGrain = strings.Join(o.Columns, ", "), o.PartitionBy, o.PartitionGrain
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return s.renderAdminTables(c, http.StatusOK, form)
}

func (s *Server) renderAdminTables(c echo.Context, status int, form views.TableForm) error {
	d, err := s.adminTablesData(c, form)
	if err != nil {
		return err
	}
	return render(c, status, views.AdminTables(s.pageShell(c, "admin-tables", "Tables"), d))
}

// formInput reads the register/edit form into a tableInput; unchecked boxes mean false.
func formInput(c echo.Context, editing bool) (*tableInput, views.TableForm) {
	v := func(k string) *string { s := c.FormValue(k); return &s }
	in := &tableInput{Folder: v("folder"), Description: v("description"), QueryMode: v("query_mode"),
		SyncStrategy: v("sync_strategy"), SyncSchedule: v("sync_schedule")}
	in.PrimaryKey = primaryKeyField{set: true, value: c.FormValue("primary_key")}
	pub, prof := c.FormValue("is_public") == "true", c.FormValue("profile_after_sync") == "true"
	in.IsPublic, in.ProfileAfterSync = &pub, &prof
	// The extraction settings are on the form only for sources that read them.
	if _, ok := c.Request().PostForm["partition_by"]; ok && (editing || strings.EqualFold(c.FormValue("source_type"), "keboola")) {
		cols := splitComma(c.FormValue("columns"))
		in.Columns, in.PartitionBy, in.PartitionGrain = &cols, v("partition_by"), v("partition_grain")
	}
	if !editing {
		in.Name, in.SourceType, in.Bucket, in.SourceTable = v("name"), v("source_type"), v("bucket"), v("source_table")
	}
	f := views.TableForm{Name: c.FormValue("name"), SourceType: c.FormValue("source_type"), Bucket: c.FormValue("bucket"),
		SourceTable: c.FormValue("source_table"), Folder: *in.Folder, Description: *in.Description, QueryMode: *in.QueryMode,
		SyncStrategy: *in.SyncStrategy, PrimaryKey: in.PrimaryKey.value, Schedule: *in.SyncSchedule, Public: pub,
		ProfileAfterSync: prof, Errors: map[string]string{}, Columns: c.FormValue("columns"), PartitionBy: c.FormValue("partition_by"),
		PartitionGrain: c.FormValue("partition_grain")}
	return in, f
}

// submitRegisterTable handles POST /admin/tables/register (admin): 303 on success, the page
// with inline errors (422) otherwise.
func (s *Server) submitRegisterTable(c echo.Context) error {
	in, form := formInput(c, false)
	t, errs, err := s.registerNew(s.auditing(c, auditTableRegister, "", map[string]any{"via": "page"}), in, currentUser(c).Email)
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusConflict {
		form.Errors["name"] = he.Message.(string)
		return s.renderAdminTables(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		form.Errors = errs
		return s.renderAdminTables(c, http.StatusUnprocessableEntity, form)
	}
	return s.flashRedirect(c, "/admin/tables", "Registered "+t.Name+". Press Sync now to publish it.")
}

// submitEditTable handles POST /admin/tables/{id} (admin): the edit form.
func (s *Server) submitEditTable(c echo.Context) error {
	t, err := s.registryParam(c)
	if err != nil {
		return err
	}
	in, form := formInput(c, true)
	form.Editing, form.Name, form.SourceType = t.ID, t.Name, t.SourceType
	errs, _, err := s.updateTable(c, t, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		form.Errors = errs
		return s.renderAdminTables(c, http.StatusUnprocessableEntity, form)
	}
	return s.flashRedirect(c, "/admin/tables", "Saved "+t.Name+".")
}

// deleteTablePage handles POST /admin/tables/{id}/delete (admin), from the confirm dialog.
func (s *Server) deleteTablePage(c echo.Context) error {
	t, err := s.registryParam(c)
	if err != nil {
		return err
	}
	if err := s.unregister(c, t.ID); err != nil {
		return err
	}
	return s.flashRedirect(c, "/admin/tables", "Deleted "+t.Name+"; it is no longer served.")
}

// syncPage starts a job from the page: htmx gets the live progress fragment, a plain form
// post is redirected to the page showing it.
func (s *Server) syncPage(c echo.Context, tables []string) error {
	job, err := s.startSync(c, engine.SyncRequest{Tables: tables})
	var busy *engine.BusyError
	if errors.As(err, &busy) {
		j, ok := s.syncer.Job(busy.JobID)
		if !ok {
			return apiError(http.StatusConflict, "Already being synced")
		}
		job, err = j, nil
	}
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.SyncProgress(syncJobView(job)))
	}
	return c.Redirect(http.StatusSeeOther, "/admin/tables?job="+url.QueryEscape(job.ID))
}

// syncTablePage handles POST /admin/tables/{id}/sync (admin): Sync now.
func (s *Server) syncTablePage(c echo.Context) error {
	t, err := s.registryParam(c)
	if err != nil {
		return err
	}
	return s.syncPage(c, []string{t.ID})
}

// syncAllPage handles POST /admin/tables/sync (admin): sync every registered table.
func (s *Server) syncAllPage(c echo.Context) error { return s.syncPage(c, nil) }

// showSyncJobFragment renders GET /admin/tables/jobs/{id} (admin): the progress fragment the
// page polls every second while the job runs.
func (s *Server) showSyncJobFragment(c echo.Context) error {
	if s.syncer == nil {
		return apiError(http.StatusServiceUnavailable, "The sync service is not running")
	}
	j, ok := s.syncer.Job(c.Param("id"))
	if !ok {
		return apiError(http.StatusNotFound, "Sync job not found")
	}
	if j.Finished() && isHTMX(c) {
		d, err := s.adminTablesData(c, views.TableForm{})
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.SyncProgressFinished(syncJobView(j), d))
	}
	return render(c, http.StatusOK, views.SyncProgress(syncJobView(j)))
}

// showDiscovered renders GET /admin/tables/discover (admin): the discovery fragment.
func (s *Server) showDiscovered(c echo.Context) error {
	d, err := s.discover(c.Request().Context())
	if err != nil {
		return err
	}
	out := views.DiscoveredData{}
	for _, e := range d.errors {
		out.Errors = append(out.Errors, e["source"]+": "+e["error"])
	}
	for _, t := range d.tables {
		q := url.Values{"name": {t.Name}, "source_type": {t.SourceType}, "description": {t.Description}}
		if t.SourceTable != "" && t.SourceTable != t.Name {
			q.Set("source_table", t.SourceTable)
		}
		if t.BucketID != "" {
			q.Set("bucket", t.BucketID)
		}
		out.Tables = append(out.Tables, views.DiscoveredRow{SourceType: t.SourceType, SourceLabel: d.labels[t.SourceType], ID: t.ID,
			Name: t.Name, Bucket: t.BucketID, Description: t.Description, Rows: t.RowCount, Columns: len(t.Columns),
			Registered: t.IsRegistered, RegisterURL: "/admin/tables?" + q.Encode() + "#register-panel"})
	}
	sort.SliceStable(out.Tables, func(i, j int) bool {
		return out.Tables[i].Registered != out.Tables[j].Registered && !out.Tables[i].Registered
	})
	return render(c, http.StatusOK, views.Discovered(out))
}

// splitComma splits a comma-separated form value into its trimmed, non-empty parts.
func splitComma(v string) []string {
	out := []string{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
