package handlers

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

// multipartBody builds an upload body; fields are written in order, the file last.
func multipartBody(t testing.TB, fields [][2]string, filename string, content []byte) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if filename != "" {
		fw, err := w.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(content)
	}
	w.Close()
	return buf.String(), w.FormDataContentType()
}

func (env *testEnv) upload(token, name, filename string, content []byte, extra ...[2]string) *httptest.ResponseRecorder {
	env.t.Helper()
	fields := [][2]string{}
	if name != "" {
		fields = append(fields, [2]string{"name", name})
	}
	fields = append(fields, extra...)
	body, ctype := multipartBody(env.t, fields, filename, content)
	return env.do(request{method: "POST", path: "/api/upload/table", body: body, ctype: ctype, token: token})
}

const salesCSV = "id,region,amount,sold_on,paid\n1,north,10.50,2026-01-02,true\n2,south,7.25,2026-01-03,false\n3,north,,2026-01-04,true\n"

func TestUploadScenarios(t *testing.T) {
	env := newTestEnv(t)
	analyst, viewer, admin := env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer], env.tokens[auth.RoleAdmin]

	tests := []struct {
		name      string
		token     string
		table     string
		filename  string
		content   []byte
		status    int
		want      []string
		forbidden []string
	}{
		{"analyst uploads a CSV", analyst, "Sales", "sales.csv", []byte(salesCSV), 201,
			[]string{`"table_id":"sales"`, `"name":"Sales"`, `"rows":3`, `"name":"amount"`, `"type":"BIGINT"`, `"type":"DATE"`, `"type":"BOOLEAN"`}, nil},
		{"viewer may not upload", viewer, "v_table", "v.csv", []byte(salesCSV), 403, []string{"Requires role analyst"}, nil},
		{"anonymous may not upload", "", "anon", "a.csv", []byte(salesCSV), 401, []string{"Not authenticated"}, nil},
		{"missing file", analyst, "nofile", "", nil, 422, []string{`"file"`, "Field required"}, nil},
		{"missing name", analyst, "", "x.csv", []byte(salesCSV), 422, []string{`"name"`}, nil},
		{"name starting with a digit", analyst, "1abc", "x.csv", []byte(salesCSV), 422, []string{`"name"`}, nil},
		{"name with a dash", analyst, "a-b", "x.csv", []byte(salesCSV), 422, []string{`"name"`}, nil},
		{"path as a name", analyst, "../x", "x.csv", []byte(salesCSV), 422, []string{`"name"`}, nil},
		{"empty file", analyst, "empty", "empty.csv", []byte{}, 422, []string{"empty"}, nil},
		{"binary junk named csv", analyst, "junk", "junk.csv", []byte("\x00\x01\x02\xff\xfe\x00PK\x03\x04"), 422, []string{"detail"}, nil},
		{"ragged rows", analyst, "ragged", "ragged.csv", []byte("a,b\n1,2\n3,4,5,6\n"), 422, []string{"detail"}, nil},
		{"unsupported type", analyst, "prog", "prog.exe", []byte("MZ"), 415, []string{".csv"}, nil},
		{"corrupt parquet", analyst, "badpq", "bad.parquet", []byte("PAR1 this is not parquet"), 422, []string{"detail"}, nil},
		{"tsv", analyst, "tabbed", "t.tsv", []byte("k\tv\na\t1\nb\t2\n"), 201, []string{`"table_id":"tabbed"`, `"rows":2`}, nil},
		{"json lines", analyst, "events", "e.jsonl", []byte(`{"id":1,"kind":"click"}` + "\n" + `{"id":2,"kind":"view"}` + "\n"), 201, []string{`"table_id":"events"`, `"rows":2`, `"name":"kind"`}, nil},
		{"admin uploads", admin, "admin_t", "x.csv", []byte(salesCSV), 201, []string{`"table_id":"admin_t"`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.upload(tc.token, tc.table, tc.filename, tc.content)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			body := rec.Body.String()
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q: %s", w, body)
				}
			}
			for _, f := range tc.forbidden {
				if strings.Contains(body, f) {
					t.Errorf("body contains %q: %s", f, body)
				}
			}
		})
	}

	ctx := context.Background()
	// Refused uploads registered nothing.
	for _, id := range []string{"v_table", "anon", "empty", "junk", "ragged", "prog", "badpq"} {
		if _, err := env.store.GetTable(ctx, id); err == nil {
			t.Errorf("refused upload %q was registered", id)
		}
		if _, ok := env.srv.engine.Catalog().Table(id); ok {
			t.Errorf("refused upload %q is served", id)
		}
	}
	// The accepted one is registered, owned, private by default, served and profiled.
	tbl, err := env.store.GetTable(ctx, "sales")
	if err != nil {
		t.Fatal(err)
	}
	if tbl.SourceType != "upload" || tbl.RegisteredBy != "analyst@example.com" || tbl.IsPublic {
		t.Errorf("registry row = %+v", tbl)
	}
	if info, ok := env.srv.engine.Catalog().Table("sales"); !ok || info.Rows != 3 {
		t.Errorf("catalog entry = %+v, %v", info, ok)
	}
	if _, _, err := env.store.GetProfile(ctx, "sales"); err != nil {
		t.Errorf("no profile after upload: %v", err)
	}
	// No temp files are left behind by refused uploads.
	if left, _ := filepath.Glob(filepath.Join(env.srv.cfg.DataDir, "tmp", "*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestUploadReplace(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	owner := env.tokens[auth.RoleAnalyst]
	other := &store.User{Email: "other@example.com", Role: "analyst", Active: true}
	if err := env.store.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	otherTok, _, _ := env.srv.issuer.Issue(other.ID, other.Email, auth.RoleAnalyst)

	if rec := env.upload(owner, "sales", "s.csv", []byte(salesCSV), [2]string{"public", "true"}); rec.Code != 201 {
		t.Fatalf("first upload: %d %s", rec.Code, rec.Body.String())
	}
	if rec := env.upload(otherTok, "sales", "s.csv", []byte("id\n1\n")); rec.Code != 403 {
		t.Fatalf("another analyst replaced the table: %d %s", rec.Code, rec.Body.String())
	}
	// A bad replacement keeps the previous data serving.
	if rec := env.upload(owner, "sales", "s.csv", []byte("a,b\n1,2\n3,4,5\n")); rec.Code != 422 {
		t.Fatalf("ragged replacement: %d %s", rec.Code, rec.Body.String())
	}
	if info, ok := env.srv.engine.Catalog().Table("sales"); !ok || info.Rows != 3 {
		t.Fatalf("after a failed replacement the table is %+v, %v", info, ok)
	}
	if rec := env.upload(owner, "sales", "s.csv", []byte("id\n1\n2\n3\n4\n5\n")); rec.Code != 201 {
		t.Fatalf("owner replacement: %d %s", rec.Code, rec.Body.String())
	}
	if info, _ := env.srv.engine.Catalog().Table("sales"); info.Rows != 5 {
		t.Errorf("rows after replacement = %d, want 5", info.Rows)
	}
	if rec := env.upload(env.tokens[auth.RoleAdmin], "SALES", "s.csv", []byte("id\n1\n")); rec.Code != 201 {
		t.Fatalf("admin replacement: %d %s", rec.Code, rec.Body.String())
	}
	tbl, _ := env.store.GetTable(ctx, "sales")
	if tbl.RegisteredBy != "analyst@example.com" {
		t.Errorf("replacement changed the owner to %q", tbl.RegisteredBy)
	}
	// A name taken by another source is a conflict.
	if err := env.store.RegisterTable(ctx, &store.Table{ID: "orders", Name: "orders", SourceType: "keboola"}); err != nil {
		t.Fatal(err)
	}
	if rec := env.upload(owner, "orders", "o.csv", []byte(salesCSV)); rec.Code != http.StatusConflict {
		t.Errorf("upload over another source's table: %d %s", rec.Code, rec.Body.String())
	}
}

func TestUploadSizeCap(t *testing.T) {
	env := newTestEnv(t)
	env.srv.cfg.Upload.MaxBytes = 1024
	big := []byte("id,payload\n" + strings.Repeat("1,"+strings.Repeat("x", 100)+"\n", 50))
	rec := env.upload(env.tokens[auth.RoleAnalyst], "big", "big.csv", big)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "File too large (max 1 KB)") {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if _, err := env.store.GetTable(context.Background(), "big"); err == nil {
		t.Error("an oversized upload was registered")
	}
	entries, _ := os.ReadDir(filepath.Join(env.srv.cfg.DataDir, "tmp"))
	if len(entries) > 0 {
		t.Errorf("temp files left: %d", len(entries))
	}
}

func TestUploadPage(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	if rec := b.login("analyst@example.com", testPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	page := b.do("GET", "/upload", nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `data-testid="upload-form"`) {
		t.Fatalf("upload page: %d", page.Code)
	}
	post := func(csrf, name string, content []byte) *httptest.ResponseRecorder {
		body, ctype := multipartBody(t, [][2]string{{"name", name}}, "f.csv", content)
		r := request{method: "POST", path: "/upload", body: body, ctype: ctype, headers: map[string]string{"HX-Request": "true"}}
		if csrf != "" {
			r.headers["X-CSRF-Token"] = csrf
		}
		for _, c := range b.jar {
			r.cookies = append(r.cookies, c)
		}
		return env.do(r)
	}
	if rec := post("", "nocsrf", []byte(salesCSV)); rec.Code != http.StatusForbidden {
		t.Errorf("upload without CSRF token: %d", rec.Code)
	}
	rec := post(b.csrf, "9bad", []byte(salesCSV))
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `data-testid="field-error-name"`) {
		t.Errorf("bad name: %d %s", rec.Code, rec.Body.String())
	}
	rec = post(b.csrf, "empty_one", nil)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `data-testid="field-error-file"`) && !strings.Contains(rec.Body.String(), `data-testid="upload-error"`) {
		t.Errorf("missing file: %d %s", rec.Code, rec.Body.String())
	}
	rec = post(b.csrf, "page_sales", []byte(salesCSV))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="upload-result"`) || !strings.Contains(rec.Body.String(), "page_sales") {
		t.Fatalf("upload from the page: %d %s", rec.Code, rec.Body.String())
	}
	if strings.Count(rec.Body.String(), `data-testid="upload-column"`) != 5 {
		t.Errorf("result does not list the 5 columns: %s", rec.Body.String())
	}
}
