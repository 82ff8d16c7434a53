package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"da/backup"
	"da/client"
	"da/config"
	"da/engine/openmetadata"
	"da/jobs"
	"da/store"
)

// adminBackup is `da admin backup --out FILE`: with the server running (it holds the system
// database) the archive comes from POST /api/admin/backup with the saved admin login;
// otherwise it is made from DATA_DIR directly. Either way it is written to FILE.part,
// verified against its manifest and only then renamed to FILE.
func (e *env) adminBackup(args []string) int {
	fs := flag.NewFlagSet("admin backup", flag.ContinueOnError)
	out := fs.String("out", "", "archive to write (required), e.g. da-backup.tar.gz")
	dataDir := fs.String("data-dir", "", "data directory (env DATA_DIR, default ./data)")
	remote := fs.Bool("remote", false, "always ask the server (its DATA_DIR may be on another machine)")
	if code, ok := e.parseFlags(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(e.stderr, "da admin backup: --out FILE is required")
		return ExitUsage
	}
	if _, err := os.Stat(*out); err == nil {
		fmt.Fprintf(e.stderr, "da admin backup: %s already exists; choose another name\n", *out)
		return ExitUsage
	}
	ctx := context.Background()
	part := *out + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin backup: %v\n", err)
		return ExitError
	}
	defer os.Remove(part)
	how, code := e.writeBackup(ctx, f, *dataDir, *remote)
	if cerr := f.Close(); code == ExitOK && cerr != nil {
		fmt.Fprintf(e.stderr, "da admin backup: %v\n", cerr)
		code = ExitError
	}
	if code != ExitOK {
		return code
	}
	m, err := verifyFile(part)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin backup: the archive received is not complete: %v\n", err)
		return ExitError
	}
	if err := os.Rename(part, *out); err != nil {
		fmt.Fprintf(e.stderr, "da admin backup: %v\n", err)
		return ExitError
	}
	sum, err := sha256File(*out)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin backup: %v\n", err)
		return ExitError
	}
	fmt.Fprintf(e.stdout, "Backup written to %s (%s): %d files, %d bytes of data, schema version %d, verified.\nSHA-256 of the archive: %s\n",
		*out, how, len(m.Files), m.TotalBytes, m.SchemaVersion, sum)
	return ExitOK
}

// writeBackup writes the archive to f, from the stopped DATA_DIR or through the server.
func (e *env) writeBackup(ctx context.Context, f *os.File, dataDir string, remote bool) (string, int) {
	if !remote {
		cfg, err := e.loadLocalConfig(dataDir)
		if err != nil {
			fmt.Fprintf(e.stderr, "da admin backup: invalid configuration:\n%v\n", err)
			return "", ExitUsage
		}
		dbPath := filepath.Join(cfg.DataDir, filepath.FromSlash(backup.SystemDB))
		if _, err := os.Stat(dbPath); err == nil {
			if err := store.CheckUnlocked(ctx, dbPath); err == nil {
				st, err := store.Open(dbPath)
				if err == nil {
					defer st.Close()
					if _, err := backup.Create(ctx, backup.Source{DataDir: cfg.DataDir, Store: st, Version: e.version}, f); err != nil {
						fmt.Fprintf(e.stderr, "da admin backup: %v\n", err)
						return "", ExitError
					}
					return "from the stopped instance in " + cfg.DataDir, ExitOK
				}
				if !errors.Is(err, store.ErrLocked) {
					fmt.Fprintf(e.stderr, "da admin backup: %v\n", err)
					return "", ExitError
				}
			}
		}
	}
	// The server runs (or the data is elsewhere): it takes the snapshot.
	s, c, err := e.authedClient()
	if err != nil {
		return "", e.fail("admin backup", err)
	}
	if _, err := c.Backup(ctx, f); err != nil {
		return "", e.fail("admin backup", err)
	}
	return "from the server at " + s.server, ExitOK
}

