package handlers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"da/auth"
)

// cutOffBound is how long a test waits for the server to cut a client off. It is many times
// the deadlines the tests configure (about a second), so that it only fails when the
// server never cuts the client off.
const cutOffBound = 30 * time.Second

// netEnv is a test server listening on loopback through NewHTTPServer and
// LimitConnsPerAddr, as `da serve` does, with short deadlines.
type netEnv struct {
	*testEnv
	addr string
}

func newNetEnv(t *testing.T, maxConns int) *netEnv {
	t.Helper()
	env := newTestEnv(t)
	h := &env.srv.cfg.HTTP
	h.HeaderTimeout, h.BodyTimeout = time.Second, time.Second
	h.MinRate, h.RateWindow = 64<<10, time.Second
	srv := NewHTTPServer(env.srv.cfg, env.e, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(LimitConnsPerAddr(ln, maxConns)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &netEnv{testEnv: env, addr: ln.Addr().String()}
}

// dial opens a raw connection; rcvBuf > 0 shrinks its receive buffer, so that a client that
// does not read stops the server's writes early.
func (n *netEnv) dial(t *testing.T, rcvBuf int) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// trickle writes p one byte at a time, every interval, until a write fails or stop closes.
func trickle(c net.Conn, p []byte, interval time.Duration, stop <-chan struct{}) {
	for i := range p {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		if _, err := c.Write(p[i : i+1]); err != nil {
			return
		}
	}
}

// awaitCutOff reads what the server sends until it closes the connection and returns it;
// it fails the test when the connection is still open after cutOffBound.
func awaitCutOff(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(cutOffBound))
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server did not cut the client off within %s (got %q)", cutOffBound, buf.String())
	}
	return buf.String()
}

// TestSlowJSONBodyIsCutOff: a client that sends a small JSON body a byte at a time gets a 408
// and loses the connection once the body deadline passes, without a sign-in attempt.
func TestSlowJSONBodyIsCutOff(t *testing.T) {
	n := newNetEnv(t, 0)
	body := `{"email":"analyst@example.com","password":"` + testPassword + `"}`
	c := n.dial(t, 0)
	fmt.Fprintf(c, "POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, []byte(body), 200*time.Millisecond, stop)
	got := awaitCutOff(t, c)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, "not received in time") {
		t.Fatalf("slow body: got %q, want a 408", got)
	}
	// The same body sent at once still signs in, on the same server.
	c2 := n.dial(t, 0)
	fmt.Fprintf(c2, "POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if got := awaitCutOff(t, c2); !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.Contains(got, "access_token") {
		t.Fatalf("fast body: got %.300q, want 200 with a token", got)
	}
}

// TestSlowHeadersAreCutOff: a client that never finishes its headers loses the connection
// once the header deadline passes.
func TestSlowHeadersAreCutOff(t *testing.T) {
	n := newNetEnv(t, 0)
	c := n.dial(t, 0)
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, []byte("GET /api/health HTTP/1.1\r\nHost: x\r\nX-Padding: "+strings.Repeat("a", 1000)), 100*time.Millisecond, stop)
	if got := awaitCutOff(t, c); strings.Contains(got, "200 OK") {
		t.Fatalf("a request whose headers never ended was answered: %q", got)
	}
}

