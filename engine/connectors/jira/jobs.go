package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SLAReport is the outcome of one SLA poll.
type SLAReport struct {
	Timestamp  time.Time `json:"timestamp"`
	Candidates int       `json:"candidates"`
	Updated    []string  `json:"updated"`
	Healed     []string  `json:"healed"`
	Skipped    []string  `json:"skipped"`
	Failed     []string  `json:"failed"`
}

// slaCandidates are the issues whose SLA clocks may still run: not Done, with an SLA value.
func (s *Store) slaCandidates(ctx context.Context) ([]string, error) {
	files, _ := filepath.Glob(filepath.Join(s.DataDir(), "issues", "*.parquet"))
	if len(files) == 0 {
		return nil, nil
	}
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = sqlString(f)
	}
	rs, err := s.db.QueryContext(ctx, "SELECT DISTINCT issue_key FROM read_parquet(["+strings.Join(q, ", ")+
		"]) WHERE status_category IS DISTINCT FROM 'Done' AND (first_response_elapsed_millis IS NOT NULL OR "+
		"time_to_resolution_elapsed_millis IS NOT NULL) ORDER BY 1")
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var keys []string
	for rs.Next() {
		var k string
		if err := rs.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rs.Err()
}

func validSLA(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m["errorMessage"] == nil && (m["name"] != nil || m["completedCycles"] != nil || m["ongoingCycle"] != nil)
}

// PollSLA refreshes the SLA fields (and status, resolution, dates) of every open issue with
// an SLA from the SLA account, and rewrites the issues that changed; an issue Jira now
// shows as Done is "healed".
func (p *Processor) PollSLA(ctx context.Context) (*SLAReport, error) {
	if p.SLA == nil {
		return nil, errors.New("jira: the SLA poll needs JIRA_SLA_EMAIL, JIRA_SLA_API_TOKEN and JIRA_CLOUD_ID")
	}
	keys, err := p.Store.slaCandidates(ctx)
	if err != nil {
		return nil, err
	}
	r := &SLAReport{Timestamp: time.Now().UTC(), Candidates: len(keys), Updated: []string{}, Healed: []string{}, Skipped: []string{}, Failed: []string{}}
	for _, key := range keys {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		outcome, err := p.pollOne(ctx, key)
		switch {
		case err != nil:
			r.Failed = append(r.Failed, key)
		case outcome == "healed":
			r.Healed = append(r.Healed, key)
		case outcome == "updated":
			r.Updated = append(r.Updated, key)
		default:
			r.Skipped = append(r.Skipped, key)
		}
	}
	if len(r.Updated)+len(r.Healed) > 0 && p.Changed != nil {
		p.Changed()
	}
	return r, nil
}

func (p *Processor) pollOne(ctx context.Context, key string) (string, error) {
	if _, err := p.Store.LoadIssue(key); errors.Is(err, fs.ErrNotExist) {
		return "skipped", nil
	}
	api, err := p.SLA.SLAFields(ctx, key)
	if err != nil {
		return "", err
	}
	af := api.Fields()
	healed := str(dig(af["status"], "statusCategory", "name")) == "Done"
	if !validSLA(af["customfield_10328"]) && !validSLA(af["customfield_10161"]) && !healed {
		return "skipped", nil
	}
	unlock, err := p.Store.issueLock(key)
	if err != nil {
		return "", err
	}
	defer unlock()
	is, err := p.Store.LoadIssue(key)
	if err != nil {
		return "", err
	}
	f := is.Fields()
	for _, k := range []string{"customfield_10328", "customfield_10161", "status", "resolution", "resolutiondate", "updated"} {
		if v, ok := af[k]; ok && v != nil {
			f[k] = v
		}
	}
	is["fields"] = f
	is["_synced_at"] = time.Now().UTC().Format(time.RFC3339Nano)
	old, _ := p.Store.LoadIssue(key)
	if err := p.writeIssue(ctx, is, old); err != nil {
		return "", err
	}
	if healed {
		return "healed", nil
	}
	return "updated", nil
}

// ConsistencyReport is the original's report: what Jira has that we lack, and what was done.
type ConsistencyReport struct {
	Timestamp       time.Time `json:"timestamp"`
	CheckType       string    `json:"check_type"` // incremental (≤ 90 days) or deep
	MaxAgeDays      int       `json:"max_age_days"`
	DurationSeconds float64   `json:"duration_seconds"`
	Counts          struct {
		JiraAPI int `json:"jira_api"`
		RawJSON int `json:"raw_json"`
		Parquet int `json:"parquet"`
	} `json:"counts"`
	Discrepancies struct {
		MissingInJSON    []string `json:"missing_in_json"`
		MissingInParquet []string `json:"missing_in_parquet"`
		DeletedInJira    int      `json:"deleted_in_jira"`
	} `json:"discrepancies"`
	Actions struct {
		AutoBackfilled  []string `json:"auto_backfilled"`
		BackfillFailed  []string `json:"backfill_failed"`
		TransformFailed []string `json:"transform_failed"`
	} `json:"actions"`
	Status     string `json:"status"`      // success or partial_success
	AlertLevel string `json:"alert_level"` // INFO, WARNING or ERROR
	Note       string `json:"note,omitempty"`
}

