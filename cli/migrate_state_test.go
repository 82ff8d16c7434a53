package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// TestAdminMigrateStateRefusesLockedState: while another process holds system.duckdb (a
// running server), the command refuses and says to stop it.
func TestAdminMigrateStateRefusesLockedState(t *testing.T) {
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "state", "system.duckdb")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldState$")
	cmd.Env = append(os.Environ(), "CLI_HOLD_STATE="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	url := pgtest.URL(t)
	code, _, errs := newCLI(t, "").run("admin", "migrate-state", "--to", url, "--data-dir", dataDir)
	if code != ExitError || !strings.Contains(errs, "locked by another process") || !strings.Contains(errs, "Stop da serve") {
		t.Errorf("locked state: exit %d, %s", code, errs)
	}
}

// TestHelperHoldState is not a test: TestAdminMigrateStateRefusesLockedState runs the test
// binary with CLI_HOLD_STATE set to hold a store open until stdin closes.
func TestHelperHoldState(t *testing.T) {
	path := os.Getenv("CLI_HOLD_STATE")
	if path == "" {
		t.Skip("helper process only")
	}
	st, err := store.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	fmt.Println("open")
	_, _ = io.Copy(io.Discard, os.Stdin)
	st.Close()
	os.Exit(0)
}
