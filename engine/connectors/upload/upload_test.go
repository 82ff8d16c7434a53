package upload

import (
	"context"
	"da/engine/diskfull"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"da/engine/extract"
)

func ingestString(t *testing.T, dir, name, filename, content string, opt Options) (*Result, error) {
	t.Helper()
	return Ingest(context.Background(), dir, name, filename, strings.NewReader(content), opt)
}

// rowsOf reads a table of the source through its extract.duckdb view, ordered by the first column.
func rowsOf(t *testing.T, dir, table string, cols string) [][]any {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("ATTACH " + sqlString(filepath.Join(dir, extract.FileName)) + " AS src (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT ` + cols + ` FROM src."` + table + `" ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := len(strings.Split(cols, ","))
	var out [][]any
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	return out
}

func typesOf(cols []Column) string {
	var s []string
	for _, c := range cols {
		s = append(s, c.Name+":"+c.Type)
	}
	return strings.Join(s, " ")
}

func parquetBytes(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.parquet")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`COPY (SELECT range::INTEGER AS id, 'x' || range AS s, DATE '2024-01-01' + range::INTEGER AS d,
		range * 1.5 AS v FROM range(5)) TO ` + sqlString(p) + ` (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertClean fails when staging directories or temp files are left in the source.
func assertClean(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover %s in source dir", e.Name())
		}
	}
	ents, _ = os.ReadDir(extract.DataDir(dir))
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".parquet") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover %s in data dir", e.Name())
		}
	}
}

func TestIngestFormats(t *testing.T) {
	u16 := "\xff\xfe"
	for _, u := range utf16.Encode([]rune("id,name\n1,Zoë\n")) {
		u16 += string([]byte{byte(u), byte(u >> 8)})
	}
	cases := []struct {
		name, file, content string
		wantFormat          string
		wantTypes           string
		wantRows            int64
		cols                string
		want                [][]any
	}{
		{
			name: "Typed", file: "typed.csv",
			content: "id,price,day,ts,flag,txt\n" +
				"1,2.5,2024-01-02,2024-01-02 03:04:05,true,\"he said \"\"hi\"\", ok\"\n" +
				"2,3.25,2024-02-03,2024-02-03 10:00:00,false,\"multi\nline\"\n",
			wantFormat: "csv", wantRows: 2,
			wantTypes: "id:BIGINT price:DOUBLE day:DATE ts:TIMESTAMP flag:BOOLEAN txt:VARCHAR",
			cols:      "id, txt, CAST(day AS VARCHAR), flag",
			want:      [][]any{{int64(1), `he said "hi", ok`, "2024-01-02", true}, {int64(2), "multi\nline", "2024-02-03", false}},
		},
		{
			name: "tabs", file: "T.TSV", content: "id\tname\tnote\n1\tŽluťoučký kůň\ta,b\n2\tb\t\n",
			wantFormat: "tsv", wantRows: 2, wantTypes: "id:BIGINT name:VARCHAR note:VARCHAR",
			cols: "id, name, note", want: [][]any{{int64(1), "Žluťoučký kůň", "a,b"}, {int64(2), "b", nil}},
		},
		{
			name: "json", file: "j.jsonl",
			content:    "{\"id\":1,\"name\":\"a\",\"score\":1.5,\"ok\":true}\n{\"id\":2,\"name\":\"b\",\"score\":null,\"ok\":false}\n",
			wantFormat: "jsonl", wantRows: 2, wantTypes: "id:BIGINT name:VARCHAR score:DOUBLE ok:BOOLEAN",
			cols: "id, name, score", want: [][]any{{int64(1), "a", 1.5}, {int64(2), "b", nil}},
		},
		{
			name: "nd", file: "j.ndjson", content: "{\"a\":\"x\"}\n",
			wantFormat: "jsonl", wantRows: 1, wantTypes: "a:VARCHAR", cols: "a", want: [][]any{{"x"}},
		},
		{
			name: "pq", file: "p.parquet", content: parquetBytes(t),
			wantFormat: "parquet", wantRows: 5, wantTypes: "id:INTEGER s:VARCHAR d:DATE v:DECIMAL(21,1)",
			cols: "id, s", want: [][]any{{int32(0), "x0"}, {int32(1), "x1"}, {int32(2), "x2"}, {int32(3), "x3"}, {int32(4), "x4"}},
		},
		{
			name: "latin", file: "l.csv", content: "name,city\nJos\xe9,M\xfcnchen\n",
			wantFormat: "csv", wantRows: 1, wantTypes: "name:VARCHAR city:VARCHAR",
			cols: "name, city", want: [][]any{{"José", "München"}},
		},
		{
			name: "utf16", file: "u.csv", content: u16,
			wantFormat: "csv", wantRows: 1, wantTypes: "id:BIGINT name:VARCHAR",
			cols: "id, name", want: [][]any{{int64(1), "Zoë"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "uploads")
			res, err := ingestString(t, dir, c.name, c.file, c.content, Options{Description: "d " + c.name})
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			id := strings.ToLower(c.name)
			if res.TableID != id || res.Format != c.wantFormat || res.Rows != c.wantRows {
				t.Errorf("result = %+v", res)
			}
			if got := typesOf(res.Columns); got != c.wantTypes {
				t.Errorf("types = %s, want %s", got, c.wantTypes)
			}
			got := rowsOf(t, dir, id, c.cols)
			if len(got) != len(c.want) {
				t.Fatalf("rows = %v, want %v", got, c.want)
			}
			for i := range got {
				for j := range got[i] {
					if got[i][j] != c.want[i][j] {
						t.Errorf("row %d col %d = %#v, want %#v", i, j, got[i][j], c.want[i][j])
					}
				}
			}
			x, err := extract.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			m := x.Tables[0]
			fi, _ := os.Stat(filepath.Join(dir, "data", id+".parquet"))
			if m.Name != id || m.Rows != c.wantRows || m.Description != "d "+c.name || m.QueryMode != extract.ModeLocal ||
				m.ExtractedAt.IsZero() || fi == nil || m.SizeBytes != fi.Size() || res.SizeBytes != fi.Size() {
				t.Errorf("_meta = %+v (file %v)", m, fi)
			}
			assertClean(t, dir)
		})
	}
}

