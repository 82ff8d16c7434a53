package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/labstack/echo/v4"

	"da/auth"
	"da/config"
	"da/engine"
	"da/engine/connectors"
	"da/engine/connectors/keboola"
	"da/engine/query"
	"da/store"
	"da/store/pgtest"
)

// testPassword is the password of every user the test environment creates.
const testPassword = "correct-horse-battery"

// testEnv is a full server over a temporary data directory.
type testEnv struct {
	t      testing.TB
	srv    *Server
	e      *echo.Echo
	store  *store.Store
	users  map[auth.Role]*store.User
	tokens map[auth.Role]string
}

// newTestEnv starts a server with one active user per role.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvTB(t)
}

// newTestEnvTB is newTestEnv for tests and benchmarks alike.
func newTestEnvTB(t testing.TB) *testEnv {
	t.Helper()
	return newTestEnvWithEnv(t, nil)
}

// newTestEnvWithEnv is newTestEnv with extra environment variables (e.g. KEBOOLA_STACK_URL).
func newTestEnvWithEnv(t testing.TB, extra map[string]string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load(func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		switch k {
		case "DATA_DIR":
			return dir
		case "JWT_SECRET_KEY":
			return "test-secret-test-secret-test-secret-42"
		case "DA_CONFIG":
			return ""
		}
		return extra[k]
	}, config.Overrides{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st := openTestState(t, dir)
	s, e := newServer(testDeps(t, cfg, st))
	env := &testEnv{t: t, srv: s, e: e, store: st, users: map[auth.Role]*store.User{}, tokens: map[auth.Role]string{}}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range auth.Roles {
		u := &store.User{Email: string(r) + "@example.com", Name: strings.ToUpper(string(r[:1])) + string(r[1:]), Role: string(r), PasswordHash: hash, Active: true}
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatalf("create %s: %v", r, err)
		}
		tok, _, err := s.issuer.Issue(u.ID, u.Email, r)
		if err != nil {
			t.Fatal(err)
		}
		env.users[r], env.tokens[r] = u, tok
	}
	return env
}

// EnvTestState set to "postgres" runs the handler tests with the system database on a
// throwaway PostgreSQL (see store/pgtest) instead of DATA_DIR/state/system.duckdb.
const EnvTestState = "DA_TEST_STATE"

// openTestState opens the system database of a test environment whose DATA_DIR is dir.
func openTestState(t testing.TB, dir string) *store.Store {
	t.Helper()
	var (
		st  *store.Store
		err error
	)
	switch backend := os.Getenv(EnvTestState); backend {
	case "", store.BackendDuckDB:
		st, err = store.Open(filepath.Join(dir, "state", "system.duckdb"))
	case store.BackendPostgres:
		st, err = store.OpenPostgres(context.Background(), pgtest.URL(t))
	default:
		t.Fatalf("%s=%q: want duckdb or postgres", EnvTestState, backend)
	}
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// request is one HTTP call made through the full echo stack.
type request struct {
	method  string
	path    string
	body    string
	ctype   string
	token   string // bearer token
	headers map[string]string
	cookies []*http.Cookie
	addr    string // client address (host:port); httptest's default when empty
}

func (env *testEnv) do(r request) *httptest.ResponseRecorder {
	env.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		ct := r.ctype
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	if r.addr != "" {
		req.RemoteAddr = r.addr
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	env.checkAnswerSchema(r.method, r.path, rec)
	return rec
}

// browser is a cookie-keeping client of the test server, like a person's browser.
type browser struct {
	env  *testEnv
	jar  map[string]*http.Cookie
	csrf string
}

func (env *testEnv) browser() *browser { return &browser{env: env, jar: map[string]*http.Cookie{}} }

var csrfInput = regexp.MustCompile(`name="_csrf"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="_csrf"`)

func (b *browser) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	b.env.t.Helper()
	r := request{method: method, path: path}
	if form != nil {
		r.body, r.ctype = form.Encode(), "application/x-www-form-urlencoded"
	}
	for _, c := range b.jar {
		r.cookies = append(r.cookies, c)
	}
	rec := b.env.do(r)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.jar, c.Name)
		} else {
			b.jar[c.Name] = c
		}
	}
	if m := csrfInput.FindStringSubmatch(rec.Body.String()); m != nil {
		b.csrf = m[1] + m[2]
	}
	return rec
}

// login signs the browser in through the login form.
func (b *browser) login(email, password string) *httptest.ResponseRecorder {
	b.env.t.Helper()
	b.do("GET", "/login", nil)
	return b.do("POST", "/login", url.Values{"email": {email}, "password": {password}, "_csrf": {b.csrf}})
}

func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, rec.Body.String())
	}
	return m
}

// testDeps builds the full set of server dependencies over cfg.DataDir and st: sessions in
// the system database, the engine (rebuilt once), the query runner and the publisher.
func testDeps(t testing.TB, cfg *config.Config, st *store.Store) Deps {
	t.Helper()
	sm := NewSessionManager(postgresstore.NewWithCleanupInterval(st.DB, 0), false)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(cfg.DataDir, st, log, engine.Options{})
	if _, err := eng.Rebuild(context.Background()); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	runner := query.NewRunner(query.Options{Timeout: cfg.Query.Timeout, MemoryLimit: cfg.Query.MemoryLimit, Threads: cfg.Query.Threads,
		MaxRows: cfg.Query.APIMaxRows, ExportMaxRows: cfg.Query.ExportMaxRows, TempDir: filepath.Join(cfg.DataDir, "tmp")}, log)
	t.Cleanup(func() { _ = runner.Close() })
	pub := &engine.Publisher{Engine: eng, Store: st, DataDir: cfg.DataDir, Profiler: cfg.Profiler, Log: log}
	syncer := engine.NewSyncer(eng, st, engine.SyncOptions{Publisher: pub, Log: log,
		Connectors: connectors.NewRegistry(eng.ExtractsDir(), keboola.FromConfig(cfg.Keboola, cfg.DataDir, log))})
	t.Cleanup(syncer.Close)
	return Deps{Engine: eng, Query: runner, Publisher: pub, Profiler: pub, Syncer: syncer, Config: cfg, Store: st,
		Issuer: auth.NewIssuer(cfg.JWTSecret), Sessions: sm, Logger: log, Version: "test"}
}
