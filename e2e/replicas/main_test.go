// Package replicas runs several real `da serve` processes on one throwaway PostgreSQL and one
// shared DATA_DIR, behind a round-robin reverse proxy, and checks that they act as one
// server: shared sign-in, uploads published everywhere, revocations refused everywhere at
// once, scheduled jobs run once, and a leader that dies is replaced.
package replicas

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"da/store/pgtest"
)

// daBinary is the `da` built once by TestMain for every test of the package.
var daBinary string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if bin := os.Getenv("REPLICAS_DA_BINARY"); bin != "" {
		daBinary = bin
		return pgtest.Main(m)
	}
	dir, err := os.MkdirTemp("", "da-replicas-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicas:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicas:", err)
		return 1
	}
	daBinary = filepath.Join(dir, "da")
	build := exec.Command("go", "build", "-o", daBinary, ".")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "replicas: building da:", err)
		return 1
	}
	return pgtest.Main(m)
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}
