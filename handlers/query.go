package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"da/auth"
	"da/engine/diskfull"
	"da/engine/query"
	"da/store"
)

// Query API limits.
const (
	defaultQueryLimit   = 1_000 // rows of POST /api/query when the body gives no limit
	defaultHistoryLimit = 50
	maxHistoryLimit     = 200
	maxSavedNameLen     = 200
	auditSQLMax         = 2_000 // characters of SQL kept in an audit entry
)

// readableQueryTables is the sandbox content for u: every available catalog table with local
// files that u may read (admins: all). Every query path goes through it, so a permission
// change takes effect on the next query.
func (s *Server) readableQueryTables(ctx context.Context, u *store.User) ([]query.Table, error) {
	readable, err := s.principals.ReadableTables(ctx, u)
	if err != nil {
		return nil, err
	}
	var out []query.Table
	for _, info := range s.engine.Catalog().List() {
		if !info.Available() || (len(info.Files) == 0 && info.EmptyView == "") || !readable.Has(info.ID) {
			continue
		}
		out = append(out, query.Table{Name: info.ID, Files: info.Files, Empty: info.EmptyView})
	}
	return out, nil
}

// queryBody is the JSON body of POST /api/query.
type queryBody struct {
	SQL     *string `json:"sql" required:"true" example:"SELECT category, sum(amount) FROM sales GROUP BY 1"`
	Limit   *int    `json:"limit" minimum:"1" example:"1000" description:"Rows to return; larger values are clamped to the server's maximum."`
	QueryID *string `json:"query_id"`
}

// queryResponse is the answer of POST /api/query.
type queryResponse struct {
	QueryID     string   `json:"query_id"`
	Columns     []string `json:"columns"`
	ColumnTypes []string `json:"column_types"`
	Rows        [][]any  `json:"rows"`
	RowCount    int      `json:"row_count"`
	Truncated   bool     `json:"truncated"`
	ElapsedMS   int64    `json:"elapsed_ms"`
}

// queryErrorStatus maps a sandbox error kind to its status code (CONTRACT "Query").
func queryErrorStatus(err error) (int, string) {
	var qe *query.Error
	if !errors.As(err, &qe) {
		return http.StatusInternalServerError, "Internal server error"
	}
	switch qe.Kind {
	case query.Engine:
		if diskfull.Is(qe) {
			// The engine spilled to disk and the disk is full: the server's fault, not the SQL's.
			return http.StatusInsufficientStorage, diskFullDetail
		}
	case query.Timeout:
		return http.StatusRequestTimeout, qe.Msg
	case query.Cancelled:
		return http.StatusConflict, qe.Msg
	}
	return http.StatusBadRequest, qe.Msg
}

// queryStatus is the query_history status of a run's outcome.
func queryStatus(err error) string {
	var qe *query.Error
	switch {
	case err == nil:
		return store.QueryOK
	case errors.As(err, &qe) && qe.Kind == query.Timeout:
		return store.QueryTimeout
	case errors.As(err, &qe) && qe.Kind == query.Cancelled:
		return store.QueryCancelled
	}
	return store.QueryError
}

// emptySQL reports whether sql holds nothing but blanks, semicolons and comments.
func emptySQL(sql string) bool {
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v;")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return true
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return false // let the engine explain the unterminated comment
			}
			s = s[i+4:]
		default:
			return s == ""
		}
	}
}

// newQueryID returns a query id for a run whose caller gave none, so that history, audit
// and cancel all name the same id.
func newQueryID() string { return uuid.NewString() }

// runOutcome is what one run did, for history and audit.
type runOutcome struct {
	QueryID string
	SQL     string
	Elapsed time.Duration
	Rows    int64
	Err     error
	Export  string // export format; "" for a plain run
}

// recordQuery writes the query_history row and the audit entry of one run. It never fails
// the query: problems are logged. It runs detached from the request so that a client that
// hangs up still leaves its trace.
func (s *Server) recordQuery(ctx context.Context, u *store.User, o runOutcome) {
	ctx = context.WithoutCancel(ctx)
	status := queryStatus(o.Err)
	s.metrics.observeQuery(o.Export != "", status, o.Elapsed, o.Rows)
	errMsg := ""
	if o.Err != nil {
		_, errMsg = queryErrorStatus(o.Err)
	}
	run := &store.QueryRun{UserID: u.ID, SQL: o.SQL, StartedAt: time.Now().UTC().Add(-o.Elapsed),
		ElapsedMS: o.Elapsed.Milliseconds(), RowCount: o.Rows, Status: status, Error: errMsg}
	params := map[string]any{"sql": truncateRunes(o.SQL, auditSQLMax), "rows": o.Rows, "status": status}
	if o.Export != "" {
		// An export is a download, not a run: it is audited but kept out of the history.
		params["export"] = o.Export
		run = nil
	}
	result := "success"
	if o.Err != nil {
		result = "failure"
		params["error"] = truncateRunes(errMsg, auditSQLMax)
	}
	entry := &store.AuditEntry{UserID: u.ID, Action: "query", Resource: o.QueryID, Params: params,
		Result: result, DurationMS: int(o.Elapsed.Milliseconds())}
	if err := s.store.QueryLog().Record(ctx, run, entry); err != nil {
		s.log.ErrorContext(ctx, "recording the query failed", "query_id", o.QueryID, "err", err)
	}
}

