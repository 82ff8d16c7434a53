package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"da/engine/connectors"
	"da/engine/extract"
	"da/jobs"
	"da/store"
)

// RegistryScheduler is the cron scheduler as the registry handlers see it.
type RegistryScheduler interface {
	// Reload re-reads the schedules after a registry change.
	Reload(ctx context.Context) error
	// Next is the next scheduled run of each table.
	Next() map[string]time.Time
}

// Audit actions of the registry and sync handlers.
const (
	auditTableRegister = "table_register"
	auditTableUpdate   = "table_update"
	auditTableDelete   = "table_delete"
	auditSyncTrigger   = "sync_trigger"
)

// Limits and rules of registry fields.
var (
	syncStrategies = []string{"full_refresh", "incremental", "partitioned"}
	queryModes     = []string{extract.ModeLocal, extract.ModeRemote}
	folderRE       = regexp.MustCompile(`^[\p{L}\p{N} _.\-]{0,64}$`)
)

const (
	maxDescriptionLen = 2000
	maxSourceRefLen   = 255
	identRule         = "must start with a letter or underscore and contain only letters, digits and underscores (at most 64 characters)"
)

// primaryKeyField accepts the primary key as a comma-separated string (the API) or a list
// (the original UI sent one).
type primaryKeyField struct {
	set   bool
	value string
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *primaryKeyField) UnmarshalJSON(b []byte) error {
	p.set = true
	if string(b) == "null" {
		p.set = false
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		p.value = s
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return &json.UnmarshalTypeError{Value: "primary_key", Type: reflect.TypeOf(""), Field: "primary_key"}
	}
	p.value = strings.Join(list, ",")
	return nil
}

// tableInput is a register or edit request; nil fields were not given.
type tableInput struct {
	Name             *string         `json:"name"`
	SourceType       *string         `json:"source_type"`
	Bucket           *string         `json:"bucket"`
	SourceTable      *string         `json:"source_table"`
	Folder           *string         `json:"folder"`
	Description      *string         `json:"description"`
	QueryMode        *string         `json:"query_mode"`
	SyncStrategy     *string         `json:"sync_strategy"`
	SyncSchedule     *string         `json:"sync_schedule"`
	PrimaryKey       primaryKeyField `json:"primary_key"`
	ProfileAfterSync *bool           `json:"profile_after_sync"`
	IsPublic         *bool           `json:"is_public"`
	Dataset          *string         `json:"dataset"` // the original UI's name for the folder
	syncOptionsInput
}

// connectorsRegistry is the syncer's connector registry, or the built-in ones.
func (s *Server) connectorsRegistry() *connectors.Registry {
	if s.syncer != nil {
		return s.syncer.Connectors()
	}
	return connectors.NewRegistry(s.engine.ExtractsDir())
}

