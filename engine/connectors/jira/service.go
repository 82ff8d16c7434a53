package jira

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Options configure a Service.
type Options struct {
	Dir        string // DATA_DIR/extracts/jira
	Site       string // JIRA_DOMAIN, for issue_url
	BaseURL    string // REST base (JIRA_BASE_URL)
	Email      string
	Token      string
	SLABaseURL string // JIRA_SLA_BASE_URL; empty disables the SLA overlay and poll
	SLAEmail   string
	SLAToken   string
	Project    string // JIRA_PROJECT, for the consistency JQL
	Workers    int    // queue workers, default 4
}

// Service is the running connector: store, processor, queue and the jobs' last reports.
type Service struct {
	Opt   Options
	Store *Store
	Proc  *Processor
	Queue *Queue
	log   *slog.Logger

	mu       sync.Mutex
	publish  func(context.Context) error
	reports  map[string]any // job name -> last report
	backfill *Backfill
}

// NewService opens the store and wires processor and queue. publish may be set later with
// OnPublish, before Start.
func NewService(opt Options, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := OpenStore(opt.Dir, opt.Site)
	if err != nil {
		return nil, err
	}
	s := &Service{Opt: opt, Store: st, log: log, reports: map[string]any{}}
	s.Proc = &Processor{Store: st}
	if opt.BaseURL != "" && opt.Email != "" && opt.Token != "" {
		s.Proc.API = NewClient(opt.BaseURL, opt.Email, opt.Token)
	}
	if opt.SLABaseURL != "" && opt.SLAEmail != "" && opt.SLAToken != "" {
		s.Proc.SLA = NewClient(opt.SLABaseURL, opt.SLAEmail, opt.SLAToken)
	}
	s.Queue = NewQueue(s.Proc, opt.Workers, s.runPublish, log)
	return s, nil
}

// OnPublish sets what makes the store's changes visible (rebuild + registration).
func (s *Service) OnPublish(fn func(context.Context) error) {
	s.mu.Lock()
	s.publish = fn
	s.mu.Unlock()
}

func (s *Service) runPublish(ctx context.Context) error {
	s.mu.Lock()
	fn := s.publish
	s.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(ctx)
}

// Configured reports whether issues can be fetched from Jira.
func (s *Service) Configured() bool { return s.Proc.API != nil }

// SLAConfigured reports whether the SLA service account is set.
func (s *Service) SLAConfigured() bool { return s.Proc.SLA != nil }

// Start replays the durable queue and starts processing.
func (s *Service) Start(ctx context.Context) error { return s.Queue.Start(ctx) }

// Close stops processing (queued events stay on disk) and closes the store.
func (s *Service) Close() error {
	s.Queue.Stop()
	return s.Store.Close()
}

// SetReport records a job's last report (for the admin page and health).
func (s *Service) SetReport(job string, report any) {
	s.mu.Lock()
	s.reports[job] = report
	s.mu.Unlock()
}

// Report returns a job's last report, or nil.
func (s *Service) Report(job string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reports[job]
}

// WaitIdle waits until every queued event is applied and published, or ctx ends.
func (s *Service) WaitIdle(ctx context.Context) error {
	for !s.Queue.Idle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// ErrBackfillRunning means a backfill is already running in this process.
var ErrBackfillRunning = errors.New("jira: a backfill is already running")

// RunSLAPoll runs the SLA poll and keeps its report.
func (s *Service) RunSLAPoll(ctx context.Context) (*SLAReport, error) {
	r, err := s.Proc.PollSLA(ctx)
	if r != nil {
		s.SetReport("sla_poll", r)
	}
	return r, err
}

// RunConsistency runs the consistency check, 30 days deep, or over the full history when
// deep, with auto-backfill, and keeps its report.
func (s *Service) RunConsistency(ctx context.Context, deep bool) (*ConsistencyReport, error) {
	days := 30
	if deep {
		days = 0
	}
	r, err := s.Proc.CheckConsistency(ctx, s.Opt.Project, days, true)
	if r != nil {
		s.SetReport("consistency", r)
	} else if err != nil {
		s.SetReport("consistency_error", err.Error())
	}
	return r, err
}

// LastConsistency is the last consistency report of this process, or the one on disk.
func (s *Service) LastConsistency() *ConsistencyReport {
	if r, ok := s.Report("consistency").(*ConsistencyReport); ok {
		return r
	}
	return s.Store.LastConsistencyReport()
}

// StartBackfill starts a backfill in the background (one at a time).
func (s *Service) StartBackfill(opt BackfillOptions) (*Backfill, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.backfill != nil && s.backfill.Status().State == "running" {
		return nil, ErrBackfillRunning
	}
	if opt.Project == "" {
		opt.Project = s.Opt.Project
	}
	b := &Backfill{settle: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = s.WaitIdle(ctx)
	}}
	b.state, b.started = "running", time.Now().UTC()
	s.backfill = b
	go s.Proc.RunBackfill(context.Background(), opt, b)
	return b, nil
}

// CurrentBackfill is the last backfill started in this process, or nil.
func (s *Service) CurrentBackfill() *Backfill {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backfill
}

// Jobs adapts the service to the scheduler's interface.
func (s *Service) Jobs() *JobsAdapter { return &JobsAdapter{s} }

// JobsAdapter is the service as the scheduler sees it.
type JobsAdapter struct{ s *Service }

// SLAConfigured reports whether the SLA account is set.
func (a *JobsAdapter) SLAConfigured() bool { return a.s.SLAConfigured() }

// PollSLA runs the SLA poll.
func (a *JobsAdapter) PollSLA(ctx context.Context) error { _, err := a.s.RunSLAPoll(ctx); return err }

// CheckConsistency runs the consistency check.
func (a *JobsAdapter) CheckConsistency(ctx context.Context, deep bool) error {
	_, err := a.s.RunConsistency(ctx, deep)
	return err
}
