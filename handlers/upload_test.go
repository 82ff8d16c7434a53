package handlers

import (
	"bytes"
	"context"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

// uploadLeftovers lists what uploads may leave in the upload source besides registered
// tables: staging directories and parquet files of no registered table.
func uploadLeftovers(t *testing.T, env *testEnv) []string {
	t.Helper()
	dir := filepath.Join(env.srv.cfg.DataDir, "extracts", "uploads")
	var left []string
	staging, _ := filepath.Glob(filepath.Join(dir, ".upload-*"))
	left = append(left, staging...)
	files, _ := filepath.Glob(filepath.Join(dir, "data", "*"))
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".parquet")
		if _, err := env.store.GetTable(context.Background(), id); err != nil {
			left = append(left, f)
		}
	}
	return left
}

// csvRows is a one-column CSV with n rows whose values all equal v.
func csvRows(n, v int) []byte {
	var b strings.Builder
	b.WriteString("v\n")
	for i := 0; i < n; i++ {
		b.WriteString(strconv.Itoa(v) + "\n")
	}
	return []byte(b.String())
}

func TestUploadFormatsAndRefusals(t *testing.T) {
	env := newTestEnv(t)
	analyst := env.tokens[auth.RoleAnalyst]
	tests := []struct {
		name, table, filename string
		content               string
		status                int
		want, forbidden       []string
	}{
		{"header-only CSV is refused", "hdr_only", "h.csv", "id,name,amount\n", 422,
			[]string{"header row but no data rows"}, []string{"VARCHAR"}},
		{"header-only TSV is refused", "hdr_tsv", "h.tsv", "id\tname\n", 422, []string{"no data rows"}, nil},
		{"JSON array of objects", "people", "people.json", `[{"id": 1, "name": "Ann"}, {"id": 2, "name": "Bo"}]`, 201,
			[]string{`"rows":2`, `"format":"json"`, `"name":"name"`, `"type":"BIGINT"`, `"profile":"complete"`}, nil},
		{"JSON object that is not an array", "single", "one.json", `{"id": 1}`, 422, []string{"array of objects"}, nil},
		{"empty JSON array", "none", "none.json", `[]`, 422, []string{"no records"}, nil},
		{"small CSV is profiled at once", "small", "s.csv", salesCSV, 201, []string{`"profile":"complete"`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.upload(analyst, tc.table, tc.filename, []byte(tc.content))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			body := rec.Body.String()
			if !strings.Contains(body, `"detail"`) && tc.status >= 400 {
				t.Errorf("no detail: %s", body)
			}
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
			_, regErr := env.store.GetTable(context.Background(), tc.table)
			_, served := env.srv.engine.Catalog().Table(tc.table)
			if ok := tc.status == 201; (regErr == nil) != ok || served != ok {
				t.Errorf("registered=%v served=%v after status %d", regErr == nil, served, rec.Code)
			}
		})
	}
	if left := uploadLeftovers(t, env); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestUploadInvalidUTF8FileName(t *testing.T) {
	env := newTestEnv(t)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("name", "badname")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", "form-data; name=\"file\"; filename=\"\xff\xfesales.csv\"")
	part, _ := w.CreatePart(h)
	part.Write([]byte(salesCSV))
	w.Close()
	rec := env.do(request{method: "POST", path: "/api/upload/table", body: buf.String(), ctype: w.FormDataContentType(),
		token: env.tokens[auth.RoleAnalyst]})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not valid UTF-8") {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if _, err := env.store.GetTable(context.Background(), "badname"); err == nil {
		t.Error("the upload was registered")
	}
	if _, ok := env.srv.engine.Catalog().Table("badname"); ok {
		t.Error("the upload is served")
	}
	if left := uploadLeftovers(t, env); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	// An invalid description is refused too, naming the field.
	bad := env.upload(env.tokens[auth.RoleAnalyst], "baddesc", "d.csv", []byte(salesCSV), [2]string{"description", "caf\xe9"})
	if bad.Code != http.StatusUnprocessableEntity || !strings.Contains(bad.Body.String(), "description") {
		t.Errorf("invalid description: %d %s", bad.Code, bad.Body.String())
	}
}