// applyTableInput validates in and merges it into t (a new row when isNew). Problems come
// back keyed by field name; t is only meaningful when there are none. The changed field
// names are returned in a stable order.
func (s *Server) applyTableInput(in *tableInput, t *store.Table, isNew bool) (map[string]string, []string) {
	errs := map[string]string{}
	var changed []string
	set := func(field string, dst *string, v string) {
		if *dst != v {
			*dst = v
			changed = append(changed, field)
		}
	}
	text := func(field string, p *string, max int) (string, bool) {
		if p == nil {
			return "", false
		}
		v := strings.TrimSpace(*p)
		switch {
		case len(v) > max:
			errs[field] = fmt.Sprintf("at most %d characters", max)
			return "", false
		case strings.ContainsFunc(v, unicode.IsControl):
			errs[field] = "must not contain control characters"
			return "", false
		}
		return v, true
	}

	if isNew {
		name := ""
		if in.Name != nil {
			name = strings.TrimSpace(*in.Name)
		}
		switch {
		case name == "":
			errs["name"] = "Table name cannot be empty"
		case !extract.ValidIdent(name):
			errs["name"] = "Table name " + identRule
		default:
			t.ID, t.Name = strings.ToLower(name), name
		}
		st := s.cfg.DataSource
		if in.SourceType != nil && strings.TrimSpace(*in.SourceType) != "" {
			st = strings.ToLower(strings.TrimSpace(*in.SourceType))
		}
		if _, ok := s.connectorsRegistry().Get(st); !ok {
			errs["source_type"] = fmt.Sprintf("unknown source %q; choose one of: %s", st, strings.Join(s.connectorsRegistry().Types(), ", "))
		} else {
			t.SourceType = st
		}
		// New tables are private until an admin makes them public or grants them.
		t.SyncStrategy, t.QueryMode, t.ProfileAfterSync, t.IsPublic = "full_refresh", extract.ModeLocal, true, false
	} else {
		if in.Name != nil && strings.TrimSpace(*in.Name) != "" {
			name := strings.TrimSpace(*in.Name)
			if !extract.ValidIdent(name) {
				errs["name"] = "Table name " + identRule
			} else if strings.ToLower(name) != t.ID {
				errs["name"] = "renaming would change the table id; register the table under the new name instead"
			} else {
				set("name", &t.Name, name)
			}
		}
		if in.SourceType != nil && !strings.EqualFold(strings.TrimSpace(*in.SourceType), t.SourceType) {
			errs["source_type"] = "the source cannot change; delete the table and register it again"
		}
	}
	if v, ok := text("bucket", in.Bucket, maxSourceRefLen); ok {
		set("bucket", &t.Bucket, v)
	}
	if v, ok := text("source_table", in.SourceTable, maxSourceRefLen); ok {
		set("source_table", &t.SourceTable, v)
	}
	if in.Folder == nil && in.Dataset != nil {
		in.Folder = in.Dataset
	}
	if v, ok := text("folder", in.Folder, 64); ok {
		if !folderRE.MatchString(v) {
			errs["folder"] = "use letters, digits, spaces, _, - and . only"
		} else {
			set("folder", &t.Folder, v)
		}
	}
	if v, ok := text("description", in.Description, maxDescriptionLen); ok {
		set("description", &t.Description, v)
	}
	if in.QueryMode != nil {
		v := strings.ToLower(strings.TrimSpace(*in.QueryMode))
		if !slices.Contains(queryModes, v) {
			errs["query_mode"] = `must be "local" or "remote"`
		} else {
			set("query_mode", &t.QueryMode, v)
		}
	}
	if c, ok := s.connectorsRegistry().Get(t.SourceType); ok && errs["query_mode"] == "" && !connectors.SupportsMode(c, t.QueryMode) {
		errs["query_mode"] = fmt.Sprintf("the %s source supports only: %s", c.Type(), strings.Join(c.Modes(), ", "))
		if r := modeRefusal(c, t.QueryMode); r != "" {
			errs["query_mode"] = r
		}
	}
	if in.SyncStrategy != nil {
		v := strings.ToLower(strings.TrimSpace(*in.SyncStrategy))
		if !slices.Contains(syncStrategies, v) {
			errs["sync_strategy"] = "must be one of " + strings.Join(syncStrategies, ", ")
		} else {
			set("sync_strategy", &t.SyncStrategy, v)
		}
	}
	if v, ok := text("sync_schedule", in.SyncSchedule, 100); ok {
		if v != "" {
			if _, err := jobs.ParseSchedule(v); err != nil {
				errs["sync_schedule"] = "invalid schedule: " + err.Error()
			}
		}
		if errs["sync_schedule"] == "" {
			set("sync_schedule", &t.SyncSchedule, v)
		}
	}
	if in.PrimaryKey.set {
		var cols []string
		for _, c := range strings.Split(in.PrimaryKey.value, ",") {
			if c = strings.TrimSpace(c); c != "" {
				cols = append(cols, c)
			}
		}
		pk := strings.Join(cols, ",")
		if len(pk) > maxSourceRefLen || strings.ContainsFunc(pk, unicode.IsControl) {
			errs["primary_key"] = "a comma-separated list of column names, at most 255 characters"
		} else {
			set("primary_key", &t.PrimaryKey, pk)
		}
	}
	if in.ProfileAfterSync != nil && *in.ProfileAfterSync != t.ProfileAfterSync {
		t.ProfileAfterSync = *in.ProfileAfterSync
		changed = append(changed, "profile_after_sync")
	}
	if in.IsPublic != nil && *in.IsPublic != t.IsPublic {
		t.IsPublic = *in.IsPublic
		changed = append(changed, "is_public")
	}
	return errs, changed
}

