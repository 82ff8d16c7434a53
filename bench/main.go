// Command bench measures what a user of `da serve` gets, next to what DuckDB and net/http can
// do at best on the same machine, in one run.
//
// It generates a parquet file of 1M rows and its CSV export, builds the da binary, starts
// `da serve` as a separate process on a fresh data directory and drives it over HTTP with a
// new connection for every request. In the same run it measures the limits: DuckDB in memory
// (default settings) over the same parquet file, and http.ServeFile of the stored parquet in
// another process (this program re-executed with -serve-file). It prints one line per
// measure: figure, limit, ratio, goal and whether the goal is met.
//
// Run it from the module root: `make bench` (or `go run ./bench -quick` while iterating).
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

const (
	adminEmail    = "bench@example.com"
	adminPassword = "bench-password-123"
	bigTable      = "bench"
	smallTable    = "bench_small"
	smallRows     = 1_000
)

type options struct {
	rows       int
	runs       int
	load       time.Duration
	clients    int
	workDir    string
	keep       bool
	profileDir string
	profileFor time.Duration
	bin        string
}

func main() {
	var o options
	serveFile := flag.String("serve-file", "", "internal: serve this file with http.ServeFile and print the address")
	quick := flag.Bool("quick", false, "quick run: 100,000 rows, 3 runs, 3 s of load")
	flag.IntVar(&o.rows, "rows", 1_000_000, "rows of the generated table")
	flag.IntVar(&o.runs, "runs", 7, "measured runs per measure (after one warm-up); the median is reported")
	flag.DurationVar(&o.load, "load", 20*time.Second, "duration of the concurrent-clients load")
	flag.IntVar(&o.clients, "clients", 32, "concurrent clients of the load")
	flag.StringVar(&o.workDir, "dir", "", "work directory (default: a new temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&o.profileDir, "profile", "", "after measuring, write CPU, allocation and block profiles and a trace of each path from the server into this directory")
	flag.StringVar(&o.bin, "bin", "", "measure this da binary instead of building one from the current directory (e.g. to compare two builds)")
	flag.DurationVar(&o.profileFor, "profile-for", 10*time.Second, "how long each path is profiled")
	flag.Parse()
	if *serveFile != "" {
		runFileServer(*serveFile)
		return
	}
	if *quick {
		o.rows, o.runs, o.load = 100_000, 3, 3*time.Second
	}
	if *replicasN > 0 {
		if err := runReplicas(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runFileServer is the ServeFile limit: a plain net/http server in its own process.
func runFileServer(path string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path)
	}))
}

// result is one printed line.
type result struct {
	name, figure, limit, ratio, goal string
	met                              bool
}

func (r result) String() string {
	v := "missed"
	if r.met {
		v = "met"
	}
	return fmt.Sprintf("%-34s %-34s %-24s %-9s %-26s %s", r.name, r.figure, r.limit, r.ratio, r.goal, v)
}

