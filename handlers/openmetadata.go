package handlers

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/engine/openmetadata"
	"da/views"
)

// auditOpenMetadataRefresh and auditCatalogExport record the admin OpenMetadata actions.
const (
	auditOpenMetadataRefresh = "openmetadata_refresh"
	auditCatalogExport       = "catalog_export"
)

// notConfiguredOM is the answer of the OpenMetadata actions when it is not configured.
const notConfiguredOM = "OpenMetadata is not configured: set OPENMETADATA_URL and OPENMETADATA_TOKEN"

// openMetadataJSON is a table's OpenMetadata enrichment in the catalog API.
type openMetadataJSON struct {
	FQN         string                             `json:"fqn"`
	Description string                             `json:"description"`
	Tags        []string                           `json:"tags"`
	Owners      []string                           `json:"owners"`
	Tier        string                             `json:"tier"`
	CatalogURL  string                             `json:"catalog_url"`
	Columns     map[string]openmetadata.ColumnMeta `json:"columns"`
	FetchedAt   *string                            `json:"fetched_at"`
	// Error is why the last refresh failed; the enrichment shown is then the previous one.
	Error string `json:"error,omitempty"`
}

// openMetadataOf is table id's cached enrichment for the API (nil when there is none). It
// never calls OpenMetadata; a missing or stale entry is refreshed in the background.
func (s *Server) openMetadataOf(id string) *openMetadataJSON {
	if !s.enricher.Enabled() {
		return nil
	}
	s.enricher.RefreshLater(id)
	en, ok := s.enricher.Cached(id)
	if !ok || (en.Enrichment == nil && en.Error == "") {
		return nil
	}
	out := &openMetadataJSON{FQN: en.FQN, FetchedAt: isoOrNil(en.FetchedAt), Error: en.Error,
		Tags: []string{}, Owners: []string{}, Columns: map[string]openmetadata.ColumnMeta{}}
	if e := en.Enrichment; e != nil {
		out.FQN, out.Description, out.Tier, out.CatalogURL = e.FQN, e.Description, e.Tier, e.CatalogURL
		out.Tags, out.Owners, out.Columns = e.Tags, e.Owners, e.Columns
	}
	return out
}

// openMetadataDescription is table id's cached OpenMetadata description ("" when none), for
// catalog rows whose registry entry has no description of its own.
func (s *Server) openMetadataDescription(id string) string {
	if en, ok := s.enricher.Cached(id); ok && en.Enrichment != nil {
		return en.Enrichment.Description
	}
	return ""
}

// openMetadataView is table id's cached enrichment for the table page: nil when OpenMetadata
// is not configured, or when nothing was fetched and the caller cannot refresh it.
func (s *Server) openMetadataView(id string, isAdmin bool, now time.Time) *views.OpenMetadataView {
	if !s.enricher.Enabled() {
		return nil
	}
	j := s.openMetadataOf(id)
	if j == nil {
		if !isAdmin {
			return nil
		}
		return &views.OpenMetadataView{TableID: id, CanRefresh: true, FQN: s.enricher.FQN(id)}
	}
	v := &views.OpenMetadataView{TableID: id, CanRefresh: isAdmin, FQN: j.FQN, Description: j.Description, Tags: j.Tags,
		Owners: j.Owners, Tier: j.Tier, URL: j.CatalogURL, Error: j.Error}
	if en, ok := s.enricher.Cached(id); ok && en.Enrichment != nil {
		v.Fetched, v.FetchedAgo = true, views.Ago(en.FetchedAt, now)
	}
	for name, c := range j.Columns {
		if c.Description != "" || len(c.Tags) > 0 {
			v.Columns = append(v.Columns, views.OpenMetadataColumn{Name: name, Description: c.Description, Tags: c.Tags})
		}
	}
	sort.Slice(v.Columns, func(a, b int) bool { return v.Columns[a].Name < v.Columns[b].Name })
	return v
}

