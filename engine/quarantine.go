package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"da/engine/extract"
	"da/store"
)

// QuarantineDir is where data found at start without a registration is moved, under
// DATA_DIR: quarantine/<source>/<UTC time>/.
const QuarantineDir = "quarantine"

// Quarantined is one table's data moved aside by QuarantineUnregisteredUploads.
type Quarantined struct {
	// Table is the table name; Listed says whether the source's _meta listed it.
	Table  string
	Listed bool
	// Paths are the new locations of its files.
	Paths []string
}

// QuarantineUnregisteredUploads moves aside the upload source's data that would be served but
// has no registry row of an upload: what a crash between publishing and registering an
// upload leaves, and parquet files no _meta row lists. The files go to
// DATA_DIR/quarantine/uploads/<UTC time>/ (nothing is deleted, so an operator can restore
// them), and their _meta rows are removed, so that no one can read or claim them. It runs at
// start, before the first rebuild, and logs every table it moves.
func QuarantineUnregisteredUploads(ctx context.Context, dataDir string, st *store.Store, log *slog.Logger) ([]Quarantined, error) {
	srcDir := filepath.Join(dataDir, "extracts", UploadSource)
	x, err := extract.Read(srcDir)
	if errors.Is(err, fs.ErrNotExist) {
		x = &extract.Extract{}
	} else if err != nil {
		return nil, fmt.Errorf("quarantine: read the upload source: %w", err)
	}
	regs, err := st.ListTables(ctx)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	registered := map[string]bool{}
	for _, t := range regs {
		if t.SourceType == "upload" {
			registered[strings.ToLower(t.ID)] = true
		}
	}
	listed := map[string]bool{}
	var moveTables []string
	for _, t := range x.Tables {
		listed[strings.ToLower(t.Name)] = true
		if !registered[strings.ToLower(t.Name)] {
			moveTables = append(moveTables, t.Name)
		}
	}
	// Data files of no _meta row are not served, but are left-overs of a crash too.
	var orphans []string
	if ents, err := os.ReadDir(extract.DataDir(srcDir)); err == nil {
		for _, e := range ents {
			name := strings.TrimSuffix(e.Name(), ".parquet")
			isFile := !e.IsDir() && name != e.Name()
			if (isFile || e.IsDir()) && extract.ValidIdent(name) && !listed[strings.ToLower(name)] {
				orphans = append(orphans, e.Name())
			}
		}
	}
	if len(moveTables) == 0 && len(orphans) == 0 {
		return nil, nil
	}
	dest := filepath.Join(dataDir, QuarantineDir, UploadSource, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.MkdirAll(dest, 0o750); err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	var out []Quarantined
	move := func(entry string) (string, error) {
		from := filepath.Join(extract.DataDir(srcDir), entry)
		to := filepath.Join(dest, entry)
		if err := os.Rename(from, to); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", nil
			}
			return "", fmt.Errorf("quarantine: move %s: %w", entry, err)
		}
		return to, nil
	}
	// Files first, then the _meta rows: a crash in between leaves rows whose data is
	// missing, which a rebuild skips and the next start removes.
	for _, name := range moveTables {
		q := Quarantined{Table: name, Listed: true}
		for _, entry := range []string{name + ".parquet", name} {
			to, err := move(entry)
			if err != nil {
				return out, err
			}
			if to != "" {
				q.Paths = append(q.Paths, to)
			}
		}
		if err := extract.Remove(srcDir, name); err != nil && !errors.Is(err, extract.ErrTableNotFound) {
			return out, fmt.Errorf("quarantine: %w", err)
		}
		out = append(out, q)
		log.Warn("quarantined an upload that was published but never registered; it is not served",
			"table", name, "moved_to", dest)
	}
	for _, entry := range orphans {
		to, err := move(entry)
		if err != nil {
			return out, err
		}
		if to != "" {
			out = append(out, Quarantined{Table: strings.TrimSuffix(entry, ".parquet"), Paths: []string{to}})
			log.Warn("quarantined upload data that no table lists", "file", entry, "moved_to", dest)
		}
	}
	_ = os.Remove(dest) // when everything was already gone
	return out, nil
}