func run(o options) error {
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "da-bench-")
		if err != nil {
			return err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !o.keep && o.workDir == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("work directory:", dir)
	}
	fmt.Printf("method: %d rows, median of %d runs after a warm-up, new connection per request, %d clients x %s\n",
		o.rows, o.runs, o.clients, o.load)

	// Data.
	parquetPath := filepath.Join(dir, "data.parquet")
	csvPath := filepath.Join(dir, "data.csv")
	smallCSV := filepath.Join(dir, "small.csv")
	if err := generate(parquetPath, csvPath, smallCSV, o.rows); err != nil {
		return fmt.Errorf("generate data: %w", err)
	}

	// Server.
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "da")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	srv, err := startServer(bin, filepath.Join(dir, "datadir"), o.profileDir != "")
	if err != nil {
		return err
	}
	defer srv.stop()
	c := &client{base: srv.base, http: newClient()}
	if err := c.login(); err != nil {
		return err
	}

	var results []result
	add := func(r result) { results = append(results, r); fmt.Println(r) }
	fmt.Printf("\n%-34s %-34s %-24s %-9s %-26s %s\n", "measure", "server", "limit", "ratio", "goal", "")

	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	convertDir := filepath.Join(dir, "convert")
	_ = os.MkdirAll(convertDir, 0o755)

	// Each server figure and its limit are measured in alternation, so that both see the same
	// machine load.
	n := 0
	// An upload of this size is profiled in the background after its 201: each upload run
	// waits for that work to end, so that it does not run into the next measure.
	uploadMS, copyCSV, err := pair(o.runs, func() (time.Duration, error) {
		d, err := c.upload(csvPath, bigTable)
		srv.settle()
		return d, err
	},
		func() (time.Duration, error) {
			n++
			out := filepath.Join(convertDir, fmt.Sprintf("f%d.parquet", n))
			d, err := timeExec(db, fmt.Sprintf("COPY (SELECT * FROM read_csv(%s)) TO %s (FORMAT parquet)", lit(csvPath), lit(out)))
			_ = os.Remove(out)
			return d, err
		})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	add(ratioLine("upload CSV -> 201", uploadMS, copyCSV, "DuckDB read_csv->parquet", 1.3))
	if _, err := c.upload(smallCSV, smallTable); err != nil {
		return fmt.Errorf("upload small: %w", err)
	}
	srv.settle()

	// Limits over the stored parquet file, the one the server queries.
	stored, err := srv.storedFile(bigTable)
	if err != nil {
		return err
	}
	storedSmall, err := srv.storedFile(smallTable)
	if err != nil {
		return err
	}
	if _, err := db.Exec("CREATE VIEW " + bigTable + " AS SELECT * FROM read_parquet(" + lit(stored) + ")"); err != nil {
		return err
	}

	groupBy := "SELECT region, count(*) AS n, sum(amount) AS total FROM " + bigTable + " GROUP BY region ORDER BY region"
	lookup := "SELECT * FROM " + bigTable + " WHERE id < 10"
	gServer, gDuck, err := pair(o.runs, func() (time.Duration, error) { return c.query(groupBy, 4) },
		func() (time.Duration, error) { return timeQuery(db, groupBy) })
	if err != nil {
		return fmt.Errorf("group by: %w", err)
	}
	add(ratioLine(fmt.Sprintf("/api/query GROUP BY (%s rows)", count(o.rows)), gServer, gDuck, "DuckDB", 1.15))

	lServer, lDuck, err := pair(o.runs, func() (time.Duration, error) { return c.query(lookup, 10) },
		func() (time.Duration, error) { return timeQuery(db, lookup) })
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	extra := lServer - lDuck
	add(result{name: "/api/query 10-row lookup", figure: ms(lServer), limit: ms(lDuck) + " DuckDB",
		ratio: fmt.Sprintf("%+.1f ms", float64(extra.Microseconds())/1000), goal: "<= +3 ms", met: extra <= 3*time.Millisecond})

	exportSQL := "SELECT * FROM " + bigTable
	k := 0
	eServer, eDuck, err := pair(o.runs, func() (time.Duration, error) { return c.export(exportSQL) },
		func() (time.Duration, error) {
			k++
			out := filepath.Join(convertDir, fmt.Sprintf("x%d.csv", k))
			d, err := timeExec(db, fmt.Sprintf("COPY (SELECT * FROM %s) TO %s (FORMAT csv, HEADER)", bigTable, lit(out)))
			_ = os.Remove(out)
			return d, err
		})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	add(ratioLine(fmt.Sprintf("/api/query/export CSV (%s rows)", count(o.rows)), eServer, eDuck, "DuckDB COPY", 1.5))

	for _, d := range []struct {
		table, file, label string
		goal               float64
	}{{bigTable, stored, "download parquet", 1.0}, {smallTable, storedSmall, "download small parquet", 0.9}} {
		fs, err := startFileServer(d.file)
		if err != nil {
			return err
		}
		size := fileSize(d.file)
		plain := &client{base: fs.base, http: c.http}
		dServer, dLimit, err := pair(o.runs, func() (time.Duration, error) { return c.get("/api/data/"+d.table+"/download", size) },
			func() (time.Duration, error) { return plain.get("/", size) })
		fs.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", d.label, err)
		}
		speed := float64(dLimit) / float64(dServer)
		add(result{name: fmt.Sprintf("%s (%s)", d.label, bytesLabel(size)), figure: ms(dServer), limit: ms(dLimit) + " ServeFile",
			ratio: fmt.Sprintf("%.2fx", speed), goal: fmt.Sprintf(">= %.1fx ServeFile speed", d.goal), met: speed >= d.goal})
	}

	lr := c.loadRun(lookup, o.clients, o.load)
	add(result{name: fmt.Sprintf("%d clients x %s lookups", o.clients, o.load),
		figure: fmt.Sprintf("%.0f q/s p50 %s p99 %s", lr.qps, ms(lr.p50), ms(lr.p99)),
		limit:  fmt.Sprintf("%d errors", lr.errors), ratio: "", goal: "p99 <= 250 ms, 0 errors",
		met: lr.p99 <= 250*time.Millisecond && lr.errors == 0 && lr.n > 0})

	// Fixed cost of a request.
	probeRuns := max(o.runs, 25)
	authReady, err := median(probeRuns, func() (time.Duration, error) { return c.getStatus("/readyz", true, http.StatusOK) })
	if err != nil {
		return err
	}
	anonReady, err := median(probeRuns, func() (time.Duration, error) { return c.getStatus("/readyz", false, http.StatusOK) })
	if err != nil {
		return err
	}
	unknown, err := median(probeRuns, func() (time.Duration, error) {
		return c.getStatus("/no-such-path", false, http.StatusNotFound)
	})
	if err != nil {
		return err
	}
	fmt.Printf("\nfixed cost: GET /readyz with bearer %s, without %s, unknown path %s\n", ms(authReady), ms(anonReady), ms(unknown))

	missed := 0
	for _, r := range results {
		if !r.met {
			missed++
		}
	}
	fmt.Printf("goals: %d of %d met\n", len(results)-missed, len(results))

	if o.profileDir != "" {
		if err := profilePaths(c, srv, o, groupBy, lookup, exportSQL, csvPath); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	return nil
}

