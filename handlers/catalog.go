package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"da/engine"
	"da/engine/extract"
	"da/engine/profile"
	"da/store"
)

// TableProfiler profiles one served table and stores the result as its profile;
// *engine.Publisher implements it.
type TableProfiler interface {
	ProfileTable(ctx context.Context, tableID string) (*profile.Profile, error)
}

// Table statuses the catalog shows for registered tables that are not served.
const statusNotSynced = "not synced yet"

// catalogEntry is one table of the catalog as a user sees it: the registry row joined with
// what the engine serves, the caller's access and whether a profile exists.
type catalogEntry struct {
	Table      store.Table
	Info       *engine.TableInfo // nil when the engine does not serve the table
	Readable   bool
	Pending    bool // the caller has a pending access request for it
	ProfiledAt time.Time
	HasProfile bool
	LastSync   time.Time
}

// Status is "ok", or why the table is not served.
func (e *catalogEntry) Status() string {
	switch {
	case e.Info == nil:
		return statusNotSynced
	case e.Info.Available():
		return engine.StatusOK
	}
	return e.Info.Status
}

// Downloadable reports whether the table is one local parquet file the server can send.
func (e *catalogEntry) Downloadable() bool {
	return e.Info != nil && e.Info.Available() && len(e.Info.Files) == 1
}

// catalogEntries lists every registered table (and, for admins, every served table that has
// no registry row) ordered by id, with u's access computed once.
func (s *Server) catalogEntries(ctx context.Context, u *store.User) ([]catalogEntry, error) {
	readable, err := s.principals.ReadableTables(ctx, u)
	if err != nil {
		return nil, err
	}
	tables, err := s.store.ListTables(ctx)
	if err != nil {
		return nil, err
	}
	profiled, err := s.store.ListProfileTimes(ctx)
	if err != nil {
		return nil, err
	}
	states, err := s.store.ListSyncStates(ctx)
	if err != nil {
		return nil, err
	}
	lastSync := make(map[string]time.Time, len(states))
	for _, st := range states {
		lastSync[strings.ToLower(st.TableID)] = st.LastSync
	}
	pending := map[string]bool{}
	if u != nil {
		reqs, err := s.store.ListAccessRequestsByUser(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			if r.Status == store.RequestPending {
				pending[strings.ToLower(r.TableID)] = true
			}
		}
	}
	cat := s.engine.Catalog()
	seen := make(map[string]bool, len(tables))
	out := make([]catalogEntry, 0, len(tables))
	add := func(t store.Table, info *engine.TableInfo) {
		id := strings.ToLower(t.ID)
		at, has := profiled[id]
		out = append(out, catalogEntry{Table: t, Info: info, Readable: readable.Has(id), Pending: pending[id],
			ProfiledAt: at, HasProfile: has, LastSync: lastSync[id]})
	}
	for _, t := range tables {
		info, _ := cat.Table(t.ID)
		seen[strings.ToLower(t.ID)] = true
		add(t, info)
	}
	if readable.All {
		for _, info := range cat.List() {
			if seen[info.ID] {
				continue
			}
			add(store.Table{ID: info.ID, Name: info.Name, SourceType: info.Source, Description: info.Description,
				QueryMode: info.QueryMode, SyncStrategy: "full_refresh", IsPublic: false}, info)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Table.ID < out[j].Table.ID })
	}
	return out, nil
}

// tableParam reads and validates the table id of a path; ids are identifiers (lower-cased).
func tableParam(c echo.Context, name string) (string, error) {
	raw := c.Param(name)
	if !extract.ValidIdent(raw) {
		return "", apiError(http.StatusBadRequest, "Invalid table name")
	}
	return strings.ToLower(raw), nil
}