func TestIngestRefusals(t *testing.T) {
	ragged := "a,b\n1,2\n3,4,5\n6,7\n"
	var late strings.Builder
	late.WriteString("a,b\n")
	for i := 0; i < 30000; i++ {
		late.WriteString("1,2\n")
	}
	late.WriteString("3,4,5\n")
	cases := []struct {
		name, table, file, content string
		max                        int64
		status                     int
		want                       string
	}{
		{"empty", "t", "t.csv", "", 0, 422, "file is empty"},
		{"whitespace", "t", "t.csv", " \n\t\n  ", 0, 422, "file is empty"},
		{"binary", "t", "t.csv", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x03\x00>\x00\x01\x00\x00\x00", 0, 422, "file is not text"},
		{"parquet named csv", "t", "t.csv", "PAR1xxxxxxxxPAR1", 0, 422, "looks like a parquet"},
		{"exe", "t", "setup.exe", "MZ...", 0, 415, `unsupported file type ".exe"`},
		{"no ext", "t", "README", "a,b\n1,2\n", 0, 415, "no extension"},
		{"ragged", "t", "t.csv", ragged, 0, 422, "line 3"},
		{"ragged late", "t", "t.csv", late.String(), 0, 422, "30002"},
		{"bad json", "t", "t.jsonl", "{\"a\":1}\n{not json\n", 0, 422, "could not read JSON lines"},
		{"utf16 json", "t", "t.jsonl", "\xff\xfe{\x00}\x00", 0, 422, "UTF-16"},
		{"corrupt parquet", "t", "t.parquet", "PAR1" + strings.Repeat("garbage!", 20) + "PAR1", 0, 422, "not a valid parquet file"},
		{"no magic", "t", "t.parquet", "a,b\n1,2\n", 0, 422, "PAR1"},
		{"name digit", "1abc", "t.csv", "a\n1\n", 0, 422, "name:"},
		{"name dash", "a-b", "t.csv", "a\n1\n", 0, 422, "name:"},
		{"name path", "../x", "t.csv", "a\n1\n", 0, 422, "name:"},
		{"name long", strings.Repeat("a", 65), "t.csv", "a\n1\n", 0, 422, "name:"},
		{"name empty", "", "t.csv", "a\n1\n", 0, 422, "name: a table name is required"},
		{"name reserved", "_META", "t.csv", "a\n1\n", 0, 422, "reserved"},
		{"too large", "t", "t.csv", "a,b\n" + strings.Repeat("1,2\n", 300), 100, 413, "File too large (max 100 bytes)"},
		{"too large MB", "t", "t.csv", strings.Repeat("x", 1<<20+1), 1 << 20, 413, "File too large (max 1 MB)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := ingestString(t, dir, c.table, c.file, c.content, Options{MaxBytes: c.max})
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (%T), want *InputError", err, err)
			}
			if ie.Status != c.status || !strings.Contains(ie.Detail, c.want) {
				t.Errorf("got %d %q, want %d containing %q", ie.Status, ie.Detail, c.status, c.want)
			}
			if strings.Contains(ie.Detail, dir) {
				t.Errorf("detail leaks the server path: %q", ie.Detail)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 0 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("files left behind: %v", names)
			}
		})
	}
}