func ratioLine(name string, server, limit time.Duration, limitName string, goal float64) result {
	r := float64(server) / float64(limit)
	return result{name: name, figure: ms(server), limit: ms(limit) + " " + limitName, ratio: fmt.Sprintf("%.2fx", r),
		goal: "<= " + strconv.FormatFloat(goal, 'f', -1, 64) + "x", met: r <= goal}
}

// generate writes the parquet file of the method, its CSV export and a small CSV.
func generate(parquetPath, csvPath, smallCSV string, rows int) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	gen := `SELECT range AS id, range % 1000 AS customer_id, round((range * 7919 % 100000) / 100.0, 2)::DOUBLE AS amount,
		['north', 'south', 'east', 'west'][range % 4 + 1] AS region, DATE '2024-01-01' + (range % 730)::INTEGER AS day,
		md5(range::VARCHAR) AS note FROM range(@ROWS@)`
	for _, st := range []string{
		fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet)", strings.Replace(gen, "@ROWS@", strconv.Itoa(rows), 1), lit(parquetPath)),
		fmt.Sprintf("COPY (SELECT * FROM read_parquet(%s)) TO %s (FORMAT csv, HEADER)", lit(parquetPath), lit(csvPath)),
		fmt.Sprintf("COPY (%s) TO %s (FORMAT csv, HEADER)", strings.Replace(gen, "@ROWS@", strconv.Itoa(smallRows), 1), lit(smallCSV)),
	} {
		if _, err := db.Exec(st); err != nil {
			return err
		}
	}
	return nil
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func timeExec(db *sql.DB, q string) (time.Duration, error) {
	t := time.Now()
	_, err := db.Exec(q)
	return time.Since(t), err
}