// truncateRunes cuts s to at most n characters without splitting a UTF-8 sequence.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// execQuery runs sql for u with the given row limit (0 = the runner's cap) and records it.
// It is shared by the API and the console page.
func (s *Server) execQuery(ctx context.Context, u *store.User, queryID, sql string, limit int) (*query.Result, error) {
	if queryID == "" {
		queryID = newQueryID()
	}
	started := time.Now()
	var res *query.Result
	tables, err := s.readableQueryTables(ctx, u)
	if err == nil {
		res, err = s.query.Run(ctx, query.Request{QueryID: queryID, SQL: sql, Limit: limit, Tables: tables,
			UserID: u.ID, UserEmail: u.Email})
	}
	var qe *query.Error
	if err != nil && !errors.As(err, &qe) {
		s.log.ErrorContext(ctx, "query failed", "query_id", queryID, "err", err)
		err = &query.Error{Kind: query.Engine, Msg: "Query error: the query could not be run"}
	}
	if err != nil {
		err = s.explainQueryError(ctx, u, err)
	}
	o := runOutcome{QueryID: queryID, SQL: sql, Elapsed: time.Since(started), Err: err}
	if res != nil {
		o.Rows, o.Elapsed = int64(res.RowCount), res.Elapsed
	}
	s.recordQuery(ctx, u, o)
	return res, err
}

// checkQuery binds sql on u's sandbox without running it (see query.Runner.Check).
func (s *Server) checkQuery(ctx context.Context, u *store.User, sql string) error {
	tables, err := s.readableQueryTables(ctx, u)
	if err == nil {
		err = s.query.Check(ctx, query.Request{SQL: sql, Tables: tables, UserID: u.ID, UserEmail: u.Email})
	}
	var qe *query.Error
	if err != nil && !errors.As(err, &qe) {
		s.log.ErrorContext(ctx, "query check failed", "err", err)
		return &query.Error{Kind: query.Engine, Msg: "Query error: the query could not be checked"}
	}
	if err != nil {
		return s.explainQueryError(ctx, u, err)
	}
	return nil
}

// explainQueryError turns the engine's "table does not exist" for a table that is in the
// registry into what really happened: the caller may not read it (with how to ask), or it
// has no data yet. Other errors pass unchanged.
func (s *Server) explainQueryError(ctx context.Context, u *store.User, err error) error {
	var qe *query.Error
	if !errors.As(err, &qe) || qe.MissingTable == "" {
		return err
	}
	id := ""
	if info, ok := s.engine.Catalog().Table(qe.MissingTable); ok {
		id = info.ID
	} else if t, gerr := s.store.GetTable(ctx, strings.ToLower(qe.MissingTable)); gerr == nil {
		id = t.ID
	} else {
		return err
	}
	readable, rerr := auth.CanAccessTable(ctx, s.store, u, id)
	if rerr != nil {
		s.log.ErrorContext(ctx, "table access check failed", "table", id, "err", rerr)
		return err
	}
	out := *qe
	if readable {
		out.Msg = fmt.Sprintf("Query error: table %s has no data yet; it appears once its first sync has finished", id)
		return &out
	}
	out.Msg = fmt.Sprintf("Query error: you don't have access to %s. Request access at /access-requests?table=%s or run `da request-access %s`", id, id, id)
	out.DeniedTable = id
	return &out
}

