package handlers

import (
	"net/http"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
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
