package connectors

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"da/engine/extract"
)

func TestRegistryLookup(t *testing.T) {
	root := t.TempDir()
	ext := filepath.Join(root, "extracts")
	// An extract written by another process, an empty directory and an invalid name.
	other := filepath.Join(ext, "jira")
	if err := extract.Write(other, &extract.Extract{Tables: []extract.Table{{Name: "issues", QueryMode: extract.ModeRemote}}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(ext, "empty"), filepath.Join(ext, "bad-name")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRegistry(ext)
	tests := []struct {
		typ, source string
		ok          bool
	}{
		{"upload", SourceUploads, true},
		{"UPLOAD", SourceUploads, true},
		{"demo", SourceDemo, true},
		{"jira", "jira", true},
		{"uploads", "", false}, // the upload source's directory is not a type of its own
		{"empty", "", false},
		{"bad-name", "", false},
		{"../state", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		c, ok := r.Get(tc.typ)
		if ok != tc.ok || (ok && c.Source() != tc.source) {
			t.Errorf("Get(%q) = %v, %v; want source %q, %v", tc.typ, c, ok, tc.source, tc.ok)
		}
	}
	if got := strings.Join(r.Types(), ","); got != "upload,demo,jira" {
		t.Errorf("Types() = %s", got)
	}
	c, _ := r.Get("jira")
	if res, err := c.Extract(context.Background(), Table{Name: "ISSUES"}, ""); err != nil || !res.Kept {
		t.Errorf("passive extract of a listed table = %+v, %v", res, err)
	}
	if _, err := c.Extract(context.Background(), Table{Name: "nope"}, ""); err == nil || !strings.Contains(err.Error(), "not in the jira source") {
		t.Errorf("passive extract of an unknown table: %v", err)
	}
	up, _ := r.Get("upload")
	if _, err := up.Extract(context.Background(), Table{Name: "x"}, ""); err == nil || !strings.Contains(err.Error(), "upload the file again") {
		t.Errorf("upload extract without data: %v", err)
	}
	if !SupportsMode(c, extract.ModeRemote) || SupportsMode(up, extract.ModeRemote) {
		t.Error("SupportsMode is wrong")
	}
}

func TestDemoConnector(t *testing.T) {
	d := NewDemo(filepath.Join(t.TempDir(), "cache"))
	list, err := d.Discover(context.Background())
	if err != nil || len(list) != 8 || list[0].PrimaryKey[0] == "" {
		t.Fatalf("Discover = %+v, %v", list, err)
	}
	stage := filepath.Join(t.TempDir(), "orders.parquet")
	if _, err := d.Extract(context.Background(), Table{Name: "Orders"}, stage); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(stage); err != nil || fi.Size() < 100 {
		t.Fatalf("staged file: %v", err)
	}
	if _, err := d.Extract(context.Background(), Table{Name: "secrets"}, stage+"2"); err == nil || !strings.Contains(err.Error(), "no table") {
		t.Errorf("unknown demo table: %v", err)
	}
	// Discovery now reports the generated facts.
	list, _ = d.Discover(context.Background())
	if list[0].Rows == 0 {
		t.Errorf("rows after generation = %d", list[0].Rows)
	}
}