// readableEntry returns the catalog entry of id if u may read it: 404 when no such table
// exists, 403 when it exists but u may not read it.
func (s *Server) readableEntry(ctx context.Context, u *store.User, id string) (*catalogEntry, error) {
	ok, err := s.principals.CanAccessTable(ctx, u, id)
	if err != nil {
		return nil, err
	}
	reg, err := s.store.GetTable(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		reg = nil
	case err != nil:
		return nil, err
	}
	info, served := s.engine.Catalog().Table(id)
	if reg == nil && !served {
		return nil, apiError(http.StatusNotFound, "Table '"+id+"' not found")
	}
	if !ok {
		return nil, tableDenied(id)
	}
	e := &catalogEntry{Readable: true}
	if reg != nil {
		e.Table = *reg
	} else {
		e.Table = store.Table{ID: info.ID, Name: info.Name, SourceType: info.Source, Description: info.Description,
			QueryMode: info.QueryMode, SyncStrategy: "full_refresh"}
	}
	if served {
		e.Info = info
	}
	if st, err := s.store.GetSyncState(ctx, id); err == nil {
		e.LastSync = st.LastSync
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return e, nil
}

// catalogTableJSON is one table of GET /api/catalog/tables.
type catalogTableJSON struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	SourceType   string  `json:"source_type"`
	SyncStrategy string  `json:"sync_strategy"`
	QueryMode    string  `json:"query_mode"`
	Folder       string  `json:"folder"`
	Bucket       string  `json:"bucket"`
	IsPublic     bool    `json:"is_public"`
	Rows         int64   `json:"rows"`
	Columns      int     `json:"columns"`
	SizeBytes    int64   `json:"size_bytes"`
	LastSync     *string `json:"last_sync"`
	Status       string  `json:"status"`
	HasProfile   bool    `json:"has_profile"`
	Downloadable bool    `json:"downloadable"`
	// Readable is false only for the locked tables listed with ?include=locked.
	Readable bool `json:"readable"`
	// OpenMetadata is the cached enrichment from OpenMetadata, when configured and fetched.
	OpenMetadata *openMetadataJSON `json:"openmetadata,omitempty"`
}

// isoOrNil formats t as RFC 3339 UTC, or nil when zero.
func isoOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// listCatalogTables is GET /api/catalog/tables: the tables the caller may read.
func (s *Server) listCatalogTables(c echo.Context) error {
	entries, err := s.catalogEntries(c.Request().Context(), currentUser(c))
	if err != nil {
		return err
	}
	// ?include=locked adds the tables the caller cannot read (name, description and where
	// they come from only, as the catalog page shows them) so that an agent can find what to
	// request.
	withLocked := c.QueryParam("include") == "locked"
	out := []catalogTableJSON{}
	for i := range entries {
		e := &entries[i]
		if !e.Readable {
			if withLocked {
				out = append(out, catalogTableJSON{ID: e.Table.ID, Name: e.Table.Name, Description: e.Table.Description,
					SourceType: e.Table.SourceType, QueryMode: e.Table.QueryMode, Folder: e.Table.Folder, Bucket: e.Table.Bucket,
					Status: "locked"})
			}
			continue
		}
		j := catalogTableJSON{ID: e.Table.ID, Name: e.Table.Name, Description: e.Table.Description,
			SourceType: e.Table.SourceType, SyncStrategy: e.Table.SyncStrategy, QueryMode: e.Table.QueryMode,
			Folder: e.Table.Folder, Bucket: e.Table.Bucket, IsPublic: e.Table.IsPublic, LastSync: isoOrNil(e.LastSync),
			Status: e.Status(), HasProfile: e.HasProfile, Downloadable: e.Downloadable(), Readable: true}
		if e.Info != nil {
			j.Rows, j.Columns, j.SizeBytes = e.Info.Rows, e.Info.Columns, e.Info.SizeBytes
		}
		j.OpenMetadata = s.openMetadataOf(e.Table.ID)
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, map[string]any{"tables": out, "count": len(out)})
}

