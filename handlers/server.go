// Package handlers is the HTTP layer: the route table, middleware, and thin echo handlers
// that parse input, call auth/engine/store and render templ views or JSON.
package handlers

import (
	"bytes"
	"da/engine/connectors/jira"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"da/auth"
	"da/cluster"
	"da/config"
	"da/engine"
	"da/engine/knowledge"
	"da/engine/openmetadata"
	"da/engine/query"
	"da/llm"
	"da/static"
	"da/store"
)

// Deps are the services the HTTP layer needs; the caller owns their lifecycle.
type Deps struct {
	Config   *config.Config
	Store    *store.Store
	Issuer   *auth.Issuer
	Sessions *scs.SessionManager
	Limiter  *auth.LoginLimiter
	Logger   *slog.Logger
	Version  string
	Started  time.Time
	// Google replaces the Google sign-in provider built from Config (tests use an
	// in-process OIDC provider); nil builds it when Google is configured.
	Google *auth.OIDCProvider
	// Engine serves the data catalog; Query runs sandboxed SQL over it.
	Engine *engine.Engine
	Query  *query.Runner
	// Profiler re-profiles a served table for POST /api/catalog/profile/{table}/refresh; nil
	// answers that endpoint with 503.
	Profiler TableProfiler
	// Publisher publishes uploads (and demo data) through the engine.
	Publisher *engine.Publisher
	// Syncer runs sync jobs for the registry and sync endpoints (registry.go, sync.go).
	Syncer *engine.Syncer
	// Scheduler, when this process runs the cron jobs, hears of registry changes at once and
	// reports next runs; nil otherwise.
	Scheduler RegistryScheduler
	// Jira, when configured, is the Jira connector whose webhook events this server queues.
	Jira *jira.Service
	// DemoLogin, set by `da serve --demo`, is shown on the login page.
	DemoLogin *DemoLogin
	// Enricher adds OpenMetadata's descriptions, tags, owners and tier to the catalog; nil
	// when OpenMetadata is not configured.
	Enricher *openmetadata.Enricher
	// Metrics are served at /metrics; nil makes a fresh set for this server.
	Metrics *Metrics
	// Coord is this process's place among the replicas (health, the replicas page); nil is
	// a single process.
	Coord cluster.Coordinator
	// Knowledge runs knowledge collections (shared with the scheduled job); nil builds one
	// from Config.
	Knowledge *knowledge.Runner
}

// DemoLogin is the demo admin's sign-in, for the login page of a demo instance.
type DemoLogin struct{ Email, Password string }

// Server holds the dependencies shared by all handlers.
type Server struct {
	demoLogin *DemoLogin
	coord     cluster.Coordinator
	cfg       *config.Config
	store     *store.Store
	issuer    *auth.Issuer
	sessions  *scs.SessionManager
	limiter   *auth.LoginLimiter
	log       *slog.Logger
	version   string
	started   time.Time
	signin    *signIn // sign-in providers: e-mailed links and Google (auth_magic.go)
	engine    *engine.Engine
	query     *query.Runner
	profiler  TableProfiler
	publisher *engine.Publisher
	syncer    *engine.Syncer
	scheduler RegistryScheduler
	// principals caches resolved callers, invalidated by the store's auth generation.
	principals *auth.Principals
	// auditLost counts audit entries of requests that changed nothing in the system
	// database and could not be written after the answer was sent.
	auditLost atomic.Uint64
	probe     *writeProbe // health's write probe (health.go)
	enricher  *openmetadata.Enricher
	metrics   *Metrics // Prometheus metrics (metrics.go)
	openapiState
	jira      *jira.Service
	knowledge *knowledge.Runner
}

// NewSessionManager configures browser sessions stored by st.
func NewSessionManager(st scs.Store, secureCookies bool) *scs.SessionManager {
	sm := scs.New()
	sm.Store = st
	sm.Lifetime = 7 * 24 * time.Hour
	sm.IdleTimeout = 24 * time.Hour
	sm.Cookie.Name = "da_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secureCookies
	sm.Cookie.Path = "/"
	return sm
}

