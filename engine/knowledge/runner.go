package knowledge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"da/config"
	"da/llm"
	"da/store"
)

// RunTimeout bounds one collection run.
const RunTimeout = 30 * time.Minute

// Runner runs one collection at a time and records each in knowledge_runs.
type Runner struct {
	C   *Collector
	Log *slog.Logger
	// ConfigError says why no LLM is configured ("" when one is).
	ConfigError string

	mu      sync.Mutex
	running string
	wg      sync.WaitGroup
}

// NewRunner builds the collector the configuration describes; with no usable LLM the
// runner collects nothing and ConfigError says what to set.
func NewRunner(cfg *config.Config, st *store.Store, log *slog.Logger, o llm.Options) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{Log: log, C: &Collector{Store: st, DataDir: cfg.DataDir, Approval: cfg.CorporateMemory.ApprovalMode}}
	if !cfg.CorporateMemory.Configured {
		r.C.Approval = "review_queue"
	}
	x, err := llm.New(cfg.AI, o)
	if err != nil {
		r.ConfigError = err.Error()
		return r
	}
	r.C.LLM = x
	log.Info("knowledge collection configured", "llm", x.Describe())
	return r
}

// Configured reports whether an LLM is set up.
func (r *Runner) Configured() bool { return r.C.LLM != nil }

// Start begins a run in the background and returns its id; when one is already running it
// returns that run's id and started=false.
func (r *Runner) Start(trigger, userID string) (id string, started bool, err error) {
	if !r.Configured() {
		return "", false, llm.ErrNotConfigured
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running != "" {
		return r.running, false, nil
	}
	run := &store.KnowledgeRun{Trigger: trigger, CreatedBy: userID, Provider: r.C.LLM.Describe()}
	if err := r.C.Store.CreateKnowledgeRun(context.Background(), run); err != nil {
		return "", false, err
	}
	r.running = run.ID
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.execute(run)
	}()
	return run.ID, true, nil
}

// RunNow runs a collection and waits for it (the scheduled job); ErrBusy when one runs.
func (r *Runner) RunNow(ctx context.Context, trigger string) (*store.KnowledgeRun, error) {
	if !r.Configured() {
		return nil, nil // nothing to do; the admin page says what to set
	}
	r.mu.Lock()
	if r.running != "" {
		r.mu.Unlock()
		return nil, ErrBusy
	}
	run := &store.KnowledgeRun{Trigger: trigger, Provider: r.C.LLM.Describe()}
	if err := r.C.Store.CreateKnowledgeRun(ctx, run); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	r.running = run.ID
	r.mu.Unlock()
	r.execute(run)
	return run, nil
}

// Wait waits for a background run to end (tests, shutdown).
func (r *Runner) Wait() { r.wg.Wait() }

func (r *Runner) execute(run *store.KnowledgeRun) {
	defer func() {
		r.mu.Lock()
		r.running = ""
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	run.Status = store.RunRunning
	_ = r.C.Store.UpdateKnowledgeRun(ctx, run)
	start := time.Now()
	st, err := r.C.Run(ctx, run.ID)
	now := time.Now().UTC()
	run.FinishedAt = &now
	run.FilesRead, run.ItemsProposed, run.ItemsMerged, run.ItemsDropped = st.FilesRead, st.ItemsProposed, st.ItemsMerged, st.ItemsDropped
	run.LLMCalls, run.InputTokens, run.OutputTokens, run.CostUSD = int64(st.Usage.Calls), st.Usage.InputTokens, st.Usage.OutputTokens, st.Usage.CostUSD
	run.Status = store.RunDone
	if err != nil {
		run.Status, run.Error = store.RunFailed, err.Error()
		var le *llm.Error
		if !errors.As(err, &le) {
			run.Error = "collection failed: " + err.Error()
		}
	}
	if uerr := r.C.Store.UpdateKnowledgeRun(context.Background(), run); uerr != nil {
		r.Log.Error("recording the collection run failed", "run", run.ID, "error", uerr)
	}
	// Counts and timings only: never prompts, answers or keys.
	r.Log.Info("knowledge collection", "run", run.ID, "status", run.Status, "files_read", run.FilesRead,
		"items_proposed", run.ItemsProposed, "items_merged", run.ItemsMerged, "items_dropped", run.ItemsDropped,
		"input_tokens", run.InputTokens, "output_tokens", run.OutputTokens, "duration_ms", time.Since(start).Milliseconds(), "error", run.Error)
}
