package profile

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"da/config"

	_ "github.com/duckdb/duckdb-go/v2"
)

// testConfig is the default profiler configuration (spec §8.1).
func testConfig() config.ProfilerConfig {
	return config.ProfilerConfig{
		SampleSize: 500_000, MaxCategoricalDistinct: 50, TopValuesLimit: 10, HistogramBins: 15,
		SampleRowsLimit: 5, SampleValuesLimit: 5, AlertHighMissingPct: 30, AlertMissingPct: 5,
		AlertImbalancePct: 60, AlertHighCardinality: 50, AlertZerosPct: 50, MemoryLimit: "1GB", Threads: 2,
	}
}

// writeParquet runs the fixture statements in a scratch DuckDB and writes the query's rows to
// dir/name.parquet.
func writeParquet(t testing.TB, dir, name string, setup []string, query string) string {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	path := filepath.Join(dir, name+".parquet")
	for _, s := range append(setup, "SET TimeZone = 'UTC'",
		fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet)", query, quoteString(path))) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("fixture %q: %v", s, err)
		}
	}
	return path
}

func mustProfile(t *testing.T, in Input, cfg config.ProfilerConfig) *Profile {
	t.Helper()
	p, err := ProfileTable(context.Background(), in, cfg)
	if err != nil {
		t.Fatalf("ProfileTable: %v", err)
	}
	// Every profile must marshal: encoding/json refuses NaN and ±Inf.
	if _, err := json.Marshal(p); err != nil {
		t.Fatalf("marshal profile: %v", err)
	}
	return p
}

func colByName(t *testing.T, p *Profile, name string) *Column {
	t.Helper()
	for i := range p.Columns {
		if p.Columns[i].Name == name {
			return &p.Columns[i]
		}
	}
	t.Fatalf("no column %q in profile", name)
	return nil
}

func fv(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func checkFloat(t *testing.T, what string, got *float64, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if got != nil {
			t.Errorf("%s = %v, want null", what, *got)
		}
	case float64:
		if got == nil || math.Abs(*got-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s = %v, want %v", what, fv(got), w)
		}
	}
}

// allTypesQuery builds 10 rows (i = 1..10) with one column of every type the profiler meets.
const allTypesQuery = `SELECT
	i::INTEGER AS id,
	(i % 3)::TINYINT AS tiny,
	(i::HUGEINT * 1000000000000000000000000000000::HUGEINT) AS huge,
	(18446744073709551615::UBIGINT - i::UBIGINT) AS ubig,
	(i / 4)::FLOAT AS flt,
	CASE WHEN i = 9 THEN NULL WHEN i = 10 THEN 'nan'::DOUBLE ELSE i * 0.5 END::DOUBLE AS dbl,
	(i * 1.25)::DECIMAL(5,2) AS dec52,
	(i * 100000000000000000000000000.1234567891::DECIMAL(38,10))::DECIMAL(38,10) AS dec38,
	0::DOUBLE AS zero,
	CASE WHEN i <= 7 THEN 'a' WHEN i <= 9 THEN 'bb' END AS cat,
	'v' || i AS hc,
	NULL::VARCHAR AS nothing,
	DATE '2024-01-15' + (i * 30)::INTEGER AS dt,
	TIME '10:00:00' + INTERVAL (i) MINUTE AS tm,
	TIMESTAMP '2023-12-31 23:00:00' + INTERVAL (i) DAY AS ts,
	TIMESTAMPTZ '2024-03-31 22:30:00-02' AS tstz,
	INTERVAL (i) DAY AS iv,
	('00000000-0000-0000-0000-00000000000' || (i - 1))::UUID AS uid,
	('b' || i)::BLOB AS bin,
	[i, i + 1]::INTEGER[] AS ints,
	{'k': i, 's': 'x'} AS rec,
	MAP {'k': i} AS kv,
	(CASE WHEN i % 2 = 0 THEN 'happy' ELSE 'sad' END)::mood AS mood,
	(i % 4 = 0) AS flag
FROM range(1, 11) r(i) ORDER BY i`