// MaxAutoBackfill is the most missing issues the check loads by itself.
const MaxAutoBackfill = 10

// CheckConsistency compares Jira (issues created in the last maxAgeDays; 0 = all history)
// with the raw JSON and the parquet shards, backfills up to MaxAutoBackfill missing issues
// and re-transforms parquet lag when autoFix, and writes raw/_consistency_report.json.
func (p *Processor) CheckConsistency(ctx context.Context, project string, maxAgeDays int, autoFix bool) (*ConsistencyReport, error) {
	start := time.Now()
	if p.API == nil {
		return nil, errors.New("jira: the consistency check needs JIRA_BASE_URL (or JIRA_DOMAIN), JIRA_EMAIL and JIRA_API_TOKEN")
	}
	r := &ConsistencyReport{Timestamp: start.UTC(), MaxAgeDays: maxAgeDays, CheckType: "incremental"}
	if maxAgeDays == 0 || maxAgeDays > 90 {
		r.CheckType = "deep"
	}
	var conds []string
	if project != "" {
		conds = append(conds, fmt.Sprintf("project = %q", project))
	}
	var cutoff time.Time
	if maxAgeDays > 0 {
		cutoff = time.Now().UTC().AddDate(0, 0, -maxAgeDays)
		conds = append(conds, fmt.Sprintf("created >= %q", cutoff.Format("2006-01-02")))
	}
	conds = append(conds, fmt.Sprintf("created <= %q", time.Now().UTC().Add(-5*time.Minute).Format("2006-01-02 15:04")))
	jiraKeys, err := p.API.SearchKeys(ctx, strings.Join(conds, " AND ")+" ORDER BY created ASC")
	if err != nil {
		return nil, err
	}
	inJira := set(jiraKeys)
	jsonKeys, err := p.Store.issueKeysSince(cutoff)
	if err != nil {
		return nil, err
	}
	inJSON := set(jsonKeys)
	pq, err := p.Store.ParquetKeys(ctx)
	if err != nil {
		return nil, err
	}
	inParquet := set(pq)
	r.Counts.JiraAPI, r.Counts.RawJSON, r.Counts.Parquet = len(inJira), len(inJSON), len(inParquet)
	r.Discrepancies.MissingInJSON = minus(inJira, inJSON)
	r.Discrepancies.MissingInParquet = minus(inJSON, inParquet)
	r.Discrepancies.DeletedInJira = len(minus(inJSON, inJira))
	r.Actions.AutoBackfilled, r.Actions.BackfillFailed, r.Actions.TransformFailed = []string{}, []string{}, []string{}
	missing := len(r.Discrepancies.MissingInJSON)
	if autoFix {
		switch {
		case missing > MaxAutoBackfill:
			r.Note = fmt.Sprintf("%d issues missing: more than %d, manual review required (run a backfill)", missing, MaxAutoBackfill)
		case missing > 0:
			for _, k := range r.Discrepancies.MissingInJSON {
				if _, err := p.refresh(ctx, k, nil, nil); err != nil {
					r.Actions.BackfillFailed = append(r.Actions.BackfillFailed, k)
				} else {
					r.Actions.AutoBackfilled = append(r.Actions.AutoBackfilled, k)
				}
			}
		}
		for _, k := range r.Discrepancies.MissingInParquet {
			if err := p.Retransform(ctx, k); err != nil {
				r.Actions.TransformFailed = append(r.Actions.TransformFailed, k)
			}
		}
		if p.Changed != nil && len(r.Actions.AutoBackfilled)+len(r.Discrepancies.MissingInParquet) > 0 {
			p.Changed()
		}
	}
	switch {
	case missing > MaxAutoBackfill:
		r.AlertLevel = "ERROR"
	case missing > 5:
		r.AlertLevel = "WARNING"
	default:
		r.AlertLevel = "INFO"
	}
	r.Status = "success"
	if len(r.Actions.BackfillFailed)+len(r.Actions.TransformFailed) > 0 {
		r.Status = "partial_success"
	}
	r.DurationSeconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := writeAtomic(filepath.Join(p.Store.RawDir(), "_consistency_report.json"), b); err != nil {
		return r, err
	}
	return r, nil
}

// LastConsistencyReport reads raw/_consistency_report.json (nil when there is none).
func (s *Store) LastConsistencyReport() *ConsistencyReport {
	b, err := readFileLimit(filepath.Join(s.RawDir(), "_consistency_report.json"))
	if err != nil {
		return nil
	}
	var r ConsistencyReport
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return &r
}

