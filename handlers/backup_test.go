package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"da/backup"
	"da/engine"
	"da/jobs"
	"da/store"
)

func TestBackupRoutes(t *testing.T) {
	env := newTestEnv(t)
	for _, tc := range []struct {
		role   string
		token  string
		status int
	}{
		{"anonymous", "", 401},
		{"analyst", env.tokens["analyst"], 403},
		{"km_admin", env.tokens["km_admin"], 403},
		{"admin", env.tokens["admin"], 200},
	} {
		rec := env.do(request{method: "POST", path: "/api/admin/backup", token: tc.token})
		if rec.Code != tc.status {
			t.Errorf("%s: POST /api/admin/backup = %d %s, want %d", tc.role, rec.Code, rec.Body.String(), tc.status)
			continue
		}
		if tc.status != 200 {
			if strings.Contains(rec.Header().Get("Content-Type"), "gzip") || !strings.Contains(rec.Body.String(), `"detail"`) {
				t.Errorf("%s: refusal is not a JSON detail: %q", tc.role, rec.Body.String())
			}
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/gzip" {
			t.Errorf("Content-Type = %q", ct)
		}
		m, err := backup.Verify(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatalf("the archive does not verify: %v", err)
		}
		if m.SchemaVersion != store.LatestVersion || m.StateBackend != store.BackendDuckDB {
			t.Errorf("manifest = %+v", m)
		}
	}
	// The backup is audited.
	entries, err := env.store.QueryAudit(context.Background(), store.AuditFilter{Action: auditBackup})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit entries = %v, %v", entries, err)
	}
}

// TestBackupDuringUploads takes backups through the full echo stack while uploads run, and
// restores each one: every uploaded table is either wholly there (registered, published,
// every row) or wholly absent (neither registered nor any data), never half.
func TestBackupDuringUploads(t *testing.T) {
	env := newTestEnv(t)
	const uploads, rows = 6, 20000
	bodies := make([][2]string, uploads)
	for i := range bodies {
		body, ctype := multipartBody(t, [][2]string{{"name", fmt.Sprintf("up_%d", i)}}, "up.csv", csvRows(rows, i))
		bodies[i] = [2]string{body, ctype}
	}
	// Each backup starts right after one more upload was launched, so the backups fall
	// before, during and after the uploads' publishing.
	var wg sync.WaitGroup
	codes := make([]int, uploads)
	launch := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := env.do(request{method: "POST", path: "/api/upload/table", body: bodies[i][0], ctype: bodies[i][1], token: env.tokens["analyst"]})
			codes[i] = rec.Code
		}()
	}
	backupNow := func() []byte {
		rec := env.do(request{method: "POST", path: "/api/admin/backup", token: env.tokens["admin"]})
		if rec.Code != 200 {
			t.Fatalf("backup during uploads = %d %s", rec.Code, rec.Body.String())
		}
		return rec.Body.Bytes()
	}
	var archives [][]byte
	for i := 0; i < uploads; i++ {
		launch(i)
		archives = append(archives, backupNow())
	}
	wg.Wait()
	archives = append(archives, backupNow())
	for i, c := range codes {
		if c != 201 {
			t.Fatalf("upload %d = %d", i, c)
		}
	}
	counts := map[int]int{}
	for n, a := range archives {
		present := checkRestoredUploads(t, a, uploads, rows)
		counts[present]++
		if n == len(archives)-1 && present != uploads {
			t.Errorf("the backup taken after every upload finished has %d of %d tables", present, uploads)
		}
	}
	t.Logf("%d backups; tables present per backup -> count: %v", len(archives), counts)
}

// checkRestoredUploads restores archive into a new data directory and checks each upload
// is there whole or not at all; it returns how many are there.
func checkRestoredUploads(t *testing.T, archive []byte, uploads, rows int) int {
	t.Helper()
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(file, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := backup.Restore(context.Background(), file, dir); err != nil {
		t.Fatalf("restore: %v", err)
	}
	st, err := store.Open(filepath.Join(dir, "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	// What the server does at start: data without a registration would be moved aside here.
	q, err := engine.QuarantineUnregisteredUploads(ctx, dir, st, log)
	if err != nil || len(q) != 0 {
		t.Fatalf("the restored uploads hold unregistered data: %+v %v", q, err)
	}
	eng := engine.New(dir, st, log, engine.Options{Getenv: func(string) string { return "" }})
	if _, err := eng.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	present := 0
	for i := 0; i < uploads; i++ {
		id := fmt.Sprintf("up_%d", i)
		_, regErr := st.GetTable(ctx, id)
		info, served := eng.Catalog().Table(id)
		switch {
		case regErr == nil && served && info.Rows == int64(rows):
			present++
		case errors.Is(regErr, store.ErrNotFound) && !served:
			if m, _ := filepath.Glob(filepath.Join(dir, "extracts", "uploads", "data", id+"*")); len(m) > 0 {
				t.Errorf("%s is not registered but its data is in the backup: %v", id, m)
			}
		default:
			t.Errorf("%s is half there: registry error %v, served %v, info %+v", id, regErr, served, info)
		}
	}
	return present
}

// TestOneShotSyncAll is the compose `extract` profile's command (`da jobs --once`): one sync
// of every registered table through the API, waited for.
func TestOneShotSyncAll(t *testing.T) {
	env := newTestEnv(t)
	if rec := env.upload(env.tokens["analyst"], "sales", "sales.csv", []byte(salesCSV)); rec.Code != 201 {
		t.Fatalf("upload = %d %s", rec.Code, rec.Body.String())
	}
	srv := httptest.NewServer(env.e)
	defer srv.Close()
	ctx := context.Background()
	res, err := (&jobs.Remote{BaseURL: srv.URL, Token: env.tokens["admin"]}).SyncAll(ctx, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.JobID == "" || res.Tables != 1 || len(res.Failed) != 0 {
		t.Fatalf("SyncAll = %+v", res)
	}
	if _, err := (&jobs.Remote{BaseURL: srv.URL, Token: env.tokens["analyst"]}).SyncAll(ctx, time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "403") {
		t.Fatalf("SyncAll as an analyst = %v, want a 403", err)
	}
}