// runQuery is POST /api/query: one read-only statement over the caller's readable tables.
func (s *Server) runQuery(c echo.Context) error {
	var body queryBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if body.SQL == nil {
		v := &ValidationError{}
		v.Add("sql", "Field required", "missing")
		return v
	}
	limit := defaultQueryLimit
	if body.Limit != nil {
		limit = *body.Limit
		if limit < 1 {
			return fieldInvalid("limit", "Input should be greater than or equal to 1")
		}
	}
	if max := s.apiMaxRows(); limit > max {
		// Clamped: truncated is then set whenever the cut dropped rows.
		limit = max
	}
	if emptySQL(*body.SQL) {
		return apiError(http.StatusBadRequest, "Query error: the query is empty; send one SELECT statement")
	}
	id := ""
	if body.QueryID != nil {
		id = strings.TrimSpace(*body.QueryID)
	}
	u := currentUser(c)
	res, err := s.execQuery(c.Request().Context(), u, id, *body.SQL, limit)
	if err != nil {
		status, msg := queryErrorStatus(err)
		return apiError(status, msg)
	}
	return c.JSON(http.StatusOK, queryResponse{QueryID: res.QueryID, Columns: res.Columns, ColumnTypes: res.ColumnTypes,
		Rows: res.Rows, RowCount: res.RowCount, Truncated: res.Truncated, ElapsedMS: res.Elapsed.Milliseconds()})
}

// apiMaxRows is the largest limit of POST /api/query.
func (s *Server) apiMaxRows() int {
	if s.cfg.Query.APIMaxRows > 0 {
		return s.cfg.Query.APIMaxRows
	}
	return query.DefaultMaxRows
}

// consoleMaxRows is how many rows the console shows.
func (s *Server) consoleMaxRows() int {
	n := s.cfg.Query.ConsoleMaxRows
	if n <= 0 {
		n = defaultQueryLimit
	}
	if max := s.apiMaxRows(); n > max {
		n = max
	}
	return n
}

// cancelQuery is POST /api/query/:id/cancel: the caller's own query (an admin's: any). A
// cancel that overtakes the request starting its query stops that query as it starts.
func (s *Server) cancelQuery(c echo.Context) error {
	u := currentUser(c)
	cancelled := s.query.CancelAs(c.Param("id"), u.ID, auth.Role(u.Role) == auth.RoleAdmin)
	return c.JSON(http.StatusOK, map[string]bool{"cancelled": cancelled})
}

// runningQueryJSON is one entry of GET /api/admin/queries.
type runningQueryJSON struct {
	QueryID   string `json:"query_id"`
	User      string `json:"user"`
	UserID    string `json:"user_id"`
	SQL       string `json:"sql"`
	StartedAt string `json:"started_at"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// listRunningQueries is GET /api/admin/queries (admin): every query in progress, oldest first.
func (s *Server) listRunningQueries(c echo.Context) error {
	now := time.Now()
	out := []runningQueryJSON{}
	for _, r := range s.query.Running() {
		out = append(out, runningQueryJSON{QueryID: r.QueryID, User: r.UserEmail, UserID: r.UserID, SQL: r.SQL,
			StartedAt: r.StartedAt.UTC().Format(time.RFC3339Nano), ElapsedMS: now.Sub(r.StartedAt).Milliseconds()})
	}
	return c.JSON(http.StatusOK, out)
}

// killQuery is POST /api/admin/queries/:id/cancel (admin).
func (s *Server) killQuery(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]bool{"cancelled": s.query.Cancel(c.Param("id"))})
}

// exportBody is the body of POST /api/query/export (JSON or a page's form).
type exportBody struct {
	SQL    *string `json:"sql" required:"true" example:"SELECT * FROM sales"`
	Format *string `json:"format" enum:"csv,parquet,json" example:"csv"`
}

// exportContentTypes are the Content-Types of the export formats.
var exportContentTypes = map[string]string{
	query.FormatCSV:     "text/csv; charset=utf-8",
	query.FormatJSON:    "application/json",
	query.FormatParquet: "application/vnd.apache.parquet",
}

// readExportBody reads sql and format from a JSON body or a url-encoded form.
func readExportBody(c echo.Context) (sql, format string, err error) {
	var body exportBody
	if strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationForm) {
		if _, ok := c.Request().Form["sql"]; ok || c.FormValue("sql") != "" {
			v := c.FormValue("sql")
			body.SQL = &v
		}
		if c.FormValue("format") != "" {
			v := c.FormValue("format")
			body.Format = &v
		}
	} else if err := bindJSON(c, &body); err != nil {
		return "", "", err
	}
	v := &ValidationError{}
	if body.SQL == nil {
		v.Add("sql", "Field required", "missing")
	}
	if body.Format == nil {
		v.Add("format", "Field required: csv, json or parquet", "missing")
	} else if _, ok := exportContentTypes[strings.ToLower(strings.TrimSpace(*body.Format))]; !ok {
		v.Add("format", fmt.Sprintf("Input should be 'csv', 'json' or 'parquet', not %q", truncateRunes(*body.Format, 40)), "enum")
	}
	if err := v.Err(); err != nil {
		return "", "", err
	}
	return *body.SQL, strings.ToLower(strings.TrimSpace(*body.Format)), nil
}

// lazyDownload writes the download headers and 200 on the first byte, so that an error
// found before any row leaves the response free for a proper error status.
type lazyDownload struct {
	c        echo.Context
	ctype    string
	filename string
	maxRows  int
	started  bool
}

func (w *lazyDownload) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		h := w.c.Response().Header()
		h.Set(echo.HeaderContentType, w.ctype)
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s"`, w.filename))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Export-Max-Rows", strconv.Itoa(w.maxRows))
		w.c.Response().WriteHeader(http.StatusOK)
	}
	return w.c.Response().Write(p)
}