// refreshOpenMetadataPage is POST /catalog/{table}/openmetadata (admin, htmx): fetch the
// table's enrichment now and answer the panel with the outcome.
func (s *Server) refreshOpenMetadataPage(c echo.Context) error {
	e, err := s.pageEntry(c)
	if err != nil {
		return err
	}
	if !s.enricher.Enabled() {
		return apiError(http.StatusServiceUnavailable, notConfiguredOM)
	}
	id := strings.ToLower(e.Table.ID)
	if err := s.audit(c, auditOpenMetadataRefresh, id, auditResultOK, nil); err != nil {
		return err
	}
	r := s.enricher.Refresh(c.Request().Context(), []string{id})[0]
	v := s.openMetadataView(id, true, time.Now().UTC())
	v.Note = "Refreshed from OpenMetadata."
	if !r.OK {
		v.Note = "The refresh failed: " + r.Error
	}
	return render(c, http.StatusOK, views.OpenMetadataPanel(v))
}

// refreshOpenMetadata is POST /api/admin/openmetadata/refresh (admin): fetch the enrichment
// of the given registered tables (all when none are given) now, and report each outcome.
func (s *Server) refreshOpenMetadata(c echo.Context) error {
	if !s.enricher.Enabled() {
		return apiError(http.StatusServiceUnavailable, notConfiguredOM)
	}
	var body openMetadataRefreshBody
	if hasBody(c.Request()) {
		if err := bindJSON(c, &body); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	ids, err := s.registeredIDs(c, body.Tables)
	if err != nil {
		return err
	}
	if err := s.audit(c, auditOpenMetadataRefresh, strings.Join(ids, ","), auditResultOK, nil); err != nil {
		return err
	}
	res := s.enricher.Refresh(ctx, ids)
	ok := 0
	for _, r := range res {
		if r.OK {
			ok++
		}
	}
	return c.JSON(http.StatusOK, openMetadataRefreshed{Results: res, Refreshed: ok, Failed: len(res) - ok})
}

// openMetadataRefreshBody is the optional body of POST /api/admin/openmetadata/refresh.
type openMetadataRefreshBody struct {
	Tables []string `json:"tables,omitempty" description:"registered table ids to refresh; all when empty"`
}

// openMetadataRefreshed is the answer of POST /api/admin/openmetadata/refresh.
type openMetadataRefreshed struct {
	Results   []openmetadata.Result `json:"results"`
	Refreshed int                   `json:"refreshed"`
	Failed    int                   `json:"failed"`
}

// registeredIDs checks that every id names a registered table (all of them when ids is
// empty), and returns them lower-cased.
func (s *Server) registeredIDs(c echo.Context, ids []string) ([]string, error) {
	tables, err := s.store.ListTables(c.Request().Context())
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	var all []string
	for _, t := range tables {
		id := strings.ToLower(t.ID)
		known[id] = true
		all = append(all, id)
	}
	if len(ids) == 0 {
		return all, nil
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.ToLower(strings.TrimSpace(id))
		if !known[id] {
			return nil, fieldInvalid("tables", "unknown table "+quoteDetail(id))
		}
		out = append(out, id)
	}
	return out, nil
}

func quoteDetail(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + s + `"`
}

// exportCatalog is POST /api/admin/catalog-export (admin): write OpenMetadata's metrics and
// the registered tables to DATA_DIR/docs (see openmetadata.Export for the file rules).
func (s *Server) exportCatalog(c echo.Context) error {
	if !s.enricher.Enabled() {
		return apiError(http.StatusServiceUnavailable, notConfiguredOM)
	}
	if err := s.audit(c, auditCatalogExport, "", auditResultOK, nil); err != nil {
		return err
	}
	res, err := openmetadata.ExportRegistered(c.Request().Context(), s.store, s.enricher, s.cfg.DataDir, s.cfg.OpenMetadata)
	if err != nil {
		s.log.Error("catalog export failed", "error", err)
		return apiError(http.StatusBadGateway, "Catalog export failed: "+err.Error())
	}
	return c.JSON(http.StatusOK, res)
}
