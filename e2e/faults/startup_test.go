package faults

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startFractions place kills across a start: fractions of the time a fresh start takes to
// get its system database open and migrated (measured once, as it varies with the load).
var startFractions = []float64{0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.3}

var (
	calibrateOnce sync.Once
	migratedAfter time.Duration
)

// timeToMigrated measures how long a fresh start takes to log its first line after the
// system database is open and migrated.
func timeToMigrated(t *testing.T) time.Duration {
	calibrateOnce.Do(func() {
		in := newInstance(t)
		start := time.Now()
		in.Start()
		if !in.WaitLog("seeded admin user", readyTimeout) {
			t.Fatalf("the server did not get past migrating:\n%s", tail(in.lastLog(), 2000))
		}
		migratedAfter = time.Since(start)
		in.Kill()
	})
	return migratedAfter
}

// killMoment is one moment of a start at which the process is killed.
type killMoment struct {
	name string
	kill func(t *testing.T, in *Instance)
}

// startMoments are startFractions of timeToMigrated, then right after migrating (the first
// log line written after the system database is open), then right after the first /readyz.
func startMoments(t *testing.T) []killMoment {
	base := timeToMigrated(t)
	var ms []killMoment
	for _, f := range startFractions {
		d := time.Duration(f * float64(base))
		ms = append(ms, killMoment{fmt.Sprintf("at %.1fx the time to migrate", f), func(t *testing.T, in *Instance) {
			in.Start()
			time.Sleep(d)
			in.Kill()
		}})
	}
	ms = append(ms,
		killMoment{"right after migration", func(t *testing.T, in *Instance) {
			in.Start()
			if !in.WaitLog("seeded admin user", readyTimeout) {
				t.Fatalf("the server did not get past migrating:\n%s", tail(in.lastLog(), 2000))
			}
			in.Kill()
		}},
		killMoment{"right after readyz", func(t *testing.T, in *Instance) {
			in.StartReady()
			in.Kill()
		}})
	all := ms
	// Later rounds shift the timed kills by up to a tenth of the time to migrate.
	for r := 2; r <= rounds(); r++ {
		for _, f := range startFractions {
			d := time.Duration(f*float64(base)) + rand.N(base/10+1)
			all = append(all, killMoment{fmt.Sprintf("at %s, round %d", d.Round(time.Millisecond), r), func(t *testing.T, in *Instance) {
				in.Start()
				time.Sleep(d)
				in.Kill()
			}})
		}
		for _, m := range ms[len(startFractions):] {
			m.name = fmt.Sprintf("%s, round %d", m.name, r)
			all = append(all, m)
		}
	}
	return all
}

// rounds is how many times each kill moment is tried: FAULTS_ROUNDS, default 1 (a soak run
// sets more).
func rounds() int {
	if n, err := strconv.Atoi(os.Getenv("FAULTS_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// TestKillAtFreshStart kills fresh instances at several moments of their first start; every
// restart must come up with a consistent state and no temporary data.
func TestKillAtFreshStart(t *testing.T) {
	t.Parallel()
	failed, tried := 0, 0
	for _, m := range startMoments(t) {
		t.Run(m.name, func(t *testing.T) {
			tried++
			in := newInstance(t)
			m.kill(t, in)
			in.Start()
			if err := in.WaitReady(); err != nil {
				failed++
				t.Fatalf("restart after kill -9: %v", err)
			}
			checkNoTemp(t, in.DataDir)
			checkConsistent(t, in, &Ledger{})
		})
	}
	t.Logf("fresh starts killed that did not restart: %d/%d", failed, tried)
}

// TestKillAtUpgrade starts the new da on a database of the original system (schema
// version 3, with a user) and kills it at several moments of the upgrade; every restart must
// come up migrated, with the old user.
func TestKillAtUpgrade(t *testing.T) {
	t.Parallel()
	failed, tried := 0, 0
	for _, m := range startMoments(t) {
		t.Run(m.name, func(t *testing.T) {
			tried++
			in := newInstance(t)
			writeOriginalV3(t, filepath.Join(in.DataDir, "state", "system.duckdb"))
			m.kill(t, in)
			in.Start()
			if err := in.WaitReady(); err != nil {
				failed++
				t.Fatalf("restart after kill -9: %v", err)
			}
			checkNoTemp(t, in.DataDir)
			checkConsistent(t, in, &Ledger{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			users, err := in.Client().ListUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, u := range users {
				found = found || u.Email == "old@example.com"
			}
			if !found {
				t.Errorf("the user of the original database is gone: %+v", users)
			}
		})
	}
	t.Logf("upgrades killed that did not restart: %d/%d", failed, tried)
}

// writeOriginalV3 creates a database as the original system left it: its schema
// (store/migrations/0003_original_schema.sql is kept identical to it), version 3 and a user.
func writeOriginalV3(t *testing.T, path string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ddl, err := os.ReadFile(filepath.Join(root, "store", "migrations", "0003_original_schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lines []string
	for _, l := range strings.Split(string(ddl), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	stmts := strings.Split(strings.Join(lines, "\n"), ";")
	stmts = append(stmts, "INSERT INTO schema_version (version) VALUES (3)",
		"INSERT INTO users (id, email, name, role) VALUES ('u-old', 'old@example.com', 'Old', 'analyst')")
	for _, q := range stmts {
		if strings.TrimSpace(q) == "" {
			continue
		}
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("original schema: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