var _ io.Writer = (*lazyDownload)(nil)

// exportQuery is POST /api/query/export: the whole result (up to query.export_max_rows) as
// a streamed CSV, JSON or parquet download.
func (s *Server) exportQuery(c echo.Context) error {
	sql, format, err := readExportBody(c)
	if err != nil {
		return err
	}
	if emptySQL(sql) {
		return apiError(http.StatusBadRequest, "Query error: the query is empty; send one SELECT statement")
	}
	u := currentUser(c)
	ctx := c.Request().Context()
	id := newQueryID()
	started := time.Now()
	w := &lazyDownload{c: c, ctype: exportContentTypes[format], maxRows: s.cfg.Query.ExportMaxRows,
		filename: "query-" + time.Now().UTC().Format("20060102-150405") + "." + format}
	var n int64
	tables, err := s.readableQueryTables(ctx, u)
	if err == nil {
		n, err = s.query.Export(ctx, query.Request{QueryID: id, SQL: sql, Tables: tables, UserID: u.ID, UserEmail: u.Email}, format, w)
	}
	runErr := err
	if errors.Is(err, query.ErrExportTruncated) {
		s.log.InfoContext(c.Request().Context(), "query export stopped at the row limit", "query_id", id, "rows", n)
		runErr = nil
	}
	if runErr != nil && !w.started {
		runErr = s.explainQueryError(ctx, u, runErr)
	}
	var qe *query.Error
	if runErr != nil && !errors.As(runErr, &qe) {
		if w.started {
			s.log.WarnContext(c.Request().Context(), "query export interrupted", "query_id", id, "rows", n, "err", runErr)
		} else {
			s.log.ErrorContext(c.Request().Context(), "query export failed", "query_id", id, "err", runErr)
		}
		runErr = &query.Error{Kind: query.Engine, Msg: "Query error: the export could not be written"}
	}
	s.recordQuery(ctx, u, runOutcome{QueryID: id, SQL: sql, Elapsed: time.Since(started), Rows: n, Err: runErr, Export: format})
	if runErr != nil {
		if w.started {
			return nil // the body is already on its way; the client sees a short file
		}
		status, msg := queryErrorStatus(runErr)
		return apiError(status, msg)
	}
	if !w.started { // no byte was written (cannot happen for the three formats, but be safe)
		_, _ = w.Write(nil)
	}
	return nil
}

// historyJSON is one entry of GET /api/query/history.
type historyJSON struct {
	ID        string `json:"id"`
	SQL       string `json:"sql"`
	StartedAt string `json:"started_at"`
	ElapsedMS int64  `json:"elapsed_ms"`
	RowCount  int64  `json:"row_count"`
	Status    string `json:"status"`
	Error     string `json:"error,omitempty"`
}

// parseLimitParam reads an optional positive ?limit=; one above max is clamped to max.
func parseLimitParam(c echo.Context, def, max int) (int, error) {
	raw := c.QueryParam("limit")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(strings.TrimSpace(raw), "-") {
		n, err = max, nil
	}
	if err != nil || n < 1 {
		return 0, &ValidationError{Fields: []FieldError{{Loc: []string{"query", "limit"},
			Msg: "Input should be a whole number of at least 1", Type: "value_error"}}}
	}
	return min(n, max), nil
}

// listQueryHistory is GET /api/query/history: the caller's own runs, newest first.
func (s *Server) listQueryHistory(c echo.Context) error {
	limit, err := parseLimitParam(c, defaultHistoryLimit, maxHistoryLimit)
	if err != nil {
		return err
	}
	runs, err := s.store.ListQueryRuns(c.Request().Context(), currentUser(c).ID, limit)
	if err != nil {
		return err
	}
	out := make([]historyJSON, 0, len(runs))
	for _, r := range runs {
		out = append(out, historyJSON{ID: r.ID, SQL: r.SQL, StartedAt: r.StartedAt.UTC().Format(time.RFC3339Nano),
			ElapsedMS: r.ElapsedMS, RowCount: r.RowCount, Status: r.Status, Error: r.Error})
	}
	return c.JSON(http.StatusOK, out)
}

