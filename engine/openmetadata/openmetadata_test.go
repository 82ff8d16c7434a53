package openmetadata

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"da/engine/openmetadata/omtest"
)

// newEnricher is an enricher over a fake, whose waits between retries are recorded instead
// of slept.
func newEnricher(t *testing.T, fake *omtest.Fake, token string) (*Enricher, *[]time.Duration) {
	t.Helper()
	e := New(Options{URL: fake.URL + "/api/", Token: token, Timeout: 2 * time.Second, TTL: time.Hour,
		FQNs: map[string]string{"orders": "snow.analytics.public.orders"}}, t.TempDir(), nil)
	var mu sync.Mutex
	waits := &[]time.Duration{}
	e.client.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return e, waits
}

func TestDisabledWithoutURLOrToken(t *testing.T) {
	for _, o := range []Options{{}, {URL: "http://om"}, {Token: "x"}} {
		e := New(o, t.TempDir(), nil)
		if e.Enabled() {
			t.Errorf("%+v: enabled", o)
		}
		if _, ok := e.Cached("orders"); ok || e.Refresh(context.Background(), []string{"orders"}) != nil {
			t.Errorf("%+v: a disabled enricher did something", o)
		}
		e.RefreshLater("orders")
	}
}

func TestEnrichmentByFQN(t *testing.T) {
	fake := omtest.New("tok")
	defer fake.Close()
	fake.AddTable(omtest.OrdersTable("snow.analytics.public.orders", "<p>All orders&nbsp;placed.</p><ul><li>one row per order</li></ul>"))
	fake.AddTable(omtest.OrdersTable("bigquery.customers", "Customers"))
	e, _ := newEnricher(t, fake, "tok")

	res := e.Refresh(context.Background(), []string{"orders", "CUSTOMERS"})
	if len(res) != 2 || !res[0].OK || !res[1].OK {
		t.Fatalf("Refresh = %+v", res)
	}
	if res[0].FQN != "snow.analytics.public.orders" || res[1].FQN != "bigquery.customers" {
		t.Errorf("FQNs = %q, %q (configured, then the default)", res[0].FQN, res[1].FQN)
	}
	en, ok := e.Cached("orders")
	if !ok || en.Enrichment == nil || en.Error != "" || en.FetchedAt.IsZero() {
		t.Fatalf("cache = %+v", en)
	}
	want := &Enrichment{FQN: "snow.analytics.public.orders", Description: "All orders placed.\n- one row per order",
		Columns:    map[string]ColumnMeta{"amount": {Description: "Net amount in EUR", DataType: "DECIMAL", Tags: []string{"None"}}},
		Tags:       []string{"Sensitive", "Tier1"},
		Owners:     []string{"ann"},
		Tier:       "Tier1",
		CatalogURL: fake.URL + "/table/snow.analytics.public.orders"}
	if !reflect.DeepEqual(en.Enrichment, want) {
		t.Errorf("enrichment =\n%+v\nwant\n%+v", en.Enrichment, want)
	}
	// The cache is one JSON file per table, with no temporary files left.
	entries, _ := os.ReadDir(e.dir)
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	if !reflect.DeepEqual(names, []string{"customers.json", "orders.json"}) {
		t.Errorf("cache files = %v", names)
	}
}

