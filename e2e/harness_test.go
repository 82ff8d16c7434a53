// Package e2e drives the real server in headless Chromium, as a person would.
package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxschmitt/playwright-go"

	"da/cli"
	"da/config"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "e2e-admin-password"
	chromiumPath  = "/usr/bin/chromium"
)

// repoRoot walks up from the test's directory to go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// requireOrSkip fails when E2E_REQUIRED=1 (CI), else skips: a missing browser is never a
// silent pass in CI.
func requireOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("E2E_REQUIRED") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (set E2E_REQUIRED=1 to make this a failure)", args...)
}

// startBrowser launches Debian's Chromium through npm playwright-core; nothing is downloaded.
func startBrowser(t *testing.T) playwright.Browser {
	t.Helper()
	root := repoRoot(t)
	cliJS := filepath.Join(root, "node_modules", "playwright-core", "cli.js")
	if _, err := os.Stat(cliJS); err != nil {
		requireOrSkip(t, "playwright-core is not installed (run npm ci): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		requireOrSkip(t, "node is not installed: %v", err)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		requireOrSkip(t, "chromium is not installed (apt-get install chromium): %v", err)
	}
	if os.Getenv("PLAYWRIGHT_NODEJS_PATH") == "" {
		t.Setenv("PLAYWRIGHT_NODEJS_PATH", node)
	}
	if os.Getenv("PLAYWRIGHT_CLI_PATH") == "" {
		t.Setenv("PLAYWRIGHT_CLI_PATH", cliJS)
	}
	pw, err := playwright.Run(&playwright.RunOptions{SkipInstallBrowsers: true, Verbose: false})
	if err != nil {
		t.Fatalf("playwright.Run: %v", err)
	}
	t.Cleanup(func() { _ = pw.Stop() })
	b, err := pw.Chromium.Launch(playwright.BrowserTypeLaunchOptions{
		ExecutablePath: playwright.String(chromiumPath),
		Headless:       playwright.Bool(true),
		Args: []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"},
	})
	if err != nil {
		t.Fatalf("launch chromium: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// startServer runs `da serve` in-process on a free port over a fresh data directory, with
// a seeded admin, and returns its base URL.
func startServer(t *testing.T, extraEnv map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	envs := map[string]string{
		"DATA_DIR":            dir,
		"SEED_ADMIN_EMAIL":    adminEmail,
		"SEED_ADMIN_PASSWORD": adminPassword,
	}
	for k, v := range extraEnv {
		envs[k] = v
	}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("E2E_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	go func() { done <- cli.Serve(ctx, cfg, log, "e2e", false, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server stopped with error: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop within 20s")
		}
	})
	return "http://" + ln.Addr().String()
}

// screenshot saves a full-page PNG under tmp-artifacts/screenshots for a reviewer.
func screenshot(t *testing.T, page playwright.Page, name string) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "tmp-artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name = strings.ReplaceAll(name, " ", "-")
	if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(dir, name+".png")), FullPage: playwright.Bool(true)}); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}
