package handlers

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"os"
	"strconv"
	"testing"

	"da/store"
)

func TestDistributionScenarios(t *testing.T) {
	t.Parallel()
	env, tokens := catalogEnv(t)
	cases := []scenario{
		{who: "admin", method: "GET", path: "/api/sync/manifest", status: 200, want: []string{`"sales"`, `"salaries"`, `"mine"`, `"server_time"`, `"profiles"`}},
		{who: "owner", method: "GET", path: "/api/sync/manifest", status: 200, want: []string{`"sales"`, `"mine"`}, forbidden: []string{`"salaries"`}},
		{who: "granted", method: "GET", path: "/api/sync/manifest", status: 200, want: []string{`"salaries"`, `"query_mode":"local"`}, forbidden: []string{`"mine"`}},
		{who: "ungranted", method: "GET", path: "/api/sync/manifest", status: 200, want: []string{`"sales"`}, forbidden: []string{`"salaries"`, `"mine"`}},
		{who: "viewer", method: "GET", path: "/api/sync/manifest", status: 200, want: []string{`"sales"`}, forbidden: []string{`"salaries"`, `"mine"`}},
		{who: "anonymous", method: "GET", path: "/api/sync/manifest", status: 401},

		{who: "admin", method: "GET", path: "/api/data/salaries/download", status: 200, want: []string{"PAR1"}},
		{who: "granted", method: "GET", path: "/api/data/salaries/download", status: 200, want: []string{"PAR1"}},
		{who: "owner", method: "GET", path: "/api/data/mine/download", status: 200, want: []string{"PAR1"}},
		{who: "ungranted", method: "GET", path: "/api/data/salaries/download", status: 403, want: []string{"Access denied to this table"}, forbidden: []string{"PAR1"}},
		{who: "ungranted", method: "GET", path: "/api/data/mine/download", status: 403, forbidden: []string{"PAR1"}},
		{who: "viewer", method: "GET", path: "/api/data/sales/download", status: 403, forbidden: []string{"PAR1"}},
		{who: "anonymous", method: "GET", path: "/api/data/sales/download", status: 401, forbidden: []string{"PAR1"}},
		{who: "admin", method: "GET", path: "/api/data/nosuch/download", status: 404, want: []string{"Table 'nosuch' not found"}},
		{who: "admin", method: "GET", path: "/api/data/..%2Fstate/download", status: 400},
		{who: "admin", method: "GET", path: "/api/data/sales.parquet/download", status: 400},

		{who: "ungranted", method: "POST", path: "/api/sync/settings", body: `{"datasets":{"sales":true,"salaries":true}}`, status: 200, want: []string{`"sales":{"enabled":true}`, `"salaries":{"error":"no permission"}`}},
		{who: "ungranted", method: "GET", path: "/api/sync/settings", status: 200, want: []string{`"enabled_datasets":["sales"]`, `"dataset":"sales"`}, forbidden: []string{"salaries"}},
		{who: "granted", method: "POST", path: "/api/sync/settings", body: `{"datasets":{"salaries":true}}`, status: 200, want: []string{`"salaries":{"enabled":true}`}},
		{who: "viewer", method: "POST", path: "/api/sync/settings", body: `{"datasets":"x"}`, status: 422},
		{who: "viewer", method: "POST", path: "/api/sync/settings", body: `{}`, status: 422},
		{who: "anonymous", method: "POST", path: "/api/sync/settings", body: `{"datasets":{}}`, status: 401},
		{who: "owner", method: "POST", path: "/api/sync/table-subscriptions", body: `{"tables":{"mine":true,"salaries":true}}`, status: 200, want: []string{`"table_mode":"all"`, `"updated":1`, `"refused":["salaries"]`}},
		{who: "owner", method: "GET", path: "/api/sync/table-subscriptions", status: 200, want: []string{`"dataset":"mine"`}, forbidden: []string{"salaries"}},
		{who: "owner", method: "POST", path: "/api/sync/table-subscriptions", body: `{"table_mode":"weird"}`, status: 422},
		{who: "viewer", method: "PUT", path: "/api/settings/dataset", body: `{"dataset":"sales","enabled":true}`, status: 200, want: []string{`"dataset":"sales"`, `"enabled":true`}},
		{who: "viewer", method: "PUT", path: "/api/settings/dataset", body: `{"dataset":"salaries","enabled":true}`, status: 403, want: []string{"No access to dataset 'salaries'"}},
		{who: "viewer", method: "PUT", path: "/api/settings/dataset", body: `{"enabled":true}`, status: 422},
		{who: "admin", method: "PUT", path: "/api/settings/dataset", body: `{"dataset":"nosuch","enabled":true}`, status: 403},
		{who: "granted", method: "GET", path: "/api/settings", status: 200, want: []string{`"permissions":[{`, `"dataset":"salaries"`, `"access":"read"`, `"sync_settings"`}},
		{who: "anonymous", method: "GET", path: "/api/settings", status: 401},
	}
	runScenarios(t, env, tokens, cases)
}

