package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alexedwards/scs/postgresstore"

	"da/auth"
	"da/backup"
	"da/cluster"
	"da/config"
	"da/engine"
	"da/engine/connectors"
	"da/engine/connectors/keboola"
	"da/engine/knowledge"
	"da/engine/openmetadata"
	"da/engine/query"
	"da/handlers"
	"da/jobs"
	"da/llm"
	"da/store"
)

func osGetenv(k string) string { return os.Getenv(k) }

// serveFlags are the flags of `da serve`; flags win over the environment.
type serveFlags struct {
	ov   config.Overrides
	demo bool
}

func (e *env) parseServeFlags(args []string) (*serveFlags, int, bool) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address HOST:PORT (env DA_ADDR, default :8000)")
	dataDir := fs.String("data-dir", "", "data directory (env DATA_DIR, default ./data)")
	cfgPath := fs.String("config", "", "instance.yaml path (env DA_CONFIG, default config/instance.yaml, optional)")
	noJobs := fs.Bool("no-jobs", false, "run no scheduled jobs in this process")
	demo := fs.Bool("demo", false, "load the demo data set and a demo admin")
	if code, ok := e.parseFlags(fs, args); !ok {
		return nil, code, false
	}
	f := &serveFlags{demo: *demo}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "addr":
			f.ov.Addr = addr
		case "data-dir":
			f.ov.DataDir = dataDir
		case "config":
			f.ov.ConfigPath = cfgPath
		case "no-jobs":
			f.ov.NoJobs = noJobs
		}
	})
	return f, 0, true
}

