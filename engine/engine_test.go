package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/store"
)

func TestEmptyCatalogBeforeFirstRebuild(t *testing.T) {
	e, _, _ := testEngine(t, Options{})
	c := e.Catalog()
	if c == nil || c.Generation != 0 || len(c.Tables) != 0 || len(c.List()) != 0 {
		t.Fatalf("Catalog before rebuild = %+v", c)
	}
	if _, err := e.OpenAnalytics(context.Background()); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("OpenAnalytics before rebuild: err = %v, want ErrNotBuilt", err)
	}
	// No extracts directory at all: an empty, valid catalog.
	res := mustRebuild(t, e)
	if res.Catalog.Generation != 1 || len(res.Catalog.Tables) != 0 || len(res.Sources) != 0 {
		t.Fatalf("rebuild of an empty DATA_DIR = %+v", res)
	}
	db, err := e.OpenAnalytics(context.Background())
	if err != nil {
		t.Fatalf("OpenAnalytics: %v", err)
	}
	_ = db.Close()
}

func TestRebuildContractRoundTrip(t *testing.T) {
	e, st, dir := testEngine(t, Options{})
	ctx := context.Background()
	at := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	writeSource(t, dir, "sales", []fxTable{
		{name: "Orders", query: rangeQuery(3), description: "one row per order", extractedAt: at},
		{name: "customers", query: "SELECT 1 AS id, 'Ann' AS name"},
	})
	res := mustRebuild(t, e)
	cat := e.Catalog()
	if res.Catalog != cat || cat.Generation != 1 || cat.BuiltAt.IsZero() {
		t.Fatalf("published catalog = %+v", cat)
	}
	if len(res.Sources) != 1 || res.Sources[0].Name != "sales" || res.Sources[0].Err != "" ||
		strings.Join(res.Sources[0].Tables, ",") != "Orders,customers" || len(res.Sources[0].Skipped) != 0 {
		t.Fatalf("sources = %+v", res.Sources)
	}
	orders, ok := cat.Table("ORDERS")
	if !ok {
		t.Fatalf("orders not published: %+v", cat.Tables)
	}
	wantFile := filepath.Join(dir, "extracts", "sales", "data", "Orders.parquet")
	fi, _ := os.Stat(wantFile)
	checks := []struct {
		what      string
		got, want any
	}{
		{"id", orders.ID, "orders"},
		{"name", orders.Name, "Orders"},
		{"source", orders.Source, "sales"},
		{"description", orders.Description, "one row per order"},
		{"query mode", orders.QueryMode, "local"},
		{"rows", orders.Rows, int64(3)},
		{"columns", orders.Columns, 3},
		{"size", orders.SizeBytes, fi.Size()},
		{"extracted at", orders.ExtractedAt, at},
		{"files", strings.Join(orders.Files, ","), wantFile},
		{"hash length", len(orders.Hash), 32},
		{"status", orders.Status, StatusOK},
		{"uncompressed > 0", orders.UncompressedBytes > 0, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("orders %s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if ids := cat.List(); len(ids) != 2 || ids[0].ID != "customers" || ids[1].ID != "orders" {
		t.Fatalf("List = %v", ids)
	}

	db, err := e.OpenAnalytics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, `SELECT sum(id) FROM orders`); n != 3 {
		t.Fatalf("sum(id) through the view = %d, want 3", n)
	}
	_ = db.Close()
	// The stable file works on its own too (for other processes and tools).
	plain := openDuck(t, e.AnalyticsPath()+"?access_mode=READ_ONLY")
	if n := countRows(t, plain, `SELECT count(*) FROM customers`); n != 1 {
		t.Fatalf("server.duckdb customers = %d rows", n)
	}
	_ = plain.Close()

	ss, err := st.GetSyncState(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := store.SyncState{TableID: "orders", LastSync: at, Rows: 3, FileSizeBytes: fi.Size(),
		UncompressedSizeBytes: orders.UncompressedBytes, Columns: 3, Hash: orders.Hash, Status: "ok"}
	if *ss != want {
		t.Fatalf("sync_state = %+v, want %+v", *ss, want)
	}
	cust, _ := st.GetSyncState(ctx, "customers")
	if cust == nil || time.Since(cust.LastSync) > time.Minute {
		t.Fatalf("customers (no extracted_at) last_sync = %+v, want now", cust)
	}
	hist, _ := st.ListSyncHistory(ctx, "", 0)
	if len(hist) != 2 {
		t.Fatalf("history after first rebuild = %+v, want 2 rows", hist)
	}

	// Nothing changed: a new generation, same facts, no history, last_sync kept.
	res2 := mustRebuild(t, e)
	if res2.Catalog.Generation != 2 {
		t.Fatalf("generation = %d", res2.Catalog.Generation)
	}
	if o2, _ := res2.Catalog.Table("orders"); o2.Hash != orders.Hash || o2.Rows != 3 {
		t.Fatalf("unchanged table changed: %+v", o2)
	}
	if hist, _ := st.ListSyncHistory(ctx, "", 0); len(hist) != 2 {
		t.Fatalf("an unchanged rebuild added history: %+v", hist)
	}
	if c2, _ := st.GetSyncState(ctx, "customers"); !c2.LastSync.Equal(cust.LastSync) {
		t.Fatalf("unchanged table's last_sync moved: %v -> %v", cust.LastSync, c2.LastSync)
	}
	if snaps, _ := os.ReadDir(e.snapshotDir()); len(snaps) != 1 {
		t.Fatalf("old snapshots are kept: %v", snaps)
	}
}

func TestOneBadSourceDoesNotHideTheOthers(t *testing.T) {
	e, st, dir := testEngine(t, Options{Getenv: func(k string) string {
		if k == "KBC_TOKEN" {
			return "s3cr3t'x"
		}
		return ""
	}})
	ctx := context.Background()
	writeSource(t, dir, "a_good", []fxTable{{name: "alpha", query: rangeQuery(2)}, {name: "shared", query: rangeQuery(5)}})
	// A corrupt extract between two good ones.
	if err := os.MkdirAll(filepath.Join(dir, "extracts", "b_corrupt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extracts", "b_corrupt", "extract.duckdb"), []byte(strings.Repeat("garbage!", 2000)), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSource(t, dir, "c_mixed", []fxTable{
		{name: "gamma", query: rangeQuery(4)},
		{name: "bad-name", query: "SELECT 1 AS x"},
		{name: "no_data"}, // a _meta row whose file is missing
		{name: "shared", query: rangeQuery(7)},
		{name: "gamma", query: rangeQuery(4)},
		{name: "weird", query: "SELECT 1 AS x", mode: "sideways"},
		{name: "delta", query: "SELECT 42 AS answer"},
		{name: "broken_pq"}, // its file is garbage, written below
	})
	if err := os.WriteFile(filepath.Join(dir, "extracts", "c_mixed", "data", "broken_pq.parquet"), []byte("PAR1 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSource(t, dir, "memory", []fxTable{{name: "clash", query: rangeQuery(1)}}) // DuckDB's own catalog name
	writeSource(t, dir, "d_remote", []fxTable{
		{name: "kbc_orders", mode: "remote"},
		{name: "local_too", query: "SELECT 1 AS one"},
	}, fxRemote{alias: "kbc", ext: "nosuchext_da_test", url: "https://example.invalid", tokenEnv: "KBC_TOKEN"})
	writeSource(t, dir, "e_notoken", []fxTable{{name: "bq_t", mode: "remote"}},
		fxRemote{alias: "bq", ext: "bigquery", url: "project=x", tokenEnv: "MISSING_TOKEN"})
	writeSource(t, dir, "f_badalias", []fxTable{{name: "r_t", mode: "remote"}},
		fxRemote{alias: "bad alias", ext: "x", url: "u"})
	if err := os.MkdirAll(filepath.Join(dir, "extracts", "bad-source"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeSource(t, dir, "g_later", []fxTable{{name: "omega", query: rangeQuery(1)}})
	if err := os.Rename(filepath.Join(dir, "extracts", "g_later"), filepath.Join(dir, "extracts", "bad-source2")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "extracts", "h_empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extracts", "notes.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	res := mustRebuild(t, e)
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("rebuild took %v", d)
	}
	cat := res.Catalog
	for _, s := range res.Sources {
		for _, sk := range s.Skipped {
			t.Logf("skipped %s/%s: %s", s.Name, sk.Table, sk.Reason)
		}
	}
	for _, info := range cat.List() {
		if !info.Available() {
			t.Logf("%s: %s", info.ID, info.Status)
		}
	}

	served := []struct{ id, source, status string }{
		{"alpha", "a_good", "ok"},
		{"shared", "a_good", "ok"}, // the first source (sorted) wins
		{"gamma", "c_mixed", "ok"},
		{"delta", "c_mixed", "ok"}, // after every bad row of its source
		{"local_too", "d_remote", "ok"},
		{"kbc_orders", "d_remote", "source unavailable: extension nosuchext_da_test is not available"},
		{"bq_t", "e_notoken", "source unavailable: environment variable MISSING_TOKEN"},
		{"r_t", "f_badalias", `source unavailable: invalid remote alias "bad alias"`},
	}
	for _, s := range served {
		info, ok := cat.Table(s.id)
		if !ok {
			t.Errorf("%s is not published", s.id)
			continue
		}
		if info.Source != s.source || !strings.HasPrefix(info.Status, s.status) {
			t.Errorf("%s = source %q status %q, want %q %q...", s.id, info.Source, info.Status, s.source, s.status)
		}
	}
	if len(cat.Tables) != len(served) {
		t.Errorf("published %d tables, want %d: %v", len(cat.Tables), len(served), cat.List())
	}
	if info, _ := cat.Table("kbc_orders"); info != nil && strings.Contains(info.Status, "s3cr3t") {
		t.Fatalf("the token leaked into the status: %s", info.Status)
	}

	skipped := []struct{ source, table, reason string }{
		{"b_corrupt", "", "cannot open extract.duckdb"},
		{"bad-source", "", "invalid source name"},
		{"bad-source2", "", "invalid source name"},
		{"h_empty", "", "extract.duckdb is missing"},
		{"notes.txt", "", "not a directory"},
		{"c_mixed", "bad-name", "invalid table name"},
		{"c_mixed", "no_data", "data file missing"},
		{"c_mixed", "shared", `already published by source "a_good"`},
		{"c_mixed", "gamma", "listed more than once"},
		{"c_mixed", "weird", `unknown query_mode "sideways"`},
		{"c_mixed", "broken_pq", "cannot read its parquet data"},
		{"memory", "", "cannot open extract.duckdb"},
	}
	for _, s := range skipped {
		if got := skipReason(res, s.source, s.table); !strings.Contains(got, s.reason) {
			t.Errorf("skip reason of %s/%s = %q, want it to contain %q", s.source, s.table, got, s.reason)
		}
	}
	if src, _ := cat.Source("b_corrupt"); src.Err == "" || len(src.Tables) != 0 {
		t.Errorf("b_corrupt = %+v, want a source error", src)
	}

	// The served views answer; the unavailable remote ones have no view.
	db, err := e.OpenAnalytics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for q, want := range map[string]int64{
		"SELECT count(*) FROM shared": 5, "SELECT count(*) FROM gamma": 4, "SELECT answer FROM delta": 42,
		"SELECT count(*) FROM duckdb_views() WHERE NOT internal": 5,
	} {
		if got := countRows(t, db, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	states, _ := st.ListSyncStates(ctx)
	if len(states) != len(served) {
		t.Fatalf("sync_state has %d rows, want %d: %+v", len(states), len(served), states)
	}
	for _, s := range states {
		if s.TableID == "kbc_orders" && (s.Status != store.SyncStatusUnavailable || !strings.Contains(s.Error, "nosuchext_da_test")) {
			t.Errorf("kbc_orders sync_state = %+v", s)
		}
	}

	// The unavailable extension is not tried again on the next rebuild (offline servers
	// would wait for the network every time).
	e.extFail["nosuchext_da_test"] = extFailure{at: time.Now(), reason: "remembered"}
	res2 := mustRebuild(t, e)
	if info, _ := res2.Catalog.Table("kbc_orders"); info.Status != StatusUnavailablePrefix+"remembered" {
		t.Fatalf("a failed extension was retried at once: %s", info.Status)
	}
}

func TestShardedTable(t *testing.T) {
	e, _, dir := testEngine(t, Options{})
	writeSource(t, dir, "jira", []fxTable{{name: "issues", shards: []string{
		"SELECT 1 AS id, 'a' AS summary",
		"SELECT 2 AS id, 'b' AS summary, DATE '2026-01-01' AS due", // a later shard gained a column
		"SELECT 3 AS id, 'c' AS summary",
	}}})
	res := mustRebuild(t, e)
	info, ok := res.Catalog.Table("issues")
	if !ok {
		t.Fatalf("sharded table not published: %+v", res.Sources)
	}
	if len(info.Files) != 3 || !strings.HasSuffix(info.Files[0], filepath.Join("issues", "part-000.parquet")) ||
		info.Rows != 3 || info.Columns != 3 {
		t.Fatalf("sharded table = %+v", info)
	}
	db, err := e.OpenAnalytics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "SELECT count(due) FROM issues"); n != 1 {
		t.Fatalf("count(due) = %d, want 1 (shards combined by name)", n)
	}
	_ = db.Close()

	// Changing one shard changes the table's hash.
	writeParquet(t, info.Files[2], "SELECT 3 AS id, 'changed' AS summary")
	res2 := mustRebuild(t, e)
	if info2, _ := res2.Catalog.Table("issues"); info2.Hash == info.Hash {
		t.Fatal("hash did not change after a shard changed")
	}
}

func TestHashChangesExactlyWhenDataChanges(t *testing.T) {
	e, st, dir := testEngine(t, Options{})
	ctx := context.Background()
	writeSource(t, dir, "src", []fxTable{{name: "t", query: rangeQuery(10)}})
	file := filepath.Join(dir, "extracts", "src", "data", "t.parquet")
	hashOf := func() string {
		t.Helper()
		info, ok := mustRebuild(t, e).Catalog.Table("t")
		if !ok {
			t.Fatal("t not published")
		}
		return info.Hash
	}
	h1 := hashOf()
	steps := []struct {
		name   string
		change func()
		same   bool
	}{
		{"nothing", func() {}, true},
		{"same bytes rewritten", func() { rewriteSameBytes(t, file) }, true},
		{"other content", func() { writeParquet(t, file, rangeQuery(11)) }, false},
		{"same content as the original again", func() { writeParquet(t, file, rangeQuery(10)) }, false},
		{"rewritten by a fresh engine cache", func() { e.cache = map[string]*tableFacts{} }, true},
	}
	prev := h1
	histBefore := 1
	for _, s := range steps {
		s.change()
		h := hashOf()
		if (h == prev) != s.same {
			t.Fatalf("%s: hash %s -> %s, want same=%v", s.name, prev, h, s.same)
		}
		hist, _ := st.ListSyncHistory(ctx, "t", 0)
		wantHist := histBefore
		if !s.same {
			wantHist++
		}
		if len(hist) != wantHist {
			t.Fatalf("%s: %d history rows, want %d", s.name, len(hist), wantHist)
		}
		histBefore, prev = wantHist, h
	}
	if prev != h1 {
		t.Fatalf("the same bytes hash differently: %s vs %s", prev, h1)
	}
}

func TestDisappearedTablesLeaveSyncState(t *testing.T) {
	e, st, dir := testEngine(t, Options{})
	ctx := context.Background()
	writeSource(t, dir, "one", []fxTable{{name: "keep", query: rangeQuery(1)}, {name: "drop_me", query: rangeQuery(1)}})
	writeSource(t, dir, "two", []fxTable{{name: "gone_with_source", query: rangeQuery(1)}})
	mustRebuild(t, e)
	writeSource(t, dir, "one", []fxTable{{name: "keep", query: rangeQuery(1)}})
	if err := os.RemoveAll(filepath.Join(dir, "extracts", "two")); err != nil {
		t.Fatal(err)
	}
	res := mustRebuild(t, e)
	if len(res.Catalog.Tables) != 1 {
		t.Fatalf("tables = %v", res.Catalog.List())
	}
	states, _ := st.ListSyncStates(ctx)
	if len(states) != 1 || states[0].TableID != "keep" {
		t.Fatalf("sync_state = %+v, want only keep", states)
	}
}

func TestFailedRebuildKeepsPreviousState(t *testing.T) {
	e, st, dir := testEngine(t, Options{})
	ctx := context.Background()
	writeSource(t, dir, "src", []fxTable{{name: "t", query: rangeQuery(3)}})
	first := mustRebuild(t, e)
	before, _ := st.ListSyncStates(ctx)
	writeSource(t, dir, "src", []fxTable{{name: "t", query: rangeQuery(5)}, {name: "u", query: rangeQuery(1)}})

	failures := []struct {
		name  string
		setup func(t *testing.T) (context.Context, func())
	}{
		{"cancelled", func(t *testing.T) (context.Context, func()) {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c, func() {}
		}},
		{"temp file cannot be created", func(t *testing.T) (context.Context, func()) {
			tmpPath := fmt.Sprintf("%s.%d.tmp", e.AnalyticsPath(), os.Getpid())
			blocker := filepath.Join(tmpPath, "x")
			if err := os.MkdirAll(blocker, 0o755); err != nil {
				t.Fatal(err)
			}
			return ctx, func() { _ = os.RemoveAll(tmpPath) }
		}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			c, undo := f.setup(t)
			if _, err := e.Rebuild(c); err == nil {
				t.Fatal("Rebuild succeeded")
			}
			undo()
			if e.Catalog() != first.Catalog {
				t.Fatal("a failed rebuild replaced the catalog")
			}
			db, err := e.OpenAnalytics(ctx)
			if err != nil {
				t.Fatalf("previous analytics database gone: %v", err)
			}
			// The connector rewrote t's file in place, so its rows are new; but the table set is
			// the previous one: u is not published.
			if n := countRows(t, db, "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND view_name = 'u'"); n != 0 {
				t.Fatal("a failed rebuild published u")
			}
			_ = db.Close()
			plain := openDuck(t, e.AnalyticsPath()+"?access_mode=READ_ONLY")
			if n := countRows(t, plain, "SELECT count(*) FROM duckdb_views() WHERE NOT internal"); n != 1 {
				t.Fatalf("server.duckdb has %d views, want the previous 1", n)
			}
			_ = plain.Close()
		})
	}
	if after, _ := st.ListSyncStates(ctx); len(after) != len(before) || after[0] != before[0] {
		t.Fatalf("failed rebuilds changed sync_state: %+v -> %+v", before, after)
	}
	// And the next good rebuild publishes everything.
	res := mustRebuild(t, e)
	if info, _ := res.Catalog.Table("t"); info == nil || info.Rows != 5 || len(res.Catalog.Tables) != 2 {
		t.Fatalf("recovery rebuild = %v", res.Catalog.List())
	}
}

func TestSyncStateFailureKeepsPreviousState(t *testing.T) {
	e, st, dir := testEngine(t, Options{})
	writeSource(t, dir, "src", []fxTable{{name: "t", query: rangeQuery(3)}})
	first := mustRebuild(t, e)
	writeSource(t, dir, "src", []fxTable{{name: "t", query: rangeQuery(4)}, {name: "u", query: rangeQuery(1)}})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Rebuild(context.Background()); err == nil {
		t.Fatal("Rebuild succeeded with a closed system database")
	}
	if e.Catalog() != first.Catalog {
		t.Fatal("the catalog changed although sync_state could not be written")
	}
	plain := openDuck(t, e.AnalyticsPath()+"?access_mode=READ_ONLY")
	defer plain.Close()
	if n := countRows(t, plain, "SELECT count(*) FROM duckdb_views() WHERE NOT internal"); n != 1 {
		t.Fatalf("server.duckdb has %d views, want the previous 1", n)
	}
	if info, _ := e.Catalog().Table("t"); info.Rows != 3 {
		t.Fatalf("catalog rows = %d, want the previous 3", info.Rows)
	}
}

func TestHistoryRetention(t *testing.T) {
	cases := []struct {
		name      string
		retention time.Duration
		wantOld   bool
	}{
		{"keep all", 0, true},
		{"one day", 24 * time.Hour, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, st, dir := testEngine(t, Options{HistoryRetention: tc.retention})
			ctx := context.Background()
			old := store.SyncHistory{ID: "old", TableID: "t", SyncedAt: time.Now().Add(-48 * time.Hour)}
			recent := store.SyncHistory{ID: "recent", TableID: "t", SyncedAt: time.Now().Add(-time.Hour)}
			for _, h := range []store.SyncHistory{old, recent} {
				if err := st.AddSyncHistory(ctx, h); err != nil {
					t.Fatal(err)
				}
			}
			writeSource(t, dir, "src", []fxTable{{name: "t", query: rangeQuery(1)}})
			mustRebuild(t, e)
			hist, _ := st.ListSyncHistory(ctx, "t", 0)
			ids := map[string]bool{}
			for _, h := range hist {
				ids[h.ID] = true
			}
			if ids["old"] != tc.wantOld || !ids["recent"] || len(hist) != 2+btoi(tc.wantOld) {
				t.Fatalf("history = %+v (want old kept: %v)", hist, tc.wantOld)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRebuildSource(t *testing.T) {
	e, _, dir := testEngine(t, Options{})
	ctx := context.Background()
	writeSource(t, dir, "uploads", []fxTable{{name: "sales", query: rangeQuery(3)}})
	writeSource(t, dir, "other", []fxTable{{name: "o", query: rangeQuery(1)}})
	if err := os.MkdirAll(filepath.Join(dir, "extracts", "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		source  string
		wantErr string
		tables  int
	}{
		{"uploads", "", 2},
		{"nope", "not found", 2},
		{"broken", "extract.duckdb is missing", 2},
		{"bad name", "invalid source name", -1},
	}
	for _, tc := range cases {
		res, err := e.RebuildSource(ctx, tc.source)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Fatalf("RebuildSource(%q) err = %v, want %q", tc.source, err, tc.wantErr)
		}
		if tc.tables < 0 {
			if res != nil {
				t.Fatalf("RebuildSource(%q) rebuilt anyway", tc.source)
			}
			continue
		}
		if res == nil || len(res.Catalog.Tables) != tc.tables {
			t.Fatalf("RebuildSource(%q) = %+v", tc.source, res)
		}
		if tc.wantErr == "" && (len(res.Sources) != 1 || res.Sources[0].Name != tc.source) {
			t.Fatalf("RebuildSource(%q) sources = %+v", tc.source, res.Sources)
		}
	}
}
