package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"da/client"
	"da/config"
	"da/jobs"
)

// jobsCmd runs `da jobs`: the scheduler on its own, for a server started with --no-jobs.
//
// DuckDB lets only one process open system.duckdb, so this process does not open the data
// directory: it reads the registry's schedules from the server and starts syncs through
// POST /api/sync/trigger with an admin's personal access token (JOBS_API_TOKEN, or the
// original sidecar's SCHEDULER_API_TOKEN, or DA_TOKEN). The server prunes sync history
// itself on every rebuild.
func (e *env) jobsCmd(args []string) int {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	server := fs.String("server", "", "server URL (env API_URL or DA_SERVER, default http://localhost:8000)")
	reload := fs.Duration("reload", 30*time.Second, "how often to re-read the schedules")
	syncs := fs.Bool("syncs", true, "run the tables' sync schedules (--syncs=false with DA_BACKUP_SCHEDULE runs only the backups)")
	once := fs.Bool("once", false, "sync every registered table once, wait for the job and exit (1 when a table failed)")
	standby := fs.Bool("standby", false, "without a token, wait idle instead of exiting (the server then runs its jobs itself)")
	if code, ok := e.parseFlags(fs, args); !ok {
		return code
	}
	url := firstNonEmpty(*server, e.getenv("API_URL"), e.getenv("DA_SERVER"), "http://localhost:8000")
	token := firstNonEmpty(e.getenv("JOBS_API_TOKEN"), e.getenv("SCHEDULER_API_TOKEN"), e.getenv("DA_TOKEN"))
	if token == "" && *standby {
		fmt.Fprintln(e.stderr, "da jobs: no JOBS_API_TOKEN set: standing by (the server runs its scheduled jobs itself unless it "+
			"was started with --no-jobs). To run them here, start the server with DA_NO_JOBS=true and set JOBS_API_TOKEN "+
			"to an admin's personal access token.")
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		return ExitOK
	}
	if token == "" {
		fmt.Fprintln(e.stderr, "da jobs: set JOBS_API_TOKEN to an admin's personal access token (create one under Settings → Tokens)")
		return ExitUsage
	}
	if *reload < time.Second {
		fmt.Fprintln(e.stderr, "da jobs: --reload must be at least 1s")
		return ExitUsage
	}
	cfg, err := config.Load(e.getenv, config.Overrides{})
	if err != nil {
		fmt.Fprintf(e.stderr, "da jobs: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	if !*syncs && !*once && cfg.Backup.Schedule == "" {
		fmt.Fprintln(e.stderr, "da jobs: --syncs=false leaves nothing to run; set DA_BACKUP_SCHEDULE")
		return ExitUsage
	}
	log := newLogger(cfg, os.Stderr)
	remote := &jobs.Remote{BaseURL: strings.TrimRight(url, "/"), Token: token}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *once {
		res, err := remote.SyncAll(ctx, 2*time.Second)
		if err != nil {
			fmt.Fprintf(e.stderr, "da jobs --once: %v\n", err)
			return ExitServer
		}
		fmt.Fprintf(e.stdout, "sync job %s: %d tables, %d failed\n", res.JobID, res.Tables, len(res.Failed))
		for id, reason := range res.Failed {
			fmt.Fprintf(e.stdout, "  %s: %s\n", id, reason)
		}
		if len(res.Failed) > 0 {
			return ExitError
		}
		return ExitOK
	}
	// Fail fast on a wrong URL or token rather than logging the same error every 30 s.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	sched, err := remote.Schedules(cctx)
	cancel()
	if err != nil {
		fmt.Fprintf(e.stderr, "da jobs: cannot read the schedules from %s: %v\n", url, err)
		return ExitServer
	}
	var tasks []jobs.Task
	if cfg.Backup.Schedule != "" {
		// The server takes the snapshot (it holds the data); this process keeps the archives.
		c := client.New(strings.TrimRight(url, "/"), token)
		tasks = append(tasks, backupTask(cfg, log, func(ctx context.Context, w io.Writer) error {
			_, err := c.Backup(ctx, w)
			return err
		}))
	}
	var syncSource jobs.Syncs = remote
	if !*syncs {
		syncSource = nil
	}
	if cfg.DatabaseURL != "" {
		// With PostgreSQL state this process is one of the candidates for leader, with every
		// `da serve` that runs jobs: the scheduler runs only while it leads.
		coord, err := openCoordinator(ctx, cfg, log)
		if err != nil {
			fmt.Fprintf(e.stderr, "da jobs: %v\n", err)
			return ExitError
		}
		defer coord.Close()
		log.Info("da jobs campaigning to lead the scheduled jobs", "server", url, "replica", coord.ReplicaID())
		lj := runLeaderJobs(ctx, coord, log, func(lctx context.Context) (*jobs.Scheduler, error) {
			s := jobs.New(jobs.Options{Syncs: syncSource, Tasks: tasks, ReloadEvery: *reload, Log: log})
			return s, s.Start(lctx)
		})
		<-ctx.Done()
		lj.Wait()
		log.Info("da jobs stopped")
		return ExitOK
	}
	s := jobs.New(jobs.Options{Syncs: syncSource, Tasks: tasks, ReloadEvery: *reload, Log: log})
	if err := s.Start(ctx); err != nil {
		fmt.Fprintf(e.stderr, "da jobs: %v\n", err)
		return ExitError
	}
	log.Info("da jobs running", "server", url, "scheduled_tables", len(sched))
	<-ctx.Done()
	s.Stop()
	log.Info("da jobs stopped")
	return ExitOK
}

// firstNonEmpty returns the first non-blank value.
func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
