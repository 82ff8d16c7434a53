package cli

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"da/config"
)

// TestAdminBackupRestoreCommands: `da admin backup` through a running server, `da admin
// restore` into a new data directory, a backup of that stopped directory, and a server over
// the restored data serving the same users and tables.
func TestAdminBackupRestoreCommands(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	createAnalyst(t, admin)
	upload(t, admin, "orders", "id,amount\n1,10\n2,20\n", true)
	cli := newCLI(t, base)
	cli.vars["DATA_DIR"] = filepath.Join(t.TempDir(), "elsewhere") // this machine has no data: ask the server
	cli.mustRun(ExitOK, "auth", "login", "--email", testAdminEmail, "--password", testAdminPassword)

	out := filepath.Join(t.TempDir(), "da.tar.gz")
	if got := cli.mustRun(ExitOK, "admin", "backup", "--out", out); !strings.Contains(got, "from the server at "+base) || !strings.Contains(got, "verified") ||
		!strings.Contains(got, "SHA-256 of the archive: ") {
		t.Fatalf("backup output: %s", got)
	}
	if code, _, errs := cli.run("admin", "backup", "--out", out); code != ExitUsage || !strings.Contains(errs, "already exists") {
		t.Errorf("backup over an existing file: %d %s", code, errs)
	}
	if got := cli.mustRun(ExitOK, "admin", "restore", out, "--check"); !strings.Contains(got, "is complete") {
		t.Errorf("restore --check: %s", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.tar.gz")
	raw, _ := os.ReadFile(out)
	raw[len(raw)/2] ^= 0x55
	_ = os.WriteFile(bad, raw, 0o600)
	if code, _, errs := cli.run("admin", "restore", bad, "--check"); code != ExitError || !strings.Contains(errs, "invalid archive") {
		t.Errorf("restore --check of a damaged archive: %d %s", code, errs)
	}

	restored := t.TempDir()
	if code, _, errs := cli.run("admin", "restore", bad, "--data-dir", restored); code != ExitError || !strings.Contains(errs, "Nothing was changed") {
		t.Errorf("restore of a damaged archive: %d %s", code, errs)
	}
	if got := cli.mustRun(ExitOK, "admin", "restore", out, "--data-dir", restored); !strings.Contains(got, "Restored") {
		t.Fatalf("restore: %s", got)
	}
	// The stopped, restored instance is backed up directly.
	out2 := filepath.Join(t.TempDir(), "da2.tar.gz")
	if got := cli.mustRun(ExitOK, "admin", "backup", "--out", out2, "--data-dir", restored); !strings.Contains(got, "from the stopped instance") {
		t.Fatalf("offline backup: %s", got)
	}

	envs := map[string]string{"DATA_DIR": restored}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	base2 := startServerWith(t, cfg)
	admin2 := adminClient(t, base2) // the seeded admin's password came back with the data
	ctx := context.Background()
	u1, _ := admin.ListUsers(ctx)
	u2, err := admin2.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var e1, e2 []string
	for _, u := range u1 {
		e1 = append(e1, u.Email+"/"+u.Role)
	}
	for _, u := range u2 {
		e2 = append(e2, u.Email+"/"+u.Role)
	}
	sort.Strings(e1)
	sort.Strings(e2)
	if !reflect.DeepEqual(e1, e2) || len(e1) != 2 {
		t.Errorf("users after restore = %v, want %v", e2, e1)
	}
	tables, err := admin2.CatalogTables(ctx)
	if err != nil || len(tables) != 1 || tables[0].ID != "orders" || tables[0].Rows != 2 {
		t.Fatalf("tables after restore = %+v, %v", tables, err)
	}
}

func TestJobsFlags(t *testing.T) {
	base := startTestServer(t)
	cli := newCLI(t, base)
	cli.vars["JOBS_API_TOKEN"] = "x"
	if code, _, errs := cli.run("jobs", "--syncs=false"); code != ExitUsage || !strings.Contains(errs, "DA_BACKUP_SCHEDULE") {
		t.Errorf("jobs --syncs=false without backups: %d %s", code, errs)
	}
	delete(cli.vars, "JOBS_API_TOKEN")
	if code, _, errs := cli.run("jobs", "--once"); code != ExitUsage || !strings.Contains(errs, "JOBS_API_TOKEN") {
		t.Errorf("jobs --once without a token: %d %s", code, errs)
	}
	// --once with an admin's token syncs every table and exits 0.
	admin := adminClient(t, base)
	upload(t, admin, "orders", "id\n1\n", true)
	cli.vars["JOBS_API_TOKEN"] = admin.Token
	if out := cli.mustRun(ExitOK, "jobs", "--once"); !strings.Contains(out, "1 tables, 0 failed") {
		t.Errorf("jobs --once: %s", out)
	}
}

// The scheduled backup job of `da serve` writes verified archives into DATA_DIR/backups and
// keeps the newest backup.keep.
func TestScheduledBackups(t *testing.T) {
	dir := t.TempDir()
	envs := map[string]string{"DATA_DIR": dir, "SEED_ADMIN_EMAIL": testAdminEmail, "SEED_ADMIN_PASSWORD": testAdminPassword,
		"DA_BACKUP_SCHEDULE": "@every 1s", "DA_BACKUP_KEEP": "2"}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	startServerWith(t, cfg)
	backups := filepath.Join(dir, "backups")
	var names []string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		names, _ = filepath.Glob(filepath.Join(backups, "da-backup-*.tar.gz"))
		if len(names) >= 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(names) < 2 {
		t.Fatalf("scheduled backups: %v", names)
	}
	// Later archives replace the oldest: it goes, and two remain.
	oldest, pruned := names[0], false
	for time.Now().Before(deadline) && !pruned {
		now, _ := filepath.Glob(filepath.Join(backups, "da-backup-*.tar.gz"))
		pruned = len(now) == 2 && !slices.Contains(now, oldest)
		time.Sleep(200 * time.Millisecond)
	}
	if !pruned {
		t.Fatalf("the oldest archive %s was not pruned", oldest)
	}
	for _, n := range names[len(names)-1:] {
		if _, err := verifyFile(n); err != nil && !os.IsNotExist(err) {
			t.Errorf("%s: %v", n, err)
		}
	}
}
