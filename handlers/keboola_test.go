package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/engine"
	"da/engine/connectors/keboola/keboolatest"
)

// keboolaEnv is a server whose Keboola connector talks to an in-process fake.
func keboolaEnv(t *testing.T, extra map[string]string) (*testEnv, *keboolatest.Server) {
	t.Helper()
	f := keboolatest.New("kbc-secret-token-" + fmt.Sprint(time.Now().UnixNano()))
	t.Cleanup(f.Close)
	f.PollsBeforeDone = 1
	env := map[string]string{"KEBOOLA_STACK_URL": f.URL, "KEBOOLA_STORAGE_TOKEN": f.Token()}
	for k, v := range extra {
		env[k] = v
	}
	f.AddTable(keboolatest.Table{ID: "in.c-crm.customers", Description: "CRM customers", PrimaryKey: []string{"id"},
		Columns: []keboolatest.Column{{Name: "id", BaseType: "INTEGER"}, {Name: "name", BaseType: "STRING"}, {Name: "since", BaseType: "DATE"}}})
	f.AddTable(keboolatest.Table{ID: "in.c-crm.deals", PrimaryKey: []string{"id"},
		Columns: []keboolatest.Column{{Name: "id", BaseType: "INTEGER"}, {Name: "value", BaseType: "NUMERIC", Length: "10,2"}, {Name: "won", BaseType: "BOOLEAN"}}})
	at := time.Now().Add(-24 * time.Hour)
	f.Upsert("in.c-crm.customers", at, []string{"1", "Ada", "2020-01-02"}, []string{"2", "Bob", "2021-03-04"})
	f.Upsert("in.c-crm.deals", at, []string{"10", "99.90", "true"}, []string{"11", "5", "false"}, []string{"12", "", ""})
	return newTestEnvWithEnv(t, env), f
}

func (env *testEnv) register(t *testing.T, body string) {
	t.Helper()
	rec := env.do(request{method: "POST", path: "/api/admin/register-table", body: body, token: env.tokens[auth.RoleAdmin]})
	if rec.Code != 201 {
		t.Fatalf("register %s: %d %s", body, rec.Code, rec.Body)
	}
}

func (env *testEnv) syncTables(t *testing.T, ids ...string) map[string]map[string]any {
	t.Helper()
	b, _ := json.Marshal(ids)
	rec := env.do(request{method: "POST", path: "/api/sync/trigger", body: string(b), token: env.tokens[auth.RoleAdmin]})
	if rec.Code != 200 {
		t.Fatalf("trigger: %d %s", rec.Code, rec.Body)
	}
	job := env.waitJob(t, decodeJSON(t, rec)["job_id"].(string))
	out := map[string]map[string]any{}
	for _, x := range job["tables"].([]any) {
		p := x.(map[string]any)
		out[p["id"].(string)] = p
	}
	return out
}

func TestKeboolaNotConfigured(t *testing.T) {
	env := newTestEnv(t)
	admin := env.tokens[auth.RoleAdmin]
	// Registration works before the connector is configured, as the original's clients do it.
	env.register(t, `{"name":"orders","source_type":"keboola","bucket":"in.c-main","source_table":"orders"}`)
	got := env.syncTables(t, "orders")["orders"]
	if got["state"] != engine.SyncFailed || !strings.Contains(got["reason"].(string), "Keboola is not configured: set KEBOOLA_STACK_URL and KEBOOLA_STORAGE_TOKEN") {
		t.Fatalf("sync of an unconfigured table: %v", got)
	}
	rec := env.do(request{method: "GET", path: "/api/health", token: admin})
	kh := decodeJSON(t, rec)["services"].(map[string]any)["keboola"].(map[string]any)
	if kh["connection"] != "not_configured" || kh["status"] != "ok" || kh["remote_mode"] != "keboola extension unavailable" {
		t.Fatalf("health keboola = %v", kh)
	}
	// Remote mode is refused with the reason, and nothing is registered.
	rec = env.do(request{method: "POST", path: "/api/admin/register-table", token: admin,
		body: `{"name":"remote_orders","source_type":"keboola","bucket":"in.c-main","source_table":"orders","query_mode":"remote"}`})
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "keboola extension") || !strings.Contains(rec.Body.String(), "nothing is downloaded at run time") {
		t.Fatalf("remote registration: %d %s", rec.Code, rec.Body)
	}
	if _, err := env.store.GetTable(context.Background(), "remote_orders"); err == nil {
		t.Fatal("a refused registration was stored")
	}
	// The discovery list has no error for a source nobody configured.
	rec = env.do(request{method: "GET", path: "/api/admin/discover-tables", token: admin})
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "keboola") {
		t.Fatalf("discover: %d %s", rec.Code, rec.Body)
	}
}

