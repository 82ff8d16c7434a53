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
	"os"
	"path/filepath"
	"strings"
	"time"

	"da/store"
)

// ErrInvalid marks an archive that is damaged, incomplete or not a da backup.
var ErrInvalid = errors.New("backup: invalid archive")

// ErrNewerSchema marks an archive whose system database is newer than this da.
var ErrNewerSchema = errors.New("backup: the archive's schema is newer than this da")

// ErrRunning marks a restore refused because a server holds the data directory.
var ErrRunning = errors.New("backup: the server is running")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// maxManifest bounds the manifest entry.
const maxManifest = 64 << 20

// Verify reads a whole archive and checks it without writing anything: the manifest comes
// first and is understood by this da, every listed file is there once with its size and
// SHA-256, and nothing else is.
func Verify(r io.Reader) (*Manifest, error) { return read(r, "") }

// read checks the archive from r and, when dest is not "", writes its files under dest.
func read(r io.Reader, dest string) (*Manifest, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, invalid("not a gzip file (%v)", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil {
		return nil, invalid("cannot read the first entry (%v)", err)
	}
	if hdr.Name != ManifestName {
		return nil, invalid("the first entry is %q, not %s", hdr.Name, ManifestName)
	}
	raw, err := io.ReadAll(io.LimitReader(tr, maxManifest+1))
	if err != nil || len(raw) > maxManifest {
		return nil, invalid("cannot read the manifest")
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid("the manifest is not valid JSON (%v)", err)
	}
	if err := checkManifest(&m); err != nil {
		return nil, err
	}
	want := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		if _, err := cleanRel(filesPrefix + f.Path); err != nil {
			return nil, invalid("the manifest lists an unsafe path %q", f.Path)
		}
		if _, dup := want[f.Path]; dup {
			return nil, invalid("the manifest lists %s twice", f.Path)
		}
		want[f.Path] = f
	}
	if _, ok := want[SystemDB]; !ok {
		return nil, invalid("the archive has no system database (%s)", SystemDB)
	}
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("the archive is truncated or damaged (%v)", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, invalid("unexpected entry %q of type %c", hdr.Name, hdr.Typeflag)
		}
		rel, err := cleanRel(hdr.Name)
		if err != nil {
			return nil, invalid("%v", err)
		}
		f, ok := want[rel]
		if !ok {
			return nil, invalid("%s is not in the manifest", rel)
		}
		if seen[rel] {
			return nil, invalid("%s appears twice", rel)
		}
		seen[rel] = true
		if hdr.Size != f.Size {
			return nil, invalid("%s has %d bytes, the manifest says %d", rel, hdr.Size, f.Size)
		}
		if err := readEntry(tr, dest, rel, f); err != nil {
			return nil, err
		}
	}
	for _, f := range m.Files {
		if !seen[f.Path] {
			return nil, invalid("%s is listed in the manifest but missing", f.Path)
		}
	}
	return &m, nil
}

// checkManifest refuses a manifest this da cannot restore.
func checkManifest(m *Manifest) error {
	if m.Format != Format {
		return invalid("format %q is not %s", m.Format, Format)
	}
	if m.FormatVersion < 1 || m.FormatVersion > FormatVersion {
		return invalid("archive format version %d; this da reads version %d", m.FormatVersion, FormatVersion)
	}
	// A PostgreSQL state is archived as a DuckDB snapshot too (Store.SnapshotTo), so both
	// restore as state/system.duckdb; `da admin migrate-state` moves it back to PostgreSQL.
	if m.StateBackend != store.BackendDuckDB && m.StateBackend != store.BackendPostgres {
		return invalid("state backend %q; this da restores %q and %q archives", m.StateBackend, store.BackendDuckDB, store.BackendPostgres)
	}
	if m.SchemaVersion > store.LatestVersion {
		return fmt.Errorf("%w: the archive has schema version %d and this da knows up to %d; restore it with a newer da",
			ErrNewerSchema, m.SchemaVersion, store.LatestVersion)
	}
	if m.SchemaVersion < 1 {
		return invalid("schema version %d", m.SchemaVersion)
	}
	return nil
}

