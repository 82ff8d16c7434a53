// Package faults kills and restarts real `da serve` processes at chosen moments and checks
// that every restart succeeds and leaves a consistent instance: the system database opens,
// every acknowledged write is there with its audit row, nothing half-registered is served,
// and no temporary data remains.
package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// daBinary is the `da` built once by TestMain for every test of the package.
var daBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// FAULTS_DA_BINARY runs the suite against another build, such as a release, to compare.
	if bin := os.Getenv("FAULTS_DA_BINARY"); bin != "" {
		daBinary = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "da-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	daBinary = filepath.Join(dir, "da")
	build := exec.Command("go", "build", "-o", daBinary, ".")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: building da:", err)
		return 1
	}
	return m.Run()
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
			return "", fmt.Errorf("go.mod not found above the test directory")
		}
		dir = parent
	}
}
