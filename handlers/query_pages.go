package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/components"
	"da/engine/query"
	"da/store"
	"da/views"
)

// schemaSQL lists the columns of every view in the caller's sandbox, which holds exactly the
// tables they may read.
const schemaSQL = `SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'main' ORDER BY table_name, ordinal_position`

// schemaCache keeps the column lists of sandbox table sets. The key names every table with
// its files and data hash, so new data or a different table set is a new entry.
type schemaCache struct {
	mu      sync.Mutex
	entries map[string]map[string][]views.QueryColumn
}

const schemaCacheMax = 64

var columnsCache = &schemaCache{entries: map[string]map[string][]views.QueryColumn{}}

func (c *schemaCache) get(key string) (map[string][]views.QueryColumn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.entries[key]
	return m, ok
}

func (c *schemaCache) put(key string, m map[string][]views.QueryColumn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= schemaCacheMax {
		c.entries = map[string]map[string][]views.QueryColumn{}
	}
	c.entries[key] = m
}

// schemaTables is the schema browser's content for u: readable tables with their columns.
func (s *Server) schemaTables(ctx context.Context, u *store.User) ([]views.QueryTable, string, error) {
	tables, err := s.readableQueryTables(ctx, u)
	if err != nil {
		return nil, "", err
	}
	if len(tables) == 0 {
		return nil, "", nil
	}
	cat := s.engine.Catalog()
	var key strings.Builder
	out := make([]views.QueryTable, 0, len(tables))
	for _, t := range tables {
		info, _ := cat.Table(t.Name)
		qt := views.QueryTable{ID: t.Name}
		key.WriteString(t.Name)
		if info != nil {
			qt.Rows, qt.Description = info.Rows, info.Description
			key.WriteString("@" + info.Hash)
		}
		key.WriteString("=" + strings.Join(t.Files, ",") + ";")
		out = append(out, qt)
	}
	cols, ok := columnsCache.get(key.String())
	if !ok {
		res, err := s.query.Run(ctx, query.Request{SQL: schemaSQL, Tables: tables, UserID: u.ID, UserEmail: u.Email})
		if err != nil {
			s.log.WarnContext(ctx, "schema browser: columns unavailable", "err", err)
			return out, "Column lists could not be loaded; tables can still be queried.", nil
		}
		cols = map[string][]views.QueryColumn{}
		for _, r := range res.Rows {
			if len(r) != 3 {
				continue
			}
			tn, _ := r[0].(string)
			cn, _ := r[1].(string)
			ty, _ := r[2].(string)
			cols[tn] = append(cols[tn], views.QueryColumn{Name: cn, Type: ty})
		}
		columnsCache.put(key.String(), cols)
	}
	for i := range out {
		out[i].Columns = cols[out[i].ID]
	}
	return out, "", nil
}

// historyItems is the user's recent runs for the console.
func (s *Server) historyItems(ctx context.Context, u *store.User) ([]views.QueryHistoryItem, error) {
	runs, err := s.store.ListQueryRuns(ctx, u.ID, 30)
	if err != nil {
		return nil, err
	}
	out := make([]views.QueryHistoryItem, 0, len(runs))
	for _, r := range runs {
		out = append(out, views.QueryHistoryItem{ID: r.ID, SQL: r.SQL, Status: r.Status, Error: r.Error,
			When: r.StartedAt.UTC().Format("Jan 2 15:04 UTC"), Rows: r.RowCount, ElapsedMS: r.ElapsedMS})
	}
	return out, nil
}

// savedItems is the saved queries u may see.
func (s *Server) savedItems(ctx context.Context, u *store.User) ([]views.SavedQueryItem, error) {
	qs, err := s.store.ListSavedQueries(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]views.SavedQueryItem, 0, len(qs))
	for _, q := range qs {
		out = append(out, views.SavedQueryItem{ID: q.ID, Name: q.Name, SQL: q.SQL, Owner: q.OwnerName, Shared: q.Shared, Own: q.UserID == u.ID})
	}
	return out, nil
}

// showQueryConsole is GET /query: the console, optionally prefilled from ?table= or ?saved=.
func (s *Server) showQueryConsole(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	tables, schemaErr, err := s.schemaTables(ctx, u)
	if err != nil {
		return err
	}
	history, err := s.historyItems(ctx, u)
	if err != nil {
		return err
	}
	saved, err := s.savedItems(ctx, u)
	if err != nil {
		return err
	}
	sh := s.shell(c, "query", "Query console")
	d := views.QueryPageData{Tables: tables, SchemaError: schemaErr, History: history, Saved: views.SavedPanelData{Items: saved},
		MaxRows: s.consoleMaxRows(), IsAdmin: auth.Role(u.Role) == auth.RoleAdmin, CSRF: sh.CSRF}
	if id := strings.TrimSpace(c.QueryParam("table")); id != "" {
		found := false
		for _, t := range tables {
			if strings.EqualFold(t.ID, id) {
				d.InitialSQL, d.InitialSource, found = "SELECT * FROM "+quoteIdent(t.ID)+" LIMIT 100", "table", true
				break
			}
		}
		if !found {
			d.Notice = "That table does not exist or you may not read it."
		}
	}
	if id := strings.TrimSpace(c.QueryParam("saved")); id != "" {
		q, err := s.store.GetSavedQuery(ctx, u.ID, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			d.Notice = "That saved query does not exist or is not shared with you."
		case err != nil:
			return err
		default:
			d.InitialSQL, d.InitialSource = q.SQL, "saved"
		}
	}
	return render(c, http.StatusOK, views.Query(sh, d))
}

