package keboola

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"da/engine/connectors/keboola/keboolatest"
)

func fastOptions() ClientOptions {
	return ClientOptions{MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

func newFake(t *testing.T) *keboolatest.Server {
	t.Helper()
	f := keboolatest.New("secret-token-123")
	t.Cleanup(f.Close)
	f.AddTable(keboolatest.Table{ID: "in.c-main.orders", Description: "Orders", PrimaryKey: []string{"id"},
		Columns: []keboolatest.Column{{Name: "id", BaseType: "INTEGER"}, {Name: "amount", BaseType: "NUMERIC", Length: "38,2"}, {Name: "note"}}})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Upsert("in.c-main.orders", at, []string{"1", "10.50", "a"}, []string{"2", "20", "b, with comma"}, []string{"3", "", ""})
	return f
}

func TestClientVerifyAndList(t *testing.T) {
	f := newFake(t)
	c, err := NewClient(f.URL, f.Token(), fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.VerifyToken(context.Background())
	if err != nil || tok.ProjectName() != "Fake project" || tok.ProjectID() != "58" {
		t.Fatalf("verify: %+v %v", tok, err)
	}
	tables, err := c.ListTables(context.Background())
	if err != nil || len(tables) != 1 {
		t.Fatalf("list: %v %v", tables, err)
	}
	tb := tables[0]
	if tb.Bucket.ID != "in.c-main" || tb.RowsCount != 3 || tb.PrimaryKey[0] != "id" || tb.LastChangeDate.IsZero() ||
		tb.Description() != "Orders" || len(tb.ColumnMetadata["amount"]) == 0 {
		t.Fatalf("table: %+v", tb)
	}
	buckets, err := c.ListBuckets(context.Background())
	if err != nil || len(buckets) != 1 || buckets[0].Stage != "in" {
		t.Fatalf("buckets: %+v %v", buckets, err)
	}
}

func TestClientErrorsQuoteTheAPIAndHideTheToken(t *testing.T) {
	f := newFake(t)
	c, _ := NewClient(f.URL, "wrong-token-xyz", fastOptions())
	_, err := c.VerifyToken(context.Background())
	if !IsUnauthorized(err) || !strings.Contains(err.Error(), "Invalid access token") || strings.Contains(err.Error(), "wrong-token-xyz") {
		t.Fatalf("want a 401 quoting the API, got %v", err)
	}
	c, _ = NewClient(f.URL, f.Token(), fastOptions())
	_, err = c.TableDetail(context.Background(), "in.c-main.missing")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(err.Error(), "in.c-main.missing") {
		t.Fatalf("want a 404 naming the table, got %v", err)
	}
	if _, err := NewClient("ftp://x", "t", ClientOptions{}); err == nil {
		t.Fatal("an ftp URL was accepted")
	}
}

func TestClientRetries(t *testing.T) {
	f := newFake(t)
	c, _ := NewClient(f.URL, f.Token(), fastOptions())
	f.Inject(keboolatest.Fault{Prefix: "/v2/storage/tables", Status: http.StatusTooManyRequests, RetryAfter: "0", Times: 2})
	f.Inject(keboolatest.Fault{Prefix: "/v2/storage/tables", Status: http.StatusInternalServerError, Times: 1})
	if _, err := c.ListTables(context.Background()); err != nil {
		t.Fatalf("three transient failures then success: %v", err)
	}
	f.Inject(keboolatest.Fault{Prefix: "/v2/storage/buckets", Status: http.StatusServiceUnavailable, RetryAfter: "0"})
	_, err := c.ListBuckets(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "Planned maintenance") {
		t.Fatalf("want the maintenance answer after the retries, got %v", err)
	}
	if n := f.Calls("/v2/storage/buckets"); n != 0 {
		t.Fatalf("faulted calls reached the handler: %d", n)
	}
	f.ClearFaults()
	f.Inject(keboolatest.Fault{Prefix: "/v2/storage/tables", Status: http.StatusBadRequest})
	if _, err := c.ListTables(context.Background()); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a 400 must not be retried into success: %v", err)
	}
}

func TestClientCancellation(t *testing.T) {
	f := newFake(t)
	f.Delay = 5 * time.Second
	c, _ := NewClient(f.URL, f.Token(), fastOptions())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := c.ListTables(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestClientExportSlicedGzipS3Entries(t *testing.T) {
	f := newFake(t)
	f.SliceRows = 2
	f.S3Entries = true
	opt := fastOptions()
	opt.ResolveSlice = func(ctx context.Context, _ *File, entry string) (*http.Request, error) {
		u, err := f.ResolveS3(entry)
		if err != nil {
			return nil, err
		}
		return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	}
	c, _ := NewClient(f.URL, f.Token(), opt)
	ctx := context.Background()
	j, err := c.ExportAsync(ctx, "in.c-main.orders", ExportOptions{})
	if err != nil || j.Status != "waiting" {
		t.Fatalf("export: %+v %v", j, err)
	}
	j, err = c.WaitJob(ctx, string(j.ID))
	if err != nil || j.FileID() == "" {
		t.Fatalf("wait: %+v %v", j, err)
	}
	fd, err := c.FileDetail(ctx, j.FileID())
	if err != nil || !fd.IsSliced {
		t.Fatalf("file: %+v %v", fd, err)
	}
	var all bytes.Buffer
	n := 0
	err = c.Slices(ctx, fd, func(i int, r io.Reader) error {
		n++
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		_, err = io.Copy(&all, zr)
		return err
	})
	if err != nil || n != 2 {
		t.Fatalf("slices: %d %v", n, err)
	}
	if got := all.String(); got != "1,10.50,a\n2,20,\"b, with comma\"\n3,,\n" {
		t.Fatalf("content %q", got)
	}
	// Without a resolver, s3:// entries are refused with a reason, not fetched blindly.
	c2, _ := NewClient(f.URL, f.Token(), fastOptions())
	if err := c2.Slices(ctx, fd, func(int, io.Reader) error { return nil }); err == nil || !strings.Contains(err.Error(), "s3://") {
		t.Fatalf("want an s3 refusal, got %v", err)
	}
}

func TestClientExportJobError(t *testing.T) {
	f := newFake(t)
	f.FailExport["in.c-main.orders"] = "Snowflake warehouse is suspended"
	c, _ := NewClient(f.URL, f.Token(), fastOptions())
	j, err := c.ExportAsync(context.Background(), "in.c-main.orders", ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitJob(context.Background(), string(j.ID)); err == nil || !strings.Contains(err.Error(), "warehouse is suspended") {
		t.Fatalf("want the job's message, got %v", err)
	}
}
