package replicas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "replicas-admin-password"
	jwtSecret     = "replicas-jwt-secret-0123456789abcdef0123456789"
	readyTimeout  = 90 * time.Second
)

// Replica is one `da serve` process of the set.
type Replica struct {
	t    *testing.T
	ID   string
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Set is the replicas sharing one database and one DATA_DIR, and a round-robin proxy.
type Set struct {
	t        *testing.T
	DBURL    string
	DataDir  string
	Replicas []*Replica
	Proxy    *httptest.Server
	logDir   string
	next     atomic.Uint64
	mu       sync.Mutex
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newSet starts n replicas on dbURL, one after the other, and the proxy in front of them.
func newSet(t *testing.T, dbURL string, n int) *Set {
	t.Helper()
	base := t.TempDir()
	s := &Set{t: t, DBURL: dbURL, DataDir: filepath.Join(base, "data"), logDir: base}
	t.Cleanup(func() {
		for _, r := range s.Replicas {
			r.kill()
		}
		if t.Failed() {
			for _, r := range s.Replicas {
				data, _ := os.ReadFile(r.log)
				t.Logf("log of %s:\n%s", r.ID, tail(string(data), 4000))
			}
		}
	})
	for i := 1; i <= n; i++ {
		s.start(fmt.Sprintf("r%d", i))
	}
	// The proxy sends each request to the next live replica in turn, as a load balancer
	// with health checks would.
	s.Proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		live := s.live()
		if len(live) == 0 {
			http.Error(w, "no replica", http.StatusBadGateway)
			return
		}
		r := live[int(s.next.Add(1))%len(live)]
		u, _ := url.Parse(r.URL)
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, req)
	}))
	t.Cleanup(s.Proxy.Close)
	return s
}

func (s *Set) start(id string) *Replica {
	s.t.Helper()
	port := freePort(s.t)
	r := &Replica{t: s.t, ID: id, URL: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}),
		log: filepath.Join(s.logDir, id+".log")}
	logf, err := os.Create(r.log)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(daBinary, "serve", "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", s.DataDir)
	cmd.Dir = s.logDir
	cmd.Env = append(os.Environ(), "DA_ENV=development", "JWT_SECRET_KEY="+jwtSecret, "DA_DATABASE_URL="+s.DBURL,
		"DA_REPLICA_ID="+id, "SEED_ADMIN_EMAIL="+adminEmail, "SEED_ADMIN_PASSWORD="+adminPassword, "DA_LOG_LEVEL=debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	r.cmd = cmd
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(r.done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-r.done:
			data, _ := os.ReadFile(r.log)
			s.t.Fatalf("replica %s exited before it was ready:\n%s", id, tail(string(data), 3000))
		default:
		}
		if resp, err := http.Get(r.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("replica %s not ready after %s", id, readyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.Replicas = append(s.Replicas, r)
	s.mu.Unlock()
	return r
}

// live are the replicas whose process runs.
func (s *Set) live() []*Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Replica
	for _, r := range s.Replicas {
		if r.running() {
			out = append(out, r)
		}
	}
	return out
}

func (r *Replica) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to go.
func (r *Replica) kill() {
	if r.cmd == nil || !r.running() {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// answer is one HTTP exchange.
type answer struct {
	status int
	body   string
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("decode %q: %v", a.body, err)
	}
}

// call sends one request to base with a bearer token.
func call(t *testing.T, base, token, method, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(data)}
}

// login signs in through base and returns the bearer token.
func login(t *testing.T, base, email, password string) string {
	t.Helper()
	a := call(t, base, "", http.MethodPost, "/auth/token", map[string]string{"email": email, "password": password})
	if a.status != http.StatusOK {
		t.Fatalf("sign in %s through %s: %d %s", email, base, a.status, a.body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	a.decode(t, &out)
	return out.AccessToken
}

// upload sends a CSV of rows rows as table name through base.
func upload(t *testing.T, base, token, name string, rows int) answer {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("name", name)
	fw, _ := mw.CreateFormFile("file", name+".csv")
	fmt.Fprintln(fw, "id,label")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(fw, "%d,row %d\n", i, i)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/upload/table", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(data)}
}

// count runs SELECT count(*) on table through base.
func count(t *testing.T, base, token, table string) (int, answer) {
	t.Helper()
	a := call(t, base, token, http.MethodPost, "/api/query", map[string]string{"sql": "SELECT count(*) AS n FROM " + table})
	if a.status != http.StatusOK {
		return -1, a
	}
	var out struct {
		Rows [][]any `json:"rows"`
	}
	a.decode(t, &out)
	if len(out.Rows) != 1 || len(out.Rows[0]) != 1 {
		t.Fatalf("count answer %s", a.body)
	}
	n, _ := out.Rows[0][0].(float64)
	return int(n), a
}

// health is the part of GET /api/health the tests read.
type health struct {
	Replica struct {
		ID         string `json:"id"`
		Backend    string `json:"backend"`
		IsLeader   bool   `json:"is_leader"`
		Leader     string `json:"leader"`
		Generation uint64 `json:"generation"`
	} `json:"replica"`
}

func getHealth(t *testing.T, base, token string) (health, bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/health", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return health{}, false
	}
	defer resp.Body.Close()
	var h health
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return health{}, false
	}
	return h, true
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

var csrfInput = regexp.MustCompile(`name="_csrf"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="_csrf"`)

// browserLogin signs in through base's login form and returns the cookies of the session.
func browserLogin(t *testing.T, base, email, password string) []*http.Cookie {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no CSRF token on the login page of %s", base)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}, "_csrf": {m[1] + m[2]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("login form on %s: %d", base, resp.StatusCode)
	}
	u, _ := url.Parse(base)
	return jar.Cookies(u)
}

// pageStatus is the status of GET path on base with cookies, without following redirects.
func pageStatus(t *testing.T, base, path string, cookies []*http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
