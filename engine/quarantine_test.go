package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"da/engine/connectors/upload"
	"da/engine/extract"
	"da/store"
)

// TestQuarantineUnregisteredUploads sets up what a crash between publishing and registering
// leaves (data listed in _meta without a registry row) and a parquet file no row lists, next
// to a registered upload: at start the first two move to the quarantine directory, are no
// longer served, and the registered table stays as it was.
func TestQuarantineUnregisteredUploads(t *testing.T) {
	eng, st, dir := testEngine(t, Options{})
	ctx := context.Background()
	src := filepath.Join(dir, "extracts", UploadSource)
	for _, name := range []string{"kept", "crashed"} {
		if _, err := upload.Ingest(ctx, src, name, name+".csv", strings.NewReader("a\n1\n2\n"), upload.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RegisterUpload(ctx, &store.Table{ID: "kept", Name: "kept", RegisteredBy: "owner@example.com"}, false); err != nil {
		t.Fatal(err)
	}
	// A registry row of another source does not make upload data legitimate.
	if err := st.RegisterTable(ctx, &store.Table{ID: "crashed", Name: "crashed", SourceType: "keboola"}); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(extract.DataDir(src), "stray.parquet")
	if err := os.Link(filepath.Join(extract.DataDir(src), "kept.parquet"), orphan); err != nil {
		t.Fatal(err)
	}

	got, err := QuarantineUnregisteredUploads(ctx, dir, st, eng.log)
	if err != nil {
		t.Fatal(err)
	}
	moved := map[string]bool{}
	for _, q := range got {
		moved[q.Table] = true
		for _, p := range q.Paths {
			if !strings.HasPrefix(p, filepath.Join(dir, QuarantineDir, UploadSource)) {
				t.Errorf("%s moved to %s, outside the quarantine directory", q.Table, p)
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("quarantined file is missing: %v", err)
			}
		}
	}
	if len(got) != 2 || !moved["crashed"] || !moved["stray"] {
		t.Fatalf("quarantined %+v, want crashed and stray", got)
	}
	x, err := extract.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Tables) != 1 || x.Tables[0].Name != "kept" {
		t.Errorf("_meta after quarantine: %+v", x.Tables)
	}
	if _, err := eng.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := eng.Catalog().Table("crashed"); ok {
		t.Error("the unregistered upload is still served")
	}
	if info, ok := eng.Catalog().Table("kept"); !ok || info.Rows != 2 {
		t.Errorf("the registered upload is %+v, %v", info, ok)
	}
	// A second start finds nothing more to do.
	if again, err := QuarantineUnregisteredUploads(ctx, dir, st, eng.log); err != nil || len(again) != 0 {
		t.Errorf("second run: %+v, %v", again, err)
	}
}

// TestQuarantineWithoutUploads is a no-op on a data directory with no upload source.
func TestQuarantineWithoutUploads(t *testing.T) {
	eng, st, dir := testEngine(t, Options{})
	got, err := QuarantineUnregisteredUploads(context.Background(), dir, st, eng.log)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, QuarantineDir)); err == nil {
		t.Error("a quarantine directory was created for nothing")
	}
}
