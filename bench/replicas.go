package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"da/store/pgtest"
)

// The replicas measure (-replicas N): /api/query throughput of o.clients clients against one
// replica and against N replicas on PostgreSQL state behind a round-robin proxy in this
// process, and the per-request cost of PostgreSQL state next to DuckDB state. It runs instead
// of the other measures. The database is -replicas-db, or a new one on a throwaway cluster
// (store/pgtest: DA_TEST_DATABASE_URL or Debian's postgresql).

var (
	replicasN  = flag.Int("replicas", 0, "measure /api/query against 1 and against N replicas on PostgreSQL state instead of the other measures")
	replicasDB = flag.String("replicas-db", "", "PostgreSQL URL for -replicas (default: a throwaway database)")
)

// replicaQuery is the measured statement: a point lookup in a small table, so that the
// figure is the per-request cost of the server rather than of DuckDB.
const replicaQuery = "SELECT * FROM " + smallTable + " WHERE id < 10"

func runReplicas(o options) error {
	dir, err := os.MkdirTemp("", "da-bench-replicas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "da")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	dbURL := *replicasDB
	if dbURL == "" {
		u, drop, err := pgtest.NewDatabase()
		if err != nil {
			return err
		}
		defer pgtest.Stop()
		defer drop()
		dbURL = u
	}
	smallCSV := filepath.Join(dir, "small.csv")
	f, err := os.Create(smallCSV)
	if err != nil {
		return err
	}
	fmt.Fprintln(f, "id,label,amount")
	for i := 0; i < smallRows; i++ {
		fmt.Fprintf(f, "%d,item %d,%d.5\n", i, i, i%97)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("method: %d clients x %s of %q, new connection per request; per-request: median of 200 sequential requests\n",
		o.clients, o.load, replicaQuery)
	fmt.Printf("\n%-44s %-14s %-12s %-12s %s\n", "measure", "queries/s", "p50", "p99", "errors")
	line := func(name string, r loadResult) {
		fmt.Printf("%-44s %-14.0f %-12s %-12s %d\n", name, r.qps, ms(r.p50), ms(r.p99), r.errors)
	}

	// DuckDB state, one process: the reference.
	duck, err := startReplica(bin, filepath.Join(dir, "duck"), "", "solo")
	if err != nil {
		return err
	}
	dc, err := prepare(duck.base, smallCSV)
	if err != nil {
		duck.stop()
		return err
	}
	duckReq, err := median(200, func() (time.Duration, error) { return dc.query(replicaQuery, 10) })
	if err == nil {
		line("DuckDB state, 1 process", dc.loadRun(replicaQuery, o.clients, o.load))
	}
	duck.stop()
	if err != nil {
		return err
	}

	// PostgreSQL state: one replica, then N behind the proxy.
	shared := filepath.Join(dir, "shared")
	first, err := startReplica(bin, shared, dbURL, "r1")
	if err != nil {
		return err
	}
	reps := []*server{first}
	defer func() {
		for _, r := range reps {
			r.stop()
		}
	}()
	pc, err := prepare(first.base, smallCSV)
	if err != nil {
		return err
	}
	pgReq, err := median(200, func() (time.Duration, error) { return pc.query(replicaQuery, 10) })
	if err != nil {
		return err
	}
	line("PostgreSQL state, 1 replica", pc.loadRun(replicaQuery, o.clients, o.load))
	for i := 2; i <= *replicasN; i++ {
		r, err := startReplica(bin, shared, dbURL, "r"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	for _, r := range reps {
		c := &client{base: r.base, http: newClient(), token: pc.token}
		if _, err := c.query(replicaQuery, 10); err != nil {
			return fmt.Errorf("replica %s: %w", r.base, err)
		}
	}
	var next atomic.Uint64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r := reps[int(next.Add(1))%len(reps)]
		u, _ := url.Parse(r.base)
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, req)
	}))
	defer proxy.Close()
	via := &client{base: proxy.URL, http: newClient(), token: pc.token}
	line(fmt.Sprintf("PostgreSQL state, %d replicas behind a proxy", len(reps)), via.loadRun(replicaQuery, o.clients, o.load))
	fmt.Printf("\nper request, 1 client: DuckDB state %s, PostgreSQL state %s (difference %s)\n",
		ms(duckReq), ms(pgReq), ms(pgReq-duckReq))
	return nil
}

// prepare signs in as the seeded admin and uploads the small table.
func prepare(base, csv string) (*client, error) {
	c := &client{base: base, http: newClient()}
	if err := c.login(); err != nil {
		return nil, err
	}
	if _, err := c.upload(csv, smallTable); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return c, nil
}

// startReplica starts `da serve` on dataDir, with PostgreSQL state when dbURL is set.
func startReplica(bin, dataDir, dbURL, id string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(filepath.Dir(dataDir), id+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--no-jobs")
	cmd.Env = append(os.Environ(), "DATA_DIR="+dataDir, "DA_ADDR="+addr, "SEED_ADMIN_EMAIL="+adminEmail,
		"SEED_ADMIN_PASSWORD="+adminPassword, "DA_CONFIG=", "DA_ENV=development", "DA_REPLICA_ID="+id,
		"JWT_SECRET_KEY=bench-replicas-secret-0123456789abcdef")
	if dbURL != "" {
		cmd.Env = append(cmd.Env, "DA_DATABASE_URL="+dbURL)
	}
	s := &server{cmd: cmd, base: "http://" + addr, dataDir: dataDir}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(90 * time.Second)
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
	return nil, fmt.Errorf("replica %s did not become ready; see %s", id, logf.Name())
}