func TestKeboolaDiscoverRegisterSync(t *testing.T) {
	env, f := keboolaEnv(t, nil)
	admin := env.tokens[auth.RoleAdmin]

	rec := env.do(request{method: "POST", path: "/api/admin/keboola/test", token: admin})
	st := decodeJSON(t, rec)
	if rec.Code != 200 || st["status"] != "ok" || st["project"] != "Fake project" || strings.Contains(rec.Body.String(), f.Token()) {
		t.Fatalf("test connection: %d %s", rec.Code, rec.Body)
	}
	if rec := env.do(request{method: "POST", path: "/api/admin/keboola/test", token: env.tokens[auth.RoleKMAdmin]}); rec.Code != 403 {
		t.Fatalf("a km_admin tested the connection: %d", rec.Code)
	}

	rec = env.do(request{method: "GET", path: "/api/admin/discover-tables", token: admin})
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `"id":"in.c-crm.customers"`) || !strings.Contains(body, `"column_types":["BIGINT","DECIMAL(10,2)","BOOLEAN"]`) ||
		!strings.Contains(body, `"bucket_id":"in.c-crm"`) || !strings.Contains(body, `"primary_key":["id"]`) {
		t.Fatalf("discover: %d %s", rec.Code, body)
	}

	// A table Keboola does not have is refused.
	rec = env.do(request{method: "POST", path: "/api/admin/register-table", token: admin,
		body: `{"name":"ghost","source_type":"keboola","bucket":"in.c-crm","source_table":"ghost"}`})
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "ghost") {
		t.Fatalf("ghost: %d %s", rec.Code, rec.Body)
	}
	// Bad options are refused with the field named.
	for _, bad := range []string{
		`{"name":"deals","source_type":"keboola","bucket":"in.c-crm","source_table":"deals","sync_strategy":"partitioned"}`,
		`{"name":"deals","source_type":"keboola","bucket":"in.c-crm","source_table":"deals","where_filters":[{"column":"won","operator":"like","values":["x"]}]}`,
		`{"name":"deals","source_type":"keboola","bucket":"in.c-crm","source_table":"deals","partition_grain":"week"}`,
	} {
		if rec := env.do(request{method: "POST", path: "/api/admin/register-table", token: admin, body: bad}); rec.Code != 422 {
			t.Fatalf("%s: %d %s", bad, rec.Code, rec.Body)
		}
	}

	env.register(t, `{"name":"customers","source_type":"keboola","bucket":"in.c-crm","source_table":"customers","sync_schedule":"every 6h"}`)
	env.register(t, `{"name":"deals","source_type":"keboola","bucket":"in.c-crm","source_table":"deals","sync_strategy":"incremental",`+
		`"columns":["id","value"],"where_filters":[{"column":"won","operator":"ne","values":["false"]}]}`)
	res := env.syncTables(t, "customers", "deals")
	for _, id := range []string{"customers", "deals"} {
		if res[id]["state"] != engine.SyncDone {
			t.Fatalf("%s: %v", id, res[id])
		}
	}
	if res["deals"]["rows"].(float64) != 2 || !strings.HasPrefix(res["deals"]["strategy"].(string), "full_refresh") || res["deals"]["bytes"].(float64) <= 0 {
		t.Fatalf("deals figures: %v", res["deals"])
	}
	info, ok := env.srv.engine.Catalog().Table("deals")
	if !ok || info.Rows != 2 || info.Columns != 2 {
		t.Fatalf("deals served: %+v", info)
	}
	// Typed columns reach the catalog.
	rec = env.do(request{method: "POST", path: "/api/query", token: admin,
		body: `{"sql":"SELECT typeof(id) AS a, typeof(value) AS b, (SELECT typeof(since) FROM customers LIMIT 1) AS c FROM deals LIMIT 1"}`})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "BIGINT") || !strings.Contains(rec.Body.String(), "DECIMAL(10,2)") || !strings.Contains(rec.Body.String(), "DATE") {
		t.Fatalf("query: %d %s", rec.Code, rec.Body)
	}

	// Second run: deals is incremental now; customers' export fails in Keboola and keeps serving.
	f.Upsert("in.c-crm.deals", time.Now(), []string{"13", "1.50", "true"})
	f.FailExport["in.c-crm.customers"] = "Snowflake warehouse suspended"
	res = env.syncTables(t, "customers", "deals")
	if res["customers"]["state"] != engine.SyncFailed || !strings.Contains(res["customers"]["reason"].(string), "Snowflake warehouse suspended") ||
		!strings.Contains(res["customers"]["reason"].(string), "in.c-crm.customers") {
		t.Fatalf("customers: %v", res["customers"])
	}
	if res["deals"]["state"] != engine.SyncDone || res["deals"]["strategy"] != "incremental" || res["deals"]["rows"].(float64) != 3 {
		t.Fatalf("deals: %v", res["deals"])
	}
	if info, ok := env.srv.engine.Catalog().Table("customers"); !ok || info.Rows != 2 {
		t.Fatalf("customers no longer served: %+v", info)
	}
}

