package handlers

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"da/auth"
	"da/engine/connectors/jira/jiratest"
)

// TestJiraWebhookLoad is the sustained-load benchmark (run with JIRA_LOAD=1; JIRA_LOAD_SECONDS,
// default 120, and JIRA_LOAD_PER_MINUTE, default 1000): signed webhook events on 200 issues
// arrive at a steady rate through the full echo stack; each changes its issue's summary in
// the fake first. A reader polls POST /api/query and records when each change became
// visible. It reports p50/p99 from the webhook's answer to queryable, and fails if any event
// is never applied.
func TestJiraWebhookLoad(t *testing.T) {
	if os.Getenv("JIRA_LOAD") == "" {
		t.Skip("set JIRA_LOAD=1 to run the sustained webhook load benchmark")
	}
	seconds, perMinute := envInt("JIRA_LOAD_SECONDS", 120), envInt("JIRA_LOAD_PER_MINUTE", 1000)
	j := newJiraEnv(t, nil)
	const issues = 200
	for i := 1; i <= issues; i++ {
		ts := fmt.Sprintf("2025-%02d-10T10:00:00.000+0000", 1+i%12)
		j.fake.Put(jiratest.NewIssue("SUP-"+strconv.Itoa(i), 1000+i, ts, ts))
	}
	type change struct {
		answered time.Time
		seen     time.Duration
	}
	var mu sync.Mutex
	pending := map[string]map[int]*change{} // key -> version -> change
	var done []time.Duration
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			_, rows, _ := j.query(auth.RoleAdmin, "SELECT issue_key, summary FROM issues")
			now := time.Now()
			mu.Lock()
			for _, r := range rows {
				cells, _ := r.([]any)
				if len(cells) != 2 {
					continue
				}
				key, _ := cells[0].(string)
				sum, _ := cells[1].(string)
				v, err := strconv.Atoi(strings.TrimPrefix(sum, "v"))
				if err != nil {
					continue
				}
				for ver, c := range pending[key] {
					if ver <= v {
						done = append(done, now.Sub(c.answered))
						delete(pending[key], ver)
					}
				}
			}
			mu.Unlock()
		}
	}()
	interval := time.Minute / time.Duration(perMinute)
	total := seconds * perMinute / 60
	start := time.Now()
	var senders sync.WaitGroup
	var answers []time.Duration
	bad := 0
	for n := 1; n <= total; n++ {
		if d := time.Until(start.Add(time.Duration(n-1) * interval)); d > 0 {
			time.Sleep(d)
		}
		key := "SUP-" + strconv.Itoa(1+(n*7919)%issues)
		// Deliveries arrive at the set rate whatever the answers take, as Jira sends them.
		senders.Add(1)
		go func(n int, key string) {
			defer senders.Done()
			j.fake.Update(key, func(m map[string]any) {
				f := m["fields"].(map[string]any)
				if v, _ := strconv.Atoi(strings.TrimPrefix(fmt.Sprint(f["summary"]), "v")); v < n {
					f["summary"] = "v" + strconv.Itoa(n)
				}
				f["updated"] = time.Now().UTC().Format("2006-01-02T15:04:05.000-0700")
			})
			body := jiratest.Webhook("jira:issue_updated", map[string]any{"key": key, "fields": map[string]any{}}, nil)
			sentAt := time.Now()
			code, _ := j.post(body, map[string]string{"X-Atlassian-Webhook-Identifier": "load-" + strconv.Itoa(n)})
			answered := time.Now()
			mu.Lock()
			defer mu.Unlock()
			answers = append(answers, answered.Sub(sentAt))
			if code != 200 {
				bad++
				return
			}
			if pending[key] == nil {
				pending[key] = map[int]*change{}
			}
			pending[key][n] = &change{answered: answered}
		}(n, key)
	}
	senders.Wait()
	sent := time.Since(start)
	if bad > 0 {
		t.Fatalf("%d webhook deliveries were refused", bad)
	}
	sort.Slice(answers, func(a, b int) bool { return answers[a] < answers[b] })
	t.Logf("webhook answer time p50 %s p99 %s", answers[len(answers)/2].Round(time.Millisecond),
		answers[min(len(answers)-1, len(answers)*99/100)].Round(time.Millisecond))
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := 0
		for _, m := range pending {
			left += len(m)
		}
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	readers.Wait()
	j.idle()
	st := j.svc.Queue.Stats()
	left := 0
	for _, m := range pending {
		left += len(m)
	}
	sort.Slice(done, func(a, b int) bool { return done[a] < done[b] })
	pct := func(p float64) time.Duration {
		if len(done) == 0 {
			return 0
		}
		return done[min(len(done)-1, int(float64(len(done))*p))]
	}
	t.Logf("%d events in %s (%.0f/min) on %d issues: processed %d, failed %d, publishes %d; answer->queryable p50 %s p99 %s max %s",
		total, sent.Round(time.Second), float64(total)/sent.Minutes(), issues, st.Processed, st.Failed, st.Publishes,
		pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	if left > 0 || st.Failed > 0 || int(st.Processed)+int(st.Duplicates) < total {
		t.Fatalf("%d changes never became queryable; stats %+v", left, st)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