func TestIngestReplace(t *testing.T) {
	dir := t.TempDir()
	if _, err := ingestString(t, dir, "Sales", "s.csv", "id,v\n1,a\n2,b\n", Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingestString(t, dir, "other", "o.csv", "x\n1\n", Options{}); err != nil {
		t.Fatal(err)
	}
	// A bad replacement changes nothing.
	for _, bad := range []struct{ file, content string }{
		{"s.csv", "id,v\n1,a\n2,b,c\n"},
		{"s.csv", ""},
		{"s.parquet", "PAR1junkjunkPAR1"},
	} {
		if _, err := ingestString(t, dir, "SALES", bad.file, bad.content, Options{}); err == nil {
			t.Fatalf("bad upload %q accepted", bad.content)
		}
		if got := rowsOf(t, dir, "sales", "id, v"); len(got) != 2 || got[1][1] != "b" {
			t.Fatalf("old data changed: %v", got)
		}
		assertClean(t, dir)
	}
	// A good replacement with another shape replaces data and _meta.
	res, err := ingestString(t, dir, "sales", "s2.jsonl", "{\"k\":\"z\",\"n\":3.5}\n{\"k\":\"y\",\"n\":1}\n{\"k\":\"x\",\"n\":2}\n", Options{Description: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 {
		t.Errorf("rows = %d", res.Rows)
	}
	if got := rowsOf(t, dir, "sales", "k, n"); len(got) != 3 || got[0][0] != "x" {
		t.Errorf("new data = %v", got)
	}
	x, err := extract.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Tables) != 2 || x.Tables[0].Name != "sales" || x.Tables[0].Rows != 3 || x.Tables[0].Description != "v2" || x.Tables[1].Name != "other" {
		t.Errorf("_meta = %+v", x.Tables)
	}
}

func TestIngestLateTypeChange(t *testing.T) {
	// The sniffer samples the first rows; a value of another type later must widen the
	// column instead of failing the upload.
	var b strings.Builder
	b.WriteString("code,n\n")
	for i := 0; i < 30000; i++ {
		b.WriteString("1,2\n")
	}
	b.WriteString("A17,3\n")
	dir := t.TempDir()
	res, err := ingestString(t, dir, "late", "late.csv", b.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 30001 || typesOf(res.Columns) != "code:VARCHAR n:BIGINT" {
		t.Errorf("result = %d rows, %s", res.Rows, typesOf(res.Columns))
	}
	assertClean(t, dir)
}

func TestIngestCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Ingest(ctx, dir, "t", "t.csv", strings.NewReader("a\n1\n"), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	assertClean(t, dir)
}

func TestTrimPartialRune(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{"abc", "abc"},
		{"ab\xc3", "ab"},
		{"ab\xc3\xa9", "ab\xc3\xa9"},
		{"a\xe2\x82", "a"},
		{"a\xe2\x82\xac", "a\xe2\x82\xac"},
		{"\xf0\x9f\x98", ""},
	}
	for _, c := range cases {
		if got := string(trimPartialRune([]byte(c.in))); got != c.want {
			t.Errorf("trimPartialRune(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestPublishRollback publishes a new table and a replacement and takes each back: the new
// table disappears with its data, the replaced one gets its previous data and _meta row back.
func TestPublishRollback(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	publish := func(name, content string) *Publication {
		t.Helper()
		s, err := NewSpool(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Receive(ctx, strings.NewReader(content), name+".csv", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Convert(ctx, name, Options{}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Publish("v:" + content)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := publish("fresh", "a\n1\n")
	if err := p.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(extract.DataDir(dir), "fresh.parquet")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the new table's data is still there: %v", err)
	}

	publish("kept", "a\n1\n2\n")
	p = publish("kept", "a\n7\n8\n9\n")
	if got := rowsOf(t, dir, "kept", "a"); len(got) != 3 {
		t.Fatalf("replacement not published: %v", got)
	}
	if err := p.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, dir, "kept", "a"); len(got) != 2 {
		t.Errorf("after rollback the table has %v, want the previous 2 rows", got)
	}
	x, err := extract.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Tables) != 1 || x.Tables[0].Rows != 2 || x.Tables[0].Description != "v:a\n1\n2\n" {
		t.Errorf("_meta after rollback: %+v", x.Tables)
	}
}

// TestSpoolRefusesBeforeReading refuses an unsupported type or a file name that is not UTF-8
// without reading the body.
func TestSpoolRefusesBeforeReading(t *testing.T) {
	s, err := NewSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"\xff\xfe.csv", "x.exe"} {
		r := &countingReader{r: strings.NewReader("a\n1\n")}
		err := s.Receive(context.Background(), r, name, 0)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Status >= 500 || r.n > 0 {
			t.Errorf("%q: %v, read %d bytes", name, err, r.n)
		}
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// smallDisk mounts a tmpfs of size bytes (root only; the test is skipped otherwise).
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// TestIngestFullDisk fills a small disk while receiving and while converting: both fail with
// an error wrapping ENOSPC (answered 507), never an input error, and leave nothing behind.
func TestIngestFullDisk(t *testing.T) {
	var big strings.Builder
	big.WriteString("id,note\n")
	for i := 0; big.Len() < 3<<20; i++ {
		big.WriteString(strconv.Itoa(i) + ",some text that takes room " + strconv.Itoa(i*7) + "\n")
	}
	for _, tc := range []struct {
		name string
		size int
	}{{"write", 1 << 20}, {"convert", 3<<20 + 300<<10}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := smallDisk(t, tc.size)
			_, err := Ingest(context.Background(), dir, "t", "t.csv", strings.NewReader(big.String()), Options{MaxBytes: -1})
			if !strings.Contains(err.Error(), tc.name) {
				t.Errorf("err = %v, want a failure to %s", err, tc.name)
			}
			var ie *InputError
			if !diskfull.Is(err) || errors.As(err, &ie) {
				t.Fatalf("err = %v, want a disk-full error", err)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".upload-*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestIngestRowGroups checks that a stored upload is cut into row groups of rowGroupRows, so
// that a lookup reads only the groups its filter matches.
func TestIngestRowGroups(t *testing.T) {
	dir := t.TempDir()
	rows := 2*rowGroupRows + 5
	var b strings.Builder
	b.WriteString("id,v\n")
	for i := range rows {
		b.WriteString(strconv.Itoa(i) + ",x\n")
	}
	if _, err := ingestString(t, dir, "t", "t.csv", b.String(), Options{}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var groups, biggest int
	err = db.QueryRow(`SELECT count(DISTINCT row_group_id), max(row_group_num_rows) FROM parquet_metadata(`+
		sqlString(filepath.Join(extract.DataDir(dir), "t.parquet"))+`)`).Scan(&groups, &biggest)
	if err != nil {
		t.Fatal(err)
	}
	if groups != 3 || biggest != rowGroupRows {
		t.Fatalf("stored as %d row groups of at most %d rows, want 3 of at most %d", groups, biggest, rowGroupRows)
	}
}