func TestProfileAllTypes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeParquet(t, dir, "all", []string{`CREATE TYPE mood AS ENUM ('sad', 'happy')`}, allTypesQuery)
	cfg := testConfig()
	cfg.MaxCategoricalDistinct = 5
	cfg.AlertHighCardinality = 5
	last := time.Date(2026, 4, 9, 10, 11, 12, 0, time.FixedZone("x", 3600))
	p := mustProfile(t, Input{TableID: "all_types", Description: "every type", PrimaryKey: "id",
		SyncStrategy: "full_refresh", Files: []string{path}, LastSync: &last}, cfg)

	fi, _ := os.Stat(path)
	if p.TableID != "all_types" || p.Description != "every type" || p.PrimaryKey != "id" ||
		p.SyncStrategy != "full_refresh" || p.RowCount != 10 || p.ProfiledRows != 10 || p.Sampled ||
		p.ColumnCount != 24 || len(p.Columns) != 24 {
		t.Errorf("table fields: %+v", p)
	}
	if p.FileSizeMB != round2(float64(fi.Size())/(1<<20)) {
		t.Errorf("file_size_mb = %v for %d bytes", p.FileSizeMB, fi.Size())
	}
	if p.LastSync == nil || !p.LastSync.Equal(last) || p.LastSync.Location() != time.UTC {
		t.Errorf("last_sync = %v", p.LastSync)
	}
	if p.DuplicateRows == nil || *p.DuplicateRows != 0 {
		t.Errorf("duplicate_rows = %v, want 0", p.DuplicateRows)
	}
	wantTypes := map[string]int{"NUMERIC": 9, "STRING": 5, "DATE": 1, "TIMESTAMP": 2, "OTHER": 6, "BOOLEAN": 1}
	if !reflect.DeepEqual(p.VariableTypes, wantTypes) {
		t.Errorf("variable_types = %v, want %v", p.VariableTypes, wantTypes)
	}
	// Nulls: dbl 1, cat 1, nothing 10.
	if p.MissingCells != 12 || p.MissingCellsPct != 5 {
		t.Errorf("missing_cells = %d (%v%%), want 12 (5%%)", p.MissingCells, p.MissingCellsPct)
	}
	// Completeness: 21 columns at 100, dbl 90, cat 90, nothing 0 → 2280/24 = 95.
	if p.AvgCompleteness != 95 {
		t.Errorf("avg_completeness = %v, want 95", p.AvgCompleteness)
	}
	if p.DateRange == nil || p.DateRange.Earliest != "2024-02-14" || p.DateRange.Latest != "2024-11-10" ||
		p.DateRange.SpanDays == nil || *p.DateRange.SpanDays != 270 {
		t.Errorf("date_range = %+v", p.DateRange)
	}
	if !strings.HasPrefix(p.ProfiledWith, Version+" (duckdb v1.") {
		t.Errorf("profiled_with = %q", p.ProfiledWith)
	}

	wantCat := map[string]string{"id": "NUMERIC", "tiny": "NUMERIC", "huge": "NUMERIC", "ubig": "NUMERIC",
		"flt": "NUMERIC", "dbl": "NUMERIC", "dec52": "NUMERIC", "dec38": "NUMERIC", "zero": "NUMERIC",
		"cat": "STRING", "hc": "STRING", "nothing": "STRING", "uid": "STRING", "mood": "STRING",
		"dt": "DATE", "ts": "TIMESTAMP", "tstz": "TIMESTAMP", "tm": "OTHER", "iv": "OTHER", "bin": "OTHER",
		"ints": "OTHER", "rec": "OTHER", "kv": "OTHER", "flag": "BOOLEAN"}
	for name, cat := range wantCat {
		c := colByName(t, p, name)
		if c.TypeCategory != cat {
			t.Errorf("%s (%s): category %s, want %s", name, c.Type, c.TypeCategory, cat)
		}
		stats := 0
		for _, set := range []bool{c.NumericStats != nil, c.StringStats != nil, c.DateStats != nil, c.BooleanStats != nil} {
			if set {
				stats++
			}
		}
		if want := map[bool]int{true: 0, false: 1}[cat == "OTHER"]; stats != want {
			t.Errorf("%s: %d stats objects, want %d", name, stats, want)
		}
	}
	for name, typ := range map[string]string{"dec38": "DECIMAL(38,10)", "dec52": "DECIMAL(5,2)",
		"tstz": "TIMESTAMP WITH TIME ZONE", "ubig": "UBIGINT", "uid": "UUID", "iv": "INTERVAL", "ints": "INTEGER[]"} {
		if got := colByName(t, p, name).Type; got != typ {
			t.Errorf("%s type = %q, want %q", name, got, typ)
		}
	}

	// id: the primary key, unique, 1..10.
	id := colByName(t, p, "id")
	if !id.IsPrimaryKey || id.UniqueCount != 10 || id.UniquePct != 100 || id.NullCount != 0 || id.CompletenessPct != 100 ||
		!reflect.DeepEqual(id.Alerts, []string{"unique"}) || !reflect.DeepEqual(id.SampleValues, []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("id = %+v", id)
	}
	ns := id.NumericStats
	for _, c := range []struct {
		what string
		got  *float64
		want float64
	}{{"min", ns.Min, 1}, {"max", ns.Max, 10}, {"mean", ns.Mean, 5.5}, {"median", ns.Median, 5.5},
		{"stddev", ns.Stddev, 3.03}, {"p5", ns.P5, 1.45}, {"p25", ns.P25, 3.25}, {"p75", ns.P75, 7.75}, {"p95", ns.P95, 9.55}} {
		checkFloat(t, "id."+c.what, c.got, c.want)
	}
	if ns.Zeros != 0 || ns.Negative != 0 || ns.Histogram == nil {
		t.Fatalf("id numeric stats = %+v", ns)
	}
	// 15 bins of width 0.6 over [1, 10]; the maximum falls in the last bin.
	wantCounts := []int64{1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1}
	if !reflect.DeepEqual(ns.Histogram.Counts, wantCounts) {
		t.Errorf("id histogram counts = %v, want %v", ns.Histogram.Counts, wantCounts)
	}
	if len(ns.Histogram.Bins) != 15 || ns.Histogram.Bins[0] != "1-1.60" || ns.Histogram.Bins[1] != "1.60-2.20" ||
		ns.Histogram.Bins[14] != "9.40-10" {
		t.Errorf("id histogram bins = %q", ns.Histogram.Bins)
	}

	// tiny: 1,2,0,1,2,0,1,2,0,1 → 3 zeros.
	tiny := colByName(t, p, "tiny").NumericStats
	if tiny.Zeros != 3 || tiny.ZerosPct != 30 || tiny.Negative != 0 || *tiny.Median != 1 || *tiny.Mean != 1 {
		t.Errorf("tiny = %+v", tiny)
	}
	if got := colByName(t, p, "tiny").Alerts; len(got) != 0 {
		t.Errorf("tiny alerts = %v", got)
	}

	// Huge values survive as DOUBLE: HUGEINT (stored by parquet as DOUBLE), UBIGINT, DECIMAL(38,10).
	checkFloat(t, "huge.min", colByName(t, p, "huge").NumericStats.Min, 1e30)
	checkFloat(t, "huge.max", colByName(t, p, "huge").NumericStats.Max, 1e31)
	checkFloat(t, "huge.median", colByName(t, p, "huge").NumericStats.Median, 5.5e30)
	checkFloat(t, "ubig.max", colByName(t, p, "ubig").NumericStats.Max, 18446744073709551614.0)
	dec38 := colByName(t, p, "dec38")
	checkFloat(t, "dec38.min", dec38.NumericStats.Min, 1e26)
	checkFloat(t, "dec38.max", dec38.NumericStats.Max, 1e27)
	if h := dec38.NumericStats.Histogram; h == nil || h.Bins[0] != "1.0e+26-1.6e+26" {
		t.Errorf("dec38 histogram = %+v", h)
	}
	if dec38.SampleValues[0] != "100000000000000000000000000.1234567891" {
		t.Errorf("dec38 sample values = %q", dec38.SampleValues)
	}
	dec52 := colByName(t, p, "dec52").NumericStats
	checkFloat(t, "dec52.min", dec52.Min, 1.25)
	checkFloat(t, "dec52.max", dec52.Max, 12.5)
	checkFloat(t, "dec52.mean", dec52.Mean, 6.88)
	checkFloat(t, "dec52.median", dec52.Median, 6.88)
	if dec52.Histogram.Bins[0] != "1.25-2" || dec52.Histogram.Bins[1] != "2-2.75" {
		t.Errorf("dec52 first bin = %q", dec52.Histogram.Bins[0])
	}

	// dbl: 0.5..4 for i=1..8, NULL, NaN. NaN counts as a value but stays out of the statistics.
	dbl := colByName(t, p, "dbl")
	if dbl.NullCount != 1 || dbl.CompletenessPct != 90 || dbl.UniqueCount != 9 || dbl.UniquePct != 100 {
		t.Errorf("dbl = %+v", dbl)
	}
	checkFloat(t, "dbl.max", dbl.NumericStats.Max, 4)
	checkFloat(t, "dbl.mean", dbl.NumericStats.Mean, 2.25)
	if !reflect.DeepEqual(dbl.Alerts, []string{"missing"}) {
		t.Errorf("dbl alerts = %v", dbl.Alerts)
	}

	zero := colByName(t, p, "zero")
	if !reflect.DeepEqual(zero.Alerts, []string{"constant", "zeros"}) || zero.NumericStats.ZerosPct != 100 ||
		zero.NumericStats.Histogram != nil || zero.NumericStats.Stddev == nil || *zero.NumericStats.Stddev != 0 {
		t.Errorf("zero = %+v %+v", zero, zero.NumericStats)
	}

	// cat: a×7, bb×2, NULL → top values and imbalance.
	cat := colByName(t, p, "cat")
	wantTop := []TopValue{{"a", 7, 77.78}, {"bb", 2, 22.22}}
	if !reflect.DeepEqual(cat.StringStats.TopValues, wantTop) || cat.StringStats.MinLength != 1 ||
		cat.StringStats.MaxLength != 2 || cat.StringStats.AvgLength != 1.22 {
		t.Errorf("cat string stats = %+v", cat.StringStats)
	}
	if !reflect.DeepEqual(cat.Alerts, []string{"missing", "imbalance"}) || !reflect.DeepEqual(cat.SampleValues, []string{"a", "bb"}) {
		t.Errorf("cat alerts %v samples %v", cat.Alerts, cat.SampleValues)
	}
	hc := colByName(t, p, "hc")
	if !reflect.DeepEqual(hc.Alerts, []string{"unique", "high_cardinality"}) || len(hc.StringStats.TopValues) != 0 ||
		hc.StringStats.MaxLength != 3 {
		t.Errorf("hc = %+v %+v", hc, hc.StringStats)
	}
	nothing := colByName(t, p, "nothing")
	if nothing.CompletenessPct != 0 || nothing.NullCount != 10 || nothing.UniqueCount != 0 || nothing.UniquePct != 0 ||
		!reflect.DeepEqual(nothing.Alerts, []string{"high_missing"}) || len(nothing.SampleValues) != 0 ||
		nothing.StringStats.MaxLength != 0 || nothing.StringStats.AvgLength != 0 {
		t.Errorf("nothing = %+v %+v", nothing, nothing.StringStats)
	}
	uid := colByName(t, p, "uid")
	if uid.StringStats.MinLength != 36 || uid.UniqueCount != 10 || uid.SampleValues[0] != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("uid = %+v %+v", uid, uid.StringStats)
	}
	mood := colByName(t, p, "mood")
	if want := []TopValue{{"happy", 5, 50}, {"sad", 5, 50}}; !reflect.DeepEqual(mood.StringStats.TopValues, want) {
		t.Errorf("mood top values = %+v", mood.StringStats.TopValues)
	}

	// dt: 2024-02-14 + 30-day steps → quarters 2024-Q1..Q4.
	dt := colByName(t, p, "dt").DateStats
	if *dt.Earliest != "2024-02-14" || *dt.Latest != "2024-11-10" || *dt.SpanDays != 270 ||
		!reflect.DeepEqual(dt.Histogram, &Histogram{Bins: []string{"2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"},
			Counts: []int64{2, 3, 3, 2}}) {
		t.Errorf("dt date stats = %+v %+v", dt, dt.Histogram)
	}
	ts := colByName(t, p, "ts").DateStats
	if *ts.Earliest != "2024-01-01" || *ts.Latest != "2024-01-10" || *ts.SpanDays != 9 ||
		!reflect.DeepEqual(ts.Histogram.Bins, []string{"2024-Q1"}) {
		t.Errorf("ts date stats = %+v", ts)
	}
	// 22:30 at -02:00 is the next day, and the next quarter, in UTC.
	tstz := colByName(t, p, "tstz")
	if *tstz.DateStats.Earliest != "2024-04-01" || !reflect.DeepEqual(tstz.DateStats.Histogram.Bins, []string{"2024-Q2"}) ||
		!reflect.DeepEqual(tstz.Alerts, []string{"constant"}) {
		t.Errorf("tstz = %+v %+v", tstz, tstz.DateStats)
	}

	for name, first := range map[string]string{"tm": "10:01:00", "iv": "1 day", "bin": "b1", "ints": "[1, 2]",
		"rec": "{'k': 1, 's': x}", "kv": "{k=1}"} {
		c := colByName(t, p, name)
		if c.UniqueCount != 10 || c.CompletenessPct != 100 || len(c.SampleValues) != 5 || c.SampleValues[0] != first {
			t.Errorf("%s = %+v", name, c)
		}
	}

	flag := colByName(t, p, "flag")
	if *flag.BooleanStats != (BooleanStats{TrueCount: 2, FalseCount: 8, TruePct: 20}) ||
		!reflect.DeepEqual(flag.SampleValues, []string{"false", "true"}) {
		t.Errorf("flag = %+v %+v", flag, flag.BooleanStats)
	}

	wantAlerts := []Alert{
		{"id", "unique", "id has all unique values"},
		{"huge", "unique", "huge has all unique values"},
		{"ubig", "unique", "ubig has all unique values"},
		{"flt", "unique", "flt has all unique values"},
		{"dbl", "missing", "dbl has 10.0% missing values"},
		{"dec52", "unique", "dec52 has all unique values"},
		{"dec38", "unique", "dec38 has all unique values"},
		{"zero", "constant", "zero is constant (single value)"},
		{"zero", "zeros", "zero has 100.0% zero values"},
		{"cat", "missing", "cat has 10.0% missing values"},
		{"cat", "imbalance", "cat is highly imbalanced (top value 77.78%)"},
		{"hc", "unique", "hc has all unique values"},
		{"hc", "high_cardinality", "hc has high cardinality (10 distinct)"},
		{"nothing", "high_missing", "nothing has 100.0% missing values"},
		{"dt", "unique", "dt has all unique values"},
		{"tm", "unique", "tm has all unique values"},
		{"ts", "unique", "ts has all unique values"},
		{"tstz", "constant", "tstz is constant (single value)"},
		{"iv", "unique", "iv has all unique values"},
		{"uid", "unique", "uid has all unique values"},
		{"uid", "high_cardinality", "uid has high cardinality (10 distinct)"},
		{"bin", "unique", "bin has all unique values"},
		{"ints", "unique", "ints has all unique values"},
		{"rec", "unique", "rec has all unique values"},
		{"kv", "unique", "kv has all unique values"},
	}
	if !reflect.DeepEqual(p.Alerts, wantAlerts) {
		t.Errorf("alerts:\n got %v\nwant %v", p.Alerts, wantAlerts)
	}

	// Sample rows: the first 5 rows as text, NULL as nil, in column order.
	if len(p.SampleRows) != 5 {
		t.Fatalf("sample_rows = %d rows", len(p.SampleRows))
	}
	r0 := p.SampleRows[0]
	if len(r0.Columns) != 24 || r0.Columns[0] != "id" || *r0.Values[0] != "1" || r0.Values[11] != nil ||
		*r0.Values[15] != "2024-04-01 00:30:00+00" || *r0.Values[23] != "false" {
		t.Errorf("first sample row = %v", sampleRowText(r0))
	}
}

