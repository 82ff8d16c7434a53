package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"da/engine"
	"da/store"
)

// instance is a data directory with a store, an engine and a publisher, as `da serve` has.
type instance struct {
	dir string
	st  *store.Store
	eng *engine.Engine
	pub *engine.Publisher
}

func newInstance(t *testing.T, dir string) *instance {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.DiscardHandler)
	eng := engine.New(dir, st, log, engine.Options{Getenv: func(string) string { return "" }})
	if _, err := eng.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &instance{dir: dir, st: st, eng: eng, pub: &engine.Publisher{Engine: eng, Store: st, DataDir: dir, Log: log}}
}

// populated is an instance with users, two uploaded tables, a grant, a knowledge file and a
// generated secret.
func populated(t *testing.T) *instance {
	t.Helper()
	in := newInstance(t, t.TempDir())
	ctx := context.Background()
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		if err := in.st.CreateUser(ctx, &store.User{Email: email, Name: email[:3], Role: "analyst", Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"sales": "region,amount\nnorth,10\nsouth,20\n", "people": "id,name\n1,ann\n2,bob\n3,cy\n"} {
		if _, err := in.pub.Upload(ctx, engine.UploadRequest{Name: name, Filename: name + ".csv", Body: strings.NewReader(body),
			UploaderEmail: "ann@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	users, _ := in.st.ListUsers(ctx)
	if _, err := in.st.Grant(ctx, users[1].ID, "sales", "read"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(in.dir, "docs", "metrics", "revenue.yml"), "name: revenue\n")
	writeFile(t, filepath.Join(in.dir, "state", "jwt_secret"), "secret\n")
	writeFile(t, filepath.Join(in.dir, "tmp", "upload-123", "body"), "garbage")
	return in
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func backupTo(t *testing.T, in *instance) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "da.tar.gz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Create(context.Background(), Source{DataDir: in.dir, Store: in.st, Freeze: in.eng.FreezeWrites, Version: "test"}, f)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != store.LatestVersion || m.StateBackend != "duckdb" || !m.Consistent || len(m.Files) == 0 {
		t.Fatalf("manifest = %+v", m)
	}
	return out
}

// dump is every row of every table of a DuckDB database, as text, by table.
func dump(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, n := range names {
		r, err := db.Query(`SELECT * FROM "` + n + `" ORDER BY ALL`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := r.Columns()
		out[n] = []string{}
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[n] = append(out[n], fmt.Sprint(vals...))
		}
		r.Close()
	}
	return out
}

func indexes(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT index_name FROM duckdb_indexes() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		out = append(out, n)
	}
	return out
}

// files maps every file under dir (except the skipped ones) to its SHA-256.
func files(t *testing.T, dir string, skip func(rel string) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if skip != nil && skip(rel) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTripKeepsEveryTableUserAndFile(t *testing.T) {
	in := populated(t)
	archive := backupTo(t, in)

	target := t.TempDir()
	writeFile(t, filepath.Join(target, "extracts", "old", "stale.txt"), "before the restore")
	writeFile(t, filepath.Join(target, "backups", "da-backup-20260101-000000.tar.gz"), "an earlier archive")
	res, err := Restore(context.Background(), archive, target)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res.Previous == "" {
		t.Fatal("the former content was not kept")
	}
	if b, err := os.ReadFile(filepath.Join(res.Previous, "extracts", "old", "stale.txt")); err != nil || string(b) != "before the restore" {
		t.Fatalf("former content not kept aside: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(target, "extracts", "old")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("former content still in place: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "backups", "da-backup-20260101-000000.tar.gz")); err != nil {
		t.Errorf("the scheduled backups were moved away: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("temporary files were archived")
	}

	restored := newInstance(t, target)
	want, got := dump(t, in.st.DB), dump(t, restored.st.DB)
	if len(want) < 10 {
		t.Fatalf("only %d tables in the system database", len(want))
	}
	for name, rows := range want {
		if !reflect.DeepEqual(rows, got[name]) {
			t.Errorf("table %s differs after the round trip:\nwant %v\ngot  %v", name, rows, got[name])
		}
	}
	if len(got) != len(want) {
		t.Errorf("restored %d tables, want %d", len(got), len(want))
	}
	if a, b := indexes(t, in.st.DB), indexes(t, restored.st.DB); !reflect.DeepEqual(a, b) {
		t.Errorf("indexes after the round trip = %v, want %v", b, a)
	}
	wu, _ := in.st.ListUsers(context.Background())
	gu, _ := restored.st.ListUsers(context.Background())
	if len(wu) != 2 || !reflect.DeepEqual(wu, gu) {
		t.Errorf("users after the round trip = %+v, want %+v", gu, wu)
	}
	skip := func(rel string) bool {
		return strings.HasPrefix(rel, "analytics/") || strings.HasPrefix(rel, "tmp/") || strings.HasPrefix(rel, "state/system.duckdb") ||
			strings.HasPrefix(rel, ".") || strings.HasPrefix(rel, "backups/")
	}
	if a, b := files(t, in.dir, skip), files(t, target, skip); !reflect.DeepEqual(a, b) {
		t.Errorf("files after the round trip = %v, want %v", b, a)
	}
	// The restored instance serves the same tables with the same rows.
	for _, id := range []string{"sales", "people"} {
		a, ok1 := in.eng.Catalog().Table(id)
		b, ok2 := restored.eng.Catalog().Table(id)
		if !ok1 || !ok2 || a.Rows != b.Rows || a.Hash != b.Hash {
			t.Errorf("table %s served before %+v, after %+v", id, a, b)
		}
	}
}

// rewrite copies an archive, letting edit change the manifest and each entry's content.
func rewrite(t *testing.T, src string, editManifest func(m *Manifest), editFile func(name string, b []byte) []byte) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var buf bytes.Buffer
	ogz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(ogz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if hdr.Name == ManifestName && editManifest != nil {
			var m Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			editManifest(&m)
			b, _ = json.Marshal(m)
		} else if editFile != nil {
			b = editFile(hdr.Name, b)
		}
		hdr.Size = int64(len(b))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(b)
	}
	_ = tw.Close()
	_ = ogz.Close()
	out := filepath.Join(t.TempDir(), "edited.tar.gz")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestoreRefusesBadArchivesWithoutChanges(t *testing.T) {
	in := populated(t)
	archive := backupTo(t, in)
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(t.TempDir(), "flipped.tar.gz")
	damaged := append([]byte{}, raw...)
	damaged[len(damaged)/2] ^= 0xff
	_ = os.WriteFile(flipped, damaged, 0o600)
	truncated := filepath.Join(t.TempDir(), "truncated.tar.gz")
	_ = os.WriteFile(truncated, raw[:len(raw)*2/3], 0o600)

	cases := []struct {
		name    string
		archive string
		want    error
		detail  string
	}{
		{"a flipped byte", flipped, ErrInvalid, ""},
		{"truncated", truncated, ErrInvalid, ""},
		{"a file changed, same size", rewrite(t, archive, nil, func(name string, b []byte) []byte {
			if name == "files/docs/metrics/revenue.yml" {
				b = bytes.ToUpper(b)
			}
			return b
		}), ErrInvalid, "docs/metrics/revenue.yml does not match its checksum"},
		{"a file missing", rewrite(t, archive, func(m *Manifest) {
			m.Files = append(m.Files, File{Path: "extracts/ghost.parquet", Size: 1, SHA256: "00"})
		}, nil), ErrInvalid, "extracts/ghost.parquet is listed in the manifest but missing"},
		{"an unsafe path", rewrite(t, archive, func(m *Manifest) {
			m.Files = append(m.Files, File{Path: "../escape", Size: 1, SHA256: "00"})
		}, nil), ErrInvalid, "unsafe path"},
		{"a newer schema", rewrite(t, archive, func(m *Manifest) { m.SchemaVersion = store.LatestVersion + 1 }, nil),
			ErrNewerSchema, fmt.Sprintf("schema version %d", store.LatestVersion+1)},
		{"an unknown state backend", rewrite(t, archive, func(m *Manifest) { m.StateBackend = "mysql" }, nil), ErrInvalid, "mysql"},
		{"not a backup", rewrite(t, archive, func(m *Manifest) { m.Format = "other" }, nil), ErrInvalid, "format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := t.TempDir()
			writeFile(t, filepath.Join(target, "extracts", "keep", "data.txt"), "current data")
			before := files(t, target, nil)
			_, err := Restore(context.Background(), tc.archive, target)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("Restore = %v, want %v containing %q", err, tc.want, tc.detail)
			}
			after := files(t, target, nil)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("a refused restore changed the data directory: %v -> %v", before, after)
			}
			entries, _ := os.ReadDir(target)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			if !reflect.DeepEqual(names, []string{"extracts"}) {
				t.Errorf("left behind in the data directory: %v", names)
			}
		})
	}
}

// TestHelperHoldsDatabase is not a test: run by TestRestoreRefusedWhileServing as another
// process, it holds a system database open, as a running server does, until stdin closes.
func TestHelperHoldsDatabase(t *testing.T) {
	path := os.Getenv("DA_TEST_HOLD_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	st, err := store.Open(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = st.Close()
	os.Exit(0)
}

func TestRestoreRefusedWhileServing(t *testing.T) {
	in := populated(t)
	archive := backupTo(t, in)
	target := t.TempDir()
	if _, err := Restore(context.Background(), archive, target); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsDatabase$")
	cmd.Env = append(os.Environ(), "DA_TEST_HOLD_DB="+filepath.Join(target, "state", "system.duckdb"))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper: %q", line)
	}
	skip := func(rel string) bool { return strings.HasPrefix(rel, "state/system.duckdb") }
	before := files(t, target, skip)
	_, err := Restore(context.Background(), archive, target)
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "stop `da serve`") {
		t.Fatalf("Restore over a served data directory = %v, want ErrRunning", err)
	}
	if after := files(t, target, skip); !reflect.DeepEqual(before, after) {
		t.Error("a refused restore changed the data directory")
	}
}

func TestWriteRotatedKeepsTheNewest(t *testing.T) {
	in := populated(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "notes.txt"), "not an archive")
	ctx := context.Background()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var paths []string
	for i := 0; i < 4; i++ {
		p, err := WriteRotated(ctx, dir, 2, start.Add(time.Duration(i)*time.Hour), func(w io.Writer) error {
			_, err := Create(ctx, Source{DataDir: in.dir, Store: in.st, Freeze: in.eng.FreezeWrites}, w)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Base(p))
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{paths[2], paths[3], "notes.txt"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("backup dir = %v, want %v", names, want)
	}
	// A producer that fails leaves no archive and removes nothing.
	_, err := WriteRotated(ctx, dir, 1, start.Add(10*time.Hour), func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("a failed producer was accepted")
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("a failed backup changed the backup dir: %v", entries)
	}
}
