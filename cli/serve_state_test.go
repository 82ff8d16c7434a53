package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"reflect"
	"testing"
	"time"

	"da/client"
	"da/config"
	"da/store/pgtest"
)

// serveUntilStopped runs the server for cfg on 127.0.0.1:0; stop shuts it down and waits.
func serveUntilStopped(t *testing.T, cfg *config.Config) (base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test", false, ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop within 20s")
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// TestServeAfterMigrateState runs a server on DuckDB state, fills it through the API, stops
// it, copies the state with migrate-state, and serves the same DATA_DIR with
// DA_DATABASE_URL: sign-in, users, the registry, grants and queries answer as before.
func TestServeAfterMigrateState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	envs := map[string]string{"DATA_DIR": dir, "SEED_ADMIN_EMAIL": testAdminEmail, "SEED_ADMIN_PASSWORD": testAdminPassword,
		"JWT_SECRET_KEY": "serve-after-migrate-state-secret-0123456789"}
	load := func() *config.Config {
		cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		return cfg
	}

	base, stop := serveUntilStopped(t, load())
	admin := adminClient(t, base)
	analystID := createAnalyst(t, admin)
	upload(t, admin, "orders", "id,amount\n1,10\n2,32\n", false)
	if err := admin.Grant(ctx, analystID, "orders", "read"); err != nil {
		t.Fatal(err)
	}
	answers := func(base string) map[string]any {
		t.Helper()
		analyst := client.New(base, "")
		res, err := analyst.Login(ctx, testAnalystEmail, testAnalystPass)
		if err != nil {
			t.Fatalf("analyst login: %v", err)
		}
		analyst.Token = res.AccessToken
		users, err := admin.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := admin.ListRegistry(ctx)
		if err != nil {
			t.Fatal(err)
		}
		perms, err := admin.ListPermissions(ctx, analystID)
		if err != nil {
			t.Fatal(err)
		}
		q, err := analyst.Query(ctx, "SELECT sum(amount) AS total FROM orders", 10)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"users": users, "registry": reg, "permissions": perms, "query": q.Rows}
	}
	before := answers(base)
	stop()

	url := pgtest.URL(t)
	newCLI(t, "").mustRun(ExitOK, "admin", "migrate-state", "--to", url, "--data-dir", dir)

	envs["DA_DATABASE_URL"] = url
	base, _ = serveUntilStopped(t, load())
	admin.BaseURL = base
	after := answers(base)
	for k, v := range before {
		if !reflect.DeepEqual(after[k], v) {
			t.Errorf("%s differs on PostgreSQL state:\nduckdb   %#v\npostgres %#v", k, v, after[k])
		}
	}
	h, err := admin.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Services["duckdb_state"]["backend"]; got != "postgres" {
		t.Errorf("health backend = %v, want postgres", got)
	}
}
