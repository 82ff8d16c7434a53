// Package jobs is the cron scheduler: it runs every registered table's sync_schedule and the
// retention jobs. It runs inside `da serve` (unless --no-jobs) or on its own as `da jobs`,
// which talks to the server through its API because a DuckDB file belongs to one process.
// With several replicas on PostgreSQL state, one scheduler runs: the elected leader's (see
// package cluster); every job, including ones added later, is a Task or a table schedule of
// that one scheduler, and so runs on exactly one replica.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrSkipped means a scheduled sync was not started because the table is still being synced:
// overlapping runs are skipped, not stacked.
var ErrSkipped = errors.New("jobs: skipped, the previous sync is still running")

// Syncs is what the scheduler drives: the registry's schedules and a way to start a sync.
type Syncs interface {
	// Schedules maps table id to its sync_schedule, for every table that has one.
	Schedules(ctx context.Context) (map[string]string, error)
	// TriggerSync starts a scheduled sync of one table and returns the job id, or ErrSkipped.
	TriggerSync(ctx context.Context, tableID string) (string, error)
}

// Task is a periodic job that is not a table sync (e.g. retention).
type Task struct {
	Name     string
	Schedule string // cron syntax or @every
	Run      func(ctx context.Context) error
}

// Options configure a Scheduler.
type Options struct {
	Syncs Syncs
	// Tasks run on their own schedules.
	Tasks []Task
	// ReloadEvery is how often the schedules are re-read (default 30 s); Reload can be called
	// after a registry change to apply it at once.
	ReloadEvery time.Duration
	Log         *slog.Logger
	// OnRun, when set, hears of every job run: "sync" or a task's name, and the outcome
	// "ok", "error" or "skipped" (for metrics).
	OnRun func(job, outcome string)
}

// parser accepts standard 5-field cron and descriptors (@every 15m, @hourly, @daily, ...).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var (
	legacyEvery = regexp.MustCompile(`^every (\d+)([smh])$`)
	legacyDaily = regexp.MustCompile(`^daily ([\d:,]+)$`)
	hhmm        = regexp.MustCompile(`^(\d{2}):(\d{2})$`)
)

// ParseSchedule validates a sync_schedule and returns it in UTC. It accepts cron syntax
// ("0 6 * * 1-5"), descriptors ("@hourly", "@every 15m", at least 1s) and the original
// system's "every 15m" and "daily 06:00,18:00" forms. The error says what is wrong.
func ParseSchedule(spec string) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("the schedule is empty")
	}
	low := strings.ToLower(spec)
	if m := legacyEvery.FindStringSubmatch(low); m != nil {
		low = "@every " + m[1] + m[2]
	}
	if m := legacyDaily.FindStringSubmatch(low); m != nil {
		var parts multiSchedule
		for _, t := range strings.Split(m[1], ",") {
			hm := hhmm.FindStringSubmatch(t)
			if hm == nil {
				return nil, fmt.Errorf("%q is not a time of day (HH:MM)", t)
			}
			h, _ := strconv.Atoi(hm[1])
			mi, _ := strconv.Atoi(hm[2])
			if h > 23 || mi > 59 {
				return nil, fmt.Errorf("%q is not a time of day (HH:MM)", t)
			}
			s, _ := parser.Parse(fmt.Sprintf("%d %d * * *", mi, h))
			parts = append(parts, s)
		}
		return parts, nil
	}
	if strings.HasPrefix(low, "@every") {
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(low, "@every")))
		if err != nil {
			return nil, fmt.Errorf("@every needs a duration such as 15m or 1h: %v", err)
		}
		if d < time.Second {
			return nil, errors.New("@every must be at least 1s")
		}
		return cron.Every(d), nil
	}
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("not a cron schedule (minute hour day-of-month month day-of-week, or @every 1h): %v", err)
	}
	return s, nil
}

// multiSchedule fires at the earliest of its parts.
type multiSchedule []cron.Schedule

func (m multiSchedule) Next(t time.Time) time.Time {
	var best time.Time
	for _, s := range m {
		if n := s.Next(t); !n.IsZero() && (best.IsZero() || n.Before(best)) {
			best = n
		}
	}
	return best
}

