package handlers

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"da/engine"
)

// Metrics are the server's Prometheus metrics, in a registry of their own (never the global
// default one), so that two servers in one process (tests) count apart.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec   // route, method, status
	latency  *prometheus.HistogramVec // route, method

	queries      *prometheus.CounterVec   // kind (query, export), outcome
	queryLatency *prometheus.HistogramVec // kind, outcome
	queryRows    *prometheus.CounterVec   // kind

	syncRuns     *prometheus.CounterVec   // status (done, failed)
	syncDuration prometheus.Histogram     // whole jobs
	syncTables   *prometheus.CounterVec   // outcome (done, failed)
	syncTableDur *prometheus.HistogramVec // outcome

	uploadBytes prometheus.Counter
	uploads     *prometheus.CounterVec // outcome (ok, error)

	jobRuns *prometheus.CounterVec // job, outcome

	// routes holds, per route pattern and method, the request metrics with their labels
	// already bound, so that counting a request allocates nothing (routeMetricsFor).
	routes map[string]map[string]*routeMetrics
	// handler writes the registry in the Prometheus text format.
	handler http.Handler
}

// routeMetrics are the request metrics of one route pattern and method: the latency
// observer, and one counter per status, made on first use.
type routeMetrics struct {
	route, method string
	latency       prometheus.Observer
	byStatus      [600]atomic.Pointer[prometheus.Counter]
}

// bindRoutes prepares the request metrics of every route, of the not-found route and of
// requests that matched none.
func (m *Metrics) bindRoutes(routes []Route) {
	m.routes = map[string]map[string]*routeMetrics{}
	add := func(path, method string) {
		if m.routes[path] == nil {
			m.routes[path] = map[string]*routeMetrics{}
		}
		m.routes[path][method] = &routeMetrics{route: path, method: method, latency: m.latency.WithLabelValues(path, method)}
	}
	for _, r := range routes {
		add(r.Path, r.Method)
	}
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions} {
		add("/*", method)
		add("/static/*", method)
	}
}

// counter is the request counter of one status.
func (rm *routeMetrics) counter(m *Metrics, status int) prometheus.Counter {
	if status < 0 || status >= len(rm.byStatus) {
		return m.requests.WithLabelValues(rm.route, rm.method, "other")
	}
	if c := rm.byStatus[status].Load(); c != nil {
		return *c
	}
	c := m.requests.WithLabelValues(rm.route, rm.method, statusLabels[status])
	rm.byStatus[status].Store(&c)
	return c
}

// statusLabels are the status label texts of every HTTP status, made once.
var statusLabels = func() [600]string {
	var s [600]string
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return "other"
}

