package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"da/config"
	"da/store"
)

// adminMigrateState is `da admin migrate-state --to postgres://...`: it copies the DuckDB
// system database of a stopped instance into PostgreSQL, after which DA_DATABASE_URL can
// point the server there.
func (e *env) adminMigrateState(args []string) int {
	fs := flag.NewFlagSet("admin migrate-state", flag.ContinueOnError)
	to := fs.String("to", "", "URL of the PostgreSQL database to copy into, empty or copied by an earlier run (default: DA_DATABASE_URL)")
	dataDir := fs.String("data-dir", "", "data directory whose state/system.duckdb is copied (env DATA_DIR, default ./data)")
	if code, ok := e.parseFlags(fs, args); !ok {
		return code
	}
	var ov config.Overrides
	if *dataDir != "" {
		ov.DataDir = dataDir
	}
	cfg, err := config.Load(e.getenv, ov)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin migrate-state: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	target := *to
	if target == "" {
		target = cfg.DatabaseURL
	}
	if target == "" {
		fmt.Fprintln(e.stderr, "da admin migrate-state: --to postgres://user:password@host:port/dbname is required (or set DA_DATABASE_URL)")
		return ExitUsage
	}
	if _, err := store.ParsePostgresURL(target); err != nil {
		fmt.Fprintf(e.stderr, "da admin migrate-state: --to: %v\n", err)
		return ExitUsage
	}
	path := stateFile(cfg)
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(e.stderr, "da admin migrate-state: no DuckDB state to copy at %s: %v\n", path, err)
		return ExitError
	}
	ctx := context.Background()
	src, err := store.Open(path)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintf(e.stderr, "da admin migrate-state: %v\nStop da serve (and any other da using %s) first; the copy needs the state at rest.\n", err, cfg.DataDir)
		} else {
			fmt.Fprintf(e.stderr, "da admin migrate-state: %v\n", err)
		}
		return ExitError
	}
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, target)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin migrate-state: %v\n", err)
		return ExitError
	}
	defer dst.Close()
	fmt.Fprintf(e.stdout, "Copying %s into %s\n", path, store.RedactURL(target))
	plan, err := store.CopyState(ctx, src, dst)
	rows := make([][]any, 0, len(plan))
	for _, tc := range plan {
		rows = append(rows, []any{tc.Table, tc.Source, tc.Target, tc.Action})
	}
	if len(rows) > 0 {
		if werr := writeTable(e.stdout, []string{"table", "duckdb rows", "postgres rows", "action"}, rows); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin migrate-state: %v\n", err)
		if errors.Is(err, store.ErrTargetNotEmpty) {
			fmt.Fprintln(e.stderr, "Nothing was copied. Use an empty database, or the one an earlier migrate-state of this same state filled.")
		}
		return ExitError
	}
	fmt.Fprintf(e.stdout, "Done: every table has the same number of rows on both sides. Start da with DA_DATABASE_URL set to this database; %s is no longer used.\n", path)
	return ExitOK
}