// savedQueryJSON is a saved query as the API shows it.
type savedQueryJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	SQL       string `json:"sql"`
	Shared    bool   `json:"shared"`
	Owner     string `json:"owner"`
	OwnerID   string `json:"owner_id"`
	IsOwner   bool   `json:"is_owner"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func savedJSON(q *store.SavedQuery, u *store.User) savedQueryJSON {
	owner := q.OwnerName
	if owner == "" && q.UserID == u.ID {
		owner = u.Name
		if owner == "" {
			owner = u.Email
		}
	}
	return savedQueryJSON{ID: q.ID, Name: q.Name, SQL: q.SQL, Shared: q.Shared, Owner: owner, OwnerID: q.UserID,
		IsOwner: q.UserID == u.ID, CreatedAt: q.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: q.UpdatedAt.UTC().Format(time.RFC3339Nano)}
}

// savedBody is the body of POST/PUT /api/queries/saved.
type savedBody struct {
	Name   *string `json:"name"`
	SQL    *string `json:"sql"`
	Shared *bool   `json:"shared"`
}

// validateSaved checks a saved query's fields; the field names are the body's.
func validateSaved(name, sql string) *ValidationError {
	v := &ValidationError{}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		v.Add("name", "Give the query a name", "missing")
	case utf8.RuneCountInString(name) > maxSavedNameLen:
		v.Add("name", fmt.Sprintf("Name must be at most %d characters", maxSavedNameLen), "string_too_long")
	case strings.ContainsAny(name, "\x00\r\n"):
		v.Add("name", "Name must be a single line", "value_error")
	}
	if emptySQL(sql) {
		v.Add("sql", "The query is empty", "missing")
	}
	return v
}

func (b *savedBody) toQuery(v *ValidationError) *store.SavedQuery {
	q := &store.SavedQuery{}
	if b.Name != nil {
		q.Name = *b.Name
	}
	if b.SQL != nil {
		q.SQL = *b.SQL
	}
	if b.Shared != nil {
		q.Shared = *b.Shared
	}
	v.Fields = append(v.Fields, validateSaved(q.Name, q.SQL).Fields...)
	return q
}

// listSavedQueries is GET /api/queries/saved: the caller's own and the shared ones.
func (s *Server) listSavedQueries(c echo.Context) error {
	u := currentUser(c)
	qs, err := s.store.ListSavedQueries(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]savedQueryJSON, 0, len(qs))
	for i := range qs {
		out = append(out, savedJSON(&qs[i], u))
	}
	return c.JSON(http.StatusOK, out)
}

// createSavedQuery is POST /api/queries/saved.
func (s *Server) createSavedQuery(c echo.Context) error {
	var body savedBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	v := &ValidationError{}
	q := body.toQuery(v)
	if err := v.Err(); err != nil {
		return err
	}
	u := currentUser(c)
	q.UserID = u.ID
	if err := s.store.SaveQuery(c.Request().Context(), q); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, savedJSON(q, u))
}

// updateSavedQuery is PUT /api/queries/saved/:id (owner only; others get 404).
func (s *Server) updateSavedQuery(c echo.Context) error {
	u := currentUser(c)
	ctx := c.Request().Context()
	id := c.Param("id")
	old, err := s.store.GetSavedQuery(ctx, u.ID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && old.UserID != u.ID) {
		return apiError(http.StatusNotFound, "Saved query not found")
	}
	if err != nil {
		return err
	}
	var body savedBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	// Fields left out keep their value, so a rename needs only the name.
	if body.Name == nil {
		body.Name = &old.Name
	}
	if body.SQL == nil {
		body.SQL = &old.SQL
	}
	if body.Shared == nil {
		body.Shared = &old.Shared
	}
	v := &ValidationError{}
	q := body.toQuery(v)
	if err := v.Err(); err != nil {
		return err
	}
	q.ID, q.UserID = id, u.ID
	if err := s.store.SaveQuery(ctx, q); errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Saved query not found")
	} else if err != nil {
		return err
	}
	q.CreatedAt = old.CreatedAt
	return c.JSON(http.StatusOK, savedJSON(q, u))
}

// deleteSavedQuery is DELETE /api/queries/saved/:id (owner only; others get 404).
func (s *Server) deleteSavedQuery(c echo.Context) error {
	err := s.store.DeleteSavedQuery(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Saved query not found")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