// New builds the echo instance with every middleware and route.
func New(d Deps) *echo.Echo {
	_, e := newServer(d)
	return e
}

func newServer(d Deps) (*Server, *echo.Echo) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Limiter == nil {
		d.Limiter = auth.NewLoginLimiter()
	}
	if d.Started.IsZero() {
		d.Started = time.Now()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	// Log lines written with a request's context carry its request id.
	if _, ok := d.Logger.Handler().(requestIDHandler); !ok {
		d.Logger = slog.New(requestIDHandler{d.Logger.Handler()})
	}
	if d.Coord == nil {
		d.Coord = cluster.NewLocal(cluster.NewReplicaID(nil))
	}
	s := &Server{cfg: d.Config, store: d.Store, issuer: d.Issuer, sessions: d.Sessions,
		limiter: d.Limiter, log: d.Logger, version: d.Version, started: d.Started, signin: newSignIn(d),
		engine: d.Engine, query: d.Query, profiler: d.Profiler, publisher: d.Publisher,
		syncer: d.Syncer, scheduler: d.Scheduler, principals: auth.NewPrincipals(d.Store), demoLogin: d.DemoLogin,
		enricher: d.Enricher, coord: d.Coord}
	s.probe = s.newWriteProbe()
	s.metrics = d.Metrics
	s.metrics.bindRoutes(s.routes())
	s.registerServerGauges(d.Metrics)
	if d.Syncer != nil {
		d.Syncer.OnFinished(d.Metrics.observeSync)
	}
	if d.Jira != nil {
		s.jira = d.Jira
		d.Jira.OnPublish(s.publishJira)
	}
	s.knowledge = d.Knowledge
	if s.knowledge == nil {
		s.knowledge = knowledge.NewRunner(d.Config, d.Store, d.Logger, llm.Options{})
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = echo.ExtractIPDirect()

	e.Pre(s.deadlines)
	e.Pre(rejectBadPaths)
	e.Pre(middleware.RemoveTrailingSlashWithConfig(middleware.TrailingSlashConfig{}))
	e.Use(requestID)
	e.Use(s.accessLog)
	e.Use(s.recoverPanics)
	e.Use(s.securityHeaders)

	staticHandler := echo.WrapHandler(http.StripPrefix("/static/", http.FileServer(http.FS(static.FS))))
	e.GET("/static/*", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		return staticHandler(c)
	})

	g := e.Group("", s.loadSession(), s.authenticate, s.csrf)
	for _, r := range s.routes() {
		mw := []echo.MiddlewareFunc{s.auditRequests, s.requireAccess(r)}
		if r.BodyLimit > 0 {
			mw = append(mw, limitBody(r.BodyLimit))
		}
		if r.StreamBody {
			mw = append(mw, s.streamBody)
		}
		g.Add(r.Method, r.Path, r.Handler, mw...)
	}
	// Unknown paths still pass through sessions and authentication so that the 404 page can
	// show the signed-in shell.
	g.RouteNotFound("/*", func(c echo.Context) error {
		if allowed := allowedMethods(e, c.Request().URL.Path); allowed != "" {
			c.Response().Header().Set(echo.HeaderAllow, allowed)
			return echo.ErrMethodNotAllowed
		}
		return echo.ErrNotFound
	})
	return s, e
}

// allowedMethods lists the methods routed for path; the catch-all 404 route would otherwise
// hide a 405 from the router.
func allowedMethods(e *echo.Echo, path string) string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		c := e.NewContext(nil, nil)
		e.Router().Find(m, path, c)
		if p := c.Path(); p != "" && p != "/*" {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}

// render writes a templ component with an explicit status, rendering into a buffer first so
// that a render error never sends half a page.
func render(c echo.Context, status int, t templ.Component) error {
	var buf bytes.Buffer
	if err := t.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}
