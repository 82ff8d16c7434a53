package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"da/config"
	"da/engine"
	"da/handlers"
	"da/store"
)

// Demo admin credentials, printed at start so a newcomer can sign in.
const (
	demoAdminEmail    = "admin@demo.local"
	demoAdminPassword = "demo-admin-pass"
)

// loadDemo prepares the demo instance: the demo data set as a public source, and a demo admin
// whose credentials are printed.
func loadDemo(ctx context.Context, cfg *config.Config, st *store.Store, pub *engine.Publisher, log *slog.Logger, url string) error {
	_, err := st.GetUserByEmail(ctx, demoAdminEmail)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, err := handlers.CreateFirstAdmin(ctx, st, demoAdminEmail, "Demo Admin", demoAdminPassword); err != nil {
			return fmt.Errorf("demo admin: %w", err)
		}
		log.Info("demo admin created", "email", demoAdminEmail)
	case err != nil:
		return err
	}
	if err := pub.LoadDemo(ctx, demoAdminEmail); err != nil {
		return err
	}
	fmt.Printf("\n  Demo instance ready. Open %s and sign in as %s / %s\n\n", url, demoAdminEmail, demoAdminPassword)
	return nil
}

// browseURL is the address a person on this machine opens to reach a listener.
func browseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// demoCmd is `da demo load`: load the demo data set and demo admin into a stopped instance.
func (e *env) demoCmd(args []string) int {
	if len(args) == 0 || args[0] != "load" {
		fmt.Fprint(e.stderr, "Usage: da demo load [--data-dir DIR]\n")
		return ExitUsage
	}
	fs := flag.NewFlagSet("demo load", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory (env DATA_DIR, default ./data)")
	if code, ok := e.parseFlags(fs, args[1:]); !ok {
		return code
	}
	var ov config.Overrides
	if *dataDir != "" {
		ov.DataDir = dataDir
	}
	cfg, err := config.Load(e.getenv, ov)
	if err != nil {
		fmt.Fprintf(e.stderr, "da demo load: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "state"), 0o700); err != nil {
		fmt.Fprintf(e.stderr, "da demo load: %v\n", err)
		return ExitError
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "state", "system.duckdb"))
	if err != nil {
		fmt.Fprintf(e.stderr, "da demo load: %v\n(if the server is running, restart it with --demo instead)\n", err)
		return ExitError
	}
	defer st.Close()
	ctx := context.Background()
	_, pub := openEngine(ctx, cfg, st, log)
	if err := loadDemo(ctx, cfg, st, pub, log, cfg.ServerURL); err != nil {
		fmt.Fprintf(e.stderr, "da demo load: %v\n", err)
		return ExitError
	}
	return ExitOK
}
