package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"da/engine"
)

// syncTriggerBody is the object form of POST /api/sync/trigger's body; the original's bare
// JSON array of table ids is accepted too.
type syncTriggerBody struct {
	Tables   []string `json:"tables"`
	SkipBusy bool     `json:"skip_busy"`
	Trigger  string   `json:"trigger"`
}

// readSyncTrigger parses the optional body: empty, a bare array of ids, or an object.
func readSyncTrigger(c echo.Context) (*syncTriggerBody, error) {
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large (limit %d bytes)", mbe.Limit))
		}
		return nil, apiError(http.StatusBadRequest, "Could not read request body")
	}
	body := strings.TrimSpace(string(raw))
	out := &syncTriggerBody{}
	switch {
	case body == "" || body == "null":
	case body[0] == '[':
		if err := json.Unmarshal([]byte(body), &out.Tables); err != nil {
			return nil, fieldInvalid("tables", "the body must be a JSON array of table ids (strings)")
		}
	case body[0] == '{':
		dec := json.NewDecoder(strings.NewReader(body))
		if err := dec.Decode(out); err != nil {
			return nil, fieldInvalid("tables", "expected {\"tables\": [ids], \"skip_busy\": bool}: "+err.Error())
		}
	default:
		return nil, fieldInvalid("body", "expected a JSON array of table ids or an object with tables")
	}
	for _, id := range out.Tables {
		if !validTableID(id) {
			return nil, fieldInvalid("tables", fmt.Sprintf("%q is not a table id", id))
		}
	}
	switch out.Trigger {
	case "", engine.TriggerManual, engine.TriggerSchedule:
	default:
		return nil, fieldInvalid("trigger", `must be "manual" or "schedule"`)
	}
	return out, nil
}

// validTableID accepts registry ids (identifiers, compared lower-case).
func validTableID(id string) bool {
	id = strings.TrimSpace(id)
	return id != "" && len(id) <= 64 && !strings.ContainsAny(id, "/\\\x00") && !strings.Contains(id, "..")
}

// startSync starts a job for the current user and audits it.
func (s *Server) startSync(c echo.Context, req engine.SyncRequest) (*engine.SyncJob, error) {
	if s.syncer == nil {
		return nil, apiError(http.StatusServiceUnavailable, "The sync service is not running")
	}
	u := currentUser(c)
	req.RequestedBy = u.Email
	job, err := s.syncer.Trigger(c.Request().Context(), req)
	var unknown *engine.UnknownTablesError
	switch {
	case errors.As(err, &unknown):
		return nil, fieldInvalid("tables", "Unknown table ids (not registered): "+strings.Join(unknown.IDs, ", "))
	case err != nil:
		return nil, err
	}
	if err := s.audit(c, auditSyncTrigger, job.ID, auditResultOK, map[string]any{"tables": job.SortedIDs(), "trigger": job.Trigger}); err != nil {
		return nil, err
	}
	return job, nil
}

// triggerSync answers POST /api/sync/trigger (admin): starts a background sync of the given
// tables (all registered ones without a body) and answers at once with the job id. With
// skip_busy, a request whose tables are all being synced already gets 409.
func (s *Server) triggerSync(c echo.Context) error {
	body, err := readSyncTrigger(c)
	if err != nil {
		return err
	}
	job, err := s.startSync(c, engine.SyncRequest{Tables: body.Tables, SkipBusy: body.SkipBusy, Trigger: body.Trigger})
	var busy *engine.BusyError
	if errors.As(err, &busy) {
		if body.SkipBusy {
			return c.JSON(http.StatusConflict, map[string]any{"detail": "The tables are already being synced (job " + busy.JobID + ")", "job_id": busy.JobID})
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "triggered", "job_id": busy.JobID, "tables": body.Tables,
			"message": "Already queued in job " + busy.JobID + "; follow GET /api/sync/jobs/" + busy.JobID})
	}
	if err != nil {
		return err
	}
	var tables any = "all"
	if len(body.Tables) > 0 {
		tables = job.SortedIDs()
	}
	msg := fmt.Sprintf("Sync of %d tables started in background. Follow GET /api/sync/jobs/%s for progress.", len(job.Tables), job.ID)
	if len(job.Tables) == 0 {
		msg = "Nothing to sync: no registered table has a source that can sync it."
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "triggered", "job_id": job.ID, "tables": tables, "message": msg})
}

// showSyncJob answers GET /api/sync/jobs/{id} (admin): the job with per-table progress.
func (s *Server) showSyncJob(c echo.Context) error {
	if s.syncer == nil {
		return apiError(http.StatusServiceUnavailable, "The sync service is not running")
	}
	job, ok := s.syncer.Job(c.Param("id"))
	if !ok {
		return apiError(http.StatusNotFound, "Sync job not found (finished jobs are kept for a day)")
	}
	return c.JSON(http.StatusOK, job)
}

// listSyncJobs answers GET /api/sync/jobs (admin): the retained jobs, newest first.
func (s *Server) listSyncJobs(c echo.Context) error {
	if s.syncer == nil {
		return apiError(http.StatusServiceUnavailable, "The sync service is not running")
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": s.syncer.Jobs()})
}
