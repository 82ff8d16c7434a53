package faults

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // opens system.duckdb directly in checkDBOpens

	"da/client"
	"da/engine"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "faults-admin-password"
	// jwtSecret is fixed so that a token stays valid across restarts of one instance.
	jwtSecret = "faults-jwt-secret-0123456789abcdef0123456789"
	// readyTimeout bounds a start, from exec to a 200 from /readyz.
	readyTimeout = 60 * time.Second
)

// Instance is one DATA_DIR served by successive `da serve` processes.
type Instance struct {
	t       *testing.T
	DataDir string
	// Env is added to every process's environment (KEY=VALUE).
	Env []string
	// Args are added to `da serve`'s arguments, such as --demo.
	Args []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	waitErr error
	url     string
	token   string
	runs    int
	logDir  string
}

// newInstance prepares an instance on a fresh DATA_DIR; nothing runs yet.
func newInstance(t *testing.T) *Instance {
	t.Helper()
	base := t.TempDir()
	in := &Instance{t: t, DataDir: filepath.Join(base, "data"), logDir: base}
	t.Cleanup(func() {
		if in.Running() {
			in.Kill()
		}
		if t.Failed() {
			t.Logf("server log (last runs):\n%s", tail(in.Log(), 6000))
		}
	})
	return in
}

// freePort asks the kernel for a loopback port that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start starts a `da serve` process on a new free port and returns at once; see WaitReady.
func (in *Instance) Start() {
	in.t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil && !closed(in.done) {
		in.t.Fatal("Start: the previous process is still running")
	}
	port := freePort(in.t)
	in.runs++
	logf, err := os.Create(filepath.Join(in.logDir, fmt.Sprintf("run-%03d.log", in.runs)))
	if err != nil {
		in.t.Fatal(err)
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--data-dir", in.DataDir}, in.Args...)
	cmd := exec.Command(daBinary, args...)
	cmd.Dir = in.logDir // no config/instance.yaml here
	cmd.Env = append(os.Environ(),
		"DA_ENV=development",
		"JWT_SECRET_KEY="+jwtSecret,
		"SEED_ADMIN_EMAIL="+adminEmail,
		"SEED_ADMIN_PASSWORD="+adminPassword,
	)
	cmd.Env = append(cmd.Env, in.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		in.t.Fatalf("start da serve: %v", err)
	}
	done := make(chan struct{})
	in.cmd, in.done, in.url, in.waitErr = cmd, done, "http://127.0.0.1:"+strconv.Itoa(port), nil
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		in.mu.Lock()
		in.waitErr = err
		in.mu.Unlock()
		close(done)
	}()
}

// WaitReady waits until /readyz answers 200, or fails when the process exits first.
func (in *Instance) WaitReady() error {
	in.mu.Lock()
	url, done := in.url, in.done
	in.mu.Unlock()
	deadline := time.Now().Add(readyTimeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("da serve exited before it was ready (%v); log:\n%s", in.exitErr(), tail(in.lastLog(), 3000))
		default:
		}
		if resp, err := hc.Get(url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("da serve not ready after %s; log:\n%s", readyTimeout, tail(in.lastLog(), 3000))
}

// StartReady starts a process and waits for /readyz, failing the test if it does not come up.
func (in *Instance) StartReady() {
	in.t.Helper()
	in.Start()
	if err := in.WaitReady(); err != nil {
		in.t.Fatalf("run %d: %v", in.runs, err)
	}
}

// Running reports whether the current process is alive.
func (in *Instance) Running() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cmd != nil && !closed(in.done)
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (in *Instance) Kill() {
	in.t.Helper()
	in.signal(syscall.SIGKILL)
	in.wait(30 * time.Second)
}

// Term sends SIGTERM and waits up to timeout; it returns the exit code, or -1 when the
// process had to be killed after the timeout.
func (in *Instance) Term(timeout time.Duration) int {
	in.t.Helper()
	in.signal(syscall.SIGTERM)
	if !in.wait(timeout) {
		in.Kill()
		return -1
	}
	return in.exitCode()
}

// Restart kills the current process (if any) and starts a new one, waiting for /readyz.
func (in *Instance) Restart() {
	in.t.Helper()
	if in.Running() {
		in.Kill()
	}
	in.StartReady()
}

func (in *Instance) signal(sig syscall.Signal) {
	in.mu.Lock()
	cmd := in.cmd
	in.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// wait waits for the current process to exit; false after timeout.
func (in *Instance) wait(timeout time.Duration) bool {
	in.mu.Lock()
	done := in.done
	in.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (in *Instance) exitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.waitErr
}

func (in *Instance) exitCode() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil || in.cmd.ProcessState == nil {
		return -1
	}
	return in.cmd.ProcessState.ExitCode()
}

// URL is the base URL of the current process.
func (in *Instance) URL() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.url
}

// Runs is how many processes have been started on this DATA_DIR.
func (in *Instance) Runs() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.runs
}