// adminRestore is `da admin restore FILE`: it replaces a stopped instance's DATA_DIR with the
// archive, after checking all of it.
func (e *env) adminRestore(args []string) int {
	fs := flag.NewFlagSet("admin restore", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory to restore into (env DATA_DIR, default ./data)")
	check := fs.Bool("check", false, "only verify the archive; change nothing")
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	if *check {
		m, err := verifyFile(pos[0])
		if err != nil {
			fmt.Fprintf(e.stderr, "da admin restore: %v\n", err)
			return ExitError
		}
		fmt.Fprintf(e.stdout, "%s is complete: %d files, %d bytes, schema version %d, made by da %s at %s.\n",
			pos[0], len(m.Files), m.TotalBytes, m.SchemaVersion, m.DAVersion, m.CreatedAt.Format("2006-01-02 15:04:05Z"))
		return ExitOK
	}
	cfg, err := e.loadLocalConfig(*dataDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin restore: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	res, err := backup.Restore(context.Background(), pos[0], cfg.DataDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin restore: %v\nNothing was changed in %s.\n", err, cfg.DataDir)
		if errors.Is(err, backup.ErrRunning) {
			return ExitUsage
		}
		return ExitError
	}
	fmt.Fprintf(e.stdout, "Restored %s into %s: %d files, schema version %d, taken at %s.\n",
		pos[0], cfg.DataDir, len(res.Manifest.Files), res.Manifest.SchemaVersion, res.Manifest.CreatedAt.Format("2006-01-02 15:04:05Z"))
	if res.Previous != "" {
		fmt.Fprintf(e.stdout, "The former content is kept in %s; remove it once the restored instance works.\n", res.Previous)
	}
	if res.Manifest.StateBackend == store.BackendPostgres || cfg.StateBackend() == store.BackendPostgres {
		fmt.Fprintf(e.stdout, "The state (taken from %s) is restored as %s. To serve it from PostgreSQL, stop every replica and run\n"+
			"  da admin migrate-state --to <an empty PostgreSQL database> --data-dir %s\n"+
			"then start da with DA_DATABASE_URL naming that database.\n",
			res.Manifest.StateBackend, filepath.Join(cfg.DataDir, "state", "system.duckdb"), cfg.DataDir)
	}
	fmt.Fprintln(e.stdout, "Start the server: it rebuilds the analytics database from the restored extracts.")
	return ExitOK
}

// backupTask is the scheduled backup job: an archive from produce into backup.dir (default
// DATA_DIR/backups), keeping the newest backup.keep.
func backupTask(cfg *config.Config, log *slog.Logger, produce func(ctx context.Context, w io.Writer) error) jobs.Task {
	dir := cfg.Backup.Dir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "backups")
	}
	return jobs.Task{Name: "backup", Schedule: cfg.Backup.Schedule, Run: func(ctx context.Context) error {
		start := time.Now()
		p, err := backup.WriteRotated(ctx, dir, cfg.Backup.Keep, start, func(w io.Writer) error { return produce(ctx, w) })
		if err != nil {
			return err
		}
		log.Info("scheduled backup written", "path", p, "keep", cfg.Backup.Keep, "duration_ms", time.Since(start).Milliseconds())
		return nil
	}}
}

// loadLocalConfig loads the configuration with an optional --data-dir override.
func (e *env) loadLocalConfig(dataDir string) (*config.Config, error) {
	var ov config.Overrides
	if dataDir != "" {
		ov.DataDir = &dataDir
	}
	return config.Load(e.getenv, ov)
}

func verifyFile(path string) (*backup.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return backup.Verify(f)
}

// adminCatalogExport is `da admin catalog-export`: through the server while it runs, else
// directly into the stopped instance's DATA_DIR/docs.
func (e *env) adminCatalogExport(args []string) int {
	fs := flag.NewFlagSet("admin catalog-export", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory (env DATA_DIR, default ./data)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := e.parseFlags(fs, args); !ok {
		return code
	}
	ctx := context.Background()
	cfg, err := e.loadLocalConfig(*dataDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "da admin catalog-export: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	var res *client.CatalogExport
	dbPath := filepath.Join(cfg.DataDir, filepath.FromSlash(backup.SystemDB))
	if _, statErr := os.Stat(dbPath); statErr == nil && store.CheckUnlocked(ctx, dbPath) == nil {
		en := openmetadata.FromConfig(cfg.OpenMetadata, cfg.DataDir, nil)
		if !en.Enabled() {
			fmt.Fprintln(e.stderr, "da admin catalog-export: OpenMetadata is not configured: set OPENMETADATA_URL and OPENMETADATA_TOKEN")
			return ExitUsage
		}
		st, err := store.Open(dbPath)
		if err != nil {
			fmt.Fprintf(e.stderr, "da admin catalog-export: %v\n", err)
			return ExitError
		}
		defer st.Close()
		r, err := openmetadata.ExportRegistered(ctx, st, en, cfg.DataDir, cfg.OpenMetadata)
		if err != nil {
			fmt.Fprintf(e.stderr, "da admin catalog-export: %v\n", err)
			return ExitError
		}
		res = &client.CatalogExport{Metrics: r.Metrics, Tables: r.Tables, Failed: r.Failed, Kept: r.Kept, Removed: r.Removed,
			MetricsError: r.MetricsError, LastExport: r.LastExport}
	} else {
		_, c, err := e.authedClient()
		if err != nil {
			return e.fail("admin catalog-export", err)
		}
		if res, err = c.ExportCatalog(ctx); err != nil {
			return e.fail("admin catalog-export", err)
		}
	}
	if *asJSON {
		return e.printJSON(res)
	}
	fmt.Fprintf(e.stdout, "Exported %d metrics and %d tables to DATA_DIR/docs; %d stale generated files removed, %d hand-written files kept.\n",
		res.Metrics, res.Tables, len(res.Removed), len(res.Kept))
	if res.MetricsError != "" {
		fmt.Fprintf(e.stdout, "Metrics could not be listed (their files were kept): %s\n", res.MetricsError)
	}
	for id, why := range res.Failed {
		fmt.Fprintf(e.stdout, "  skipped %s: %s\n", id, why)
	}
	return ExitOK
}

// sha256File is the hex SHA-256 of the file at path, printed so that an operator can check a
// copied archive (sha256sum) without da.
func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