// NewMetrics builds the metrics with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "da_http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status."}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "da_http_request_duration_seconds",
		Help: "Time to answer HTTP requests, by route pattern and method.", Buckets: prometheus.DefBuckets},
		[]string{"route", "method"})
	m.queries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "da_queries_total",
		Help: "SQL queries run (kind query or export) by outcome: ok, error, timeout, cancelled."}, []string{"kind", "outcome"})
	m.queryLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "da_query_duration_seconds",
		Help: "Time SQL queries took, by kind and outcome.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}},
		[]string{"kind", "outcome"})
	m.queryRows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "da_query_rows_total",
		Help: "Rows returned by SQL queries and exports."}, []string{"kind"})
	m.syncRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "da_sync_runs_total",
		Help: "Sync jobs finished, by status (done, failed)."}, []string{"status"})
	m.syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "da_sync_run_duration_seconds",
		Help: "Time whole sync jobs took.", Buckets: []float64{.1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}})
	m.syncTables = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "da_sync_tables_total",
		Help: "Tables synced, by outcome (done, failed)."}, []string{"outcome"})
	m.syncTableDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "da_sync_table_duration_seconds",
		Help: "Time the sync of one table took, by outcome.", Buckets: []float64{.1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}},
		[]string{"outcome"})
	m.uploadBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "da_upload_bytes_total",
		Help: "Bytes of uploaded files received."})
	m.uploads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "da_uploads_total",
		Help: "File uploads, by outcome (ok, error)."}, []string{"outcome"})
	m.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "da_job_runs_total",
		Help: "Scheduled job runs, by job and outcome (ok, error, skipped)."}, []string{"job", "outcome"})
	reg.MustRegister(m.requests, m.latency, m.queries, m.queryLatency, m.queryRows, m.syncRuns, m.syncDuration,
		m.syncTables, m.syncTableDur, m.uploadBytes, m.uploads, m.jobRuns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// JobRun counts one run of a scheduled job; outcome is "ok", "error" or "skipped".
func (m *Metrics) JobRun(job, outcome string) {
	if m != nil {
		m.jobRuns.WithLabelValues(job, outcome).Inc()
	}
}

// observeRequest counts one answered request. route is the route pattern (echo's c.Path()),
// never the raw URL, so that the label set stays as small as the route table.
func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	if rm := m.routes[route][method]; rm != nil {
		rm.counter(m, status).Inc()
		rm.latency.Observe(d.Seconds())
		return
	}
	// An unrouted request or a method no route has: bounded labels still.
	if route == "" {
		route = "unmatched"
	}
	if !knownMethod(method) {
		method = "other"
	}
	m.requests.WithLabelValues(route, method, statusLabel(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// observeQuery counts one query run or export with its outcome (query_history's status).
func (m *Metrics) observeQuery(export bool, outcome string, d time.Duration, rows int64) {
	kind := "query"
	if export {
		kind = "export"
	}
	m.queries.WithLabelValues(kind, outcome).Inc()
	m.queryLatency.WithLabelValues(kind, outcome).Observe(d.Seconds())
	if rows > 0 {
		m.queryRows.WithLabelValues(kind).Add(float64(rows))
	}
}

// observeUpload counts one upload and the bytes it brought.
func (m *Metrics) observeUpload(bytes int64, err error) {
	if bytes > 0 {
		m.uploadBytes.Add(float64(bytes))
	}
	if err != nil {
		m.uploads.WithLabelValues("error").Inc()
	} else {
		m.uploads.WithLabelValues("ok").Inc()
	}
}

// observeSync counts a finished sync job and its tables.
func (m *Metrics) observeSync(j *engine.SyncJob) {
	status := "done"
	if j.Status == engine.JobFailed {
		status = "failed"
	}
	m.syncRuns.WithLabelValues(status).Inc()
	if !j.StartedAt.IsZero() && !j.FinishedAt.IsZero() {
		m.syncDuration.Observe(j.FinishedAt.Sub(j.StartedAt).Seconds())
	}
	for _, p := range j.Tables {
		outcome := "done"
		if p.State == engine.SyncFailed {
			outcome = "failed"
		}
		m.syncTables.WithLabelValues(outcome).Inc()
		if !p.StartedAt.IsZero() && !p.FinishedAt.IsZero() {
			m.syncTableDur.WithLabelValues(outcome).Observe(p.FinishedAt.Sub(p.StartedAt).Seconds())
		}
	}
}

// registerServerGauges adds the metrics read at scrape time from the server's services: the
// sandbox cache of the query runner, running queries and active browser sessions.
func (s *Server) registerServerGauges(m *Metrics) {
	if s.query != nil {
		q := s.query
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "da_sandbox_cache_hits_total",
				Help: "Queries that found their sandbox ready in the cache."}, func() float64 { h, _ := q.CacheStats(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "da_sandbox_cache_misses_total",
				Help: "Queries that had to build a sandbox."}, func() float64 { _, mi := q.CacheStats(); return float64(mi) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "da_queries_running",
				Help: "SQL queries running now."}, func() float64 { return float64(len(q.Running())) }),
		)
	}
	if s.store != nil {
		st := s.store
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "da_sessions_active",
			Help: "Browser sessions that have not expired."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := st.CountActiveSessions(ctx, time.Now())
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
}

// showMetrics is GET /metrics: the metrics in the Prometheus text format.
func (s *Server) showMetrics(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// scrapeTokenOK reports whether the request presents the configured metrics scrape token
// as its bearer token (compared in constant time).
func (s *Server) scrapeTokenOK(r *http.Request) bool {
	want := ""
	if s.cfg != nil {
		want = s.cfg.MetricsToken
	}
	if want == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get(echo.HeaderAuthorization), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) == 1
}