func sampleRowText(r SampleRow) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func TestProfileJSONKeysAndRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeParquet(t, dir, "t", []string{`CREATE TYPE mood AS ENUM ('sad', 'happy')`}, allTypesQuery)
	p := mustProfile(t, Input{TableID: "t", Files: []string{path}}, testConfig())
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"NaN", "Inf"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("profile JSON contains %s", bad)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"table_id", "description", "primary_key", "sync_strategy", "row_count", "column_count",
		"file_size_mb", "avg_completeness", "missing_cells", "missing_cells_pct", "duplicate_rows", "variable_types",
		"date_range", "alerts", "sampled", "last_sync", "related_tables", "used_by_metrics", "columns", "sample_rows"}
	for _, k := range wantKeys {
		if _, ok := doc[k]; !ok {
			t.Errorf("profile JSON lacks %q", k)
		}
	}
	if doc["duplicate_rows"] != nil || doc["last_sync"] != nil {
		t.Errorf("no PK / no sync must give nulls: %v %v", doc["duplicate_rows"], doc["last_sync"])
	}
	if rt, ok := doc["related_tables"].([]any); !ok || len(rt) != 0 {
		t.Errorf("related_tables = %v, want []", doc["related_tables"])
	}
	col := doc["columns"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "type", "type_category", "completeness_pct", "null_count", "unique_count",
		"unique_pct", "sample_values", "is_primary_key", "alerts", "numeric_stats"} {
		if _, ok := col[k]; !ok {
			t.Errorf("column JSON lacks %q", k)
		}
	}
	for _, k := range []string{"string_stats", "date_stats", "boolean_stats"} {
		if _, ok := col[k]; ok {
			t.Errorf("numeric column JSON has %q", k)
		}
	}
	// sample_rows keep the column order in JSON and read back unchanged.
	if !strings.HasPrefix(sampleRowText(p.SampleRows[0]), `{"id":"1","tiny":"1","huge":`) {
		t.Errorf("sample row JSON = %s", sampleRowText(p.SampleRows[0]))
	}
	var back Profile
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal profile: %v", err)
	}
	if !reflect.DeepEqual(back.SampleRows, p.SampleRows) || !reflect.DeepEqual(back.Columns, p.Columns) {
		t.Errorf("profile does not round-trip through JSON")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProfileSampling(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeParquet(t, dir, "big", nil,
		`SELECT i AS id, i % 7 AS bucket, 'k' || (i % 3) AS kind FROM range(20000) r(i)`)
	cfg := testConfig()
	cfg.SampleSize = 2000
	in := Input{TableID: "big", PrimaryKey: "id", Files: []string{path}}
	p := mustProfile(t, in, cfg)
	if !p.Sampled || p.RowCount != 20000 || p.ProfiledRows != 2000 {
		t.Fatalf("sampled=%v row_count=%d profiled_rows=%d", p.Sampled, p.RowCount, p.ProfiledRows)
	}
	id := colByName(t, p, "id")
	if id.UniqueCount != 2000 || *p.DuplicateRows != 0 || id.NumericStats.Histogram == nil {
		t.Errorf("id over the sample = %+v", id)
	}
	var histTotal int64
	for _, n := range id.NumericStats.Histogram.Counts {
		histTotal += n
	}
	if histTotal != 2000 {
		t.Errorf("histogram counts sum to %d, want the sample size 2000", histTotal)
	}
	// A sample of 2000 from 20000 spreads over the whole range.
	if *id.NumericStats.Min > 200 || *id.NumericStats.Max < 19800 {
		t.Errorf("sample range %v..%v", *id.NumericStats.Min, *id.NumericStats.Max)
	}
	kind := colByName(t, p, "kind")
	var topTotal int64
	for _, tv := range kind.StringStats.TopValues {
		topTotal += tv.Count
	}
	if kind.UniqueCount != 3 || topTotal != 2000 {
		t.Errorf("kind over the sample = %+v", kind.StringStats)
	}
	// The sample is deterministic: a second run gives the same document.
	again := mustProfile(t, in, cfg)
	if a, b := mustJSON(t, p), mustJSON(t, again); string(a) != string(b) {
		t.Errorf("two profiles of the same sampled table differ")
	}
	// Not sampled at exactly the sample size.
	cfg.SampleSize = 20000
	if p := mustProfile(t, in, cfg); p.Sampled || p.ProfiledRows != 20000 {
		t.Errorf("table of exactly sample_size rows: sampled=%v profiled=%d", p.Sampled, p.ProfiledRows)
	}
}

func TestProfileShards(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeParquet(t, dir, "2024-01", nil, `SELECT i AS id, 'x' AS name FROM range(0, 100) r(i)`)
	b := writeParquet(t, dir, "2024-02", nil, `SELECT 'y' AS name, i AS id FROM range(100, 250) r(i)`)
	c := writeParquet(t, dir, "2024-03", nil, `SELECT i AS id, 'z' AS name, i * 2 AS extra FROM range(250, 300) r(i)`)
	p := mustProfile(t, Input{TableID: "sharded", PrimaryKey: "id", Files: []string{a, b, c}}, testConfig())
	if p.RowCount != 300 || p.ColumnCount != 3 || *p.DuplicateRows != 0 {
		t.Fatalf("row_count=%d column_count=%d duplicates=%v", p.RowCount, p.ColumnCount, p.DuplicateRows)
	}
	id := colByName(t, p, "id")
	checkFloat(t, "id.min", id.NumericStats.Min, 0)
	checkFloat(t, "id.max", id.NumericStats.Max, 299)
	name := colByName(t, p, "name")
	if want := []TopValue{{"y", 150, 50}, {"x", 100, 33.33}, {"z", 50, 16.67}}; !reflect.DeepEqual(name.StringStats.TopValues, want) {
		t.Errorf("name top values = %+v", name.StringStats.TopValues)
	}
	extra := colByName(t, p, "extra")
	if extra.NullCount != 250 || extra.CompletenessPct != 16.67 || !reflect.DeepEqual(extra.Alerts, []string{"high_missing"}) {
		t.Errorf("extra = %+v", extra)
	}
	if p.Alerts[len(p.Alerts)-1].Message != "extra has 83.33% missing values" {
		t.Errorf("alerts = %+v", p.Alerts)
	}
	var size int64
	for _, f := range []string{a, b, c} {
		fi, _ := os.Stat(f)
		size += fi.Size()
	}
	if p.FileSizeMB != round2(float64(size)/(1<<20)) {
		t.Errorf("file_size_mb = %v for %d bytes", p.FileSizeMB, size)
	}
	// A given size wins over the files' sizes.
	p = mustProfile(t, Input{TableID: "sharded", Files: []string{a}, FileSizeBytes: 3 << 20}, testConfig())
	if p.FileSizeMB != 3 || p.DuplicateRows != nil {
		t.Errorf("file_size_mb = %v duplicate_rows = %v", p.FileSizeMB, p.DuplicateRows)
	}
}

func TestProfileEmptyTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeParquet(t, dir, "empty", []string{`CREATE TYPE mood AS ENUM ('sad', 'happy')`},
		allTypesQuery+" LIMIT 0")
	p := mustProfile(t, Input{TableID: "empty", PrimaryKey: "id", Files: []string{path}}, testConfig())
	if p.RowCount != 0 || p.ProfiledRows != 0 || p.ColumnCount != 24 || p.Sampled || p.AvgCompleteness != 0 ||
		p.MissingCells != 0 || p.MissingCellsPct != 0 || *p.DuplicateRows != 0 || p.DateRange != nil ||
		len(p.Alerts) != 0 || len(p.SampleRows) != 0 {
		t.Errorf("empty profile = %+v", p)
	}
	for _, c := range p.Columns {
		if c.CompletenessPct != 0 || c.UniquePct != 0 || c.NullCount != 0 || len(c.Alerts) != 0 || len(c.SampleValues) != 0 {
			t.Errorf("empty column %s = %+v", c.Name, c)
		}
		if s := c.NumericStats; s != nil && (s.Min != nil || s.Mean != nil || s.Stddev != nil || s.Median != nil || s.Histogram != nil) {
			t.Errorf("empty numeric column %s = %+v", c.Name, s)
		}
		if s := c.DateStats; s != nil && (s.Earliest != nil || s.SpanDays != nil || len(s.Histogram.Bins) != 0) {
			t.Errorf("empty date column %s = %+v", c.Name, s)
		}
		if s := c.BooleanStats; s != nil && s.TruePct != 0 {
			t.Errorf("empty boolean column %s = %+v", c.Name, s)
		}
	}
	b := string(mustJSON(t, p))
	if !strings.Contains(b, `"sample_rows":[]`) || !strings.Contains(b, `"alerts":[]`) || strings.Contains(b, "NaN") {
		t.Errorf("empty profile JSON = %s", b)
	}
}

func TestProfileWeirdColumnNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeParquet(t, dir, "weird", nil, `SELECT
		i AS "first name", 'q' || (i % 2) AS "quo""ted 'col'", i * 1.5 AS "ünïcödé 列", i % 2 = 0 AS "select",
		DATE '2024-01-01' + i::INTEGER AS "from", NULL::INTEGER AS "a;DROP TABLE x;--"
		FROM range(4) r(i)`)
	p := mustProfile(t, Input{TableID: "weird", PrimaryKey: `first name, quo"ted 'col'`, Files: []string{path}}, testConfig())
	names := make([]string, len(p.Columns))
	for i, c := range p.Columns {
		names[i] = c.Name
	}
	want := []string{"first name", `quo"ted 'col'`, "ünïcödé 列", "select", "from", "a;DROP TABLE x;--"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("columns = %q", names)
	}
	if !p.Columns[0].IsPrimaryKey || !p.Columns[1].IsPrimaryKey || p.Columns[2].IsPrimaryKey || *p.DuplicateRows != 0 {
		t.Errorf("primary key flags / duplicates wrong: %+v", p.DuplicateRows)
	}
	checkFloat(t, "unicode max", p.Columns[2].NumericStats.Max, 4.5)
	if tv := p.Columns[1].StringStats.TopValues; len(tv) != 2 || tv[0].Count != 2 {
		t.Errorf("quoted column top values = %+v", tv)
	}
	if p.Columns[3].BooleanStats.TrueCount != 2 || *p.Columns[4].DateStats.Latest != "2024-01-04" {
		t.Errorf("reserved-word columns: %+v %+v", p.Columns[3].BooleanStats, p.Columns[4].DateStats)
	}
	if p.Columns[5].NullCount != 4 || p.Columns[5].Alerts[0] != "high_missing" {
		t.Errorf("injection-named column = %+v", p.Columns[5])
	}
	if got := sampleRowText(p.SampleRows[0]); !strings.Contains(got, `"quo\"ted 'col'":"q0"`) {
		t.Errorf("sample row = %s", got)
	}
}