// newLogger builds the process logger from the config.
func newLogger(cfg *config.Config, w *os.File) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the server until SIGINT/SIGTERM.
func (e *env) serve(args []string) int {
	f, code, ok := e.parseServeFlags(args)
	if !ok {
		return code
	}
	cfg, err := config.Load(e.getenv, f.ov)
	if err != nil {
		fmt.Fprintf(e.stderr, "da serve: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	log := newLogger(cfg, os.Stderr)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Addr, "error", err)
		return ExitError
	}
	stopPprof, err := startPprof(e.getenv("DA_PPROF_ADDR"), log)
	if err != nil {
		fmt.Fprintf(e.stderr, "da serve: %v\n", err)
		return ExitUsage
	}
	defer stopPprof()
	if err := Serve(ctx, cfg, log, e.version, f.demo, ln); err != nil {
		log.Error("server stopped with an error", "error", oneParagraph(err.Error()))
		return ExitError
	}
	log.Info("databases closed; exiting")
	return ExitOK
}

// oneParagraph drops the C++ stack trace DuckDB appends to its internal errors and joins the
// remaining lines, so that a failure is one readable log line.
func oneParagraph(msg string) string {
	if i := strings.Index(msg, "Stack Trace:"); i >= 0 {
		msg = msg[:i]
	}
	return strings.Join(strings.Fields(msg), " ")
}

// Serve opens the data directory, builds the HTTP server and serves on ln until ctx ends.
// It is what `da serve` runs, and what the end-to-end tests start.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger, version string, demo bool, ln net.Listener) error {
	defer ln.Close()
	started := time.Now()
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "state"), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := checkReplicaSecrets(cfg); err != nil {
		return err
	}
	if err := cfg.EnsureSecrets(log); err != nil {
		return err
	}
	coord, err := openCoordinator(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer coord.Close()
	if err := checkReplicaVersions(ctx, coord, version); err != nil {
		return err
	}
	st, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rep := &replica{coord: coord, st: st, log: log, version: version, addr: ln.Addr().String(), started: started.UTC()}
	alone, joined, err := rep.join(ctx)
	if err != nil {
		return fmt.Errorf("join the replicas: %w", err)
	}
	if alone {
		// No other da serves this DATA_DIR (this process holds the system database, or is
		// the only live replica): the spools and staging directories there were left by a
		// crash.
		engine.SweepTemp(cfg.DataDir, log)
	}

	if err := seedAdmin(ctx, cfg, st, log); err != nil {
		joined()
		return err
	}
	if alone {
		// Upload data a crash left published but unregistered is moved aside before anything
		// serves it. (With other replicas running it may be an upload in progress.)
		if _, err := engine.QuarantineUnregisteredUploads(ctx, cfg.DataDir, st, log); err != nil {
			log.Error("checking uploads for unregistered data failed", "error", err)
		}
	}
	joined()
	shareAuth(coord, st, log)
	eng, pub := openEngineWith(ctx, cfg, st, log, coord, alone)
	rep.gen = func() uint64 { return eng.Catalog().Generation }
	rep.run()
	defer rep.Close()
	// Keboola is built in: configured or not, its tables can be registered; the token is
	// checked in the background so that a bad one or an unreachable stack never stops the start.
	kbc := keboola.FromConfig(cfg.Keboola, cfg.DataDir, log)
	if kbc.Configured() {
		go func() {
			// Checked at start and every 15 minutes, so that health follows a revoked token
			// or an outage without anyone pressing Test connection.
			t := time.NewTicker(15 * time.Minute)
			defer t.Stop()
			for {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if status := kbc.Check(cctx); status.State != keboola.StateOK && ctx.Err() == nil {
					log.Warn("keboola: the connection check failed", "status", status.State, "detail", status.Message)
				}
				cancel()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	enricher := openmetadata.FromConfig(cfg.OpenMetadata, cfg.DataDir, log)
	defer enricher.Wait()
	syncOpt := engine.SyncOptions{Publisher: pub, Log: log, Connectors: connectors.NewRegistry(eng.ExtractsDir(), kbc)}
	if enricher.Enabled() {
		syncOpt.AfterSync = enricher.RefreshSynced
		log.Info("OpenMetadata enrichment on", "url", cfg.OpenMetadata.URL)
	}
	if rep.shared() {
		syncOpt.Replica, syncOpt.LiveReplicas = coord.ReplicaID(), rep.liveReplicas
	}
	syncer := engine.NewSyncer(eng, st, syncOpt)
	defer syncer.Close()
	jiraSvc, err := openJira(cfg, log)
	if err != nil {
		return err
	}
	var leaderTasks []jobs.Task
	if jiraSvc != nil {
		leaderTasks = jobs.JiraTasks(jiraSvc.Jobs())
	}
	metrics := handlers.NewMetrics()
	var sched handlers.RegistryScheduler
	// One knowledge collector for "Collect now" and the schedule, so only one run at a time.
	collector := knowledge.NewRunner(cfg, st, log, llm.Options{})
	if alone {
		// With other replicas live, an unfinished collection may be running on one of them.
		if err := st.FailUnfinishedRuns(ctx, "the server stopped during the collection"); err != nil {
			log.Error("closing unfinished knowledge collections failed", "error", err)
		}
	}
	if collector.Configured() {
		leaderTasks = append(leaderTasks, jobs.Task{Name: "knowledge_collect", Schedule: "@every 30m", Run: func(ctx context.Context) error {
			_, err := collector.RunNow(ctx, "schedule")
			if errors.Is(err, knowledge.ErrBusy) {
				return nil
			}
			return err
		}})
	}
	switch {
	case cfg.NoJobs:
	case !rep.shared():
		s, err := startJobs(ctx, cfg, st, syncer, eng, enricher, metrics, version, log, leaderTasks...)
		if err != nil {
			return err
		}
		defer s.Stop()
		sched = s
	default:
		// One replica, the leader, runs the scheduled jobs; another takes over when it goes.
		jctx, stopJobs := context.WithCancel(ctx)
		lj := runLeaderJobs(jctx, coord, log, func(lctx context.Context) (*jobs.Scheduler, error) {
			return startJobs(lctx, cfg, st, syncer, eng, enricher, metrics, version, log, append(slices.Clone(leaderTasks), clusterTask(eng, syncer, st, log))...)
		})
		defer lj.Wait()
		defer stopJobs()
		sched = lj
	}
	runner := query.NewRunner(query.Options{
		Timeout: cfg.Query.Timeout, MemoryLimit: cfg.Query.MemoryLimit, Threads: cfg.Query.Threads,
		MaxRows: cfg.Query.APIMaxRows, ExportMaxRows: cfg.Query.ExportMaxRows,
		TempDir: filepath.Join(cfg.DataDir, "tmp"),
	}, log)
	defer runner.Close()
	st.QueryLog().SetErrorHandler(func(err error) { log.Error("recording queries failed", "error", err) })
	if demo {
		if err := loadDemo(ctx, cfg, st, pub, log, browseURL(ln.Addr())); err != nil {
			return err
		}
	}
	// Tables synced or uploaded while no profile could be taken get one in the background.
	go func() {
		if _, err := pub.ProfileMissing(ctx); err != nil && ctx.Err() == nil {
			log.Warn("background profiling failed", "error", err)
		}
	}()
	if n, err := st.CountUsers(ctx); err == nil && n == 0 {
		log.Warn("no users yet: create the first admin with `da admin bootstrap --email you@example.com` (server stopped) " +
			"or POST /auth/bootstrap {\"email\",\"password\"} — this works only while there are no users")
	}

	sessStore := postgresstore.NewWithCleanupInterval(st.DB, 10*time.Minute)
	defer sessStore.StopCleanup()
	sm := handlers.NewSessionManager(sessStore, strings.HasPrefix(cfg.ServerURL, "https://"))
	e := handlers.New(handlers.Deps{
		Config: cfg, Store: st, Issuer: auth.NewIssuer(cfg.JWTSecret), Sessions: sm,
		Limiter: auth.NewLoginLimiter(), Logger: log, Version: version, Started: started,
		Engine: eng, Query: runner, Publisher: pub, Profiler: pub, Syncer: syncer, Scheduler: sched, Knowledge: collector,
		DemoLogin: demoLogin(demo), Enricher: enricher, Metrics: metrics, Coord: coord, Jira: jiraSvc,
	})
	if jiraSvc != nil {
		// Events a previous process accepted but did not apply are replayed first.
		if err := jiraSvc.Start(ctx); err != nil {
			return err
		}
		defer jiraSvc.Close()
	}
	// Every request's context derives from reqCtx, so that a shutdown can cancel the queries
	// and uploads still running once the drain is over.
	reqCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	inflight := &requestCounter{}
	srv := handlers.NewHTTPServer(cfg, inflight.wrap(e), log)
	srv.BaseContext = func(net.Listener) context.Context { return reqCtx }
	log.Info("da serving", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "state", st.Backend(), "version", version, "env", cfg.Env)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(handlers.LimitConnsPerAddr(ln, cfg.HTTP.MaxConnsPerAddr)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown(srv, cancelRequests, inflight, cfg.HTTP.ShutdownDrain, log)
	return nil
}

// answerGrace is how long cancelled requests get to send their answer before every
// connection is closed; cancelGrace is how long they then get to clean up (spools,
// sandboxes) before the stores close. With the default drain of 5s a stop takes well under
// 10s, Docker's default grace.
const (
	answerGrace = time.Second
	cancelGrace = 2 * time.Second
)

// shutdown stops accepting connections, lets running requests finish for drain, then
// cancels the rest (their contexts, which interrupts queries, and their connections, which
// ends uploads still being received) and waits briefly for their clean-up.
func shutdown(srv *http.Server, cancelRequests context.CancelFunc, inflight *requestCounter, drain time.Duration, log *slog.Logger) {
	log.Info("shutting down: draining requests", "drain", drain.String(), "running", inflight.n.Load())
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	err := srv.Shutdown(dctx)
	cancel()
	if err == nil && inflight.n.Load() == 0 {
		log.Info("stopped cleanly")
		return
	}
	log.Warn("requests still running after the drain: cancelling them", "running", inflight.n.Load())
	cancelRequests()
	// A cancelled query answers at once; an upload still being received only ends when its
	// connection closes.
	inflight.wait(answerGrace)
	_ = srv.Close()
	if !inflight.wait(cancelGrace) {
		log.Warn("requests did not end after cancelling; stopping anyway", "running", inflight.n.Load())
		return
	}
	log.Info("stopped: running requests were cancelled")
}

// requestCounter counts the requests whose handlers are running, which http.Server.Close
// does not wait for.
type requestCounter struct{ n atomic.Int64 }

func (rc *requestCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.n.Add(1)
		defer rc.n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// wait polls until no handler runs, for at most d; it reports whether they all ended.
func (rc *requestCounter) wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for rc.n.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// openEngine builds the data engine and publishes what DATA_DIR/extracts holds. A failed first
// rebuild is logged and leaves an empty catalog: the server still starts so an admin can fix it.
func openEngine(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) (*engine.Engine, *engine.Publisher) {
	return openEngineWith(ctx, cfg, st, log, nil, true)
}

// openEngineWith is openEngine for a replica coordinated by coord: it follows the
// generations the other replicas publish from before its first rebuild, and deletes other
// replicas' snapshots when it is alone.
func openEngineWith(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger, coord cluster.Coordinator, alone bool) (*engine.Engine, *engine.Publisher) {
	eng := engine.New(cfg.DataDir, st, log, engine.Options{
		HistoryRetention: time.Duration(cfg.SyncHistoryRetentionDays) * 24 * time.Hour,
		Getenv:           os.Getenv,
		Coord:            coord,
	})
	eng.FollowCluster()
	if alone && coord != nil && coord.Backend() != cluster.BackendDuckDB {
		if n := eng.SweepForeignSnapshots(); n > 0 {
			log.Info("removed analytics snapshots of replicas that are gone", "files", n)
		}
	}
	if res, err := eng.Rebuild(ctx); err != nil {
		log.Error("publishing the data failed; serving an empty catalog", "error", err)
	} else {
		log.Info("data published", "tables", len(res.Catalog.Tables), "duration_ms", res.Duration.Milliseconds())
	}
	return eng, &engine.Publisher{Engine: eng, Store: st, DataDir: cfg.DataDir, Profiler: cfg.Profiler, Log: log}
}

// startJobs starts the in-process scheduler: every table's sync_schedule and the sync
// history retention.
func startJobs(ctx context.Context, cfg *config.Config, st *store.Store, syncer *engine.Syncer, eng *engine.Engine,
	enricher *openmetadata.Enricher, metrics *handlers.Metrics, version string, log *slog.Logger, extra ...jobs.Task) (*jobs.Scheduler, error) {
	tasks := append([]jobs.Task{}, extra...)
	if cfg.SyncHistoryRetentionDays > 0 {
		tasks = append(tasks, jobs.HistoryRetention(st, time.Duration(cfg.SyncHistoryRetentionDays)*24*time.Hour))
	}
	if cfg.Backup.Schedule != "" {
		tasks = append(tasks, backupTask(cfg, log, func(ctx context.Context, w io.Writer) error {
			_, err := backup.Create(ctx, backup.Source{DataDir: cfg.DataDir, Store: st, Freeze: eng.FreezeWrites, Version: version}, w)
			return err
		}))
	}
	if cfg.OpenMetadata.ExportSchedule != "" && enricher.Enabled() {
		tasks = append(tasks, jobs.Task{Name: "catalog-export", Schedule: cfg.OpenMetadata.ExportSchedule, Run: func(ctx context.Context) error {
			res, err := openmetadata.ExportRegistered(ctx, st, enricher, cfg.DataDir, cfg.OpenMetadata)
			if err == nil {
				log.Info("catalog exported", "metrics", res.Metrics, "tables", res.Tables, "failed", len(res.Failed), "removed", len(res.Removed))
			}
			return err
		}})
	}
	s := jobs.New(jobs.Options{Syncs: &jobs.Local{Store: st, Syncer: syncer}, Tasks: tasks, Log: log, OnRun: metrics.JobRun})
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	log.Info("scheduled jobs running in this process (start with --no-jobs and run `da jobs` to split them)")
	return s, nil
}

// seedAdmin creates SEED_ADMIN_EMAIL with SEED_ADMIN_PASSWORD when that user does not exist.
func seedAdmin(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	if cfg.SeedAdminEmail == "" {
		return nil
	}
	if _, err := st.GetUserByEmail(ctx, cfg.SeedAdminEmail); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	u, err := handlers.CreateFirstAdmin(ctx, st, cfg.SeedAdminEmail, "Admin", cfg.SeedAdminPassword)
	if err != nil {
		return fmt.Errorf("SEED_ADMIN_EMAIL: %w", err)
	}
	log.Info("seeded admin user", "email", u.Email)
	return nil
}