// Retransform rewrites the rows of one issue from its raw JSON.
func (p *Processor) Retransform(ctx context.Context, key string) error {
	unlock, err := p.Store.issueLock(key)
	if err != nil {
		return err
	}
	defer unlock()
	is, err := p.Store.LoadIssue(key)
	if err != nil {
		return err
	}
	// No previous state: every table is rewritten from the raw JSON.
	return p.writeIssue(ctx, is, nil)
}

func (s *Store) issueKeysSince(cutoff time.Time) ([]string, error) {
	keys, err := s.IssueKeys()
	if err != nil || cutoff.IsZero() {
		return keys, err
	}
	out := keys[:0]
	for _, k := range keys {
		is, err := s.LoadIssue(k)
		if err != nil {
			continue
		}
		if t, ok := parseTime(is.Fields()["created"]); !ok || !t.Before(cutoff) {
			out = append(out, k)
		}
	}
	return out, nil
}

func set(keys []string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func minus(a, b map[string]bool) []string {
	out := []string{}
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// BackfillOptions select what a backfill loads.
type BackfillOptions struct {
	JQL       string   // default: the project's issues (or all), oldest first
	Keys      []string // targeted mode: exactly these keys
	Parallel  int      // default 4
	Force     bool     // also reload issues whose raw JSON exists (default: skip them, so a rerun resumes)
	DryRun    bool     // list only
	Project   string
	OnPending func(total int)
}

// Backfill is a running or finished backfill, for the progress bar.
type Backfill struct {
	Total   atomic.Int64
	Done    atomic.Int64
	Failed  atomic.Int64
	Skipped atomic.Int64
	mu      sync.Mutex
	state   string // running, done, failed
	err     string
	keys    []string
	started time.Time
	ended   time.Time
	// settle, when set, runs before the backfill reports done (the service waits there
	// until the loaded issues are published, so "done" means queryable).
	settle func()
}

// BackfillStatus is a snapshot of a Backfill.
type BackfillStatus struct {
	State     string    `json:"state"`
	Total     int64     `json:"total"`
	Done      int64     `json:"done"`
	Failed    int64     `json:"failed"`
	Skipped   int64     `json:"skipped"`
	Error     string    `json:"error,omitempty"`
	Keys      []string  `json:"keys,omitempty"` // dry run: what would be loaded
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	Percent   int       `json:"percent"`
}

// Status returns a snapshot.
func (b *Backfill) Status() BackfillStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BackfillStatus{State: b.state, Total: b.Total.Load(), Done: b.Done.Load(), Failed: b.Failed.Load(),
		Skipped: b.Skipped.Load(), Error: b.err, Keys: b.keys, StartedAt: b.started, EndedAt: b.ended}
	if s.Total > 0 {
		s.Percent = int((s.Done + s.Failed + s.Skipped) * 100 / s.Total)
	} else if s.State != "running" {
		s.Percent = 100
	}
	return s
}

func (b *Backfill) finish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ended = time.Now().UTC()
	b.state = "done"
	if err != nil {
		b.state, b.err = "failed", err.Error()
	}
}

// RunBackfill loads history through the webhook path (fetch, rewrite, publish). Issues whose
// raw JSON exists are skipped unless Force, so a rerun after an interruption resumes.
func (p *Processor) RunBackfill(ctx context.Context, opt BackfillOptions, b *Backfill) {
	b.mu.Lock()
	b.state, b.started = "running", time.Now().UTC()
	b.mu.Unlock()
	keys := opt.Keys
	if len(keys) == 0 {
		if p.API == nil {
			b.finish(errors.New("jira: REST access is not configured"))
			return
		}
		jql := opt.JQL
		if jql == "" {
			jql = "created >= \"1970-01-01\" ORDER BY created ASC"
			if opt.Project != "" {
				jql = fmt.Sprintf("project = %q ORDER BY created ASC", opt.Project)
			}
		}
		var err error
		if keys, err = p.API.SearchKeys(ctx, jql); err != nil {
			b.finish(err)
			return
		}
	}
	b.Total.Store(int64(len(keys)))
	if opt.DryRun {
		b.mu.Lock()
		b.keys = keys
		b.mu.Unlock()
		b.Skipped.Store(int64(len(keys)))
		b.finish(nil)
		return
	}
	par := opt.Parallel
	if par <= 0 {
		par = 4
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if !opt.Force {
					if _, err := p.Store.LoadIssue(k); err == nil {
						b.Skipped.Add(1)
						continue
					}
				}
				if _, err := p.refresh(ctx, k, nil, nil); err != nil {
					b.Failed.Add(1)
				} else {
					b.Done.Add(1)
				}
			}
		}()
	}
	for _, k := range keys {
		if !ValidKey(k) {
			b.Failed.Add(1)
			continue
		}
		select {
		case work <- k:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if p.Changed != nil {
		p.Changed()
	}
	if b.settle != nil {
		b.settle()
	}
	b.finish(ctx.Err())
}
