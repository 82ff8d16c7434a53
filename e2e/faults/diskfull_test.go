package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size at dir for the test and unmounts it at the end, after
// stop. It skips the test when it cannot (not root, or no mount permission).
func mountTmpfs(t *testing.T, dir, size string, stop func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the full-disk test mounts a small tmpfs and needs root; run it as root (CI does)")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs at %s (%v: %s); the full-disk test needs it", dir, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		stop()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; detaching it lazily", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fillDisk writes zeros to path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if f == nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// answer is a status and body of one raw request.
type answer struct {
	status int
	body   string
}

func (a answer) detail() string {
	var d struct{ Detail any }
	_ = json.Unmarshal([]byte(a.body), &d)
	return fmt.Sprint(d.Detail)
}

// call sends one request as the seeded admin and returns its answer.
func call(t *testing.T, in *Instance, method, path, ctype string, body io.Reader) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, in.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+in.Token())
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(data)}
}

// uploadCSV uploads a small CSV of rows rows as table name.
func uploadCSV(t *testing.T, in *Instance, name string, rows int) answer {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("name", name)
	fw, _ := mw.CreateFormFile("file", name+".csv")
	fmt.Fprintln(fw, "id,label")
	for i := range rows {
		fmt.Fprintf(fw, "%d,label-%d\n", i, i)
	}
	_ = mw.Close()
	return call(t, in, http.MethodPost, "/api/upload/table", mw.FormDataContentType(), &b)
}

// healthStatus is GET /api/health's overall status.
func healthStatus(t *testing.T, in *Instance) string {
	t.Helper()
	resp, err := http.Get(in.URL() + "/api/health")
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	defer resp.Body.Close()
	var h struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("health: %v", err)
	}
	return h.Status
}

// waitHealth polls health until cond holds (the probe's answer is cached for a few seconds).
func waitHealth(t *testing.T, in *Instance, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if last = healthStatus(t, in); cond(last) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("health never became %s (last %q)", what, last)
}

// A real server on a real, small file system: once the disk is full, uploads and other writes
// answer 507 in plain words (no server path) and health is unhealthy; once space is freed,
// writes and health recover without a restart.
func TestFullDiskAnswers507AndRecovers(t *testing.T) {
	in := newInstance(t)
	mountTmpfs(t, in.DataDir, "16m", func() {
		if in.Running() {
			in.Kill()
		}
	})
	in.StartReady()
	if a := uploadCSV(t, in, "before_full", 100); a.status != http.StatusCreated {
		t.Fatalf("upload with free space: %d %s", a.status, a.body)
	}
	if st := healthStatus(t, in); st == "unhealthy" {
		t.Fatalf("health with free space is %s", st)
	}

	filler := filepath.Join(in.DataDir, "filler")
	fillDisk(t, filler)
	waitHealth(t, in, "unhealthy", func(s string) bool { return s == "unhealthy" })
	if resp, err := http.Get(in.URL() + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with a full disk: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	a := uploadCSV(t, in, "while_full", 100)
	if a.status != http.StatusInsufficientStorage || !strings.HasPrefix(a.detail(), "The server's disk is") {
		t.Errorf("upload on a full disk: %d %s, want 507 saying the disk is full", a.status, a.body)
	}
	if strings.Contains(a.body, in.DataDir) {
		t.Errorf("the 507 shows a server path: %s", a.body)
	}
	// Writes to the system database: each is saved or refused with 507, never a 500 or a 4xx
	// that blames the request, and the disk being full shows within a few of them.
	refused := 0
	for i := range 30 {
		body := fmt.Sprintf(`{"email":"full-%d@example.com","name":"Full %d","role":"viewer","password":"password-%d"}`, i, i, i)
		a := call(t, in, http.MethodPost, "/api/users", "application/json", strings.NewReader(body))
		switch a.status {
		case http.StatusCreated:
		case http.StatusInsufficientStorage:
			refused++
			if strings.Contains(a.body, in.DataDir) {
				t.Errorf("the 507 shows a server path: %s", a.body)
			}
		default:
			t.Fatalf("creating a user on a full disk: %d %s, want 201 or 507", a.status, a.body)
		}
		if refused >= 3 {
			break
		}
	}
	if refused == 0 {
		t.Error("30 user creations on a full disk all succeeded; none answered 507")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, in, "healthy or degraded", func(s string) bool { return s != "unhealthy" })
	if a := uploadCSV(t, in, "after_full", 100); a.status != http.StatusCreated {
		t.Errorf("upload after space was freed: %d %s", a.status, a.body)
	}
	a = call(t, in, http.MethodPost, "/api/users", "application/json",
		strings.NewReader(`{"email":"after@example.com","name":"After","role":"viewer","password":"password-after"}`))
	if a.status != http.StatusCreated {
		t.Errorf("creating a user after space was freed: %d %s", a.status, a.body)
	}
	if resp, err := http.Get(in.URL() + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("readyz after space was freed: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if !in.Running() || in.Runs() != 1 {
		t.Errorf("the server did not keep running through the full disk (running %v, runs %d)", in.Running(), in.Runs())
	}
	q, err := in.Client().Query(context.Background(), `SELECT count(*) FROM after_full`, 0)
	if err != nil || fmt.Sprint(q.Rows[0][0]) != "100" {
		t.Errorf("the upload after recovery is not served: %v %v", q, err)
	}
}
