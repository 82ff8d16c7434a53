package handlers

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
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

	if err := s.store.Ping(ctx); err != nil {
		services["duckdb_state"] = map[string]any{"status": "error", "detail": "system database unavailable"}
		s.log.Error("health: system database", "error", err)
	} else {
		services["duckdb_state"] = map[string]any{"status": "ok"}
	}

	if st, err := s.store.DataStats(ctx, staleAfter); err != nil {
		services["data"] = map[string]any{"status": "error", "detail": "sync state unavailable"}
		s.log.Error("health: data", "error", err)
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
			s.log.Error("health: failing tables", "error", err)
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

	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.DataDir, &fs); err == nil {
		free := fs.Bavail * uint64(fs.Bsize)
		total := fs.Blocks * uint64(fs.Bsize)
		status := "ok"
		if free < lowDiskBytes {
			status = "warning"
		}
		services["disk"] = map[string]any{"status": status, "free_bytes": free, "total_bytes": total}
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
		"services":       services,
	})
}

// showReadiness answers GET /readyz for load balancers: 200 while the system database answers.
func (s *Server) showReadiness(c echo.Context) error {
	if err := s.store.Ping(c.Request().Context()); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
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