func TestUploadRefusedWhenDiskIsFull(t *testing.T) {
	env := newTestEnv(t)
	var asked []string
	env.srv.publisher.FreeBytes = func(path string) (uint64, error) {
		asked = append(asked, path)
		return 100, nil
	}
	rec := env.upload(env.tokens[auth.RoleAnalyst], "full", "f.csv", []byte(salesCSV))
	if rec.Code != http.StatusInsufficientStorage || !strings.Contains(rec.Body.String(), "disk is too full for this upload") {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), env.srv.cfg.DataDir) {
		t.Errorf("the answer shows a server path: %s", rec.Body.String())
	}
	if len(asked) == 0 || !strings.HasPrefix(asked[0], env.srv.cfg.DataDir) {
		t.Errorf("free space was asked of %v, want the data directory", asked)
	}
	if _, err := env.store.GetTable(context.Background(), "full"); err == nil {
		t.Error("the refused upload was registered")
	}
	// With room for about 1.2 times the body the same upload goes through.
	env.srv.publisher.FreeBytes = func(string) (uint64, error) { return 10 << 20, nil }
	if rec := env.upload(env.tokens[auth.RoleAnalyst], "full", "f.csv", []byte(salesCSV)); rec.Code != http.StatusCreated {
		t.Fatalf("with free space: %d %s", rec.Code, rec.Body.String())
	}
}

// TestUploadSameNewNameRace has two analysts upload the same new name at once, many times:
// exactly one wins and owns the table with their own data; the other gets 409 (or 403 when
// their request began after the winner's finished) and leaves nothing behind.
func TestUploadSameNewNameRace(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	other := &store.User{Email: "rival@example.com", Role: "analyst", Active: true}
	if err := env.store.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	rivalTok, _, _ := env.srv.issuer.Issue(other.ID, other.Email, auth.RoleAnalyst)
	users := []struct {
		email, token string
		rows         int
	}{{"analyst@example.com", env.tokens[auth.RoleAnalyst], 3}, {"rival@example.com", rivalTok, 5}}
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	conflicts := 0
	for round := 0; round < rounds; round++ {
		name := "race_" + strconv.Itoa(round)
		var wg sync.WaitGroup
		recs := make([]*httptest.ResponseRecorder, 2)
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs[i] = env.upload(u.token, name, "r.csv", csvRows(u.rows, i))
			}()
		}
		wg.Wait()
		winner := -1
		for i, rec := range recs {
			switch rec.Code {
			case http.StatusCreated:
				if winner >= 0 {
					t.Fatalf("round %d: both uploads got 201", round)
				}
				winner = i
			case http.StatusConflict, http.StatusForbidden:
				if !strings.Contains(rec.Body.String(), `"detail"`) {
					t.Errorf("round %d: refusal without detail: %s", round, rec.Body.String())
				}
				if rec.Code == http.StatusConflict {
					conflicts++
				}
			default:
				t.Fatalf("round %d: status %d: %s", round, rec.Code, rec.Body.String())
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won: %s / %s", round, recs[0].Body.String(), recs[1].Body.String())
		}
		tbl, err := env.store.GetTable(ctx, name)
		if err != nil || tbl.RegisteredBy != users[winner].email || tbl.IsPublic {
			t.Fatalf("round %d: registry row %+v, %v; winner %s", round, tbl, err, users[winner].email)
		}
		if info, ok := env.srv.engine.Catalog().Table(name); !ok || info.Rows != int64(users[winner].rows) {
			t.Fatalf("round %d: served %+v, want the winner's %d rows", round, info, users[winner].rows)
		}
		loser := users[1-winner]
		loserUser, _ := env.store.GetUserByEmail(ctx, loser.email)
		if ok, err := env.store.TableReadableBy(ctx, loserUser.ID, loserUser.Email, name); ok || err != nil {
			t.Fatalf("round %d: the loser can read the winner's private table (%v, %v)", round, ok, err)
		}
	}
	if left := uploadLeftovers(t, env); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	t.Logf("%d of %d rounds ended in 409 (the rest in 403)", conflicts, rounds)
}

