package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"da/config"
	"da/handlers"
	"da/store"
)

// Demo admin credentials, printed at start so a newcomer can sign in.
const (
	demoAdminEmail    = "admin@demo.local"
	demoAdminPassword = "demo-admin-pass"
)

// loadDemo prepares the demo instance: a demo admin whose credentials are printed.
func loadDemo(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger, url string) error {
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