// quoteIdent double-quotes a table id for the editor when it is not a plain identifier.
func quoteIdent(id string) string {
	plain := id != ""
	for i, r := range id {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9')) {
			plain = false
			break
		}
	}
	if plain {
		return id
	}
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}

// runQueryPage is POST /query/run (htmx): the result fragment. Query errors are shown
// inline with status 200; only CSRF and role failures are 4xx.
func (s *Server) runQueryPage(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	sql := c.FormValue("sql")
	d := views.QueryResultData{QueryID: strings.TrimSpace(c.FormValue("query_id")), Limit: s.consoleMaxRows()}
	if emptySQL(sql) {
		d.Error, d.ErrorKind = "Query error: the query is empty; write one SELECT statement.", "invalid"
	} else if c.FormValue("check") == "1" {
		// Before an export: bind the statement without running it. Valid: 204 and the
		// browser starts the download; invalid: the same inline error a run shows.
		err := s.checkQuery(ctx, u, sql)
		if err == nil {
			return c.NoContent(http.StatusNoContent)
		}
		var qe *query.Error
		d.Error, d.ErrorKind = err.Error(), "engine"
		if errors.As(err, &qe) {
			d.ErrorKind, d.DeniedTable = qe.Kind.String(), qe.DeniedTable
		}
	} else {
		started := time.Now()
		res, err := s.execQuery(ctx, u, d.QueryID, sql, d.Limit)
		if err != nil {
			var qe *query.Error
			d.Error, d.ErrorKind = err.Error(), "engine"
			if errors.As(err, &qe) {
				d.ErrorKind, d.DeniedTable = qe.Kind.String(), qe.DeniedTable
			}
			if d.ErrorKind == "cancelled" {
				// Cancel is the user's own action, not an error of the query.
				d.Error = fmt.Sprintf("Cancelled after %.1f s", time.Since(started).Seconds())
			}
		} else {
			fillResult(&d, res, components.ChartOptionsFromSQL(sql))
		}
	}
	h, err := s.historyItems(ctx, u)
	if err != nil {
		return err
	}
	d.History = h
	return render(c, http.StatusOK, views.QueryResult(d))
}

// fillResult formats a result for the grid and lays out its chart.
func fillResult(d *views.QueryResultData, res *query.Result, opt components.ChartOptions) {
	d.QueryID, d.RowCount, d.Truncated, d.ElapsedMS = res.QueryID, res.RowCount, res.Truncated, res.Elapsed.Milliseconds()
	numeric := make([]bool, len(res.Columns))
	for i, name := range res.Columns {
		numeric[i] = components.IsNumericType(res.ColumnTypes[i])
		d.Columns = append(d.Columns, views.ResultColumn{Name: name, Type: res.ColumnTypes[i], Numeric: numeric[i]})
	}
	d.Rows = make([][]views.ResultCell, 0, len(res.Rows))
	for _, r := range res.Rows {
		row := make([]views.ResultCell, len(r))
		for i, v := range r {
			row[i] = views.FormatCell(v, numeric[i])
		}
		d.Rows = append(d.Rows, row)
	}
	d.Chart, d.ChartReason = components.ChartFor(res.Columns, res.ColumnTypes, res.Rows, opt)
	if d.Chart != nil {
		// The controls post the data back, so it must fit in a request body.
		if b, err := json.Marshal(chartData{Columns: res.Columns, Types: res.ColumnTypes, Rows: res.Rows}); err == nil && len(b) < 900_000 {
			d.ChartData = string(b)
		}
	}
}

// chartData is a chartable result as the chart controls post it back.
type chartData struct {
	Columns []string `json:"columns"`
	Types   []string `json:"types"`
	Rows    [][]any  `json:"rows"`
}

