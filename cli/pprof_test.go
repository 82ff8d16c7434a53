package cli

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestPprofListener checks that DA_PPROF_ADDR is off when empty, refuses addresses other
// machines could reach, and serves the profiles on a loopback address.
func TestPprofListener(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	stop, err := startPprof("", log)
	if err != nil {
		t.Fatalf("empty address: %v", err)
	}
	stop()
	for _, addr := range []string{":6060", "0.0.0.0:6060", "192.0.2.1:6060", "example.com:6060", "6060"} {
		if _, err := startPprof(addr, log); err == nil || !strings.Contains(err.Error(), "DA_PPROF_ADDR") {
			t.Errorf("%q: accepted or unclear error: %v", addr, err)
		}
	}
	// Port 0 is not reported back; find a free loopback port first.
	addr := freeLoopback(t)
	stop, err = startPprof(addr, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
