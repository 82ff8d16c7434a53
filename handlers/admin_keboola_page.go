package handlers

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/engine"
	"da/engine/connectors"
	"da/engine/connectors/keboola"
	"da/store"
	"da/views"
)

// maxBrowserTables bounds the tables one browser fragment lists; a search narrows it.
const maxBrowserTables = 500

// keboolaView is the Keboola section of the admin tables page, or nil.
func (s *Server) keboolaView(c echo.Context) *views.KeboolaView {
	k := s.keboolaConnector()
	if k == nil {
		return nil
	}
	st := k.Status()
	v := &views.KeboolaView{State: st.State, Message: st.Message, Project: st.Project, URL: st.URL, CSRF: s.csrfToken(c),
		Remote: "available"}
	if !st.CheckedAt.IsZero() {
		v.CheckedAt = shortTime(st.CheckedAt)
	}
	if r := k.ExtensionUnavailable(); r != "" {
		v.Remote = r + "; tables are registered in local mode"
	}
	return v
}

// lastFigures is a finished table's sync figures for the registry list.
func lastFigures(p engine.TableProgress) string {
	if p.State != engine.SyncDone || p.Strategy == "" {
		return ""
	}
	parts := []string{p.Strategy}
	parts = append(parts, views.FormatCount(p.RowsChanged)+" rows changed")
	if p.Bytes > 0 {
		parts = append(parts, views.FormatBytes(p.Bytes))
	}
	if p.ExtractMS > 0 {
		parts = append(parts, (time.Duration(p.ExtractMS) * time.Millisecond).Round(100*time.Millisecond).String())
	}
	return strings.Join(parts, " · ")
}

// testKeboolaPage handles POST /admin/tables/keboola/test (admin): the section re-rendered
// with the fresh state (htmx), or the page.
func (s *Server) testKeboolaPage(c echo.Context) error {
	k := s.keboolaConnector()
	if k == nil {
		return apiError(http.StatusNotFound, "The Keboola connector is not built in")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	if st := k.Check(ctx); st.State == keboola.StateOK && k.CachedAt().IsZero() {
		if _, err := k.Refresh(ctx); err != nil {
			s.log.Warn("keboola: listing the tables failed", "error", err)
		}
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.KeboolaSection(*s.keboolaView(c)))
	}
	return c.Redirect(http.StatusSeeOther, "/admin/tables")
}

// keboolaBrowser builds the bucket tree of the cached discovery, filtered by q.
func (s *Server) keboolaBrowser(c echo.Context, q string) (views.KeboolaBrowser, []connectors.Discovered) {
	b := views.KeboolaBrowser{Query: q, CSRF: s.csrfToken(c), Errors: map[string]string{}}
	k := s.keboolaConnector()
	if k == nil {
		b.Error = "The Keboola connector is not built in"
		return b, nil
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), discoverTimeout)
	defer cancel()
	list, err := k.Discover(ctx)
	if err != nil {
		b.Error = err.Error()
		return b, nil
	}
	if at := k.CachedAt(); !at.IsZero() {
		b.ListedAt = shortTime(at)
	}
	registered := map[string]bool{}
	if rows, err := s.store.ListTables(ctx); err == nil {
		for _, r := range rows {
			if r.SourceType == keboola.Type {
				registered[strings.ToLower(r.Bucket+"."+r.SourceTable)] = true
				registered[strings.ToLower(r.SourceTable)] = true
			}
		}
	}
	needle := strings.ToLower(strings.TrimSpace(q))
	byBucket := map[string]*views.KeboolaBucket{}
	var order []string
	for _, d := range list {
		if needle != "" && !strings.Contains(strings.ToLower(d.ID+" "+d.Description+" "+strings.Join(d.Columns, " ")), needle) {
			continue
		}
		b.Total++
		if b.Total > maxBrowserTables {
			b.Truncated = true
			continue
		}
		bk := byBucket[d.Bucket]
		if bk == nil {
			bk = &views.KeboolaBucket{ID: d.Bucket, Name: d.BucketName}
			byBucket[d.Bucket] = bk
			order = append(order, d.Bucket)
		}
		var types []string
		for i, col := range d.Columns {
			t := "VARCHAR"
			if i < len(d.ColumnTypes) {
				t = d.ColumnTypes[i]
			}
			types = append(types, col+" "+t)
		}
		t := views.KeboolaTable{ID: d.ID, Name: d.SourceTable, Description: d.Description, Columns: len(d.Columns), Rows: d.Rows,
			PrimaryKey: strings.Join(d.PrimaryKey, ", "), Types: strings.Join(types, ", "),
			Registered: registered[strings.ToLower(d.ID)]}
		if !d.LastChange.IsZero() {
			t.LastChange = shortTime(d.LastChange)
		}
		bk.Tables = append(bk.Tables, t)
	}
	sort.Strings(order)
	for _, id := range order {
		b.Buckets = append(b.Buckets, *byBucket[id])
	}
	return b, list
}