// validationFrom turns field errors into the 422 body.
func validationFrom(errs map[string]string) error {
	if len(errs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	v := &ValidationError{}
	for _, k := range keys {
		v.Add(k, errs[k], "value_error")
	}
	return v
}

// registryRowJSON is a registry row as the API shows it.
type registryRowJSON struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	SourceType       *string `json:"source_type"`
	Bucket           *string `json:"bucket"`
	SourceTable      *string `json:"source_table"`
	Description      *string `json:"description"`
	Folder           *string `json:"folder"`
	QueryMode        string  `json:"query_mode"`
	SyncStrategy     string  `json:"sync_strategy"`
	SyncSchedule     *string `json:"sync_schedule"`
	PrimaryKey       *string `json:"primary_key"`
	ProfileAfterSync bool    `json:"profile_after_sync"`
	IsPublic         bool    `json:"is_public"`
	RegisteredAt     *string `json:"registered_at"`
	RegisteredBy     *string `json:"registered_by"`
}

func registryJSON(t *store.Table) registryRowJSON {
	r := registryRowJSON{ID: t.ID, Name: t.Name, SourceType: optString(t.SourceType), Bucket: optString(t.Bucket),
		SourceTable: optString(t.SourceTable), Description: optString(t.Description), Folder: optString(t.Folder),
		QueryMode: t.QueryMode, SyncStrategy: t.SyncStrategy, SyncSchedule: optString(t.SyncSchedule),
		PrimaryKey: optString(t.PrimaryKey), ProfileAfterSync: t.ProfileAfterSync, IsPublic: t.IsPublic,
		RegisteredBy: optString(t.RegisteredBy)}
	if !t.RegisteredAt.IsZero() {
		at := naiveUTC(t.RegisteredAt)
		r.RegisteredAt = &at
	}
	return r
}

