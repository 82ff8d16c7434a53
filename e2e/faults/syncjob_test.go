package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// syncJob is the part of GET /api/sync/jobs/{id} the test reads.
type syncJob struct {
	ID     string `json:"job_id"`
	Status string `json:"status"`
	Error  string `json:"error"`
	Tables []struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"tables"`
}

func getSyncJob(t *testing.T, in *Instance, id string) (int, syncJob) {
	t.Helper()
	a := call(t, in, http.MethodGet, "/api/sync/jobs/"+id, "", nil)
	var j syncJob
	if a.status == http.StatusOK {
		if err := json.Unmarshal([]byte(a.body), &j); err != nil {
			t.Fatalf("sync job: %v: %s", err, a.body)
		}
	}
	return a.status, j
}

// kill -9 while a sync job runs: after the restart the job still answers, as failed because
// the restart interrupted it, instead of a 404; a job that finished before stays as it was.
func TestSyncJobSurvivesKill(t *testing.T) {
	in := newInstance(t)
	in.StartReady()
	var ids []string
	for i := range 16 {
		name := fmt.Sprintf("sync_me_%02d", i)
		if a := uploadCSV(t, in, name, 2000); a.status != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", name, a.status, a.body)
		}
		ids = append(ids, `"`+name+`"`)
	}
	body := `{"tables": [` + strings.Join(ids, ", ") + `]}`
	trigger := func() string {
		a := call(t, in, http.MethodPost, "/api/sync/trigger", "application/json", strings.NewReader(body))
		var out struct {
			JobID string `json:"job_id"`
		}
		if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &out) != nil || out.JobID == "" {
			t.Fatalf("trigger: %d %s", a.status, a.body)
		}
		return out.JobID
	}
	// A job that finishes is kept as it was.
	finished := trigger()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, j := getSyncJob(t, in, finished); j.Status == "done" || j.Status == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first sync job did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, before := getSyncJob(t, in, finished)

	// The job to interrupt: kill the server as soon as it runs. A job quick enough to finish
	// first is retried.
	var cut string
	for attempt := 0; attempt < 5 && cut == ""; attempt++ {
		id := trigger()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			_, j := getSyncJob(t, in, id)
			if j.Status == "running" {
				in.Kill()
				cut = id
				break
			}
			if j.Status == "done" || j.Status == "failed" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if cut == "" {
		t.Skip("every sync job finished before it could be killed; nothing to check")
	}
	checkDBOpens(t, in.DataDir)
	in.StartReady()
	status, j := getSyncJob(t, in, cut)
	if status != http.StatusOK {
		t.Fatalf("GET the interrupted job after the restart: %d, want 200", status)
	}
	if j.Status != "failed" || !strings.Contains(j.Error, "interrupted by a server restart") {
		t.Errorf("interrupted job = %+v, want failed: interrupted by a server restart", j)
	}
	for _, tb := range j.Tables {
		if tb.State != "done" && (tb.State != "failed" || tb.Reason == "") {
			t.Errorf("table %s of the interrupted job is %q (%q), want done or failed with a reason", tb.ID, tb.State, tb.Reason)
		}
	}
	if _, after := getSyncJob(t, in, finished); after.Status != before.Status || len(after.Tables) != len(before.Tables) {
		t.Errorf("the finished job changed across the restart: %+v -> %+v", before, after)
	}
	// The restarted server syncs again.
	again := trigger()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, j := getSyncJob(t, in, again); j.Status == "done" {
			break
		} else if j.Status == "failed" {
			t.Fatalf("sync after the restart failed: %+v", j)
		}
		if time.Now().After(deadline) {
			t.Fatal("the sync after the restart did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
