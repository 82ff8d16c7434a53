package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// archivePrefix and archiveSuffix frame the names WriteRotated gives archives.
const (
	archivePrefix = "da-backup-"
	archiveSuffix = ".tar.gz"
)

// WriteRotated writes the archive that produce streams into dir as
// da-backup-<UTC time>.tar.gz (written under a temporary name, verified, then renamed) and
// then removes the oldest such archives so that keep remain. It returns the new archive's
// path. Files in dir with other names are never touched.
func WriteRotated(ctx context.Context, dir string, keep int, now time.Time, produce func(w io.Writer) error) (string, error) {
	if keep < 1 {
		return "", fmt.Errorf("backup: keep must be at least 1, not %d", keep)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	final := filepath.Join(dir, archivePrefix+now.UTC().Format("20060102-150405")+archiveSuffix)
	if _, err := os.Stat(final); err == nil {
		return "", fmt.Errorf("backup: %s already exists", final)
	}
	f, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = produce(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	r, err := os.Open(tmp)
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	_, err = Verify(r)
	_ = r.Close()
	if err != nil {
		return "", fmt.Errorf("backup: the archive just written does not verify: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	syncDir(dir)
	return final, prune(dir, keep)
}

// prune removes the oldest archives of dir beyond keep.
func prune(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, archivePrefix) && strings.HasSuffix(n, archiveSuffix) {
			names = append(names, n)
		}
	}
	sort.Strings(names) // the UTC time in the name sorts chronologically
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return fmt.Errorf("backup: remove an old archive: %w", err)
		}
		names = names[1:]
	}
	return nil
}
