package cli

import (
	"context"
	"flag"
	"fmt"

	"da/config"
	"da/handlers"
)

// admin dispatches `da admin ...`.
func (e *env) admin(args []string) int {
	if len(args) == 0 {
		printGroupHelp(e.stderr, "admin")
		return ExitUsage
	}
	if isHelpArg(args[0]) {
		printGroupHelp(e.stdout, "admin")
		return ExitOK
	}
	switch args[0] {
	case "bootstrap":
		return e.adminBootstrap(args[1:])
	case "migrate-state":
		return e.adminMigrateState(args[1:])
	default:
		if code, ok := e.adminClient(args); ok {
			return code
		}
	}
	fmt.Fprintf(e.stderr, "da admin: unknown command %q\n\n", args[0])
	printGroupHelp(e.stderr, "admin")
	return ExitUsage
}

// adminBootstrap creates the first admin directly in the system database of a stopped
// instance (the server holds the database lock while it runs; use POST /auth/bootstrap then).
func (e *env) adminBootstrap(args []string) int {
	fs := flag.NewFlagSet("admin bootstrap", flag.ContinueOnError)
	email := fs.String("email", "", "admin e-mail (required)")
	password := fs.String("password", "", "admin password, at least 8 characters (or env DA_ADMIN_PASSWORD)")
	name := fs.String("name", "", "display name (default: the e-mail's local part)")
	dataDir := fs.String("data-dir", "", "data directory (env DATA_DIR, default ./data)")
	if code, ok := e.parseFlags(fs, args); !ok {
		return code
	}
	var ov config.Overrides
	if *dataDir != "" {
		ov.DataDir = dataDir
	}
	cfg, err := config.Load(e.getenv, ov)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin bootstrap: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	pw := *password
	if pw == "" {
		pw = e.getenv("DA_ADMIN_PASSWORD")
	}
	st, err := openState(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin bootstrap: %v\n(if the server is running, use POST /auth/bootstrap instead)\n", err)
		return ExitError
	}
	defer st.Close()
	ctx := context.Background()
	n, err := st.CountUsers(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin bootstrap: %v\n", err)
		return ExitError
	}
	if n > 0 {
		fmt.Fprintf(e.stderr, "da admin bootstrap: refused, %d users already exist\n", n)
		return ExitError
	}
	u, err := handlers.CreateFirstAdmin(ctx, st, *email, *name, pw)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin bootstrap: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(e.stdout, "Created admin %s (id %s)\n", u.Email, u.ID)
	return ExitOK
}
