package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"da/engine"
	"da/store"
)

// Local drives the in-process Syncer and reads the registry from the system database; it is
// what `da serve` uses.
type Local struct {
	Store  *store.Store
	Syncer *engine.Syncer
}

// Schedules implements Syncs.
func (l *Local) Schedules(ctx context.Context) (map[string]string, error) {
	tables, err := l.Store.ListTables(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, t := range tables {
		if s := strings.TrimSpace(t.SyncSchedule); s != "" {
			out[strings.ToLower(t.ID)] = s
		}
	}
	return out, nil
}

// TriggerSync implements Syncs.
func (l *Local) TriggerSync(ctx context.Context, tableID string) (string, error) {
	job, err := l.Syncer.Trigger(ctx, engine.SyncRequest{Tables: []string{tableID}, Trigger: engine.TriggerSchedule,
		RequestedBy: "scheduler", SkipBusy: true})
	if errors.Is(err, engine.ErrBusy) {
		return "", ErrSkipped
	}
	if err != nil {
		return "", err
	}
	return job.ID, nil
}

// HistoryRetention is the task that deletes sync_history rows older than keep.
func HistoryRetention(st *store.Store, keep time.Duration) Task {
	return Task{Name: "sync-history-retention", Schedule: "@every 1h", Run: func(ctx context.Context) error {
		_, err := st.PruneSyncHistory(ctx, time.Now().Add(-keep))
		return err
	}}
}

// Remote drives a running server through its API with an admin's token; it is what `da jobs`
// uses, since the server process owns system.duckdb.
type Remote struct {
	// BaseURL is the server, e.g. http://app:8000.
	BaseURL string
	// Token is an admin's personal access token (da_pat_...) or JWT.
	Token string
	// Client defaults to a client with a 30 s timeout.
	Client *http.Client
}

func (r *Remote) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(r.BaseURL, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+r.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := r.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Detail any `json:"detail"`
		}
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %v", method, path, resp.Status, e.Detail)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: bad JSON answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Schedules implements Syncs through GET /api/admin/registry.
func (r *Remote) Schedules(ctx context.Context) (map[string]string, error) {
	var reg struct {
		Tables []struct {
			ID           string  `json:"id"`
			SyncSchedule *string `json:"sync_schedule"`
		} `json:"tables"`
	}
	if _, err := r.do(ctx, http.MethodGet, "/api/admin/registry", nil, &reg); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, t := range reg.Tables {
		if t.SyncSchedule != nil && strings.TrimSpace(*t.SyncSchedule) != "" {
			out[strings.ToLower(t.ID)] = strings.TrimSpace(*t.SyncSchedule)
		}
	}
	return out, nil
}

// TriggerSync implements Syncs through POST /api/sync/trigger with skip_busy.
func (r *Remote) TriggerSync(ctx context.Context, tableID string) (string, error) {
	var out struct {
		JobID string `json:"job_id"`
	}
	code, err := r.do(ctx, http.MethodPost, "/api/sync/trigger",
		map[string]any{"tables": []string{tableID}, "skip_busy": true, "trigger": engine.TriggerSchedule}, &out)
	if code == http.StatusConflict {
		return "", ErrSkipped
	}
	if err != nil {
		return "", err
	}
	return out.JobID, nil
}

// SyncResult is the outcome of SyncAll: the job and the tables that failed, with reasons.
type SyncResult struct {
	JobID  string
	Tables int
	Failed map[string]string
}

// SyncAll starts a sync of every registered table through POST /api/sync/trigger and polls
// GET /api/sync/jobs/{id} every poll until the job has finished. It is the one-shot
// extraction that `da jobs --once` runs.
func (r *Remote) SyncAll(ctx context.Context, poll time.Duration) (*SyncResult, error) {
	var started struct {
		JobID string `json:"job_id"`
	}
	if _, err := r.do(ctx, http.MethodPost, "/api/sync/trigger", map[string]any{"trigger": engine.TriggerManual}, &started); err != nil {
		return nil, err
	}
	res := &SyncResult{JobID: started.JobID, Failed: map[string]string{}}
	if started.JobID == "" {
		return res, nil
	}
	for {
		var job struct {
			Status string `json:"status"`
			Tables []struct {
				ID     string `json:"id"`
				State  string `json:"state"`
				Reason string `json:"reason"`
			} `json:"tables"`
		}
		if _, err := r.do(ctx, http.MethodGet, "/api/sync/jobs/"+started.JobID, nil, &job); err != nil {
			return nil, err
		}
		if job.Status == engine.JobDone || job.Status == engine.JobFailed {
			res.Tables = len(job.Tables)
			for _, t := range job.Tables {
				if t.State == engine.SyncFailed {
					res.Failed[t.ID] = t.Reason
				}
			}
			return res, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