// Log is the output of every process so far, oldest first.
func (in *Instance) Log() string {
	var b strings.Builder
	for i := 1; i <= in.Runs(); i++ {
		data, _ := os.ReadFile(filepath.Join(in.logDir, fmt.Sprintf("run-%03d.log", i)))
		fmt.Fprintf(&b, "--- run %d ---\n%s", i, data)
	}
	return b.String()
}

// WaitLog waits until the current process has logged substr; false when it exits first or
// after timeout.
func (in *Instance) WaitLog(substr string, timeout time.Duration) bool {
	in.mu.Lock()
	done := in.done
	in.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(in.lastLog(), substr) {
			return true
		}
		select {
		case <-done:
			return strings.Contains(in.lastLog(), substr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return false
}

func (in *Instance) lastLog() string {
	data, _ := os.ReadFile(filepath.Join(in.logDir, fmt.Sprintf("run-%03d.log", in.Runs())))
	return string(data)
}

// Token returns a bearer token of the seeded admin (POST /auth/token), fetched once per
// instance: the JWT secret is fixed, so it survives restarts.
func (in *Instance) Token() string {
	in.t.Helper()
	in.mu.Lock()
	tok := in.token
	in.mu.Unlock()
	if tok != "" {
		return tok
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := client.New(in.URL(), "").Login(ctx, adminEmail, adminPassword)
	if err != nil {
		in.t.Fatalf("POST /auth/token: %v", err)
	}
	in.mu.Lock()
	in.token = resp.AccessToken
	in.mu.Unlock()
	return resp.AccessToken
}

// Client is an API client of the current process, signed in as the seeded admin.
func (in *Instance) Client() *client.Client {
	in.t.Helper()
	return client.New(in.URL(), in.Token())
}

// Upload streams body as the file fileName of an upload named name (POST
// /api/upload/table). The body is sent as it is read, so a slow reader makes a slow upload.
func (in *Instance) Upload(ctx context.Context, name, fileName string, body io.Reader) (*client.UploadedTable, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("name", name)
		fw, err := mw.CreateFormFile("file", fileName)
		if err == nil {
			_, err = io.Copy(fw, body)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL()+"/api/upload/table", pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+in.Token())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("upload %s: %d %s", name, resp.StatusCode, data)
	}
	var out client.UploadedTable
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("upload %s: %w: %s", name, err, data)
	}
	return &out, nil
}

// csvRows is a CSV of n rows "id,name,amount", generated as it is read.
func csvRows(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		var b bytes.Buffer
		b.WriteString("id,name,amount\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "%d,name-%d,%d.%02d\n", i, i, i%1000, i%100)
			if b.Len() > 64<<10 {
				if _, err := pw.Write(b.Bytes()); err != nil {
					return
				}
				b.Reset()
			}
		}
		_, err := pw.Write(b.Bytes())
		pw.CloseWithError(err)
	}()
	return pr
}

// slowReader passes r through in chunks of size bytes, one every interval, until ctx ends.
type slowReader struct {
	ctx      context.Context
	r        io.Reader
	size     int
	interval time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	select {
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	case <-time.After(s.interval):
	}
	if len(p) > s.size {
		p = p[:s.size]
	}
	return s.r.Read(p)
}

// Ledger records the writes the server acknowledged, to check them after crashes.
type Ledger struct {
	mu sync.Mutex
	// Uploads maps a table id to the row count of its last acknowledged upload.
	Uploads map[string]int64
	// Acks counts acknowledged uploads, replacements included.
	Acks int
	// Pending maps a table id to the row counts an upload that was cut off may have left:
	// the crash may have come before or after its commit. When the table is there, it has
	// one of these counts (an acknowledged count still counts).
	Pending map[string][]int64
}

// Pend records an upload in flight when the process is killed.
func (l *Ledger) Pend(tableID string, rows int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Pending == nil {
		l.Pending = map[string][]int64{}
	}
	l.Pending[tableID] = append(l.Pending[tableID], rows)
}

// settle turns what a check found for pending uploads into the new truth.
func (l *Ledger) settle(found map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.Pending {
		if rows, ok := found[id]; ok {
			if l.Uploads == nil {
				l.Uploads = map[string]int64{}
			}
			l.Uploads[id] = rows
		}
	}
	l.Pending = nil
}

// Upload records an acknowledged upload.
func (l *Ledger) Upload(u *client.UploadedTable) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Uploads == nil {
		l.Uploads = map[string]int64{}
	}
	l.Uploads[u.TableID] = u.Rows
	l.Acks++
}

// checkDBOpens opens state/system.duckdb read-only, as DuckDB would on the next start (the
// WAL is replayed in memory; nothing is written). The server must not be running.
func checkDBOpens(t *testing.T, dataDir string) {
	t.Helper()
	path := filepath.Join(dataDir, "state", "system.duckdb")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return // killed before the first database was in place
	}
	db, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err == nil {
		var n int
		err = db.QueryRow("SELECT count(*) FROM duckdb_tables()").Scan(&n)
		_ = db.Close()
	}
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		t.Fatalf("system database does not open after the crash: %s", first)
	}
}

