// Package backup writes and restores one-file archives of a data directory: a consistent
// snapshot of the system database, the extracts, the knowledge files and the generated
// secrets, with a manifest that lists every file with its size and SHA-256.
//
// An archive is a gzip-compressed tar. Its first entry is manifest.json; every other entry
// is files/<path relative to DATA_DIR>. The analytics database and temporary files are left
// out: the server rebuilds the analytics database from the extracts when it starts.
package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"da/store"
)

// Format names the archive format in the manifest; FormatVersion is its version.
const (
	Format        = "da-backup"
	FormatVersion = 1
	// ManifestName is the archive's first entry.
	ManifestName = "manifest.json"
	// filesPrefix starts the name of every data entry.
	filesPrefix = "files/"
	// SystemDB is the system database's path relative to DATA_DIR.
	SystemDB = "state/system.duckdb"
)

// Manifest describes an archive.
type Manifest struct {
	Format        string    `json:"format"`
	FormatVersion int       `json:"format_version"`
	SchemaVersion int       `json:"schema_version"`
	DAVersion     string    `json:"da_version"`
	StateBackend  string    `json:"state_backend"`
	CreatedAt     time.Time `json:"created_at"`
	// Consistent says the snapshot was taken with uploads, syncs and deletes held off (or
	// with the server stopped).
	Consistent bool   `json:"consistent"`
	Files      []File `json:"files"`
	// TotalBytes is the sum of the files' sizes.
	TotalBytes int64 `json:"total_bytes"`
	// FrozenMillis is how long uploads, syncs and deletes were held off.
	FrozenMillis int64 `json:"frozen_ms"`
}

// File is one file of the archive.
type File struct {
	Path   string `json:"path"` // relative to DATA_DIR, with forward slashes
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Source is the data directory to back up.
type Source struct {
	DataDir string
	// Store is the open system database; its snapshot is taken with SnapshotTo.
	Store *store.Store
	// Freeze holds off every writer of the extracts while the files are collected (see
	// engine.Engine.FreezeWrites); nil when no server runs on DataDir.
	Freeze func(ctx context.Context) (func(), error)
	// Version is the da version written into the manifest.
	Version string
	// Now returns the creation time; nil means time.Now.
	Now func() time.Time
}

// skipTop are the top-level entries of DATA_DIR that are never archived: temporary files,
// the analytics database (rebuilt from the extracts at start) and archives themselves.
var skipTop = map[string]bool{"tmp": true, "analytics": true, "backups": true}

// included reports whether rel (slash-separated, relative to DATA_DIR) belongs in an archive.
func included(rel string) bool {
	parts := strings.Split(strings.TrimSuffix(rel, "/"), "/")
	if skipTop[parts[0]] {
		return false
	}
	for _, p := range parts {
		if strings.HasPrefix(p, ".") {
			return false // staging, temporary and restore directories
		}
	}
	if strings.HasSuffix(rel, ".wal") || rel == SystemDB {
		return false // the system database comes from its snapshot
	}
	return true
}

// Create writes an archive of src to w and returns its manifest. The collection step (the
// system database snapshot and hard links of every file, in a staging directory under
// DATA_DIR/tmp) runs with the writers frozen; hashing and compressing run after, while the
// server serves uploads again.
func Create(ctx context.Context, src Source, w io.Writer) (*Manifest, error) {
	if src.Store == nil {
		return nil, errors.New("backup: no system database")
	}
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	tmpRoot := filepath.Join(src.DataDir, "tmp")
	if err := os.MkdirAll(tmpRoot, 0o750); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	stage, err := os.MkdirTemp(tmpRoot, "backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(stage)

	collectStart := time.Now()
	consistent, err := collect(ctx, src, stage)
	if err != nil {
		return nil, err
	}
	frozen := time.Since(collectStart).Milliseconds()
	version, err := store.FileSchemaVersion(ctx, filepath.Join(stage, filepath.FromSlash(SystemDB)))
	if err != nil {
		return nil, fmt.Errorf("backup: read the snapshot's schema version: %w", err)
	}
	m := &Manifest{Format: Format, FormatVersion: FormatVersion, SchemaVersion: version, DAVersion: src.Version,
		StateBackend: src.Store.StateBackend(), CreatedAt: now().UTC().Truncate(time.Second), Consistent: consistent,
		FrozenMillis: frozen}
	err = filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(stage, p)
		sum, size, err := hashFile(p)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, File{Path: filepath.ToSlash(rel), Size: size, SHA256: sum})
		m.TotalBytes += size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	if err := write(ctx, w, stage, m); err != nil {
		return nil, err
	}
	return m, nil
}

// collect snapshots the system database into stage and links (or copies) every other
// archived file there, with the writers frozen.
func collect(ctx context.Context, src Source, stage string) (consistent bool, err error) {
	if src.Freeze != nil {
		unfreeze, err := src.Freeze(ctx)
		if err != nil {
			return false, fmt.Errorf("backup: waiting for running uploads and syncs: %w", err)
		}
		defer unfreeze()
	}
	if err := os.MkdirAll(filepath.Join(stage, "state"), 0o700); err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if err := src.Store.SnapshotTo(ctx, filepath.Join(stage, filepath.FromSlash(SystemDB))); err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	root := src.DataDir
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a temporary file)
			}
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if !included(rel + "/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !included(rel) {
			return nil
		}
		dst := filepath.Join(stage, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return err
		}
		// Every file under DATA_DIR is replaced by renaming a new one over it, never
		// rewritten in place, so a hard link keeps this version whatever happens next.
		if err := os.Link(p, dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err := copyFile(p, dst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("backup: collect the files: %w", err)
	}
	return true, nil
}

// write streams the archive of stage with manifest m to w.
func write(ctx context.Context, w io.Writer, stage string, m *Manifest) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(raw)), ModTime: m.CreatedAt, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	if _, err := tw.Write(raw); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := addFile(tw, filepath.Join(stage, filepath.FromSlash(f.Path)), f, m.CreatedAt); err != nil {
			return fmt.Errorf("backup: write %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	return nil
}

func addFile(tw *tar.Writer, p string, f File, mod time.Time) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	mode := int64(0o640)
	if strings.HasPrefix(f.Path, "state/") {
		mode = 0o600
	}
	if err := tw.WriteHeader(&tar.Header{Name: filesPrefix + f.Path, Mode: mode, Size: f.Size, ModTime: mod, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	n, err := io.Copy(tw, in)
	if err == nil && n != f.Size {
		err = fmt.Errorf("changed while archiving (%d bytes, expected %d)", n, f.Size)
	}
	return err
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// cleanRel checks an archive entry's path and returns it relative to DATA_DIR.
func cleanRel(name string) (string, error) {
	rel, ok := strings.CutPrefix(name, filesPrefix)
	if !ok || rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") ||
		strings.Contains(rel, "\\") || strings.Contains(rel, "\x00") {
		return "", fmt.Errorf("backup: the archive holds an unsafe entry %q", name)
	}
	return rel, nil
}
