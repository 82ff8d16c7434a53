package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/engine"
	"da/store"
)

// manifestTable is one table of GET /api/sync/manifest.
type manifestTable struct {
	Hash      string  `json:"hash"`
	Updated   *string `json:"updated"`
	SizeBytes int64   `json:"size_bytes"`
	Rows      int64   `json:"rows"`
	Columns   int     `json:"columns"`
	QueryMode string  `json:"query_mode"`
	// Downloadable is false for remote tables (no local data) and for tables stored as
	// several parquet files, which GET /api/data/{id}/download refuses with 409.
	Downloadable bool `json:"downloadable"`
}

// showManifest is GET /api/sync/manifest: every served table the caller may read, with a
// content hash that changes exactly when the data changes, plus asset hashes.
func (s *Server) showManifest(c echo.Context) error {
	ctx := c.Request().Context()
	readable, err := s.principals.ReadableTables(ctx, currentUser(c))
	if err != nil {
		return err
	}
	states, err := s.store.ListSyncStates(ctx)
	if err != nil {
		return err
	}
	lastSync := make(map[string]time.Time, len(states))
	for _, st := range states {
		lastSync[st.TableID] = st.LastSync
	}
	cat := s.engine.Catalog()
	tables := make(map[string]manifestTable, len(cat.Tables))
	for id, t := range cat.Tables {
		if !readable.Has(id) {
			continue
		}
		updated := lastSync[id]
		if updated.IsZero() {
			updated = t.ExtractedAt
		}
		tables[id] = manifestTable{Hash: t.Hash, Updated: isoOrNil(updated), SizeBytes: t.SizeBytes, Rows: t.Rows,
			Columns: t.Columns, QueryMode: t.QueryMode, Downloadable: t.Available() && len(t.Files) == 1}
	}
	assets := map[string]any{}
	if h, ok := docsHash(filepath.Join(s.engine.DataDir(), "docs")); ok {
		assets["docs"] = map[string]string{"hash": h}
	}
	profiles, err := s.store.ListProfileTimes(ctx)
	if err != nil {
		return err
	}
	if h, ok := profilesHash(profiles, readable); ok {
		assets["profiles"] = map[string]string{"hash": h}
	}
	return c.JSON(http.StatusOK, map[string]any{"tables": tables, "assets": assets,
		"server_time": time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")})
}

// docsHash is the original's docs asset hash: the newest modification time under dir, in
// whole seconds. ok is false when dir does not exist.
func docsHash(dir string) (string, bool) {
	if _, err := os.Stat(dir); err != nil {
		return "", false
	}
	var newest int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Unix() > newest {
			newest = fi.ModTime().Unix()
		}
		return nil
	})
	return strconv.FormatInt(newest, 10), true
}