func TestKeboolaTokenRevokedMidSync(t *testing.T) {
	env, f := keboolaEnv(t, map[string]string{"KEBOOLA_MAX_PARALLEL": "1"})
	env.register(t, `{"name":"customers","source_type":"keboola","bucket":"in.c-crm","source_table":"customers"}`)
	env.register(t, `{"name":"deals","source_type":"keboola","bucket":"in.c-crm","source_table":"deals"}`)
	f.RevokeAfterExports = 2 // the second export starts, then the token stops working
	res := env.syncTables(t, "customers", "deals")
	if res["customers"]["state"] != engine.SyncDone {
		t.Fatalf("customers: %v", res["customers"])
	}
	reason, _ := res["deals"]["reason"].(string)
	if res["deals"]["state"] != engine.SyncFailed || !strings.Contains(reason, "Invalid access token") || strings.Contains(reason, f.Token()) {
		t.Fatalf("deals: %v", res["deals"])
	}
	rec := env.do(request{method: "POST", path: "/api/admin/keboola/test", token: env.tokens[auth.RoleAdmin]})
	if st := decodeJSON(t, rec); st["status"] != "invalid_token" {
		t.Fatalf("after revocation: %v", st)
	}
	rec = env.do(request{method: "GET", path: "/api/health", token: env.tokens[auth.RoleAdmin]})
	h := decodeJSON(t, rec)
	if h["status"] == "healthy" || h["services"].(map[string]any)["keboola"].(map[string]any)["connection"] != "invalid_token" {
		t.Fatalf("health after revocation: %v", h)
	}
}

