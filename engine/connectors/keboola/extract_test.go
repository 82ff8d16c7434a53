package keboola

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"da/engine/connectors"
	"da/engine/connectors/keboola/keboolatest"
	"da/engine/extract"
)

// env is a connector over a fake, with a source directory that test publishes stand in for
// the sync job's.
type env struct {
	fake *keboolatest.Server
	k    *Connector
	dir  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	f := keboolatest.New("tok-" + t.Name())
	t.Cleanup(f.Close)
	dir := t.TempDir()
	k := New(Config{URL: f.URL, Token: f.Token(), SourceDir: filepath.Join(dir, "extracts", "keboola"),
		CacheDir: filepath.Join(dir, "cache"), Client: fastOptions(), MemoryLimit: "256MB", Threads: 1})
	if err := os.MkdirAll(extract.DataDir(k.cfg.SourceDir), 0o750); err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, k: k, dir: dir}
}

// sync extracts table and publishes the result the way the sync job does.
func (e *env) sync(t *testing.T, tb connectors.Table) (*connectors.Result, error) {
	t.Helper()
	staging, err := os.MkdirTemp(e.k.cfg.SourceDir, ".sync-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(staging)
	stage := filepath.Join(staging, tb.Name+".parquet")
	res, err := e.k.Extract(context.Background(), tb, stage)
	if err != nil {
		return nil, err
	}
	data := extract.DataDir(e.k.cfg.SourceDir)
	if res.Partitions != nil {
		pd := filepath.Join(data, tb.Name)
		_ = os.MkdirAll(pd, 0o750)
		for _, n := range res.Partitions.Rewritten {
			if err := os.Rename(filepath.Join(res.Partitions.Dir, n+".parquet"), filepath.Join(pd, n+".parquet")); err != nil {
				t.Fatal(err)
			}
		}
		fs, _ := filepath.Glob(filepath.Join(pd, "*.parquet"))
		for _, f := range fs {
			if !slices.Contains(res.Partitions.All, strings.TrimSuffix(filepath.Base(f), ".parquet")) {
				_ = os.Remove(f)
			}
		}
		_ = os.Remove(filepath.Join(data, tb.Name+".parquet"))
	} else if err := os.Rename(stage, filepath.Join(data, tb.Name+".parquet")); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

func (e *env) query(t *testing.T, table, q string) [][]string {
	t.Helper()
	files := extract.TableFiles(e.k.cfg.SourceDir, table)
	if len(files) == 0 {
		t.Fatalf("no files for %s", table)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lits []string
	for _, f := range files {
		lits = append(lits, sqlString(f))
	}
	if _, err := db.Exec("CREATE VIEW t AS SELECT * FROM read_parquet([" + strings.Join(lits, ",") + "], union_by_name = true)"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var r []string
		for _, v := range vals {
			if v.Valid {
				r = append(r, v.String)
			} else {
				r = append(r, "NULL")
			}
		}
		out = append(out, r)
	}
	return out
}

func typedTable() keboolatest.Table {
	return keboolatest.Table{ID: "in.c-shop.orders", Description: "Shop orders", PrimaryKey: []string{"id"}, Columns: []keboolatest.Column{
		{Name: "id", BaseType: "INTEGER"},
		{Name: "amount", BaseType: "NUMERIC", Length: "12,2"},
		{Name: "ratio", BaseType: "FLOAT"},
		{Name: "paid", BaseType: "BOOLEAN"},
		{Name: "day", BaseType: "DATE"},
		{Name: "at", BaseType: "TIMESTAMP"},
		{Name: "label", BaseType: "STRING"},
		{Name: "note"}, // no metadata: stays VARCHAR
	}}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestExtractFullRefreshTyped(t *testing.T) {
	e := newEnv(t)
	e.fake.SliceRows = 2
	e.fake.AddTable(typedTable())
	e.fake.Upsert("in.c-shop.orders", t0,
		[]string{"1", "10.50", "0.25", "true", "2026-01-05", "2026-01-05 10:00:00", "a", "x"},
		[]string{"2", "3", "1e3", "0", "2026-02-01", "2026-02-01T08:30:00", "b, \"quoted\"", ""},
		[]string{"3", "", "", "", "", "", "", "line\nbreak"})
	res, err := e.sync(t, connectors.Table{Name: "orders", Bucket: "in.c-shop", SourceTable: "orders", Strategy: FullRefresh})
	if err != nil {
		t.Fatal(err)
	}
	if res.Description != "Shop orders" || res.RowsChanged != 3 || res.Strategy != FullRefresh {
		t.Fatalf("result %+v", res)
	}
	types := e.query(t, "orders", "SELECT column_name, column_type FROM (DESCRIBE t)")
	want := [][]string{{"id", "BIGINT"}, {"amount", "DECIMAL(12,2)"}, {"ratio", "DOUBLE"}, {"paid", "BOOLEAN"}, {"day", "DATE"},
		{"at", "TIMESTAMP"}, {"label", "VARCHAR"}, {"note", "VARCHAR"}}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("types %v, want %v", types, want)
	}
	got := e.query(t, "orders", `SELECT id, amount::VARCHAR, ratio, paid, "day", "at", label, note FROM t ORDER BY id`)
	if fmt.Sprint(got[1]) != fmt.Sprint([]string{"2", "3.00", "1000", "false", "2026-02-01T00:00:00Z", "2026-02-01T08:30:00Z", `b, "quoted"`, "NULL"}) ||
		got[2][1] != "NULL" || got[2][7] != "line\nbreak" {
		t.Fatalf("rows %q", got)
	}
	// No work files are left next to the data.
	left, _ := filepath.Glob(filepath.Join(e.k.cfg.SourceDir, ".*"))
	if len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestTypeMappingProviderPriority(t *testing.T) {
	tb := &Table{Columns: []string{"a", "b", "c", "d", "e", "f", "g", "h"}, ColumnMetadata: ColumnMetadata{
		"a": {{Key: "KBC.datatype.basetype", Value: "STRING", Provider: "keboola.snowflake-transformation"}, {Key: "KBC.datatype.basetype", Value: "INTEGER", Provider: "user"}},
		"b": {{Key: "KBC.datatype.basetype", Value: "DATE", Provider: "some.component"}, {Key: "KBC.datatype.basetype", Value: "STRING", Provider: "ai-metadata-enrichment"}},
		"c": {{Key: "KBC.datatype.type", Value: "TIMESTAMP_TZ", Provider: "x"}},
		"d": {{Key: "KBC.datatype.basetype", Value: "NUMERIC", Provider: "user"}},
		"e": {{Key: "KBC.datatype.basetype", Value: "NUMERIC", Provider: "user"}, {Key: "KBC.datatype.length", Value: "38,0", Provider: "user"}},
		"f": {{Key: "KBC.datatype.basetype", Value: "TIMESTAMP"}, {Key: "KBC.datatype.type", Value: "TIMESTAMP_LTZ"}},
		"g": {{Key: "KBC.datatype.basetype", Value: "SOMETHING_NEW"}},
	}}
	var got []string
	for _, c := range ColumnTypes(tb) {
		got = append(got, c.DuckDB)
	}
	want := []string{"BIGINT", "VARCHAR", "TIMESTAMPTZ", "DOUBLE", "DECIMAL(38,0)", "TIMESTAMPTZ", "VARCHAR", "VARCHAR"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// An alias table's types come from its source table.
	alias := &Table{Columns: []string{"a"}, ColumnMetadata: ColumnMetadata{}}
	alias.SourceTable = &struct {
		ID             string         `json:"id"`
		ColumnMetadata ColumnMetadata `json:"columnMetadata"`
	}{ColumnMetadata: ColumnMetadata{"a": {{Key: "KBC.datatype.basetype", Value: "BOOLEAN"}}}}
	if c := ColumnTypes(alias); c[0].DuckDB != "BOOLEAN" {
		t.Fatalf("alias %v", c)
	}
}

func TestExtractBadValueNamesTheColumn(t *testing.T) {
	e := newEnv(t)
	e.fake.AddTable(typedTable())
	e.fake.Upsert("in.c-shop.orders", t0, []string{"1", "12.5", "1", "true", "2026-13-45", "", "", ""})
	_, err := e.sync(t, connectors.Table{Name: "orders", Bucket: "in.c-shop", SourceTable: "orders"})
	if !errors.Is(err, errCast) || !strings.Contains(err.Error(), `column "day"`) || !strings.Contains(err.Error(), "2026-13-45") ||
		!strings.Contains(err.Error(), "in.c-shop.orders") {
		t.Fatalf("want a cast error naming column day, got %v", err)
	}
}

func TestExtractIncrementalMerge(t *testing.T) {
	e := newEnv(t)
	e.fake.AddTable(typedTable())
	var rows [][]string
	for i := 1; i <= 100; i++ {
		rows = append(rows, []string{fmt.Sprint(i), "1.00", "", "", "", "", "v1", ""})
	}
	old := time.Now().Add(-48 * time.Hour)
	e.fake.Upsert("in.c-shop.orders", old, rows...)
	tb := connectors.Table{Name: "orders", Bucket: "in.c-shop", SourceTable: "orders", Strategy: Incremental}
	res, err := e.sync(t, tb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Strategy, FullRefresh) || res.RowsChanged != 100 {
		t.Fatalf("first sync %+v", res)
	}
	// Two updates, one insert and a new column.
	e.fake.AddColumn("in.c-shop.orders", keboolatest.Column{Name: "channel", BaseType: "STRING"})
	now := time.Now()
	e.fake.Upsert("in.c-shop.orders", now, []string{"5", "5.55", "", "", "", "", "v2", "", "web"},
		[]string{"7", "7.77", "", "", "", "", "v2", "", "shop"}, []string{"101", "0.10", "", "", "", "", "new", "", "web"})
	res, err = e.sync(t, tb)
	if err != nil {
		t.Fatal(err)
	}
	if res.Strategy != Incremental || res.RowsChanged != 3 {
		t.Fatalf("second sync %+v", res)
	}
	got := e.query(t, "orders", "SELECT count(*), count(DISTINCT id), sum(amount)::VARCHAR, count(channel) FROM t")
	if fmt.Sprint(got) != "[[101 101 111.42 3]]" {
		t.Fatalf("merged %v", got)
	}
	got = e.query(t, "orders", "SELECT label, amount::VARCHAR, channel FROM t WHERE id IN (5, 6) ORDER BY id")
	if fmt.Sprint(got) != "[[v2 5.55 web] [v1 1.00 NULL]]" {
		t.Fatalf("rows %v", got)
	}
	// The changedSince window starts before the previous export (safety margin).
	if e.fake.Exports() != 2 {
		t.Fatalf("exports %d", e.fake.Exports())
	}
}

func TestExtractPartitionedRewritesOnlyChanged(t *testing.T) {
	e := newEnv(t)
	e.fake.AddTable(typedTable())
	old := time.Now().Add(-48 * time.Hour)
	var rows [][]string
	for i := 1; i <= 90; i++ {
		month := (i-1)/30 + 1 // 30 rows in each of Jan, Feb, Mar
		rows = append(rows, []string{fmt.Sprint(i), "1", "", "", fmt.Sprintf("2026-%02d-10", month), "", "", ""})
	}
	e.fake.Upsert("in.c-shop.orders", old, rows...)
	tb := connectors.Table{Name: "orders", Bucket: "in.c-shop", SourceTable: "orders", Strategy: Partitioned,
		Options: connectors.TableOptions{PartitionBy: "day", PartitionGrain: "month"}}
	res, err := e.sync(t, tb)
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Partitions; p == nil || fmt.Sprint(p.All) != "[2026-01 2026-02 2026-03]" || len(p.Rewritten) != 3 {
		t.Fatalf("first %+v", res.Partitions)
	}
	pd := filepath.Join(extract.DataDir(e.k.cfg.SourceDir), "orders")
	before := map[string]time.Time{}
	for _, n := range []string{"2026-01", "2026-02", "2026-03"} {
		fi, _ := os.Stat(filepath.Join(pd, n+".parquet"))
		before[n] = fi.ModTime()
	}
	e.fake.Upsert("in.c-shop.orders", time.Now(), []string{"35", "9", "", "", "2026-02-11", "", "", ""})
	res, err = e.sync(t, tb)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Partitions.Rewritten) != "[2026-02]" || fmt.Sprint(res.Partitions.All) != "[2026-01 2026-02 2026-03]" {
		t.Fatalf("second %+v", res.Partitions)
	}
	for _, n := range []string{"2026-01", "2026-03"} {
		fi, _ := os.Stat(filepath.Join(pd, n+".parquet"))
		if !fi.ModTime().Equal(before[n]) {
			t.Fatalf("partition %s was rewritten", n)
		}
	}
	got := e.query(t, "orders", "SELECT count(*), sum(amount)::VARCHAR FROM t")
	if fmt.Sprint(got) != "[[90 98.00]]" {
		t.Fatalf("data %v", got)
	}
	// A row that moves to another month leaves its old partition.
	e.fake.Upsert("in.c-shop.orders", time.Now(), []string{"1", "1", "", "", "2026-04-01", "", "", ""})
	res, err = e.sync(t, tb)
	if err != nil {
		t.Fatal(err)
	}
	// (2026-02 may come again: the changedSince window overlaps the previous export.)
	if r := res.Partitions.Rewritten; !slices.Contains(r, "2026-01") || !slices.Contains(r, "2026-04") || slices.Contains(r, "2026-03") {
		t.Fatalf("moved %+v", res.Partitions)
	}
	got = e.query(t, "orders", "SELECT count(*), count(DISTINCT id) FROM t")
	if fmt.Sprint(got) != "[[90 90]]" {
		t.Fatalf("after move %v", got)
	}
}

func TestExtractNotConfiguredAndCancel(t *testing.T) {
	k := New(Config{})
	_, err := k.Extract(context.Background(), connectors.Table{Name: "x", Bucket: "in.c-a"}, filepath.Join(t.TempDir(), "x.parquet"))
	if err == nil || err.Error() != NotConfiguredMessage {
		t.Fatalf("got %v", err)
	}
	if _, err := k.Discover(context.Background()); !errors.Is(err, connectors.ErrNotConfigured) {
		t.Fatalf("discover: %v", err)
	}
	e := newEnv(t)
	e.fake.AddTable(typedTable())
	e.fake.PollsBeforeDone = 1 << 30 // the job never finishes
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	staging := t.TempDir()
	_, err = e.k.Extract(ctx, connectors.Table{Name: "orders", Bucket: "in.c-shop", SourceTable: "orders"}, filepath.Join(staging, "orders.parquet"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the deadline, got %v", err)
	}
	if left, _ := os.ReadDir(staging); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestDiscoverCachesAndRefreshes(t *testing.T) {
	e := newEnv(t)
	e.fake.AddTable(typedTable())
	e.fake.AddTable(keboolatest.Table{ID: "out.c-report.daily-sales", Columns: []keboolatest.Column{{Name: "x"}}})
	ctx := context.Background()
	list, err := e.k.Discover(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("%v %v", list, err)
	}
	d := list[0]
	if d.ID != "in.c-shop.orders" || d.Bucket != "in.c-shop" || d.Name != "orders" || d.PrimaryKey[0] != "id" ||
		d.ColumnTypes[1] != "DECIMAL(12,2)" || d.Description != "Shop orders" {
		t.Fatalf("discovered %+v", d)
	}
	if list[1].Name != "daily_sales" {
		t.Fatalf("name %q", list[1].Name)
	}
	calls := e.fake.Calls("/v2/storage/tables")
	if _, err := e.k.Discover(ctx); err != nil || e.fake.Calls("/v2/storage/tables") != calls {
		t.Fatalf("a fresh cache asked Keboola again (%v)", err)
	}
	// A new connector over the same cache directory answers without Keboola, even when it is down.
	e.fake.Inject(keboolatest.Fault{Prefix: "/v2/", Status: 500})
	k2 := New(Config{URL: e.fake.URL, Token: e.fake.Token(), CacheDir: e.k.cfg.CacheDir, Client: fastOptions()})
	if l, err := k2.Discover(ctx); err != nil || len(l) != 2 {
		t.Fatalf("cached discover %v %v", l, err)
	}
}

func TestExtractPeriodicFullRefreshDropsDeletedRows(t *testing.T) {
	e := newEnv(t)
	e.fake.AddTable(typedTable())
	e.fake.Upsert("in.c-shop.orders", time.Now().Add(-48*time.Hour), []string{"1", "1", "", "", "", "", "", ""}, []string{"2", "1", "", "", "", "", "", ""})
	tb := connectors.Table{Name: "orders", Bucket: "in.c-shop", SourceTable: "orders", Strategy: Incremental}
	if _, err := e.sync(t, tb); err != nil {
		t.Fatal(err)
	}
	e.fake.Delete("in.c-shop.orders", "2")
	res, err := e.sync(t, tb)
	if err != nil || res.Strategy != Incremental {
		t.Fatalf("%+v %v", res, err)
	}
	if got := e.query(t, "orders", "SELECT count(*) FROM t"); got[0][0] != "2" {
		t.Fatalf("an incremental sync cannot see the delete: %v", got)
	}
	e.k.cfg.FullRefreshEvery = time.Nanosecond
	res, err = e.sync(t, tb)
	if err != nil || !strings.Contains(res.Strategy, "periodic") {
		t.Fatalf("%+v %v", res, err)
	}
	if got := e.query(t, "orders", "SELECT count(*) FROM t"); got[0][0] != "1" {
		t.Fatalf("the periodic full refresh kept the deleted row: %v", got)
	}
}

func TestDiscoverStaleCacheRefreshesInTheBackground(t *testing.T) {
	e := newEnv(t)
	e.fake.AddTable(typedTable())
	e.k.cfg.DiscoveryTTL = time.Nanosecond
	ctx := context.Background()
	if l, err := e.k.Discover(ctx); err != nil || len(l) != 1 {
		t.Fatalf("%v %v", l, err)
	}
	e.fake.AddTable(keboolatest.Table{ID: "in.c-shop.returns", Columns: []keboolatest.Column{{Name: "id"}}})
	// The stale answer comes at once; the refresh lands later.
	if l, err := e.k.Discover(ctx); err != nil || len(l) != 1 {
		t.Fatalf("stale answer %v %v", l, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := e.k.Discover(ctx)
		if err == nil && len(l) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background refresh never landed: %v %v", l, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the last refresh finish before the directories go.
	e.k.mu.Lock()
	e.k.cfg.DiscoveryTTL = time.Hour
	e.k.mu.Unlock()
	for {
		e.k.mu.Lock()
		busy := e.k.refreshing
		e.k.mu.Unlock()
		if !busy {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}