// showKeboolaBrowser renders GET /admin/tables/keboola/browse?q= (admin): the bucket tree.
func (s *Server) showKeboolaBrowser(c echo.Context) error {
	q := c.QueryParam("q")
	if len(q) > 200 {
		return apiError(http.StatusBadRequest, "The search is too long (at most 200 characters)")
	}
	b, _ := s.keboolaBrowser(c, q)
	return render(c, http.StatusOK, views.KeboolaBrowserPanel(b))
}

// registerKeboolaPage handles POST /admin/tables/keboola/register (admin): every selected
// table is registered with the strategy, key and schedule, or none is (422 with the reasons).
func (s *Server) registerKeboolaPage(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return apiError(http.StatusBadRequest, "Invalid form")
	}
	ids := form["tables"]
	strategy, pk, schedule := c.FormValue("sync_strategy"), c.FormValue("primary_key"), c.FormValue("sync_schedule")
	b, list := s.keboolaBrowser(c, "")
	b.Strategy, b.PK, b.Schedule = strategy, pk, schedule
	fail := func(msgs []string) error {
		b.RegisterErrors = msgs
		d, err := s.adminTablesData(c, s.newTableForm(c))
		if err != nil {
			return err
		}
		if d.Keboola != nil {
			d.Keboola.Browser = &b
		}
		return render(c, http.StatusUnprocessableEntity, views.AdminTables(s.pageShell(c, "admin-tables", "Tables"), d))
	}
	if len(ids) == 0 {
		return fail([]string{"Select at least one table to register."})
	}
	if len(ids) > maxBrowserTables {
		return fail([]string{fmt.Sprintf("Register at most %d tables at once.", maxBrowserTables)})
	}
	known := map[string]connectors.Discovered{}
	for _, d := range list {
		known[d.ID] = d
	}
	var inputs []*tableInput
	var msgs []string
	seen := map[string]bool{}
	for _, id := range ids {
		d, ok := known[id]
		if !ok {
			msgs = append(msgs, fmt.Sprintf("%s: Keboola does not list this table (any more)", id))
			continue
		}
		name, src, bucket, st := d.Name, keboola.Type, d.Bucket, d.SourceTable
		in := &tableInput{Name: &name, SourceType: &src, Bucket: &bucket, SourceTable: &st, SyncStrategy: &strategy, SyncSchedule: &schedule,
			Description: &d.Description}
		in.PrimaryKey = primaryKeyField{set: true, value: pk}
		if strings.TrimSpace(pk) == "" {
			in.PrimaryKey.value = strings.Join(d.PrimaryKey, ",")
		}
		// A dry run of the validation: nothing is stored unless every table passes.
		scratch := &store.Table{}
		errs, _ := s.applyTableInput(in, scratch, true)
		for _, k := range slices.Sorted(maps.Keys(errs)) {
			msgs = append(msgs, fmt.Sprintf("%s: %s: %s", id, k, errs[k]))
		}
		if len(errs) == 0 {
			if seen[scratch.ID] {
				msgs = append(msgs, fmt.Sprintf("%s: another selected table has the name %s", id, scratch.Name))
			} else if _, err := s.store.GetTable(c.Request().Context(), scratch.ID); err == nil {
				msgs = append(msgs, fmt.Sprintf("%s: a table named %s is already registered", id, scratch.Name))
			}
			seen[scratch.ID] = true
		}
		inputs = append(inputs, in)
	}
	if len(msgs) > 0 {
		return fail(msgs)
	}
	var names []string
	for _, in := range inputs {
		t, errs, err := s.registerNew(s.auditing(c, auditTableRegister, "", map[string]any{"via": "keboola browser"}), in, currentUser(c).Email)
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			for _, k := range slices.Sorted(maps.Keys(errs)) {
				msgs = append(msgs, fmt.Sprintf("%s: %s: %s", *in.Name, k, errs[k]))
			}
			continue
		}
		names = append(names, t.Name)
	}
	if len(msgs) > 0 {
		return fail(msgs)
	}
	return s.flashRedirect(c, "/admin/tables", "Registered "+strings.Join(names, ", ")+". Press Sync now to publish them.")
}