// checkNoTemp fails when any temporary data of engine.TempGlobs is under dataDir. Call it
// right after a restart, before new work (query sandboxes live in tmp/ while in use).
func checkNoTemp(t *testing.T, dataDir string) {
	t.Helper()
	if left := engine.FindTemp(dataDir); len(left) > 0 {
		t.Errorf("temporary data left after restart: %+v", left)
	}
}

// tempBytes is the size of the temporary data under dataDir.
func tempBytes(dataDir string) int64 {
	var n int64
	for _, l := range engine.FindTemp(dataDir) {
		n += l.Bytes
	}
	return n
}

// checkConsistent checks a running instance: every acknowledged upload is registered, served
// with its rows and audited, and nothing half-registered is served (every served table is
// registered, every registered upload is served and has an owner).
func checkConsistent(t *testing.T, in *Instance, l *Ledger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := in.Client()
	reg, err := c.ListRegistry(ctx)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	cat, err := c.CatalogTables(ctx)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	registered := map[string]client.RegisteredTable{}
	for _, r := range reg {
		registered[strings.ToLower(r.ID)] = r
	}
	served := map[string]client.CatalogTable{}
	for _, ct := range cat {
		served[strings.ToLower(ct.ID)] = ct
		if _, ok := registered[strings.ToLower(ct.ID)]; !ok {
			t.Errorf("table %s is served but not registered", ct.ID)
		}
	}
	for id, r := range registered {
		if r.SourceType != "upload" {
			continue
		}
		if r.RegisteredBy == "" {
			t.Errorf("upload %s is registered without an owner", r.ID)
		}
		if _, ok := served[id]; !ok {
			t.Errorf("upload %s is registered but not served", r.ID)
		}
	}

	l.mu.Lock()
	uploads := make(map[string]int64, len(l.Uploads))
	for k, v := range l.Uploads {
		uploads[k] = v
	}
	pending := make(map[string][]int64, len(l.Pending))
	for k, v := range l.Pending {
		pending[k] = v
	}
	acks := l.Acks
	l.mu.Unlock()
	count := func(id string) (int64, bool) {
		res, err := c.Query(ctx, fmt.Sprintf(`SELECT count(*) FROM "%s"`, id), 0)
		if err != nil {
			t.Errorf("table %s cannot be queried: %v", id, err)
			return 0, false
		}
		n, err := strconv.ParseInt(fmt.Sprint(res.Rows[0][0]), 10, 64)
		if err != nil {
			t.Errorf("count of %s: %v", id, err)
		}
		return n, err == nil
	}
	found := map[string]int64{}
	for id, allowed := range pending {
		if _, ok := registered[strings.ToLower(id)]; !ok {
			continue // the cut-off upload left nothing, or the previous data (checked below)
		}
		n, ok := count(id)
		if !ok {
			continue
		}
		if rows, acked := uploads[id]; acked {
			allowed = append(allowed, rows)
		}
		if !slices.Contains(allowed, n) {
			t.Errorf("table %s has %d rows after a cut-off upload; want one of %v", id, n, allowed)
		}
		found[id] = n
	}
	for id, rows := range uploads {
		if _, ok := registered[strings.ToLower(id)]; !ok {
			t.Errorf("acknowledged upload %s is not registered", id)
			continue
		}
		if _, ok := pending[id]; ok {
			continue // checked above
		}
		if n, ok := count(id); ok && n != rows {
			t.Errorf("acknowledged upload %s has %d rows, want %d", id, n, rows)
		}
	}
	l.settle(found)
	if acks > 0 {
		if n := countUploadAudits(t, in); n < acks {
			t.Errorf("%d acknowledged uploads but %d successful upload audit rows", acks, n)
		}
	}
}

// countUploadAudits counts the audit rows of successful uploads.
func countUploadAudits(t *testing.T, in *Instance) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.URL()+"/api/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+in.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Entries []struct {
			Action string  `json:"action"`
			Result *string `json:"result"`
		} `json:"entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("audit: %v", err)
	}
	n := 0
	for _, e := range out.Entries {
		ok := e.Result != nil && (strings.HasPrefix(*e.Result, "2") || *e.Result == "ok" || *e.Result == "success")
		if strings.Contains(e.Action, "upload") && ok {
			n++
		}
	}
	return n
}

// afterCrash runs every check of a restart: the database opens, the server comes up, no
// temporary data remains, and the state is consistent with what was acknowledged. It returns
// the bytes of temporary data found right after the restart (0 unless the check failed).
func afterCrash(t *testing.T, in *Instance, l *Ledger) int64 {
	t.Helper()
	if in.Running() {
		in.Kill()
	}
	checkDBOpens(t, in.DataDir)
	in.StartReady()
	left := tempBytes(in.DataDir)
	checkNoTemp(t, in.DataDir)
	checkConsistent(t, in, l)
	return left
}

func closed(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