func TestProfilePrimaryKeyDuplicates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeParquet(t, dir, "dups", nil, `SELECT i % 3 AS a, i % 2 = 0 AS b, CASE WHEN i < 4 THEN NULL ELSE i END AS c
		FROM range(1, 11) r(i)`)
	tests := []struct {
		pk      string
		want    *int64
		unknown []string
	}{
		{pk: "a", want: ptr(7)},
		{pk: "a, b", want: ptr(4)},
		{pk: " A ,B ", want: ptr(4)}, // case-insensitive, like DuckDB identifiers
		{pk: "c", want: ptr(2)},      // the three NULLs count as one key
		{pk: "a,missing", unknown: []string{"missing"}},
		{pk: "", want: nil},
	}
	for _, tc := range tests {
		p := mustProfile(t, Input{TableID: "dups", PrimaryKey: tc.pk, Files: []string{path}}, testConfig())
		if !reflect.DeepEqual(p.DuplicateRows, tc.want) {
			t.Errorf("pk %q: duplicate_rows = %v, want %v", tc.pk, fv64(p.DuplicateRows), fv64(tc.want))
		}
		var unknown []string
		for _, a := range p.Alerts {
			if a.Type == AlertUnknownPrimaryKey {
				unknown = append(unknown, a.Column)
				if a.Message != "primary key column missing does not exist in the table" {
					t.Errorf("message = %q", a.Message)
				}
			}
		}
		if !reflect.DeepEqual(unknown, tc.unknown) {
			t.Errorf("pk %q: unknown key alerts %v, want %v", tc.pk, unknown, tc.unknown)
		}
	}
}