// TestUploadDeleteRace has an admin delete a table while its owner uploads it again, many
// times: afterwards the table is either gone with its data, or registered and served with
// the new data; never a 500, a registered table without data or an orphan file.
func TestUploadDeleteRace(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	owner, admin := env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleAdmin]
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	outcomes := map[string]int{}
	for round := 0; round < rounds; round++ {
		name := "del_" + strconv.Itoa(round)
		if rec := env.upload(owner, name, "d.csv", csvRows(3, 1)); rec.Code != http.StatusCreated {
			t.Fatalf("round %d: first upload %d %s", round, rec.Code, rec.Body.String())
		}
		var up, del *httptest.ResponseRecorder
		var wg sync.WaitGroup
		wg.Add(2)
		// Stagger the two differently from round to round, so that the delete lands before,
		// during and after the re-upload's steps; every outcome is checked the same way.
		delay := time.Duration(rand.IntN(200)) * time.Millisecond
		go func() {
			defer wg.Done()
			if round%2 == 1 {
				time.Sleep(delay)
			}
			up = env.upload(owner, name, "d.csv", csvRows(7, 2))
		}()
		go func() {
			defer wg.Done()
			if round%2 == 0 {
				time.Sleep(delay)
			}
			del = env.do(request{method: "DELETE", path: "/api/admin/registry/" + name, token: admin})
		}()
		wg.Wait()
		if up.Code != http.StatusCreated {
			t.Fatalf("round %d: re-upload %d %s", round, up.Code, up.Body.String())
		}
		if del.Code != http.StatusNoContent && del.Code != http.StatusNotFound {
			t.Fatalf("round %d: delete %d %s", round, del.Code, del.Body.String())
		}
		tbl, regErr := env.store.GetTable(ctx, name)
		info, served := env.srv.engine.Catalog().Table(name)
		switch {
		case regErr == nil && served && info.Rows == 7 && tbl.RegisteredBy == "analyst@example.com":
			outcomes["re-uploaded after the delete"]++
		case regErr != nil && !served:
			outcomes["deleted after the re-upload"]++
		default:
			t.Fatalf("round %d: registered=%v (%+v) served=%v (%+v)", round, regErr == nil, tbl, served, info)
		}
		if left := uploadLeftovers(t, env); len(left) > 0 {
			t.Fatalf("round %d: left behind: %v", round, left)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestUploadLargeProfiledInBackground uploads 100,000 rows: the 201 says the profile is
// pending, and the profile arrives without another request.
func TestUploadLargeProfiledInBackground(t *testing.T) {
	env := newTestEnv(t)
	rec := env.upload(env.tokens[auth.RoleAnalyst], "big_one", "b.csv", csvRows(100_000, 4), [2]string{"public", "true"})
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), `"profile":"pending"`) ||
		!strings.Contains(rec.Body.String(), `"rows":100000`) {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	// Queryable at once.
	q := env.do(request{method: "POST", path: "/api/query", body: `{"sql": "SELECT count(*) AS n FROM big_one"}`,
		token: env.tokens[auth.RoleAnalyst]})
	if q.Code != http.StatusOK || !strings.Contains(q.Body.String(), "100000") {
		t.Errorf("query: %d %s", q.Code, q.Body.String())
	}
	env.srv.publisher.WaitProfiles()
	if env.srv.publisher.ProfilePending("big_one") {
		t.Error("still pending after the background profile finished")
	}
	if _, _, err := env.store.GetProfile(context.Background(), "big_one"); err != nil {
		t.Fatalf("no profile after the background run: %v", err)
	}
	b := env.browser()
	b.login("viewer@example.com", testPassword)
	frag := b.do("GET", "/catalog/big_one/profile", nil)
	if frag.Code != http.StatusOK || !strings.Contains(frag.Body.String(), `data-testid="profile-columns"`) ||
		strings.Contains(frag.Body.String(), `data-testid="profile-pending"`) {
		t.Errorf("profile fragment: %d %s", frag.Code, frag.Body.String())
	}
}

// TestUploadDiskFillsWhileReceiving has the disk fill up during an upload that the free-space
// check let through: 507 in plain words, no server path, nothing registered or left behind.
func TestUploadDiskFillsWhileReceiving(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	env := newTestEnv(t)
	dir := filepath.Join(env.srv.cfg.DataDir, "extracts", "uploads")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1048576", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	env.srv.publisher.FreeBytes = func(string) (uint64, error) { return 1 << 40, nil } // the check is fooled
	rec := env.upload(env.tokens[auth.RoleAnalyst], "filler", "f.csv", csvRows(400_000, 123456))
	if rec.Code != http.StatusInsufficientStorage || !strings.Contains(rec.Body.String(), "disk is full") ||
		strings.Contains(rec.Body.String(), env.srv.cfg.DataDir) {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if _, err := env.store.GetTable(context.Background(), "filler"); err == nil {
		t.Error("the upload was registered")
	}
	if left := uploadLeftovers(t, env); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestUploadPageDiskFull shows the page's form again with the full-disk message inline.
func TestUploadPageDiskFull(t *testing.T) {
	env := newTestEnv(t)
	env.srv.publisher.FreeBytes = func(string) (uint64, error) { return 10, nil }
	b := env.browser()
	if rec := b.login("analyst@example.com", testPassword); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	b.do("GET", "/upload", nil)
	body, ctype := multipartBody(t, [][2]string{{"name", "page_full"}}, "f.csv", []byte(salesCSV))
	r := request{method: "POST", path: "/upload", body: body, ctype: ctype, headers: map[string]string{"HX-Request": "true", "X-CSRF-Token": b.csrf}}
	for _, c := range b.jar {
		r.cookies = append(r.cookies, c)
	}
	rec := env.do(r)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "disk is too full for this upload") ||
		!strings.Contains(rec.Body.String(), `data-testid="upload-form"`) {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
}