// readEntry hashes one entry and, when dest is set, writes it there.
func readEntry(r io.Reader, dest, rel string, f File) error {
	h := sha256.New()
	var w io.Writer = h
	var out *os.File
	if dest != "" {
		p := filepath.Join(dest, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return err
		}
		mode := os.FileMode(0o640)
		if strings.HasPrefix(rel, "state/") {
			mode = 0o600
		}
		var err error
		if out, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode); err != nil {
			return err
		}
		defer out.Close()
		w = io.MultiWriter(h, out)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return invalid("%s cannot be read (%v)", rel, err)
	}
	if n != f.Size {
		return invalid("%s has %d bytes, the manifest says %d", rel, n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return invalid("%s does not match its checksum", rel)
	}
	if out != nil {
		if err := out.Sync(); err != nil {
			return err
		}
		return out.Close()
	}
	return nil
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	Manifest *Manifest
	// Previous is where the data directory's former content now is ("" when it was empty).
	Previous string
}

// Restore replaces the content of dataDir with the archive at archivePath. It refuses while a
// server holds dataDir's system database, and checks the whole archive (and the schema
// version of its system database) in a staging directory inside dataDir before changing
// anything. The former content is moved, not deleted, to dataDir/.pre-restore-<time>.
func Restore(ctx context.Context, archivePath, dataDir string) (*RestoreResult, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := checkStopped(ctx, dataDir); err != nil {
		return nil, err
	}
	f, err := os.Open(archivePath)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	stamp := time.Now().UTC().Format("20060102-150405")
	stage, err := os.MkdirTemp(dataDir, ".restore-"+stamp+"-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	staged := true
	defer func() {
		if staged {
			_ = os.RemoveAll(stage)
		}
	}()
	m, err := read(f, stage)
	if err != nil {
		return nil, err
	}
	v, err := store.FileSchemaVersion(ctx, filepath.Join(stage, filepath.FromSlash(SystemDB)))
	if err != nil {
		return nil, invalid("the archived system database cannot be opened (%v)", err)
	}
	if v != m.SchemaVersion {
		return nil, invalid("the archived system database has schema version %d, the manifest says %d", v, m.SchemaVersion)
	}
	// Checked again at the last moment: a server may have started meanwhile.
	if err := checkStopped(ctx, dataDir); err != nil {
		return nil, err
	}
	prev, err := swap(dataDir, stage, stamp)
	if err != nil {
		return nil, err
	}
	staged = false
	return &RestoreResult{Manifest: m, Previous: prev}, nil
}

// checkStopped refuses while a process holds dataDir's system database.
func checkStopped(ctx context.Context, dataDir string) error {
	p := filepath.Join(dataDir, filepath.FromSlash(SystemDB))
	if err := store.CheckUnlocked(ctx, p); err != nil {
		return fmt.Errorf("%w: %s is held by a running process; stop `da serve` on %s before restoring", ErrRunning, p, dataDir)
	}
	return nil
}

// swap moves every entry of dataDir (except dot entries and backups/) into dataDir/.pre-restore-<stamp>
// and then every entry of stage into dataDir. Each move is a rename on one file system; when
// one fails, the moves done so far are undone. DATA_DIR itself may be a mount point, so it
// is never renamed as a whole.
func swap(dataDir, stage, stamp string) (string, error) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	prev := filepath.Join(dataDir, ".pre-restore-"+stamp)
	type move struct{ from, to string }
	var done []move
	undo := func() {
		for i := len(done) - 1; i >= 0; i-- {
			_ = os.Rename(done[i].to, done[i].from)
		}
	}
	mv := func(from, to string) error {
		if err := os.Rename(from, to); err != nil {
			undo()
			return fmt.Errorf("backup: move %s to %s: %w (nothing was changed)", from, to, err)
		}
		done = append(done, move{from, to})
		return nil
	}
	kept := false
	for _, e := range entries {
		// Scheduled backups stay where they are: they are not part of any archive.
		if strings.HasPrefix(e.Name(), ".") || e.Name() == "backups" {
			continue
		}
		if !kept {
			if err := os.Mkdir(prev, 0o700); err != nil {
				return "", fmt.Errorf("backup: %w", err)
			}
			kept = true
		}
		if err := mv(filepath.Join(dataDir, e.Name()), filepath.Join(prev, e.Name())); err != nil {
			return "", err
		}
	}
	staged, err := os.ReadDir(stage)
	if err != nil {
		undo()
		return "", fmt.Errorf("backup: %w", err)
	}
	for _, e := range staged {
		if err := mv(filepath.Join(stage, e.Name()), filepath.Join(dataDir, e.Name())); err != nil {
			return "", err
		}
	}
	_ = os.Remove(stage)
	syncDir(dataDir)
	if !kept {
		prev = ""
	}
	return prev, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
