package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"da/backup"
)

// auditBackup records that an admin took a backup of the data directory.
const auditBackup = "backup_create"

// createBackup streams an archive of the data directory (POST /api/admin/backup): the
// system database snapshot and every extract and knowledge file, taken with uploads, syncs
// and deletes held off for the moment the files are collected (see backup.Create). Nothing
// is sent before the collection succeeded, so a failure there answers a JSON error; the
// client verifies the whole archive against its manifest when it arrives.
func (s *Server) createBackup(c echo.Context) error {
	name := fmt.Sprintf("da-backup-%s.tar.gz", time.Now().UTC().Format("20060102-150405"))
	w := &lazyHeader{c: c, name: name}
	m, err := backup.Create(c.Request().Context(), backup.Source{DataDir: s.cfg.DataDir, Store: s.store,
		Freeze: s.engine.FreezeWrites, Version: s.version}, w)
	if err != nil {
		_ = s.audit(c, auditBackup, "", "failed: "+firstLine(err.Error()), nil)
		if !w.started {
			s.log.Error("backup failed", "error", err)
			return apiError(http.StatusServiceUnavailable, "Backup failed: "+err.Error())
		}
		s.log.Error("backup failed while streaming; the client's archive is incomplete", "error", err)
		return nil
	}
	// Recorded once the archive is sent, so the entry is not in the archive it describes.
	if err := s.audit(c, auditBackup, "", auditResultOK, map[string]any{"files": len(m.Files), "bytes": m.TotalBytes}); err != nil {
		s.log.Error("recording the backup in the audit log failed", "error", err)
	}
	s.log.Info("backup sent", "files", len(m.Files), "bytes", m.TotalBytes, "schema_version", m.SchemaVersion,
		"writes_held_ms", m.FrozenMillis)
	return nil
}

// lazyHeader sends the archive's headers with its first byte.
type lazyHeader struct {
	c       echo.Context
	name    string
	started bool
}

func (w *lazyHeader) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		h := w.c.Response().Header()
		h.Set(echo.HeaderContentType, "application/gzip")
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", w.name))
		h.Set("Cache-Control", "no-store")
		w.c.Response().WriteHeader(http.StatusOK)
	}
	return w.c.Response().Write(p)
}