// uploadBody is a multipart upload of a small CSV as table name.
func uploadBody(t *testing.T, name string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("name", name)
	fw, err := mw.CreateFormFile("file", name+".csv")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(fw, "id,label\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(fw, "%d,row %d\n", i, i)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.Bytes()
}

// TestSlowUploadIsCutOff: an upload sent far below the minimum rate is cut off and leaves
// no spool behind; the same upload at full speed is accepted.
func TestSlowUploadIsCutOff(t *testing.T) {
	n := newNetEnv(t, 0)
	ctype, body := uploadBody(t, "slow_upload")
	c := n.dial(t, 0)
	fmt.Fprintf(c, "POST /api/upload/table HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		n.tokens[auth.RoleAnalyst], ctype, len(body))
	// Headers and the first part at once, then a trickle: about 50 bytes/s against 64 KiB/s.
	head := 400
	if _, err := c.Write(body[:head]); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, body[head:], 20*time.Millisecond, stop)
	got := awaitCutOff(t, c)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Fatalf("slow upload: got %q, want a 408", got)
	}
	spools, _ := filepath.Glob(filepath.Join(n.srv.cfg.DataDir, "tmp", "upload-*"))
	staged, _ := filepath.Glob(filepath.Join(n.srv.cfg.DataDir, "extracts", "uploads", ".upload-*"))
	spools = append(spools, staged...)
	if len(spools) > 0 {
		t.Fatalf("the cut-off upload left its spool: %v", spools)
	}
	if _, err := n.store.GetTable(t.Context(), "slow_upload"); err == nil {
		t.Fatal("the cut-off upload registered a table")
	}

	c2 := n.dial(t, 0)
	fmt.Fprintf(c2, "POST /api/upload/table HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		n.tokens[auth.RoleAnalyst], ctype, len(body), body)
	if got := awaitCutOff(t, c2); !strings.HasPrefix(got, "HTTP/1.1 201 ") {
		t.Fatalf("full-speed upload: got %.300q, want 201", got)
	}
}

// TestNonReadingDownloadIsCutOff: a client that requests a table file and reads nothing is
// cut off once it falls below the minimum rate, instead of holding the file open.
func TestNonReadingDownloadIsCutOff(t *testing.T) {
	n := newNetEnv(t, 0)
	// About 20 MB of incompressible text: far more than the socket buffers hold.
	n.addTables("fixtures", fxTable{name: "wide", public: true,
		query: "SELECT range AS id, md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS a FROM range(300000)"})
	fi, err := os.Stat(filepath.Join(n.srv.cfg.DataDir, "extracts", "fixtures", "data", "wide.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	c := n.dial(t, 4096)
	fmt.Fprintf(c, "GET /api/data/wide/download HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", n.tokens[auth.RoleAnalyst])
	// Read nothing for several windows, then everything that is still coming.
	time.Sleep(5 * time.Second)
	got := awaitCutOff(t, c)
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("download: got %.200q", got)
	}
	if int64(len(got)) >= fi.Size() {
		t.Fatalf("the client that did not read got the whole file (%d of %d bytes): it was never cut off", len(got), fi.Size())
	}

	// A client that reads gets the whole file, through the same limits.
	req, _ := http.NewRequest("GET", "http://"+n.addr+"/api/data/wide/download", nil)
	req.Header.Set("Authorization", "Bearer "+n.tokens[auth.RoleAnalyst])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, err := io.Copy(io.Discard, resp.Body)
	if err != nil || m != fi.Size() {
		t.Fatalf("reading client: %d of %d bytes, %v", m, fi.Size(), err)
	}
}

// TestConnectionCapPerAddress: past the cap, a new connection from the same address gets a
// 429 at once; closing one of the open connections makes room again.
func TestConnectionCapPerAddress(t *testing.T) {
	n := newNetEnv(t, 3)
	n.srv.cfg.HTTP.HeaderTimeout = time.Minute
	get := func(c net.Conn) string {
		t.Helper()
		fmt.Fprint(c, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(cutOffBound))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	var open []net.Conn
	for i := 0; i < 3; i++ {
		c := n.dial(t, 0)
		if got := get(c); !strings.HasPrefix(got, "200") {
			t.Fatalf("connection %d under the cap: %s", i+1, got)
		}
		open = append(open, c) // kept alive, idle
	}
	over := n.dial(t, 0)
	if got := get(over); !strings.HasPrefix(got, "429") || !strings.Contains(got, `"detail"`) {
		t.Fatalf("connection over the cap: %s, want 429 {detail}", got)
	}
	_ = open[0].Close()
	deadline := time.Now().Add(cutOffBound)
	for {
		got := get(n.dial(t, 0))
		if strings.HasPrefix(got, "200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after closing a connection: %s", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowServerIsNotCutOff: only time spent waiting on the client counts against the rate.
// A response produced slowly (rows of a long query, say) and a body consumed slowly, each
// taking several windows, reach a client that keeps up.
func TestSlowServerIsNotCutOff(t *testing.T) {
	env := newTestEnv(t)
	h := &env.srv.cfg.HTTP
	h.BodyTimeout, h.MinRate, h.RateWindow = time.Second, 64<<10, time.Second
	e := echo.New()
	e.Pre(env.srv.deadlines)
	e.GET("/produce", func(c echo.Context) error {
		c.Response().WriteHeader(http.StatusOK)
		for i := 0; i < 30; i++ {
			if _, err := c.Response().Write(bytes.Repeat([]byte{'x'}, 100)); err != nil {
				return err
			}
			c.Response().Flush()
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	e.POST("/consume", env.srv.streamBody(func(c echo.Context) error {
		buf := make([]byte, 1024)
		var n int
		for {
			m, err := c.Request().Body.Read(buf)
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return c.String(http.StatusOK, fmt.Sprint(n))
	}))
	srv := httptest.NewServer(e)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/produce")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(b) != 3000 {
		t.Fatalf("slowly produced response: %d of 3000 bytes, %v", len(b), err)
	}
	resp, err = http.Post(srv.URL+"/consume", "application/octet-stream", bytes.NewReader(make([]byte, 30<<10)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != fmt.Sprint(30<<10) {
		t.Fatalf("slowly consumed body: %d %s", resp.StatusCode, b)
	}
}
