package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"da/store"
	"da/store/pgtest"
)

// TestAdminMigrateState copies a DuckDB state into PostgreSQL with the command, runs it
// again, and opens the copy.
func TestAdminMigrateState(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := store.Open(filepath.Join(dataDir, "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: "ana@example.com", Name: "Ana", Role: "analyst", Active: true}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterTable(ctx, &store.Table{ID: "weather", Name: "weather", IsPublic: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t)
	c := newCLI(t, "")

	out := c.mustRun(ExitOK, "admin", "migrate-state", "--to", url, "--data-dir", dataDir)
	for _, want := range []string{"users", "table_registry", "copied", "Done"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out = c.mustRun(ExitOK, "admin", "migrate-state", "--to", url, "--data-dir", dataDir)
	if !strings.Contains(out, "verified") || strings.Contains(out, "copied") {
		t.Errorf("re-run output:\n%s", out)
	}
	pg, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	got, err := pg.GetUserByEmail(ctx, "ana@example.com")
	if err != nil || got.ID != u.ID || got.Name != "Ana" {
		t.Fatalf("copied user = %+v, %v", got, err)
	}

	code, _, errs := c.run("admin", "migrate-state", "--to", "mysql://u:pw-SECRET@h/db", "--data-dir", dataDir)
	if code != ExitUsage || !strings.Contains(errs, "--to") || strings.Contains(errs, "pw-SECRET") {
		t.Errorf("bad URL: exit %d, %s", code, errs)
	}
	code, _, errs = c.run("admin", "migrate-state", "--to", url, "--data-dir", t.TempDir())
	if code != ExitError || !strings.Contains(errs, "no DuckDB state") {
		t.Errorf("no state: exit %d, %s", code, errs)
	}
}
