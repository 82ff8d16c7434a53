package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/engine/diskfull"
)

// staleAfter is how old a table's last sync may be before health reports it stale.
const staleAfter = 24 * time.Hour

// lowDiskBytes is the free space under DATA_DIR below which health degrades.
const lowDiskBytes = 1 << 30

// showHealth answers GET /api/health (no auth): always 200, with the state of each service
// in the shape the original CLI reads, plus version, uptime and disk facts.
func (s *Server) showHealth(c echo.Context) error {
	ctx := c.Request().Context()
	services := map[string]map[string]any{}
	overall := "healthy"
	degrade := func(st string) {
		switch {
		case st == "error":
			overall = "unhealthy"
		case st == "warning" && overall == "healthy":
			overall = "degraded"
		}
	}

	// "duckdb_state" is the original's name for the system database, whichever backend
	// holds it now; "backend" says which.
	if err := s.store.Ping(ctx); err != nil {
		services["duckdb_state"] = map[string]any{"status": "error", "detail": "system database unavailable", "backend": s.store.Backend()}
		s.log.ErrorContext(c.Request().Context(), "health: system database", "error", err)
	} else {
		services["duckdb_state"] = map[string]any{"status": "ok", "backend": s.store.Backend()}
	}

	if st, err := s.store.DataStats(ctx, staleAfter); err != nil {
		services["data"] = map[string]any{"status": "error", "detail": "sync state unavailable"}
		s.log.ErrorContext(c.Request().Context(), "health: data", "error", err)
	} else {
		status := "ok"
		if len(st.Stale) > 0 {
			status = "warning"
		}
		stale := st.Stale
		if stale == nil {
			stale = []string{}
		}
		services["data"] = map[string]any{"status": status, "tables": st.Tables, "total_rows": st.TotalRows, "stale_tables": stale}
		// A registered table whose every sync failed is not healthy either, though it was
		// never synced and so is not stale.
		if failing, err := s.store.FailingTables(ctx); err != nil {
			s.log.ErrorContext(c.Request().Context(), "health: failing tables", "error", err)
		} else {
			ids := make([]string, 0, len(failing))
			for _, f := range failing {
				ids = append(ids, f.TableID)
			}
			services["data"]["failing_tables"] = ids
			if len(ids) > 0 {
				services["data"]["status"] = "warning"
			}
		}
	}

	if n, err := s.store.CountUsers(ctx); err != nil {
		services["users"] = map[string]any{"status": "error", "detail": "users unavailable"}
	} else {
		services["users"] = map[string]any{"status": "ok", "count": n}
	}
	if kh := s.keboolaHealth(); kh != nil {
		services["keboola"] = kh
	}

	disk := map[string]any{"status": "ok"}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.DataDir, &fs); err == nil {
		free := fs.Bavail * uint64(fs.Bsize)
		disk["free_bytes"], disk["total_bytes"] = free, fs.Blocks*uint64(fs.Bsize)
		if free < lowDiskBytes {
			disk["status"] = "warning"
		}
	}
	// Free space alone does not say whether writes work (reserved blocks, quotas, a
	// read-only remount); a real write does.
	if err := s.probe.check(ctx); err != nil {
		disk["status"], disk["writable"], disk["detail"] = "error", false, writeProbeDetail(err)
	} else {
		disk["writable"] = true
	}
	services["disk"] = disk
	if s.jira != nil {
		// Jira's own states map onto health's: an event that failed all its tries is a warning.
		j := s.jiraStatus()
		if j["status"] != "warning" {
			j["status"] = "ok"
		}
		services["jira"] = j
	}
	for _, svc := range services {
		degrade(svc["status"].(string))
	}
	if !s.healthDetailsAllowed(c) {
		// Anonymous callers learn whether the service works, not its size or users.
		brief := make(map[string]map[string]any, len(services))
		for name, svc := range services {
			brief[name] = map[string]any{"status": svc["status"]}
		}
		return c.JSON(http.StatusOK, map[string]any{
			"status":    overall,
			"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"),
			"services":  brief,
		})
	}
	uptime := time.Since(s.started)
	return c.JSON(http.StatusOK, map[string]any{
		"status":         overall,
		"timestamp":      time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		"version":        s.version,
		"uptime_seconds": int64(uptime.Seconds()),
		"state_backend":  s.store.Backend(),
		"replica":        s.replicaHealth(ctx),
		"services":       services,
	})
}

// showReadiness answers GET /readyz for load balancers: 200 while the system database
// answers and the data directory takes writes.
func (s *Server) showReadiness(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.store.Ping(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	if err := s.probe.check(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "detail": writeProbeDetail(err)})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// healthDetailsAllowed reports whether the caller may see health details: a signed-in admin,
// or a monitoring scraper presenting HEALTH_TOKEN as its bearer token.
func (s *Server) healthDetailsAllowed(c echo.Context) bool {
	if u := currentUser(c); u != nil && auth.Role(u.Role) == auth.RoleAdmin {
		return true
	}
	want := s.cfg.HealthToken
	got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	return ok && want != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) == 1
}

// probeTTL is how long a write probe's answer is reused, so that frequent health checks
// stay cheap; a full disk shows (and a freed one recovers) within this time.
const probeTTL = 3 * time.Second

// probeTimeout bounds one probe. A probe that only ran out of time (the system database
// busy with a long write) proves nothing either way and is not reported as a failure.
const probeTimeout = 2 * time.Second

// writeProbe checks that the server can still write, at most once per probeTTL.
type writeProbe struct {
	run func(ctx context.Context) error
	log *slog.Logger
	ttl time.Duration

	mu  sync.Mutex
	at  time.Time
	err error
}

// check returns the last answer while it is fresh, else probes again.
func (p *writeProbe) check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < p.ttl {
		return p.err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	err := p.run(pctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	switch {
	case err != nil && p.err == nil:
		p.log.Error("health: writes fail", "error", err)
	case err == nil && p.err != nil:
		p.log.Info("health: writes work again")
	}
	p.at, p.err = time.Now(), err
	return err
}

// newWriteProbe probes the directories the server writes to (one per file system) and the
// system database.
func (s *Server) newWriteProbe() *writeProbe {
	dirs := []string{filepath.Join(s.cfg.DataDir, "state"), filepath.Join(s.cfg.DataDir, "tmp"),
		filepath.Join(s.cfg.DataDir, "extracts"), filepath.Join(s.cfg.DataDir, "analytics")}
	return &writeProbe{log: s.log, ttl: probeTTL, run: func(ctx context.Context) error {
		if err := probeDirs(dirs); err != nil {
			return err
		}
		return s.store.ProbeWrite(ctx)
	}}
}

// probeBytes is the size of the file a probe writes: one page, as a small real write is.
const probeBytes = 4096

// probeDirs writes, syncs and removes a small file in the first of dirs on each file system
// (a missing directory is created, as the server would).
func probeDirs(dirs []string) error {
	seen := map[uint64]bool{}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			return err
		}
		if seen[uint64(st.Dev)] {
			continue
		}
		seen[uint64(st.Dev)] = true
		if err := probeDir(dir); err != nil {
			return err
		}
	}
	return nil
}

func probeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeProbeDetail says why writes fail, in words and without a server path.
func writeProbeDetail(err error) string {
	if diskfull.Is(err) {
		return "writes fail: the disk is full"
	}
	return "writes fail: the data directory or the system database cannot be written"
}
