package replicas

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"da/store/pgtest"
)

// Three replicas on one database and one DATA_DIR behave as one server.
func TestThreeReplicasActAsOne(t *testing.T) {
	dbURL := pgtest.URL(t)
	s := newSet(t, dbURL, 3)
	r1, r2, r3 := s.Replicas[0], s.Replicas[1], s.Replicas[2]
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Sign-in through one replica is valid on the others: a JWT and a personal access token
	// (a row of the shared database) made on r1 work on r2 and r3.
	admin := login(t, r1.URL, adminEmail, adminPassword)
	a := call(t, r1.URL, admin, http.MethodPost, "/api/tokens", map[string]any{"name": "replicas"})
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		t.Fatalf("create token: %d %s", a.status, a.body)
	}
	var pat struct {
		Token string `json:"token"`
	}
	a.decode(t, &pat)
	for _, r := range []*Replica{r2, r3} {
		for _, tok := range []string{admin, pat.Token} {
			if a := call(t, r.URL, tok, http.MethodGet, "/api/tokens", nil); a.status != http.StatusOK {
				t.Fatalf("a credential from r1 on %s: %d %s", r.ID, a.status, a.body)
			}
		}
	}
	// A browser session started on r2 (a row of the shared database) opens pages on r1 and
	// r3; without it they send the browser to the login page.
	cookies := browserLogin(t, r2.URL, adminEmail, adminPassword)
	for _, r := range []*Replica{r1, r3} {
		if st := pageStatus(t, r.URL, "/admin/replicas", cookies); st != http.StatusOK {
			t.Fatalf("a session from r2 on %s: %d", r.ID, st)
		}
		if st := pageStatus(t, r.URL, "/admin/replicas", nil); st == http.StatusOK {
			t.Fatalf("%s serves the page without a session", r.ID)
		}
	}
	for _, r := range s.Replicas {
		h, ok := getHealth(t, r.URL, admin)
		if !ok || h.Replica.ID != r.ID || h.Replica.Backend != "postgres" {
			t.Fatalf("health of %s: %+v", r.ID, h)
		}
	}

	// An upload through one replica is queryable through the others.
	if a := upload(t, r1.URL, admin, "shared_t", 50); a.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", a.status, a.body)
	}
	for _, r := range []*Replica{r2, r3} {
		waitFor(t, 20*time.Second, "the upload to be queryable on "+r.ID, func() bool {
			n, _ := count(t, r.URL, admin, "shared_t")
			return n == 50
		})
	}
	// Replacing it through r3 shows the new data on r1 and r2.
	if a := upload(t, r3.URL, admin, "shared_t", 70); a.status != http.StatusCreated {
		t.Fatalf("re-upload: %d %s", a.status, a.body)
	}
	for _, r := range []*Replica{r1, r2} {
		waitFor(t, 20*time.Second, "the new data on "+r.ID, func() bool {
			n, _ := count(t, r.URL, admin, "shared_t")
			return n == 70
		})
	}

	// A revocation through one replica is refused on all at once. The analyst's grant is
	// used (and cached) on every replica first.
	a = call(t, r1.URL, admin, http.MethodPost, "/api/users", map[string]any{"email": "ana@example.com", "name": "Ana",
		"role": "analyst", "password": "ana-password-123"})
	if a.status != http.StatusCreated {
		t.Fatalf("create user: %d %s", a.status, a.body)
	}
	var user struct {
		ID string `json:"id"`
	}
	a.decode(t, &user)
	if a := call(t, r2.URL, admin, http.MethodPost, "/api/admin/permissions", map[string]any{"user_id": user.ID, "dataset": "shared_t"}); a.status >= 300 {
		t.Fatalf("grant: %d %s", a.status, a.body)
	}
	ana := login(t, r3.URL, "ana@example.com", "ana-password-123")
	for _, r := range s.Replicas {
		waitFor(t, 10*time.Second, "the grant to work on "+r.ID, func() bool {
			n, _ := count(t, r.URL, ana, "shared_t")
			return n == 70
		})
	}
	a = call(t, r3.URL, admin, http.MethodDelete, "/api/admin/permissions", map[string]any{"user_id": user.ID, "dataset": "shared_t"})
	if a.status >= 300 {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	for _, r := range s.Replicas {
		if n, a := count(t, r.URL, ana, "shared_t"); n >= 0 || a.status < 400 {
			t.Fatalf("the revoked grant still works on %s: %d %s", r.ID, a.status, a.body)
		}
	}
	// Deactivating the user through r1 ends her sign-in on every replica at once.
	if a := call(t, r1.URL, admin, http.MethodPost, "/api/admin/permissions", map[string]any{"user_id": user.ID, "dataset": "shared_t"}); a.status >= 300 {
		t.Fatalf("grant again: %d %s", a.status, a.body)
	}
	for _, r := range s.Replicas {
		if a := call(t, r.URL, ana, http.MethodGet, "/api/tokens", nil); a.status != http.StatusOK {
			t.Fatalf("ana on %s before deactivation: %d %s", r.ID, a.status, a.body)
		}
	}
	if a := call(t, r1.URL, admin, http.MethodPatch, "/api/users/"+user.ID, map[string]any{"active": false}); a.status != http.StatusOK {
		t.Fatalf("deactivate: %d %s", a.status, a.body)
	}
	for _, r := range s.Replicas {
		if a := call(t, r.URL, ana, http.MethodGet, "/api/tokens", nil); a.status != http.StatusUnauthorized {
			t.Fatalf("a deactivated user on %s: %d %s", r.ID, a.status, a.body)
		}
	}

	// Revoking the personal access token through r2 ends it on every replica at once.
	a = call(t, r2.URL, admin, http.MethodGet, "/api/tokens", nil)
	var toks struct {
		Tokens []struct {
			ID string `json:"id"`
		} `json:"tokens"`
	}
	a.decode(t, &toks)
	if len(toks.Tokens) != 1 {
		t.Fatalf("tokens: %s", a.body)
	}
	if a := call(t, r2.URL, admin, http.MethodDelete, "/api/tokens/"+toks.Tokens[0].ID, nil); a.status >= 300 {
		t.Fatalf("revoke token: %d %s", a.status, a.body)
	}
	for _, r := range s.Replicas {
		if a := call(t, r.URL, pat.Token, http.MethodGet, "/api/tokens", nil); a.status != http.StatusUnauthorized {
			t.Fatalf("a revoked token on %s: %d %s", r.ID, a.status, a.body)
		}
	}

	// Requests through the round-robin proxy reach all three and agree.
	for i := 0; i < 6; i++ {
		if n, a := count(t, s.Proxy.URL, admin, "shared_t"); n != 70 {
			t.Fatalf("through the proxy: %d %s", a.status, a.body)
		}
	}

	// A scheduled sync runs exactly once per tick across the three.
	if a := call(t, s.Proxy.URL, admin, http.MethodPut, "/api/admin/registry/shared_t", map[string]any{"sync_schedule": "@every 2s"}); a.status != http.StatusOK {
		t.Fatalf("set schedule: %d %s", a.status, a.body)
	}
	waitFor(t, 30*time.Second, "four scheduled syncs", func() bool { return len(scheduledJobs(t, db)) >= 4 })
	leader := checkScheduled(t, db)
	var lead *Replica
	for _, r := range s.Replicas {
		if r.ID == leader {
			lead = r
		}
		if h, ok := getHealth(t, r.URL, admin); !ok || h.Replica.Leader != leader || h.Replica.IsLeader != (r.ID == leader) {
			t.Fatalf("health of %s names leader %q (is_leader %v); the jobs ran on %s", r.ID, h.Replica.Leader, h.Replica.IsLeader, leader)
		}
	}
	if lead == nil {
		t.Fatalf("the scheduled jobs ran on %q, which is no replica", leader)
	}

	// kill -9 of the leader: another leader within 15 s, and no job lost or doubled. A job
	// the leader was in the middle of is left "running" by the kill; one is put on record
	// as the leader's, as its sync would have left it, so that the takeover always has one.
	now := time.Now().UTC()
	if _, err := db.Exec(`INSERT INTO sync_jobs (id, trigger_kind, status, created_at, started_at, tables)
		VALUES ('interrupted-job', 'schedule', 'running', $1, $1, '[{"id":"shared_t","name":"shared_t","source_type":"upload","state":"extracting","rows":0}]')`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO sync_job_owners (job_id, replica_id) VALUES ('interrupted-job', $1)`, leader); err != nil {
		t.Fatal(err)
	}
	lead.kill()
	killed := time.Now()
	var survivor *Replica
	for _, r := range s.Replicas {
		if r != lead {
			survivor = r
		}
	}
	var next string
	waitFor(t, 30*time.Second, "a new leader", func() bool {
		for _, r := range s.Replicas {
			if r == lead {
				continue
			}
			if h, ok := getHealth(t, r.URL, admin); ok && h.Replica.IsLeader {
				next = r.ID
				return true
			}
		}
		return false
	})
	if took := time.Since(killed); took > 15*time.Second {
		t.Fatalf("a new leader took %s after the kill, want at most 15 s", took)
	}
	if next == leader {
		t.Fatalf("the killed replica %s still leads", leader)
	}
	// The interrupted job is marked failed and its table synced again (by a retry job, or by
	// a job it was already queued in).
	waitFor(t, 60*time.Second, "the interrupted job to be failed and its table synced again", func() bool {
		var status string
		var finished sql.NullTime
		if err := db.QueryRow(`SELECT status, finished_at FROM sync_jobs WHERE id = 'interrupted-job'`).Scan(&status, &finished); err != nil {
			t.Fatal(err)
		}
		if status != "failed" || !finished.Valid {
			return false
		}
		var again int
		_ = db.QueryRow(`SELECT count(*) FROM sync_jobs WHERE status = 'done' AND finished_at > $1 AND tables LIKE '%"id":"shared_t"%'`,
			finished.Time).Scan(&again)
		return again >= 1
	})
	// The schedule goes on from the new leader, still once per tick.
	before := len(scheduledJobs(t, db))
	waitFor(t, 30*time.Second, "scheduled syncs from the new leader", func() bool { return len(scheduledJobs(t, db)) >= before+3 })
	jobs := scheduledJobs(t, db)
	if last := jobs[len(jobs)-1]; last.owner != next {
		t.Fatalf("the last scheduled sync ran on %s, the new leader is %s", last.owner, next)
	}
	checkNoOverlap(t, db, killed)
	var unfinished int
	if err := db.QueryRow(`SELECT count(*) FROM sync_jobs j JOIN sync_job_owners o ON o.job_id = j.id
		WHERE o.replica_id = $1 AND j.status IN ('queued', 'running')`, leader).Scan(&unfinished); err != nil {
		t.Fatal(err)
	}
	if unfinished != 0 {
		t.Fatalf("%d jobs of the killed leader are still unfinished", unfinished)
	}
	if n, a := count(t, survivor.URL, admin, "shared_t"); n != 70 {
		t.Fatalf("after the failover: %d %s", a.status, a.body)
	}
}

type job struct {
	id, owner         string
	created           time.Time
	started, finished sql.NullTime
	status            string
}

// scheduledJobs are the scheduled sync jobs on record, oldest first.
func scheduledJobs(t *testing.T, db *sql.DB) []job {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT j.id, coalesce(o.replica_id, ''), j.created_at, j.started_at,
		j.finished_at, j.status FROM sync_jobs j LEFT JOIN sync_job_owners o ON o.job_id = j.id
		WHERE j.trigger_kind = 'schedule' AND j.id <> 'interrupted-job' ORDER BY j.created_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []job
	for rows.Next() {
		var j job
		if err := rows.Scan(&j.id, &j.owner, &j.created, &j.started, &j.finished, &j.status); err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

// checkScheduled checks that every scheduled job so far ran on one replica, one per tick
// (ticks are 2 s apart; two leaders would start two jobs on the same tick), and returns it.
func checkScheduled(t *testing.T, db *sql.DB) string {
	t.Helper()
	jobs := scheduledJobs(t, db)
	owner := jobs[0].owner
	for i, j := range jobs {
		if j.owner != owner {
			t.Fatalf("scheduled jobs ran on %s and on %s", owner, j.owner)
		}
		if i > 0 && j.created.Sub(jobs[i-1].created) < time.Second {
			t.Fatalf("two scheduled jobs on one tick: %s at %s and %s at %s", jobs[i-1].id, jobs[i-1].created, j.id, j.created)
		}
	}
	return owner
}

// checkNoOverlap checks that no job was lost or doubled: a job the killed leader left with
// tables unfinished was retried at most once (not once per surviving replica), and the table
// was synced again after the kill.
func checkNoOverlap(t *testing.T, db *sql.DB, killed time.Time) {
	t.Helper()
	var orphans, retries, after int
	if err := db.QueryRow(`SELECT count(*) FROM sync_jobs WHERE error = 'interrupted: the replica running it stopped'
		AND tables LIKE '%"reason":"interrupted: the replica running it stopped"%'`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sync_jobs WHERE trigger_kind = 'retry'`).Scan(&retries); err != nil {
		t.Fatal(err)
	}
	if orphans < 1 || retries > orphans {
		t.Fatalf("%d interrupted jobs with unfinished tables and %d retries, want at most one retry for each", orphans, retries)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sync_jobs WHERE status = 'done' AND started_at > $1`, killed.UTC()).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after == 0 {
		t.Fatal("no sync finished after the kill")
	}
}