// listRegistry answers GET /api/admin/registry (admin): every registry row by name.
func (s *Server) listRegistry(c echo.Context) error {
	tables, err := s.store.ListTables(c.Request().Context())
	if err != nil {
		return err
	}
	sort.SliceStable(tables, func(i, j int) bool { return tables[i].Name < tables[j].Name })
	out := make([]registryRowJSON, 0, len(tables))
	for i := range tables {
		out = append(out, registryJSON(&tables[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"tables": out, "count": len(out)})
}

// registerNew validates and stores a new registry row for the admin registeredBy.
func (s *Server) registerNew(ctx context.Context, in *tableInput, registeredBy string) (*store.Table, map[string]string, error) {
	t := &store.Table{RegisteredBy: registeredBy}
	errs, _ := s.applyTableInput(in, t, true)
	opts, oerrs := applySyncOptions(in.syncOptionsInput, t, store.SyncOptions{})
	for k, v := range oerrs {
		errs[k] = v
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	if _, err := s.store.GetTable(ctx, t.ID); err == nil {
		return nil, nil, apiError(http.StatusConflict, fmt.Sprintf("Table '%s' already registered", t.ID))
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if c, ok := s.connectorsRegistry().Get(t.SourceType); ok {
		if info, served := s.engine.Catalog().Table(t.ID); served && info.Source != c.Source() {
			return nil, nil, apiError(http.StatusConflict,
				fmt.Sprintf("Table '%s' is already published by source %q; choose another name", t.ID, info.Source))
		}
		if errs := sourceHasTable(ctx, c, t); len(errs) > 0 {
			return nil, errs, nil
		}
	}
	store.NoteAudit(ctx, "source_type", t.SourceType)
	store.NoteAudit(ctx, "sync_schedule", t.SyncSchedule)
	store.NoteAudit(ctx, "is_public", t.IsPublic)
	if err := s.store.RegisterTable(ctx, t); err != nil {
		return nil, nil, err
	}
	if _, err := s.saveSyncOptions(ctx, t.ID, opts, store.SyncOptions{}); err != nil {
		return nil, nil, err
	}
	s.registryChanged(ctx)
	return t, nil, nil
}

// registerTable answers POST /api/admin/register-table (admin): 201 {id, name, status}.
func (s *Server) registerTable(c echo.Context) error {
	var in tableInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	u := currentUser(c)
	t, errs, err := s.registerNew(s.auditing(c, auditTableRegister, "", nil), &in, u.Email)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		if msg, ok := errs["name"]; ok && len(errs) == 1 && msg == "Table name cannot be empty" {
			return apiError(http.StatusUnprocessableEntity, msg)
		}
		return validationFrom(errs)
	}
	return c.JSON(http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "status": "registered"})
}

// registryParam reads the table id of /api/admin/registry/{id} and loads its row.
func (s *Server) registryParam(c echo.Context) (*store.Table, error) {
	id, err := tableParam(c, "id")
	if err != nil {
		return nil, err
	}
	t, err := s.store.GetTable(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apiError(http.StatusNotFound, "Table not found")
	}
	return t, err
}

// updateTable validates in against the stored row and saves it with its table_update audit
// entry; registered_at and registered_by are kept.
func (s *Server) updateTable(c echo.Context, t *store.Table, in *tableInput) (map[string]string, []string, error) {
	errs, changed := s.applyTableInput(in, t, false)
	cur, err := s.store.TableSyncOptions(c.Request().Context(), t.ID)
	if err != nil {
		return nil, nil, err
	}
	opts, oerrs := applySyncOptions(in.syncOptionsInput, t, cur)
	for k, v := range oerrs {
		errs[k] = v
	}
	if len(errs) > 0 {
		return errs, nil, nil
	}
	optsChanged := fmt.Sprint(opts) != fmt.Sprint(cur)
	if optsChanged {
		changed = append(changed, "sync_options")
	}
	if len(changed) == 0 {
		return nil, []string{}, nil
	}
	ctx := s.auditing(c, auditTableUpdate, t.ID, map[string]any{"updated": changed})
	if err := s.store.RegisterTable(ctx, t); err != nil {
		return nil, nil, err
	}
	if _, err := s.saveSyncOptions(ctx, t.ID, opts, cur); err != nil {
		return nil, nil, err
	}
	s.registryChanged(ctx)
	return nil, changed, nil
}

// updateRegistryTable answers PUT /api/admin/registry/{id} (admin): {id, updated: [fields]}.
func (s *Server) updateRegistryTable(c echo.Context) error {
	t, err := s.registryParam(c)
	if err != nil {
		return err
	}
	var in tableInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	errs, changed, err := s.updateTable(c, t, &in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return validationFrom(errs)
	}
	return c.JSON(http.StatusOK, map[string]any{"id": t.ID, "updated": changed})
}

// unregister deletes a table with everything that hangs on it.
func (s *Server) unregister(c echo.Context, id string) error {
	if s.syncer == nil {
		return apiError(http.StatusServiceUnavailable, "The sync service is not running")
	}
	// The store adds what it removed besides the registry row to the entry.
	_, err := s.syncer.Unregister(s.auditing(c, auditTableDelete, id, nil), id)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Table not found")
	}
	if err != nil {
		return err
	}
	s.registryChanged(c.Request().Context())
	return nil
}

// deleteRegistryTable answers DELETE /api/admin/registry/{id} (admin): 204.
func (s *Server) deleteRegistryTable(c echo.Context) error {
	t, err := s.registryParam(c)
	if err != nil {
		return err
	}
	if err := s.unregister(c, t.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// registryChanged tells the in-process scheduler about a registry change.
func (s *Server) registryChanged(ctx context.Context) {
	if s.scheduler == nil {
		return
	}
	if err := s.scheduler.Reload(context.WithoutCancel(ctx)); err != nil {
		s.log.WarnContext(ctx, "reloading the schedules failed", "error", err)
	}
}

// discoveredJSON is one table of GET /api/admin/discover-tables.
type discoveredJSON struct {
	ID           string   `json:"id"`
	TableID      string   `json:"table_id"`
	Name         string   `json:"name"`
	SourceType   string   `json:"source_type"`
	BucketID     string   `json:"bucket_id"`
	BucketName   string   `json:"bucket_name"`
	SourceTable  string   `json:"source_table"`
	Description  string   `json:"description"`
	Columns      []string `json:"columns"`
	ColumnTypes  []string `json:"column_types,omitempty"`
	RowCount     int64    `json:"row_count"`
	SizeBytes    int64    `json:"size_bytes"`
	PrimaryKey   []string `json:"primary_key"`
	LastChange   *string  `json:"last_change"`
	LastImport   *string  `json:"last_import"`
	IsRegistered bool     `json:"is_registered"`
}

// discovered is the outcome of asking every connector.
type discovered struct {
	tables []discoveredJSON
	errors []map[string]string
	labels map[string]string
}

func (s *Server) discover(ctx context.Context) (*discovered, error) {
	reg, err := s.store.ListTables(ctx)
	if err != nil {
		return nil, err
	}
	registered := map[string]bool{}
	for _, t := range reg {
		registered[strings.ToLower(t.ID)] = true
	}
	out := &discovered{tables: []discoveredJSON{}, errors: []map[string]string{}, labels: map[string]string{}}
	for _, c := range s.connectorsRegistry().All() {
		out.labels[c.Type()] = c.Label()
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		list, err := c.Discover(dctx)
		cancel()
		if notConfigured(err) {
			continue
		}
		if err != nil {
			out.errors = append(out.errors, map[string]string{"source": c.Type(), "error": err.Error()})
			continue
		}
		for _, d := range list {
			tid := strings.ToLower(d.Name)
			j := discoveredJSON{ID: d.ID, TableID: tid, Name: d.Name, SourceType: c.Type(), BucketID: d.Bucket,
				BucketName: d.BucketName, SourceTable: d.SourceTable, Description: d.Description, Columns: d.Columns, ColumnTypes: d.ColumnTypes,
				RowCount: d.Rows, SizeBytes: d.SizeBytes, PrimaryKey: d.PrimaryKey, LastChange: isoOrNil(d.LastChange),
				LastImport: isoOrNil(d.LastImport), IsRegistered: registered[tid]}
			if j.Columns == nil {
				j.Columns = []string{}
			}
			if j.PrimaryKey == nil {
				j.PrimaryKey = []string{}
			}
			out.tables = append(out.tables, j)
		}
	}
	return out, nil
}

// discoverTables answers GET /api/admin/discover-tables (admin): what every configured source
// could publish, each marked is_registered. 200 even when no external source is configured.
func (s *Server) discoverTables(c echo.Context) error {
	d, err := s.discover(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"tables": d.tables, "count": len(d.tables), "total": len(d.tables),
		"source": s.cfg.DataSource, "errors": d.errors})
}

// discoverTimeout bounds the source listing that checks a new registration.
const discoverTimeout = 20 * time.Second

// sourceHasTable checks a new registration against what the source lists (every connector
// can list its tables): a table the source does not have would fail every sync, so it is
// refused with the field to fix and some tables the source does have.
func sourceHasTable(ctx context.Context, c connectors.Connector, t *store.Table) map[string]string {
	field, want := "source_table", t.SourceTable
	if want == "" {
		field, want = "name", t.Name
	}
	dctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	list, err := c.Discover(dctx)
	cancel()
	if notConfigured(err) {
		// A built-in source without settings yet takes registrations as they come (the
		// original's clients register that way); its syncs say what to configure.
		return nil
	}
	if err != nil {
		return map[string]string{field: fmt.Sprintf("could not list the tables of the %s source to check %q: %v", c.Label(), want, err)}
	}
	var names []string
	for _, d := range list {
		st := d.SourceTable
		if st == "" {
			st = d.Name
		}
		bucketOK := t.Bucket == "" || strings.EqualFold(t.Bucket, d.Bucket) || strings.EqualFold(t.Bucket, d.BucketName)
		if bucketOK && (strings.EqualFold(st, want) || strings.EqualFold(d.ID, want) || strings.EqualFold(d.Name, want)) {
			return nil
		}
		names = append(names, st)
	}
	msg := fmt.Sprintf("the %s source has no table %q", c.Label(), want)
	if t.Bucket != "" {
		msg += " in bucket " + strconv.Quote(t.Bucket)
	}
	if len(names) == 0 {
		return map[string]string{field: msg + " (it lists no tables yet)"}
	}
	sort.Strings(names)
	if len(names) > 8 {
		names = append(names[:8], "…")
	}
	return map[string]string{field: msg + "; it has: " + strings.Join(names, ", ")}
}