// showTableProfile is GET /api/catalog/profile/{table}: the stored profile plus profiled_at,
// for tables the caller may read.
func (s *Server) showTableProfile(c echo.Context) error {
	id, err := tableParam(c, "table")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.readableEntry(ctx, currentUser(c), id); err != nil {
		return err
	}
	doc, at, err := s.store.GetProfile(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Profile not found for '"+id+"'")
	}
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil {
		return err
	}
	ts, _ := json.Marshal(at.UTC().Format(time.RFC3339))
	obj["profiled_at"] = ts
	return c.JSON(http.StatusOK, obj)
}

// refreshTableProfile is POST /api/catalog/profile/{table}/refresh: profile the served table
// again and store the result.
func (s *Server) refreshTableProfile(c echo.Context) error {
	id, err := tableParam(c, "table")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	e, err := s.readableEntry(ctx, currentUser(c), id)
	if err != nil {
		return err
	}
	if e.Info == nil || !e.Info.Available() || len(e.Info.Files) == 0 {
		return apiError(http.StatusNotFound, "No parquet for '"+id+"'")
	}
	if s.profiler == nil {
		return apiError(http.StatusServiceUnavailable, "Profile failed: the profiler is not available on this server")
	}
	if _, err := s.profiler.ProfileTable(ctx, e.Info.ID); err != nil {
		s.log.ErrorContext(c.Request().Context(), "profile refresh failed", "table", id, "err", err)
		return apiError(http.StatusInternalServerError, "Profile failed: "+firstLine(err.Error()))
	}
	columns := e.Info.Columns
	if doc, _, err := s.store.GetProfile(ctx, e.Info.ID); err == nil {
		var p struct {
			ColumnCount *int              `json:"column_count"`
			Columns     []json.RawMessage `json:"columns"`
		}
		if json.Unmarshal(doc, &p) == nil {
			if p.ColumnCount != nil {
				columns = *p.ColumnCount
			} else if p.Columns != nil {
				columns = len(p.Columns)
			}
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok", "table": e.Info.ID, "columns": columns})
}

// firstLine keeps error details short and free of multi-line engine output.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// metricPathRE is the shape of a metric file path: <category>/<name>.yml. Unlike the
// original, digits are allowed (catalog exports write such names).
var metricPathRE = regexp.MustCompile(`^[a-z0-9_]+/[a-z0-9_]+\.ya?ml$`)

// showMetric is GET /api/catalog/metrics/{path}: a metric definition from
// DATA_DIR/docs/metrics, parsed from YAML and returned as JSON.
func (s *Server) showMetric(c echo.Context) error {
	rel := c.Param("*")
	if !metricPathRE.MatchString(rel) {
		return apiError(http.StatusBadRequest, "Invalid metric path")
	}
	root, err := filepath.Abs(filepath.Join(s.engine.DataDir(), "docs", "metrics"))
	if err != nil {
		return err
	}
	path := filepath.Join(root, filepath.FromSlash(rel))
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, os.ErrNotExist) {
		return apiError(http.StatusNotFound, "Metric file not found")
	}
	if err != nil {
		return err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return apiError(http.StatusNotFound, "Metric file not found")
	}
	if r, err := filepath.Rel(realRoot, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return apiError(http.StatusBadRequest, "Invalid path")
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() {
		return apiError(http.StatusNotFound, "Metric file not found")
	}
	if fi.Size() > 1<<20 {
		return apiError(http.StatusUnprocessableEntity, "Metric file is larger than 1 MiB")
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return err
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return apiError(http.StatusUnprocessableEntity, "Error parsing metric: "+firstLine(err.Error()))
	}
	return c.JSON(http.StatusOK, jsonable(doc))
}

// jsonable converts YAML's decoded values to ones encoding/json accepts (map keys as text).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[toString(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return v
}

func toString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.Trim(string(b), `"`)
}

// deniedTable marks a 403 caused by a missing table grant (not a role): the error page then
// offers to request access to that table.
type deniedTable struct{ id string }

func (d deniedTable) Error() string { return "no grant on table " + d.id }

// tableDenied is the 403 for a table the caller may not read.
func tableDenied(id string) error {
	return echo.NewHTTPError(http.StatusForbidden, "Access denied to this table").SetInternal(deniedTable{id: id})
}