func ptr(v int64) *int64 { return &v }

func fv64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestProfileExtremeFloats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// stddev of ±1e300 overflows DuckDB's accumulator; the profile must still come out.
	path := writeParquet(t, dir, "ext", nil, `SELECT
		CASE WHEN i % 2 = 0 THEN 1e300 ELSE -1e300 END::DOUBLE AS huge,
		CASE WHEN i = 0 THEN 'inf'::DOUBLE WHEN i = 1 THEN '-inf'::DOUBLE ELSE i END::DOUBLE AS infs,
		i::DOUBLE / 1000 AS small
		FROM range(6) r(i)`)
	p := mustProfile(t, Input{TableID: "ext", Files: []string{path}}, testConfig())
	huge := colByName(t, p, "huge").NumericStats
	checkFloat(t, "huge.max", huge.Max, 1e300)
	checkFloat(t, "huge.stddev", huge.Stddev, 1.0954451150103321e300)
	if h := huge.Histogram; h == nil || h.Counts[0] != 3 || h.Counts[14] != 3 || h.Bins[0] != "-1.0e+300--8.7e+299" || h.Bins[14] != "8.7e+299-1.0e+300" {
		t.Errorf("huge histogram = %+v", h)
	}
	infs := colByName(t, p, "infs")
	checkFloat(t, "infs.min", infs.NumericStats.Min, 2)
	checkFloat(t, "infs.max", infs.NumericStats.Max, 5)
	if infs.UniqueCount != 6 || infs.NullCount != 0 {
		t.Errorf("infs = %+v", infs)
	}
	small := colByName(t, p, "small").NumericStats
	checkFloat(t, "small.max", small.Max, 0.01) // 0.005 rounds to 2 decimals
	if small.Histogram == nil || small.Histogram.Bins[0] != "0-0.00" {
		t.Errorf("small histogram = %+v", small.Histogram)
	}
}

func TestProfileBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeParquet(t, dir, "good", nil, `SELECT 1 AS a`)
	notParquet := filepath.Join(dir, "bad.parquet")
	if err := os.WriteFile(notParquet, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badMem := testConfig()
	badMem.MemoryLimit = "lots"
	tests := []struct {
		name string
		in   Input
		cfg  config.ProfilerConfig
		want string
	}{
		{"no files", Input{TableID: "t"}, testConfig(), "profile t: no parquet files given"},
		{"missing file", Input{TableID: "t", Files: []string{filepath.Join(dir, "nope.parquet")}}, testConfig(), "nope.parquet"},
		{"directory", Input{TableID: "t", Files: []string{dir}}, testConfig(), "is not a regular file"},
		{"not parquet", Input{TableID: "t", Files: []string{notParquet}}, testConfig(), "read parquet"},
		{"bad memory limit", Input{TableID: "t", Files: []string{good}}, badMem, `invalid profiler.memory_limit "lots"`},
	}
	for _, tc := range tests {
		p, err := ProfileTable(context.Background(), tc.in, tc.cfg)
		if err == nil || p != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ProfileTable(ctx, Input{TableID: "t", Files: []string{good}}, testConfig()); err == nil {
		t.Errorf("cancelled context: no error")
	}
	// A zero configuration falls back to the defaults instead of failing.
	if p, err := ProfileTable(context.Background(), Input{TableID: "t", Files: []string{good}}, config.ProfilerConfig{}); err != nil ||
		p.RowCount != 1 || len(p.SampleRows) != 1 {
		t.Errorf("zero config: %v, %+v", err, p)
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	labels := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {7, "7"}, {-3, "-3"}, {1.6, "1.60"}, {2.005, "2.00"},
		{999, "999"}, {1000, "1.0K"}, {-1500, "-1.5K"}, {2.5e6, "2.5M"}, {1.25e9, "1.2B"}, {3e12, "3000.0B"}, {-2.5e15, "-2.5e+15"}, {1e30, "1.0e+30"},
	}
	for _, tc := range labels {
		if got := binLabel(tc.in); got != tc.want {
			t.Errorf("binLabel(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	floats := []struct {
		in   float64
		want string
	}{{40, "40.0"}, {33.33, "33.33"}, {100, "100.0"}, {0.5, "0.5"}}
	for _, tc := range floats {
		if got := pyFloat(tc.in); got != tc.want {
			t.Errorf("pyFloat(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if opt2(math.NaN(), true) != nil || opt2(math.Inf(1), true) != nil || opt2(1, false) != nil || *opt2(1.006, true) != 1.01 {
		t.Errorf("opt2 does not map NaN/Inf/NULL to nil or round")
	}
	if pct(1, 0) != 0 || pct(2, 3) != 66.67 || round2(-0.001) != 0 || math.Signbit(round2(-0.001)) {
		t.Errorf("pct/round2 edge cases")
	}
	long := strings.Repeat("é", maxTextRunes+10)
	if got := clip(long); !strings.HasSuffix(got, "…") || len([]rune(got)) != maxTextRunes+1 {
		t.Errorf("clip kept %d runes", len([]rune(got)))
	}
	cats := map[string]string{
		"BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
		"TIMESTAMP_NS": "TIMESTAMP", "DECIMAL(38,10)": "NUMERIC", "HUGEINT": "NUMERIC", "UHUGEINT": "NUMERIC",
		"UBIGINT": "NUMERIC", "FLOAT": "NUMERIC", "VARCHAR": "STRING", "UUID": "STRING",
		"ENUM('a', 'b')": "STRING", "TIME": "OTHER", "INTERVAL": "OTHER", "BLOB": "OTHER", "INTEGER[]": "OTHER",
		"TIMESTAMP[]": "OTHER", "STRUCT(ts TIMESTAMP)": "OTHER", "MAP(VARCHAR, INTEGER)": "OTHER",
		"UNION(a INTEGER)": "OTHER", "INTEGER[3]": "OTHER", "BIT": "OTHER",
	}
	for typ, want := range cats {
		if got := Category(typ); got != want {
			t.Errorf("Category(%q) = %s, want %s", typ, got, want)
		}
	}
}