func TestKeboolaAdminPage(t *testing.T) {
	env, _ := keboolaEnv(t, nil)
	b := env.browser()
	if rec := b.login("admin@example.com", testPassword); rec.Code != 303 {
		t.Fatalf("login: %d", rec.Code)
	}
	rec := b.do("GET", "/admin/tables", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="keboola-section"`) || !strings.Contains(rec.Body.String(), `data-testid="keboola-deletes-note"`) {
		t.Fatalf("page: %d", rec.Code)
	}
	rec = b.do("POST", "/admin/tables/keboola/test", url.Values{"_csrf": {b.csrf}})
	if rec.Code != 303 {
		t.Fatalf("test connection: %d %s", rec.Code, rec.Body)
	}
	rec = b.do("GET", "/admin/tables", nil)
	if !strings.Contains(rec.Body.String(), `data-state="ok"`) || !strings.Contains(rec.Body.String(), "Fake project") {
		t.Fatalf("status after the test is not shown")
	}
	// Search narrows the tree to the matching tables.
	rec = b.do("GET", "/admin/tables/keboola/browse?q=deal", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="keboola-table-in.c-crm.deals"`) ||
		strings.Contains(rec.Body.String(), `keboola-table-in.c-crm.customers`) || !strings.Contains(rec.Body.String(), "value DECIMAL(10,2)") {
		t.Fatalf("browse: %d %s", rec.Code, rec.Body)
	}
	// Nothing selected, or a bad schedule: 422 and nothing registered.
	rec = b.do("POST", "/admin/tables/keboola/register", url.Values{"_csrf": {b.csrf}, "sync_strategy": {"full_refresh"}})
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "Select at least one table") {
		t.Fatalf("empty selection: %d", rec.Code)
	}
	rec = b.do("POST", "/admin/tables/keboola/register", url.Values{"_csrf": {b.csrf}, "tables": {"in.c-crm.deals", "in.c-crm.customers"},
		"sync_strategy": {"incremental"}, "sync_schedule": {"not a schedule"}})
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "sync_schedule") {
		t.Fatalf("bad schedule: %d", rec.Code)
	}
	if rows, _ := env.store.ListTables(context.Background()); len(rows) != 0 {
		t.Fatalf("a refused registration stored %d rows", len(rows))
	}
	rec = b.do("POST", "/admin/tables/keboola/register", url.Values{"_csrf": {b.csrf}, "tables": {"in.c-crm.deals", "in.c-crm.customers"},
		"sync_strategy": {"incremental"}, "sync_schedule": {"@every 6h"}})
	if rec.Code != 303 {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	row, err := env.store.GetTable(context.Background(), "deals")
	if err != nil || row.SourceType != "keboola" || row.Bucket != "in.c-crm" || row.SyncStrategy != "incremental" || row.PrimaryKey != "id" || row.SyncSchedule != "@every 6h" {
		t.Fatalf("registered row %+v %v", row, err)
	}
	env.syncTables(t, "deals")
	rec = b.do("GET", "/admin/tables", nil)
	if !strings.Contains(rec.Body.String(), `data-testid="registry-last-figures"`) || !strings.Contains(rec.Body.String(), "3 rows changed") {
		t.Fatalf("no sync figures on the page")
	}
	// An analyst cannot browse.
	rec = env.do(request{method: "GET", path: "/admin/tables/keboola/browse", token: env.tokens[auth.RoleAnalyst]})
	if rec.Code != 403 {
		t.Fatalf("analyst browse: %d", rec.Code)
	}
}

func TestKeboolaNotConfiguredRowOnThePage(t *testing.T) {
	env := newTestEnv(t)
	env.register(t, `{"name":"orders","source_type":"keboola","bucket":"in.c-main","source_table":"orders"}`)
	b := env.browser()
	b.login("admin@example.com", testPassword)
	rec := b.do("GET", "/admin/tables", nil)
	if !strings.Contains(rec.Body.String(), `data-testid="registry-not-configured"`) || !strings.Contains(rec.Body.String(), `data-state="not_configured"`) {
		t.Fatalf("not configured is not shown")
	}
}

