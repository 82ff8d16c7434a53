package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/components"
	"da/engine/query"
	"da/store"
	"da/views"
)

// sampleRowLimit is how many rows the table page's sample shows.
const sampleRowLimit = 10

// catalogRow turns an entry into its list row for a user of role.
func catalogRow(e *catalogEntry, role auth.Role) views.CatalogRow {
	r := views.CatalogRow{ID: e.Table.ID, Name: e.Table.Name, Description: e.Table.Description, Source: e.Table.SourceType,
		Folder: e.Table.Folder, QueryMode: e.Table.QueryMode, Status: e.Status(), LastSync: e.LastSync,
		Public: e.Table.IsPublic, Readable: e.Readable, Pending: e.Pending && !e.Readable, Downloadable: e.Downloadable(),
		HasProfile: e.HasProfile, CanDownload: role.AtLeast(auth.RoleAnalyst)}
	if r.Source == "" {
		r.Source = "unknown"
	}
	if e.Info != nil {
		r.Rows, r.SizeBytes = e.Info.Rows, e.Info.SizeBytes
	}
	return r
}

// matchesCatalog applies the search and filters to one row.
func matchesCatalog(r *views.CatalogRow, f views.CatalogFilters) bool {
	if f.Source != "" && r.Source != f.Source || f.Folder != "" && r.Folder != f.Folder {
		return false
	}
	switch f.Access {
	case "readable":
		if !r.Readable {
			return false
		}
	case "locked":
		if r.Readable {
			return false
		}
	case "public":
		if !r.Public {
			return false
		}
	case "private":
		if r.Public {
			return false
		}
	}
	if q := strings.ToLower(strings.TrimSpace(f.Q)); q != "" {
		if strings.Contains(strings.ToLower(r.Name), q) {
			r.Match = "name"
			return true
		}
		if i := strings.Index(strings.ToLower(r.Description), q); i >= 0 {
			r.Match, r.MatchExcerpt = "description", excerptAround(r.Description, i, len(q))
			return true
		}
		return false
	}
	return true
}

// excerptAround is up to 40 characters of s either side of the match at byte i (length n),
// with ellipses where it was cut, so a search result can show why it matched.
func excerptAround(s string, i, n int) string {
	const side = 40
	start, end := max(0, i-side), min(len(s), i+n+side)
	for start > 0 && !utf8.RuneStart(s[start]) {
		start--
	}
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	out := strings.TrimSpace(s[start:end])
	if start > 0 {
		out = "…" + out
	}
	if end < len(s) {
		out += "…"
	}
	return out
}