// renderQueryChart is POST /query/chart (htmx): the chart of a result the console already
// has (posted back by the chart controls, at most components.ChartMaxRows rows), drawn with
// the chosen type, x column, series and scale. It runs no query.
func (s *Server) renderQueryChart(c echo.Context) error {
	var data chartData
	if err := json.Unmarshal([]byte(c.FormValue("data")), &data); err != nil || len(data.Columns) == 0 {
		return fieldInvalid("data", "Input should be the result the chart was drawn from")
	}
	if len(data.Types) != len(data.Columns) || len(data.Columns) > 200 || len(data.Rows) > components.ChartMaxRows {
		return fieldInvalid("data", fmt.Sprintf("Input should have one type per column and at most %d rows", components.ChartMaxRows))
	}
	for _, r := range data.Rows {
		if len(r) != len(data.Columns) {
			return fieldInvalid("data", "Input should have one value per column in every row")
		}
	}
	form, _ := c.FormParams()
	opt := components.ChartOptions{Type: c.FormValue("type"), X: c.FormValue("x"), Series: form["series"], Axis: c.FormValue("axis")}
	d := views.QueryChartData{Data: c.FormValue("data"), Chosen: true}
	d.Spec, d.Reason = components.ChartFor(data.Columns, data.Types, data.Rows, opt)
	if d.Spec == nil {
		// The choice does not fit this result: show the automatic chart instead.
		d.Spec, d.Reason = components.ChartFor(data.Columns, data.Types, data.Rows, components.ChartOptions{})
	}
	return render(c, http.StatusOK, views.QueryChart(d))
}

// savedPanel renders the saved-queries panel with the given overrides.
func (s *Server) savedPanel(c echo.Context, status int, d views.SavedPanelData) error {
	items, err := s.savedItems(c.Request().Context(), currentUser(c))
	if err != nil {
		return err
	}
	d.Items = items
	return render(c, status, views.SavedPanel(d))
}

// formErrors turns a validation error into inline messages by field.
func formErrors(v *ValidationError) map[string]string {
	m := map[string]string{}
	for _, f := range v.Fields {
		if len(f.Loc) > 0 {
			m[f.Loc[len(f.Loc)-1]] = f.Msg
		}
	}
	return m
}

// createSavedQueryPage is POST /query/saved (htmx): save the editor's SQL under a name.
func (s *Server) createSavedQueryPage(c echo.Context) error {
	name, sql, shared := c.FormValue("name"), c.FormValue("sql"), c.FormValue("shared") == "true"
	if v := validateSaved(name, sql); v.Err() != nil {
		return s.savedPanel(c, http.StatusUnprocessableEntity, views.SavedPanelData{
			Form: views.SaveQueryForm{Name: name, Shared: shared, Errors: formErrors(v)}})
	}
	q := &store.SavedQuery{UserID: currentUser(c).ID, Name: name, SQL: sql, Shared: shared}
	if err := s.store.SaveQuery(c.Request().Context(), q); err != nil {
		return err
	}
	return s.savedPanel(c, http.StatusOK, views.SavedPanelData{Flash: "Saved “" + q.Name + "”"})
}

// updateSavedQueryPage is POST /query/saved/:id (htmx): rename or edit one's own query.
func (s *Server) updateSavedQueryPage(c echo.Context) error {
	id := c.Param("id")
	name, sql, shared := c.FormValue("name"), c.FormValue("sql"), c.FormValue("shared") == "true"
	if v := validateSaved(name, sql); v.Err() != nil {
		return s.savedPanel(c, http.StatusUnprocessableEntity, views.SavedPanelData{EditID: id, EditErrors: formErrors(v)})
	}
	q := &store.SavedQuery{ID: id, UserID: currentUser(c).ID, Name: name, SQL: sql, Shared: shared}
	if err := s.store.SaveQuery(c.Request().Context(), q); errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Saved query not found")
	} else if err != nil {
		return err
	}
	return s.savedPanel(c, http.StatusOK, views.SavedPanelData{Flash: "Updated “" + q.Name + "”"})
}

// deleteSavedQueryPage is POST /query/saved/:id/delete (htmx).
func (s *Server) deleteSavedQueryPage(c echo.Context) error {
	err := s.store.DeleteSavedQuery(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Saved query not found")
	}
	if err != nil {
		return err
	}
	return s.savedPanel(c, http.StatusOK, views.SavedPanelData{Flash: "Deleted"})
}

// runningItems is the admin view of the queries in progress.
func (s *Server) runningItems() []views.RunningQueryItem {
	now := time.Now()
	running := s.query.Running()
	sort.SliceStable(running, func(i, j int) bool { return running[i].StartedAt.Before(running[j].StartedAt) })
	out := make([]views.RunningQueryItem, 0, len(running))
	for _, r := range running {
		out = append(out, views.RunningQueryItem{QueryID: r.QueryID, User: r.UserEmail, SQL: r.SQL,
			Started: r.StartedAt.UTC().Format(time.RFC3339), Seconds: int64(now.Sub(r.StartedAt).Seconds())})
	}
	return out
}

// showRunningQueries is GET /query/running (admin, htmx): the running-queries list.
func (s *Server) showRunningQueries(c echo.Context) error {
	return render(c, http.StatusOK, views.RunningQueries(s.runningItems()))
}

// killRunningQuery is POST /query/running/:id/cancel (admin, htmx): kill, then the list.
func (s *Server) killRunningQuery(c echo.Context) error {
	s.query.Cancel(c.Param("id"))
	return render(c, http.StatusOK, views.RunningQueries(s.runningItems()))
}

// console.js toggles these classes at run time: rotate-90 opacity-50 flex hidden