func TestKeboolaPartitionedThroughTheSyncJob(t *testing.T) {
	env, f := keboolaEnv(t, nil)
	f.AddTable(keboolatest.Table{ID: "in.c-web.visits", PrimaryKey: []string{"id"},
		Columns: []keboolatest.Column{{Name: "id", BaseType: "INTEGER"}, {Name: "day", BaseType: "DATE"}, {Name: "hits", BaseType: "INTEGER"}}})
	old := time.Now().Add(-48 * time.Hour)
	var rows [][]string
	for i := 1; i <= 60; i++ {
		rows = append(rows, []string{fmt.Sprint(i), fmt.Sprintf("2026-0%d-15", (i-1)/20+1), "1"})
	}
	f.Upsert("in.c-web.visits", old, rows...)
	env.register(t, `{"name":"visits","source_type":"keboola","bucket":"in.c-web","source_table":"visits","sync_strategy":"partitioned","partition_by":"day","partition_grain":"month"}`)
	if res := env.syncTables(t, "visits")["visits"]; res["state"] != engine.SyncDone || res["rows"].(float64) != 60 {
		t.Fatalf("first sync: %v", res)
	}
	dir := filepath.Join(env.srv.engine.ExtractsDir(), "keboola")
	parts, _ := filepath.Glob(filepath.Join(dir, "data", "visits", "*.parquet"))
	if len(parts) != 3 {
		t.Fatalf("partitions %v", parts)
	}
	stat := func(p string) time.Time { fi, _ := os.Stat(p); return fi.ModTime() }
	jan, feb := stat(parts[0]), stat(parts[1])
	f.Upsert("in.c-web.visits", time.Now(), []string{"25", "2026-02-15", "100"}, []string{"61", "2026-02-16", "1"})
	res := env.syncTables(t, "visits")["visits"]
	if res["state"] != engine.SyncDone || res["rows"].(float64) != 61 || res["strategy"] != "partitioned" || res["rows_changed"].(float64) != 2 {
		t.Fatalf("second sync: %v", res)
	}
	if !stat(parts[0]).Equal(jan) || stat(parts[1]).Equal(feb) {
		t.Fatalf("want only 2026-02 rewritten")
	}
	rec := env.do(request{method: "POST", path: "/api/query", token: env.tokens[auth.RoleAdmin], body: `{"sql":"SELECT sum(hits) AS s FROM visits"}`})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "160") {
		t.Fatalf("query: %d %s", rec.Code, rec.Body)
	}
	// Slices that keep failing to download fail the table; its data keeps serving, and no
	// work files are left behind.
	f.Upsert("in.c-web.visits", time.Now(), []string{"62", "2026-03-01", "1"})
	f.Inject(keboolatest.Fault{Prefix: "/download/", Status: 500})
	res = env.syncTables(t, "visits")["visits"]
	if res["state"] != engine.SyncFailed || !strings.Contains(res["reason"].(string), "500") {
		t.Fatalf("failing download: %v", res)
	}
	if info, ok := env.srv.engine.Catalog().Table("visits"); !ok || info.Rows != 61 {
		t.Fatalf("visits after the failure: %+v", info)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestKeboolaEditFormKeepsExtractionSettings(t *testing.T) {
	env, _ := keboolaEnv(t, nil)
	env.register(t, `{"name":"deals","source_type":"keboola","bucket":"in.c-crm","source_table":"deals","columns":["id","value"]}`)
	b := env.browser()
	b.login("admin@example.com", testPassword)
	rec := b.do("GET", "/admin/tables?edit=deals", nil)
	if !strings.Contains(rec.Body.String(), `value="id, value"`) {
		t.Fatalf("the edit form does not show the columns")
	}
	form := url.Values{"_csrf": {b.csrf}, "query_mode": {"local"}, "sync_strategy": {"partitioned"}, "columns": {"id, value, won"},
		"partition_by": {""}, "partition_grain": {"month"}, "profile_after_sync": {"true"}}
	if rec := b.do("POST", "/admin/tables/deals", form); rec.Code != 422 || !strings.Contains(rec.Body.String(), "field-error-partition_by") {
		t.Fatalf("partitioned without a column: %d", rec.Code)
	}
	form.Set("partition_by", "won")
	if rec := b.do("POST", "/admin/tables/deals", form); rec.Code != 303 {
		t.Fatalf("save: %d %s", rec.Code, rec.Body)
	}
	o, err := env.store.TableSyncOptions(context.Background(), "deals")
	if err != nil || fmt.Sprint(o.Columns) != "[id value won]" || o.PartitionBy != "won" || o.PartitionGrain != "month" {
		t.Fatalf("options %+v %v", o, err)
	}
}