func TestFailuresKeepThePreviousEnrichment(t *testing.T) {
	fake := omtest.New("tok")
	defer fake.Close()
	fake.AddTable(omtest.OrdersTable("snow.analytics.public.orders", "Orders"))
	e, waits := newEnricher(t, fake, "tok")
	ctx := context.Background()
	if r := e.Refresh(ctx, []string{"orders"}); !r[0].OK {
		t.Fatal(r)
	}
	path := "/api/v1/tables/name/snow.analytics.public.orders"
	cases := []struct {
		name      string
		faults    []omtest.Fault
		ok        bool
		errPart   string
		wantWaits []time.Duration
	}{
		{"429 then ok: waits Retry-After", []omtest.Fault{{Status: 429, RetryAfter: "3"}}, true, "", []time.Duration{3 * time.Second}},
		{"429 with an HTTP date", []omtest.Fault{{Status: 429, RetryAfter: time.Now().Add(2 * time.Hour).UTC().Format(http1123)}}, false, "429 LIMITS_EXCEPTION", nil},
		{"429 asking too long a wait", []omtest.Fault{{Status: 429, RetryAfter: "3600"}}, false, "429 LIMITS_EXCEPTION", nil},
		{"503 then ok", []omtest.Fault{{Status: 503}}, true, "", []time.Duration{500 * time.Millisecond}},
		{"500 three times", []omtest.Fault{{Status: 500}, {Status: 500}, {Status: 500}}, false, "500",
			[]time.Duration{500 * time.Millisecond, time.Second}},
		{"slow beyond the timeout, three times", []omtest.Fault{{Delay: 10 * time.Second}, {Delay: 10 * time.Second}, {Delay: 10 * time.Second}},
			false, "no answer within", []time.Duration{500 * time.Millisecond, time.Second}},
		{"403", []omtest.Fault{{Status: 403}}, false, "403", nil},
	}
	e.client.Timeout = time.Second
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			*waits = nil
			fake.Fail(path, tc.faults...)
			before := fake.Hits(path)
			r := e.Refresh(ctx, []string{"orders"})[0]
			if r.OK != tc.ok || !strings.Contains(r.Error, tc.errPart) {
				t.Fatalf("Refresh = %+v, want ok=%v error containing %q", r, tc.ok, tc.errPart)
			}
			if !reflect.DeepEqual(*waits, tc.wantWaits) && !(len(*waits) == 0 && len(tc.wantWaits) == 0) {
				t.Errorf("waits = %v, want %v", *waits, tc.wantWaits)
			}
			if n := fake.Hits(path) - before; n != len(tc.wantWaits)+1 {
				t.Errorf("%d requests, want %d", n, len(tc.wantWaits)+1)
			}
			en, _ := e.Cached("orders")
			if en == nil || en.Enrichment == nil || en.Enrichment.Description != "Orders" {
				t.Fatalf("the previous enrichment was lost: %+v", en)
			}
			if tc.ok != (en.Error == "") {
				t.Errorf("cached error = %q", en.Error)
			}
		})
	}
	// A table removed from OpenMetadata loses its enrichment.
	fake2 := omtest.New("tok")
	defer fake2.Close()
	e.client = NewClient(fake2.URL, "tok", time.Second)
	if r := e.Refresh(ctx, []string{"orders"})[0]; r.OK || !strings.Contains(r.Error, "no table snow.analytics.public.orders") {
		t.Fatalf("404: %+v", r)
	}
	if en, _ := e.Cached("orders"); en.Enrichment != nil {
		t.Errorf("a 404 kept the enrichment: %+v", en)
	}
	// A wrong token is OpenMetadata's 401 with its message.
	e.client = NewClient(fake2.URL, "wrong", time.Second)
	if r := e.Refresh(ctx, []string{"orders"})[0]; r.OK || !strings.Contains(r.Error, "401 UNAUTHORIZED") {
		t.Fatalf("401: %+v", r)
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestRefreshLaterOnlyRefreshesStaleEntries(t *testing.T) {
	fake := omtest.New("tok")
	defer fake.Close()
	fake.AddTable(omtest.OrdersTable("snow.analytics.public.orders", "Orders"))
	e, _ := newEnricher(t, fake, "tok")
	path := "/api/v1/tables/name/snow.analytics.public.orders"
	e.RefreshLater("orders")
	e.Wait()
	e.RefreshLater("orders", "orders")
	e.Wait()
	if n := fake.Hits(path); n != 1 {
		t.Fatalf("%d requests for a fresh entry, want 1", n)
	}
	e.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	e.RefreshLater("orders")
	e.Wait()
	if n := fake.Hits(path); n != 2 {
		t.Fatalf("%d requests after the TTL, want 2", n)
	}
}

func TestStripHTMLAndFilenames(t *testing.T) {
	for in, want := range map[string]string{
		"<p>Hello&nbsp;<b>world</b></p><p>again</p>": "Hello world\nagain",
		"a<br>b<br/>c":                  "a\nb\nc",
		"<ul><li>x</li><li>y</li></ul>": "- x\n- y",
		"  plain   text ":               "plain text",
	} {
		if got := StripHTML(in); got != want {
			t.Errorf("StripHTML(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SanitizeFilename("Revenue (USD) - Net"); got != "revenue_usd_net" {
		t.Errorf("SanitizeFilename = %q", got)
	}
}

func TestExportKeepsHandWrittenFiles(t *testing.T) {
	fake := omtest.New("tok")
	defer fake.Close()
	fake.AddTable(omtest.OrdersTable("bigquery.orders", "Orders"))
	fake.AddMetric(map[string]any{"name": "Revenue (USD) - Net", "displayName": "Net revenue", "fullyQualifiedName": "metrics.revenue",
		"description": "<p>Net of VAT</p>", "metricType": "SUM", "granularity": "DAY", "unitOfMeasurement": "EUR",
		"metricExpression": map[string]any{"language": "SQL", "code": "sum(amount)"},
		"tags":             []any{map[string]any{"tagFQN": "MetricCategory.Finance"}, map[string]any{"tagFQN": "Dimension.region"}},
		"owners":           []any{map[string]any{"name": "ann"}}})
	docs := t.TempDir()
	hand := filepath.Join(docs, "metrics", "finance", "my_metric.yml")
	handTable := filepath.Join(docs, "tables", "customers.yml")
	staleGen := filepath.Join(docs, "tables", "gone.yml")
	for p, body := range map[string]string{hand: "name: mine\n", handTable: "# notes by hand\nname: customers\n",
		staleGen: Marker + "\nname: gone\n"} {
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		_ = os.WriteFile(p, []byte(body), 0o644)
	}
	c := NewClient(fake.URL, "tok", time.Second)
	ctx := context.Background()
	opt := ExportOptions{DocsDir: docs, Tables: []string{"orders", "customers"},
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	res, err := Export(ctx, c, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics != 1 || res.Tables != 1 || !strings.Contains(res.Failed["customers"], "404") ||
		!reflect.DeepEqual(res.Removed, []string{"tables/gone.yml"}) {
		t.Fatalf("Export = %+v", res)
	}
	for _, p := range []string{hand, handTable} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("hand-written %s was removed: %v", p, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(docs, "metrics", "finance", "revenue_usd_net.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), Marker+"\n# Source: "+fake.URL+"/metric/metrics.revenue\n# Generated: 2026-01-02T03:04:05Z\n") {
		t.Errorf("metric header:\n%s", raw)
	}
	var ms []MetricDoc
	if err := yaml.Unmarshal(raw, &ms); err != nil || len(ms) != 1 {
		t.Fatalf("metric file: %v %s", err, raw)
	}
	want := MetricDoc{Name: "revenue_usd_net", DisplayName: "Net revenue", Category: "Finance", Type: "sum", Unit: "EUR", Grain: "day",
		Expression: "sum(amount)", Description: "Net of VAT", Dimensions: []string{"region"},
		Notes: []string{"Source: OpenMetadata catalog (FQN: metrics.revenue)", "Owners: ann"}, Synonyms: []string{}}
	if !reflect.DeepEqual(ms[0], want) {
		t.Errorf("metric = %+v\nwant %+v", ms[0], want)
	}
	var td TableDoc
	raw, _ = os.ReadFile(filepath.Join(docs, "tables", "orders.yml"))
	if err := yaml.Unmarshal(raw, &td); err != nil || td.FQN != "bigquery.orders" || td.Tier != "Tier1" || len(td.Columns) != 1 {
		t.Errorf("table doc = %+v %v", td, err)
	}
	if _, err := os.Stat(filepath.Join(docs, StateFile)); err != nil {
		t.Error("no export state file")
	}

	// OpenMetadata down: the metrics cannot be listed, so every metric file stays; the table
	// doc of a table that failed with a 5xx stays too.
	fake.Fail("/api/v1/", omtest.Fault{Status: 500}, omtest.Fault{Status: 500}, omtest.Fault{Status: 500},
		omtest.Fault{Status: 500}, omtest.Fault{Status: 500}, omtest.Fault{Status: 500})
	c.sleep = func(ctx context.Context, d time.Duration) error { return nil }
	opt.Tables = []string{"orders"}
	res, err = Export(ctx, c, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.MetricsError == "" || len(res.Removed) != 0 {
		t.Fatalf("Export while down = %+v", res)
	}
	for _, p := range []string{"metrics/finance/revenue_usd_net.yml", "metrics/metrics.yml", "tables/orders.yml", "metrics/finance/my_metric.yml"} {
		if _, err := os.Stat(filepath.Join(docs, p)); err != nil {
			t.Errorf("%s removed while OpenMetadata was down", p)
		}
	}
}