func TestDownloadConditionalAndRange(t *testing.T) {
	t.Parallel()
	env, tokens := catalogEnv(t)
	tok := tokens["ungranted"]
	info, _ := env.srv.engine.Catalog().Table("sales")
	fi, err := os.Stat(info.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	rec := env.do(request{method: "GET", path: "/api/data/sales/download", token: tok})
	etag := rec.Header().Get("ETag")
	checks := []struct{ name, got, want string }{
		{"status", strconv.Itoa(rec.Code), "200"},
		{"etag", etag, strconv.Quote(info.Hash)},
		{"length", rec.Header().Get("Content-Length"), strconv.FormatInt(fi.Size(), 10)},
		{"body", strconv.Itoa(rec.Body.Len()), strconv.FormatInt(fi.Size(), 10)},
		{"disposition", rec.Header().Get("Content-Disposition"), `attachment; filename="sales.parquet"`},
		{"type", rec.Header().Get("Content-Type"), "application/octet-stream"},
		{"ranges", rec.Header().Get("Accept-Ranges"), "bytes"},
		// The whole file's CRC-32C as 4 big-endian bytes in base64, computed here anew.
		{"digest", rec.Header().Get("Repr-Digest"), "crc32c=:" + base64.StdEncoding.EncodeToString(
			binary.BigEndian.AppendUint32(nil, crc32.Checksum(rec.Body.Bytes(), crc32.MakeTable(crc32.Castagnoli)))) + ":"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if rec.Header().Get("Last-Modified") == "" {
		t.Error("no Last-Modified")
	}
	full := rec.Body.Bytes()

	rec = env.do(request{method: "GET", path: "/api/data/sales/download", token: tok, headers: map[string]string{"If-None-Match": etag}})
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	rec = env.do(request{method: "GET", path: "/api/data/sales/download", token: tok, headers: map[string]string{"If-None-Match": `"other"`}})
	if rec.Code != 200 {
		t.Errorf("stale If-None-Match: %d", rec.Code)
	}
	rec = env.do(request{method: "GET", path: "/api/data/sales/download", token: tok, headers: map[string]string{"Range": "bytes=10-"}})
	if rec.Code != http.StatusPartialContent || string(rec.Body.Bytes()) != string(full[10:]) {
		t.Errorf("range: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	rec = env.do(request{method: "GET", path: "/api/data/sales/download", token: tok, headers: map[string]string{"Range": "bytes=99999999-"}})
	if rec.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("bad range: %d", rec.Code)
	}

	// The manifest hash is the ETag's content hash and changes exactly when the data does.
	manifest := func() map[string]map[string]any {
		rec := env.do(request{method: "GET", path: "/api/sync/manifest", token: tok})
		var m struct {
			Tables map[string]map[string]any `json:"tables"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m.Tables
	}
	before := manifest()
	if before["sales"]["hash"] != info.Hash || before["sales"]["rows"] != float64(3) || before["sales"]["columns"] != float64(2) {
		t.Errorf("manifest entry = %v", before["sales"])
	}
	env.addTables("testsrc", fxTable{name: "salaries", public: false, query: `SELECT 'CHANGED' AS marker, 1 AS pay`})
	after := manifest()
	if after["sales"]["hash"] != before["sales"]["hash"] {
		t.Errorf("sales hash changed without a data change")
	}
	if rec := env.do(request{method: "GET", path: "/api/data/sales/download", token: tok, headers: map[string]string{"If-None-Match": etag}}); rec.Code != 304 {
		t.Errorf("unchanged table after rebuild: %d", rec.Code)
	}
}

// TestDownloadOfRegisteredTableWithoutData checks the download answers for a table the
// registry knows but the engine does not serve (no data yet): 403 for a caller who may not
// read it, 404 for one who may, never a file.
func TestDownloadOfRegisteredTableWithoutData(t *testing.T) {
	t.Parallel()
	env, tokens := catalogEnv(t)
	if err := env.store.RegisterTable(context.Background(), &store.Table{ID: "planned", Name: "planned", SourceType: "testsrc"}); err != nil {
		t.Fatal(err)
	}
	runScenarios(t, env, tokens, []scenario{
		{who: "ungranted", method: "GET", path: "/api/data/planned/download", status: 403, want: []string{"Access denied to this table"}, forbidden: []string{"PAR1"}},
		{who: "admin", method: "GET", path: "/api/data/planned/download", status: 404, want: []string{"Table 'planned' not found"}, forbidden: []string{"PAR1"}},
		{who: "admin", method: "GET", path: "/api/data/PLANNED/download", status: 404, forbidden: []string{"PAR1"}},
	})
}