// profilesHash digests which readable tables have a profile and when it was made, so that a
// client refetches profiles exactly when one it may see changed. ok is false when there are
// none.
func profilesHash(times map[string]time.Time, readable *auth.Readable) (string, bool) {
	ids := make([]string, 0, len(times))
	for id := range times {
		if readable.Has(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "", false
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		_, _ = io.WriteString(h, id+"\x00"+times[id].UTC().Format(time.RFC3339Nano)+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))[:32], true
}

// downloadTable is GET /api/data/{table_id}/download: the table's parquet file with a strong
// ETag from the content hash, conditional requests (304), byte ranges (206) and the kernel's
// file copy. The file is found only through the engine catalog, never from the request path.
func (s *Server) downloadTable(c echo.Context) error {
	id, err := tableParam(c, "table_id")
	if err != nil {
		return err
	}
	info, err := s.downloadableTable(c.Request().Context(), currentUser(c), id)
	if err != nil {
		return err
	}
	if !info.Available() || len(info.Files) == 0 {
		return apiError(http.StatusNotFound, "Table '"+id+"' not found")
	}
	if len(info.Files) > 1 {
		return apiError(http.StatusConflict, "Table '"+id+"' is stored as "+strconv.Itoa(len(info.Files))+
			" parquet files and cannot be downloaded as one file; query it with da query --remote or POST /api/query/export")
	}
	f, err := os.Open(info.Files[0])
	if errors.Is(err, os.ErrNotExist) {
		// A rebuild replaced the file after this catalog snapshot was read.
		return apiError(http.StatusNotFound, "Table '"+id+"' not found")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/octet-stream")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+info.ID+`.parquet"`)
	h.Set("ETag", downloadETag(info.Hash, fi))
	if info.Hash != "" {
		// The whole file's CRC-32C (RFC 9530), so a client can check the bytes it got
		// (after a resume too) without hashing them with SHA-256.
		h.Set("Repr-Digest", reprDigestCRC32C(info.CRC32C))
	}
	h.Set("Cache-Control", "private, no-cache")
	http.ServeContent(sendfileWriter{c.Response()}, c.Request(), "", fi.ModTime(), f)
	return nil
}

// downloadableTable is the served table id for a download by u. It asks the store only what
// the answer needs: the access check, plus, for a table that is not served, whether the
// registry knows it. Unknown tables are 404 for everyone; known ones the caller may not read
// are 403 (the catalog shows their names anyway), as readableEntry answers.
func (s *Server) downloadableTable(ctx context.Context, u *store.User, id string) (*engine.TableInfo, error) {
	ok, err := s.principals.CanAccessTable(ctx, u, id)
	if err != nil {
		return nil, err
	}
	info, served := s.engine.Catalog().Table(id)
	if !served {
		if _, err := s.store.GetTable(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		} else if err == nil && !ok {
			return nil, apiError(http.StatusForbidden, "Access denied to this table")
		}
		return nil, apiError(http.StatusNotFound, "Table '"+id+"' not found")
	}
	if !ok {
		return nil, apiError(http.StatusForbidden, "Access denied to this table")
	}
	return info, nil
}

// downloadETag is the strong ETag of a table file: its content hash, or, for a table whose
// source gave none, the file's size and modification time.
func downloadETag(hash string, fi os.FileInfo) string {
	if hash == "" {
		hash = strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16)
	}
	return strconv.Quote(hash)
}

// reprDigestCRC32C is a Repr-Digest member carrying a CRC-32C as 4 big-endian bytes.
func reprDigestCRC32C(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return "crc32c=:" + base64.StdEncoding.EncodeToString(b[:]) + ":"
}

// sendfileWriter lets http.ServeContent's body copy reach net/http's own ReadFrom (sendfile)
// through echo's and the session manager's wrappers, which do not implement io.ReaderFrom.
// Headers and status still pass through every wrapper first.
type sendfileWriter struct{ *echo.Response }

// ReadFrom copies r into the innermost writer that can take it at kernel level.
func (w sendfileWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.Committed {
		w.WriteHeader(http.StatusOK)
	}
	var inner http.ResponseWriter = w.Response.Writer
	for {
		if rf, ok := inner.(io.ReaderFrom); ok {
			n, err := rf.ReadFrom(r)
			w.Size += n
			return n, err
		}
		u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	return io.Copy(struct{ io.Writer }{w.Response}, r)
}

// syncSettingJSON is a user_sync_settings row as the original API returns it.
type syncSettingJSON struct {
	UserID    string  `json:"user_id"`
	Dataset   string  `json:"dataset"`
	Enabled   bool    `json:"enabled"`
	TableMode string  `json:"table_mode"`
	Tables    *string `json:"tables"`
	UpdatedAt *string `json:"updated_at"`
}

func syncSettingsJSON(rows []store.SyncSetting) []syncSettingJSON {
	out := make([]syncSettingJSON, 0, len(rows))
	for _, r := range rows {
		j := syncSettingJSON{UserID: r.UserID, Dataset: r.Dataset, Enabled: r.Enabled, TableMode: r.TableMode,
			UpdatedAt: isoOrNil(r.UpdatedAt)}
		if r.Tables != "" {
			t := r.Tables
			j.Tables = &t
		}
		out = append(out, j)
	}
	return out
}

// showSyncSettings is GET /api/sync/settings: the caller's subscriptions.
func (s *Server) showSyncSettings(c echo.Context) error {
	u := currentUser(c)
	rows, err := s.store.ListSyncSettings(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	enabled := []string{}
	for _, r := range rows {
		if r.Enabled {
			enabled = append(enabled, r.Dataset)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"user_id": u.ID, "settings": syncSettingsJSON(rows), "enabled_datasets": enabled})
}

// subscribable splits the requested datasets into those the caller may read (and so may
// subscribe to) and those refused. Unlike the original, which demanded an explicit grant,
// the one table-access rule decides: public tables, own uploads and admins' tables count.
func (s *Server) subscribable(c echo.Context, want map[string]bool) (map[string]bool, []string, error) {
	readable, err := s.principals.ReadableTables(c.Request().Context(), currentUser(c))
	if err != nil {
		return nil, nil, err
	}
	ok := map[string]bool{}
	var refused []string
	for name, on := range want {
		n := store.NormalizeDataset(name)
		if n != "" && readable.Has(n) && (readable.IDs[n] || s.engineOrRegistryHas(c, n)) {
			ok[n] = on
		} else {
			refused = append(refused, name)
		}
	}
	sort.Strings(refused)
	return ok, refused, nil
}

// engineOrRegistryHas reports whether a table id names a served or registered table (admins
// may read every id, existing or not; they may subscribe only to real ones).
func (s *Server) engineOrRegistryHas(c echo.Context, id string) bool {
	if _, ok := s.engine.Catalog().Table(id); ok {
		return true
	}
	_, err := s.store.GetTable(c.Request().Context(), id)
	return err == nil
}

// syncSettingsBody is the body of POST /api/sync/settings.
type syncSettingsBody struct {
	Datasets map[string]bool `json:"datasets"`
}

// updateSyncSettings is POST /api/sync/settings: {"datasets": {name: bool}} → per-dataset
// result {"enabled": bool} or {"error": "no permission"}.
func (s *Server) updateSyncSettings(c echo.Context) error {
	var body syncSettingsBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if body.Datasets == nil {
		return fieldInvalid("datasets", "datasets is required: an object of dataset name to true/false")
	}
	ok, refused, err := s.subscribable(c, body.Datasets)
	if err != nil {
		return err
	}
	if err := s.store.SetSyncSettings(c.Request().Context(), currentUser(c).ID, ok); err != nil {
		return err
	}
	updated := map[string]any{}
	for n, on := range ok {
		updated[n] = map[string]bool{"enabled": on}
	}
	for _, n := range refused {
		updated[n] = map[string]string{"error": "no permission"}
	}
	return c.JSON(http.StatusOK, map[string]any{"updated": updated})
}

// showTableSubscriptions is GET /api/sync/table-subscriptions.
func (s *Server) showTableSubscriptions(c echo.Context) error {
	u := currentUser(c)
	rows, err := s.store.ListSyncSettings(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user_id": u.ID, "subscriptions": syncSettingsJSON(rows)})
}

// tableSubscriptionsBody is the body of POST /api/sync/table-subscriptions.
type tableSubscriptionsBody struct {
	TableMode *string         `json:"table_mode"`
	Tables    map[string]bool `json:"tables"`
}

// updateTableSubscriptions is POST /api/sync/table-subscriptions. Unlike the original it
// checks access: tables the caller may not read are not stored and come back in "refused".
func (s *Server) updateTableSubscriptions(c echo.Context) error {
	var body tableSubscriptionsBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	mode := "all"
	if body.TableMode != nil {
		mode = *body.TableMode
	}
	if mode != "all" && mode != "selected" {
		return fieldInvalid("table_mode", `table_mode must be "all" or "selected"`)
	}
	ok, refused, err := s.subscribable(c, body.Tables)
	if err != nil {
		return err
	}
	if err := s.store.SetSyncSettings(c.Request().Context(), currentUser(c).ID, ok); err != nil {
		return err
	}
	if refused == nil {
		refused = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"table_mode": mode, "updated": len(ok), "refused": refused})
}

// showUserSettings is GET /api/settings: the caller's subscriptions and grants.
func (s *Server) showUserSettings(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	rows, err := s.store.ListSyncSettings(ctx, u.ID)
	if err != nil {
		return err
	}
	perms, err := s.store.ListPermissions(ctx, u.ID)
	if err != nil {
		return err
	}
	type permJSON struct {
		UserID  string `json:"user_id"`
		Dataset string `json:"dataset"`
		Access  string `json:"access"`
	}
	pj := make([]permJSON, 0, len(perms))
	for _, p := range perms {
		pj = append(pj, permJSON{UserID: p.UserID, Dataset: p.Dataset, Access: p.Access})
	}
	return c.JSON(http.StatusOK, map[string]any{"user_id": u.ID, "sync_settings": syncSettingsJSON(rows), "permissions": pj})
}

// datasetSettingBody is the body of PUT /api/settings/dataset.
type datasetSettingBody struct {
	Dataset *string `json:"dataset" required:"true"`
	Enabled *bool   `json:"enabled" required:"true"`
}

// updateDatasetSetting is PUT /api/settings/dataset: subscribe to or unsubscribe from one
// readable dataset.
func (s *Server) updateDatasetSetting(c echo.Context) error {
	var body datasetSettingBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	v := &ValidationError{}
	if body.Dataset == nil || store.NormalizeDataset(*body.Dataset) == "" {
		v.Add("dataset", "dataset is required", "missing")
	}
	if body.Enabled == nil {
		v.Add("enabled", "enabled is required (true or false)", "missing")
	}
	if err := v.Err(); err != nil {
		return err
	}
	name := *body.Dataset
	ok, _, err := s.subscribable(c, map[string]bool{name: *body.Enabled})
	if err != nil {
		return err
	}
	if len(ok) == 0 {
		return apiError(http.StatusForbidden, "No access to dataset '"+name+"'")
	}
	if err := s.store.SetSyncSettings(c.Request().Context(), currentUser(c).ID, ok); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"dataset": store.NormalizeDataset(name), "enabled": *body.Enabled})
}