// timeQuery runs q and fetches every row, as the server must.
func timeQuery(db *sql.DB, q string) (time.Duration, error) {
	t := time.Now()
	rows, err := db.Query(q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return time.Since(t), nil
}

// pair runs a and b once each to warm up, then n times in alternation, and returns the
// median of each.
func pair(n int, a, b func() (time.Duration, error)) (time.Duration, time.Duration, error) {
	if _, err := a(); err != nil {
		return 0, 0, err
	}
	if _, err := b(); err != nil {
		return 0, 0, err
	}
	var as, bs []time.Duration
	for range n {
		d, err := a()
		if err != nil {
			return 0, 0, err
		}
		as = append(as, d)
		if d, err = b(); err != nil {
			return 0, 0, err
		}
		bs = append(bs, d)
	}
	return mid(as), mid(bs), nil
}

func mid(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// median runs fn once to warm up, then n times, and returns the median.
func median(n int, fn func() (time.Duration, error)) (time.Duration, error) {
	if _, err := fn(); err != nil {
		return 0, err
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		d, err := fn()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

func ms(d time.Duration) string {
	v := float64(d.Microseconds()) / 1000
	if v >= 100 {
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

func count(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}

func bytesLabel(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f kB", float64(n)/1024)
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// server is the `da serve` child process.
type server struct {
	cmd       *exec.Cmd
	base      string
	dataDir   string
	pprofBase string
}

// settle waits until the server process has been idle (under a tenth of a core) for half a
// second, or a minute has passed, so that background work of one measure (profiling an
// upload, a rebuild) does not run into the next. It reads the process's CPU time from /proc
// and does nothing where there is none.
func (s *server) settle() {
	cpu := func() (int64, bool) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
		if err != nil {
			return 0, false
		}
		// Fields after the command name (which may hold spaces) start at state, field 3;
		// utime and stime are fields 14 and 15, in clock ticks (100 per second).
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return 0, false
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		return u + st, true
	}
	last, ok := cpu()
	if !ok {
		return
	}
	quiet := 0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && quiet < 2; {
		time.Sleep(250 * time.Millisecond)
		now, _ := cpu()
		if now-last <= 2 {
			quiet++
		} else {
			quiet = 0
		}
		last = now
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startServer(bin, dataDir string, pprof bool) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(filepath.Dir(dataDir), "server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--no-jobs")
	cmd.Env = append(os.Environ(), "DATA_DIR="+dataDir, "DA_ADDR="+addr, "SEED_ADMIN_EMAIL="+adminEmail,
		"SEED_ADMIN_PASSWORD="+adminPassword, "DA_CONFIG=", "DA_ENV=development")
	s := &server{cmd: cmd, base: "http://" + addr, dataDir: dataDir}
	if pprof {
		pa, err := freeAddr()
		if err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "DA_PPROF_ADDR="+pa)
		s.pprofBase = "http://" + pa
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("da serve did not become ready; see %s", logf.Name())
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	}
}

// storedFile finds the parquet file the server keeps for table, the newest by that name.
func (s *server) storedFile(table string) (string, error) {
	var best string
	var bestT time.Time
	err := filepath.WalkDir(filepath.Join(s.dataDir, "extracts"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return nil
		}
		base := strings.TrimSuffix(filepath.Base(p), ".parquet")
		if base != table && !strings.HasPrefix(base, table+".") {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(bestT) {
			best, bestT = p, fi.ModTime()
		}
		return nil
	})
	if err == nil && best == "" {
		err = fmt.Errorf("no stored parquet file for %s", table)
	}
	return best, err
}

// fileServer is the ServeFile child process.
type fileServer struct {
	cmd  *exec.Cmd
	base string
}

func startFileServer(path string) (*fileServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-file", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("file server did not start: %v", err)
	}
	return &fileServer{cmd: cmd, base: "http://" + addr}, nil
}

func (f *fileServer) stop() {
	_ = f.cmd.Process.Kill()
	_ = f.cmd.Wait()
}

// client drives the server with a new connection for every request.
type client struct {
	base  string
	http  *http.Client
	token string
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true,
		MaxConnsPerHost: 0}, Timeout: 5 * time.Minute}
}

func (c *client) do(req *http.Request, auth bool) (*http.Response, error) {
	if auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.http.Do(req)
}

func (c *client) login() error {
	body, _ := json.Marshal(map[string]string{"email": adminEmail, "password": adminPassword})
	resp, err := c.http.Post(c.base+"/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST /auth/token: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	c.token = out.AccessToken
	return nil
}

// finish reads the whole body and checks the status.
func finish(resp *http.Response, want int) (int64, error) {
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		return 0, fmt.Errorf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, b)
	}
	return io.Copy(io.Discard, resp.Body)
}

// upload sends path as a public table; the time runs until the 201 arrives.
func (c *client) upload(path, name string) (time.Duration, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			_ = mw.WriteField("name", name)
			_ = mw.WriteField("public", "true")
			fw, err := mw.CreateFormFile("file", filepath.Base(name)+".csv")
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(fw, f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/upload/table", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	t := time.Now()
	resp, err := c.do(req, true)
	if err != nil {
		return 0, err
	}
	_, err = finish(resp, http.StatusCreated)
	return time.Since(t), err
}

// query runs sql through /api/query and checks the row count.
func (c *client) query(sqlText string, wantRows int) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{"sql": sqlText, "limit": 10_000})
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	t := time.Now()
	resp, err := c.do(req, true)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		return 0, fmt.Errorf("POST /api/query: status %d: %s", resp.StatusCode, b)
	}
	var out struct {
		RowCount int `json:"row_count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	d := time.Since(t)
	if wantRows >= 0 && out.RowCount != wantRows {
		return 0, fmt.Errorf("POST /api/query: %d rows, want %d", out.RowCount, wantRows)
	}
	return d, nil
}

func (c *client) export(sqlText string) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{"sql": sqlText, "format": "csv"})
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/query/export", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	t := time.Now()
	resp, err := c.do(req, true)
	if err != nil {
		return 0, err
	}
	n, err := finish(resp, http.StatusOK)
	if err == nil && n == 0 {
		err = errors.New("empty export")
	}
	return time.Since(t), err
}

func (c *client) get(path string, size int64) (time.Duration, error) {
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	t := time.Now()
	resp, err := c.do(req, true)
	if err != nil {
		return 0, err
	}
	n, err := finish(resp, http.StatusOK)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("GET %s: %d bytes, want %d", path, n, size)
	}
	return time.Since(t), err
}

func (c *client) getStatus(path string, auth bool, want int) (time.Duration, error) {
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	t := time.Now()
	resp, err := c.do(req, auth)
	if err != nil {
		return 0, err
	}
	_, err = finish(resp, want)
	return time.Since(t), err
}

type loadResult struct {
	n, errors int
	qps       float64
	p50, p99  time.Duration
}

// loadRun runs lookups from clients goroutines for d.
func (c *client) loadRun(sqlText string, clients int, d time.Duration) loadResult {
	lc := &client{base: c.base, token: c.token, http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		Timeout: time.Minute}}
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t, err := lc.query(sqlText, 10)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, t)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "load: first error:", e)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := loadResult{n: len(lat), errors: int(errs.Load())}
	if len(lat) > 0 {
		r.qps = float64(len(lat)) / el.Seconds()
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r
}

// profilePaths repeats each path for o.profileFor while fetching the server's CPU,
// allocation and block profiles and a short trace.
func profilePaths(c *client, srv *server, o options, groupBy, lookup, exportSQL, csvPath string) error {
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	paths := []struct {
		name string
		fn   func() error
	}{
		{"groupby", func() error { _, err := c.query(groupBy, 4); return err }},
		{"lookup", func() error { _, err := c.query(lookup, 10); return err }},
		{"export", func() error { _, err := c.export(exportSQL); return err }},
		{"download", func() error { _, err := c.get("/api/data/"+bigTable+"/download", -1); return err }},
		{"download_small", func() error { _, err := c.get("/api/data/"+smallTable+"/download", -1); return err }},
		{"readyz", func() error { _, err := c.getStatus("/readyz", true, http.StatusOK); return err }},
		{"upload", func() error { _, err := c.upload(csvPath, bigTable); return err }},
	}
	secs := int(o.profileFor.Seconds())
	for _, p := range paths {
		var wg sync.WaitGroup
		fetch := func(kind, file string) {
			defer wg.Done()
			s := secs
			if kind == "trace" {
				s = min(secs, 2) // traces grow fast
			}
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", srv.pprofBase, kind, s))
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(o.profileDir, file))
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}
		wg.Add(4)
		go fetch("profile", p.name+".cpu.pprof")
		go fetch("allocs", p.name+".allocs.pprof")
		go fetch("block", p.name+".block.pprof")
		go fetch("trace", p.name+".trace")
		deadline := time.Now().Add(o.profileFor)
		n := 0
		for time.Now().Before(deadline) {
			if err := p.fn(); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			n++
		}
		wg.Wait()
		fmt.Printf("profiled %s: %d requests in %s -> %s\n", p.name, n, o.profileFor, o.profileDir)
	}
	return nil
}