// catalogData builds the catalog page for the signed-in user and the filters.
func (s *Server) catalogData(ctx context.Context, u *store.User, f views.CatalogFilters) (views.CatalogData, error) {
	entries, err := s.catalogEntries(ctx, u)
	if err != nil {
		return views.CatalogData{}, err
	}
	d := views.CatalogData{Filters: f, Total: len(entries), Now: time.Now().UTC()}
	sources, folders := map[string]bool{}, map[string]bool{}
	groups := map[string]*views.CatalogGroup{}
	var keys []string
	role := auth.Role(u.Role)
	subs, err := s.store.SubscribedTables(ctx, u.ID)
	if err != nil {
		return views.CatalogData{}, err
	}
	d.Subscriptions, d.CanSync = len(subs), role.AtLeast(auth.RoleAnalyst)
	for i := range entries {
		r := catalogRow(&entries[i], role)
		r.Subscribed = subs[strings.ToLower(r.ID)]
		r.Profiling = s.profilePending(r.ID)
		if r.Readable && r.Description == "" {
			r.Description = s.openMetadataDescription(r.ID)
		}
		sources[r.Source] = true
		if r.Folder != "" {
			folders[r.Folder] = true
		}
		if r.Readable && r.LastSync.After(d.LastSync) {
			d.LastSync = r.LastSync
		}
		if !matchesCatalog(&r, f) {
			continue
		}
		d.Shown++
		key := r.Source + "/" + r.Folder
		g, ok := groups[key]
		if !ok {
			title := r.Source
			if r.Folder != "" {
				title += " / " + r.Folder
			}
			g = &views.CatalogGroup{Key: key, Title: title}
			groups[key] = g
			keys = append(keys, key)
		}
		g.Rows = append(g.Rows, r)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.Groups = append(d.Groups, *groups[k])
	}
	d.Sources, d.Folders = sortedKeys(sources), sortedKeys(folders)
	return d, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// showCatalog is GET /catalog: the whole page, or just the list for an htmx search.
func (s *Server) showCatalog(c echo.Context) error {
	f := views.CatalogFilters{Q: c.QueryParam("q"), Source: c.QueryParam("source"), Folder: c.QueryParam("folder"), Access: c.QueryParam("access")}
	if len(f.Q) > 200 {
		f.Q = f.Q[:200]
	}
	d, err := s.catalogData(c.Request().Context(), currentUser(c), f)
	if err != nil {
		return err
	}
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "catalog-list" {
		return render(c, http.StatusOK, views.CatalogList(d))
	}
	return render(c, http.StatusOK, views.Catalog(s.shell(c, "catalog", "Data catalog"), d))
}

// pageEntry resolves a table page's entry: 404 page for an unknown table, 403 page for one
// the user may not read.
func (s *Server) pageEntry(c echo.Context) (*catalogEntry, error) {
	id, err := tableParam(c, "table")
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such table")
	}
	e, err := s.readableEntry(c.Request().Context(), currentUser(c), id)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// tablePageData loads the profile of an entry for the table page.
func (s *Server) tablePageData(ctx context.Context, u *store.User, e *catalogEntry) views.CatalogTableData {
	d := views.CatalogTableData{Row: catalogRow(e, auth.Role(u.Role)), PrimaryKey: e.Table.PrimaryKey, Now: time.Now().UTC(),
		CanRefresh: e.Info != nil && e.Info.Available() && len(e.Info.Files) > 0}
	if subs, err := s.store.SubscribedTables(ctx, u.ID); err != nil {
		s.log.ErrorContext(ctx, "load subscriptions", "user", u.ID, "err", err)
	} else {
		d.Row.Subscribed, d.Subscriptions = subs[strings.ToLower(e.Table.ID)], len(subs)
	}
	if e.Readable {
		d.OpenMetadata = s.openMetadataView(e.Table.ID, auth.Role(u.Role).AtLeast(auth.RoleAdmin), d.Now)
	}
	// Read before the stored profile, so that a profile finished in between is not missed.
	d.Profiling = s.profilePending(e.Table.ID)
	d.Row.Profiling = d.Profiling
	if e.Info != nil {
		d.Columns = e.Info.Columns
	}
	doc, at, err := s.store.GetProfile(ctx, e.Table.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.log.ErrorContext(ctx, "load profile", "table", e.Table.ID, "err", err)
		d.ProfileErr = "The profile could not be loaded."
	default:
		p, err := views.DecodeProfile(doc)
		if err != nil {
			d.ProfileErr = "The stored profile is not readable; refresh it."
		} else {
			p.ProfiledAt = at
			d.Profile = p
			if d.Columns == 0 {
				d.Columns = p.ColumnCount
			}
		}
	}
	return d
}

// showCatalogTable is GET /catalog/{table}.
func (s *Server) showCatalogTable(c echo.Context) error {
	e, err := s.pageEntry(c)
	if err != nil {
		return err
	}
	d := s.tablePageData(c.Request().Context(), currentUser(c), e)
	return render(c, http.StatusOK, views.CatalogTable(s.shell(c, "catalog", e.Table.Name), d))
}

// showCatalogSample is GET /catalog/{table}/sample: up to ten rows through the sandbox, with
// the user's readable tables only; errors are shown inline.
func (s *Server) showCatalogSample(c echo.Context) error {
	e, err := s.pageEntry(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	var out views.SampleRows
	switch {
	case e.Info == nil || !e.Info.Available():
		out.Error = "No sample: the table is not served (" + e.Status() + ")."
	case len(e.Info.Files) == 0:
		out.Error = "No sample: remote tables are queried at their source."
	default:
		tables, err := s.readableQueryTables(ctx, u)
		if err != nil {
			return err
		}
		res, err := s.query.Run(ctx, query.Request{QueryID: newQueryID(), SQL: fmt.Sprintf(`SELECT * FROM "%s" LIMIT %d`, e.Info.ID, sampleRowLimit),
			Limit: sampleRowLimit, Tables: tables, UserID: u.ID, UserEmail: u.Email})
		var qe *query.Error
		switch {
		case errors.As(err, &qe):
			out.Error = qe.Error()
		case err != nil:
			s.log.ErrorContext(c.Request().Context(), "sample rows", "table", e.Info.ID, "err", err)
			out.Error = "The sample could not be loaded."
		default:
			out.Columns = res.Columns
			for _, row := range res.Rows {
				cells := make([]views.ResultCell, len(row))
				for i, v := range row {
					cells[i] = views.FormatCell(v, components.IsNumericType(res.ColumnTypes[i]))
				}
				out.Rows = append(out.Rows, cells)
			}
		}
	}
	return render(c, http.StatusOK, views.SampleTable(out))
}

// cellText shows one result value as text; NULL as "null".
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

// profilePending reports whether table id is being profiled in the background.
func (s *Server) profilePending(id string) bool {
	return s.publisher != nil && s.publisher.ProfilePending(id)
}

// showCatalogProfile is GET /catalog/{table}/profile (htmx): the profile panel, which the
// table page polls while a background profile runs.
func (s *Server) showCatalogProfile(c echo.Context) error {
	e, err := s.pageEntry(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ProfilePanel(s.tablePageData(c.Request().Context(), currentUser(c), e)))
}

// refreshCatalogProfile is POST /catalog/{table}/refresh (htmx): profile the table again and
// return the profile panel.
func (s *Server) refreshCatalogProfile(c echo.Context) error {
	e, err := s.pageEntry(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	note := ""
	switch {
	case e.Info == nil || !e.Info.Available() || len(e.Info.Files) == 0:
		note = "This table has no local data to profile."
	case s.profiler == nil:
		note = "The profiler is not available on this server."
	default:
		if _, err := s.profiler.ProfileTable(ctx, e.Info.ID); err != nil {
			s.log.ErrorContext(c.Request().Context(), "profile refresh failed", "table", e.Info.ID, "err", err)
			note = "Profiling failed: " + firstLine(err.Error())
		} else {
			note = "Profile refreshed."
		}
	}
	d := s.tablePageData(ctx, u, e)
	d.RefreshNote = note
	return render(c, http.StatusOK, views.ProfilePanel(d))
}
