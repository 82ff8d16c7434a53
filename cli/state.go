package cli

import (
	"context"
	"path/filepath"

	"da/config"
	"da/store"
)

// openState opens the system database: on PostgreSQL when cfg.DatabaseURL is set, else
// DATA_DIR/state/system.duckdb.
func openState(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	if cfg.DatabaseURL != "" {
		return store.OpenPostgres(ctx, cfg.DatabaseURL)
	}
	return store.Open(stateFile(cfg))
}

// stateFile is the DuckDB system database of cfg's DATA_DIR.
func stateFile(cfg *config.Config) string {
	return filepath.Join(cfg.DataDir, "state", "system.duckdb")
}
