package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	if code, ok := e.parseFlags(fs, args); !ok {
		return code
	}
	url := firstNonEmpty(*server, e.getenv("API_URL"), e.getenv("DA_SERVER"), "http://localhost:8000")
	token := firstNonEmpty(e.getenv("JOBS_API_TOKEN"), e.getenv("SCHEDULER_API_TOKEN"), e.getenv("DA_TOKEN"))
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
	log := newLogger(cfg, os.Stderr)
	remote := &jobs.Remote{BaseURL: strings.TrimRight(url, "/"), Token: token}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Fail fast on a wrong URL or token rather than logging the same error every 30 s.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	sched, err := remote.Schedules(cctx)
	cancel()
	if err != nil {
		fmt.Fprintf(e.stderr, "da jobs: cannot read the schedules from %s: %v\n", url, err)
		return ExitServer
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
			s := jobs.New(jobs.Options{Syncs: remote, ReloadEvery: *reload, Log: log})
			return s, s.Start(lctx)
		})
		<-ctx.Done()
		lj.Wait()
		log.Info("da jobs stopped")
		return ExitOK
	}
	s := jobs.New(jobs.Options{Syncs: remote, ReloadEvery: *reload, Log: log})
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