// Scheduler runs the table schedules and tasks.
type Scheduler struct {
	opt  Options
	cron *cron.Cron
	ctx  context.Context

	mu      sync.Mutex
	entries map[string]entry // table id -> its cron entry
	stop    context.CancelFunc
	done    chan struct{}
}

type entry struct {
	spec string
	id   cron.EntryID
}

// New returns a stopped Scheduler.
func New(opt Options) *Scheduler {
	if opt.ReloadEvery <= 0 {
		opt.ReloadEvery = 30 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{opt: opt, cron: cron.New(cron.WithLocation(time.UTC), cron.WithParser(parser)),
		entries: map[string]entry{}}
}

// Start loads the schedules and starts running them until ctx ends or Stop is called. A
// task with an invalid schedule is an error; a table with one is logged and left out.
func (s *Scheduler) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	s.ctx = ctx
	for _, t := range s.opt.Tasks {
		sched, err := ParseSchedule(t.Schedule)
		if err != nil {
			cancel()
			return fmt.Errorf("jobs: task %s: %w", t.Name, err)
		}
		t := t
		s.cron.Schedule(sched, cron.NewChain(cron.SkipIfStillRunning(cron.DiscardLogger)).Then(cron.FuncJob(func() {
			start := time.Now()
			err := t.Run(ctx)
			s.ran(t.Name, err)
			if err != nil {
				s.opt.Log.Warn("job failed", "job", t.Name, "error", err)
				return
			}
			s.opt.Log.Debug("job done", "job", t.Name, "duration_ms", time.Since(start).Milliseconds())
		})))
	}
	if err := s.Reload(ctx); err != nil {
		s.opt.Log.Warn("jobs: reading the schedules failed; retrying", "error", err)
	}
	s.cron.Start()
	s.mu.Lock()
	s.stop = cancel
	s.done = make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(s.opt.ReloadEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				<-s.cron.Stop().Done()
				return
			case <-tick.C:
				if err := s.Reload(ctx); err != nil {
					s.opt.Log.Warn("jobs: reading the schedules failed", "error", err)
				}
			}
		}
	}()
	return nil
}

// Stop stops the scheduler and waits for running jobs to return.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-done
}

// Reload re-reads the schedules: new and changed ones are (re)scheduled, removed ones
// dropped. Safe to call at any time, e.g. right after a registry change.
func (s *Scheduler) Reload(ctx context.Context) error {
	if s.opt.Syncs == nil {
		return nil
	}
	want, err := s.opt.Syncs.Schedules(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.entries {
		if spec, ok := want[id]; !ok || spec != e.spec {
			s.cron.Remove(e.id)
			delete(s.entries, id)
		}
	}
	for id, spec := range want {
		if _, ok := s.entries[id]; ok {
			continue
		}
		sched, err := ParseSchedule(spec)
		if err != nil {
			s.opt.Log.Warn("jobs: table has an invalid sync_schedule; not scheduled", "table", id, "schedule", spec, "error", err)
			continue
		}
		id := id
		eid := s.cron.Schedule(sched, cron.FuncJob(func() { s.fire(id) }))
		s.entries[id] = entry{spec: spec, id: eid}
	}
	return nil
}

// fire starts one scheduled sync.
func (s *Scheduler) fire(id string) {
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	jobID, err := s.opt.Syncs.TriggerSync(ctx, id)
	s.ran("sync", err)
	switch {
	case errors.Is(err, ErrSkipped):
		s.opt.Log.Info("scheduled sync skipped: the previous one is still running", "table", id)
	case err != nil:
		s.opt.Log.Warn("scheduled sync could not start", "table", id, "error", err)
	default:
		s.opt.Log.Info("scheduled sync started", "table", id, "job", jobID)
	}
}

// ran reports a job run to Options.OnRun.
func (s *Scheduler) ran(job string, err error) {
	if s.opt.OnRun == nil {
		return
	}
	switch {
	case errors.Is(err, ErrSkipped):
		s.opt.OnRun(job, "skipped")
	case err != nil:
		s.opt.OnRun(job, "error")
	default:
		s.opt.OnRun(job, "ok")
	}
}

// Next returns the next run of every scheduled table.
func (s *Scheduler) Next() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.entries))
	for id, e := range s.entries {
		out[id] = s.cron.Entry(e.id).Next
	}
	return out
}
