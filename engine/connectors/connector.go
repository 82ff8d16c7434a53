// Package connectors defines what a data source must do to be synced by the engine, and the
// registry of the sources this instance knows: the upload source, the demo data set, any
// directory of DATA_DIR/extracts written by another process, and external sources such as
// Keboola when they are configured.
//
// A connector only brings data: it lists what it could publish (Discover) and writes one
// table's complete parquet file to a path the sync job gives it (Extract). Publishing that
// file into the extract contract atomically, rebuilding and profiling are the sync job's
// business (engine/sync.go), so a connector that fails half-way changes nothing.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"da/engine/connectors/demo"
	"da/engine/extract"
)

// Built-in source types (the registry's source_type) and their directories under extracts.
const (
	TypeUpload = "upload"
	TypeDemo   = "demo"

	SourceUploads = "uploads"
	SourceDemo    = "demo"
)

// Table is what a connector needs to know about one registered table.
type Table struct {
	ID          string // lower-case registry id
	Name        string // the table's name: view and parquet base name
	Bucket      string // source-specific grouping (Keboola bucket id); may be empty
	SourceTable string // the table's name in the source; empty means Name
	QueryMode   string // extract.ModeLocal or extract.ModeRemote
	Strategy    string // full_refresh, incremental or partitioned
	PrimaryKey  string // comma-separated column names; may be empty
	Description string
	Options     TableOptions
}

// TableOptions are a table's per-source extraction settings kept in the registry.
type TableOptions struct {
	// Columns limits the export to these columns; empty means all.
	Columns []string `json:"columns,omitempty"`
	// WhereFilters keep only the rows matching every filter.
	WhereFilters []WhereFilter `json:"where_filters,omitempty"`
	// PartitionBy is the date or timestamp column of a partitioned table.
	PartitionBy string `json:"partition_by,omitempty"`
	// PartitionGrain is "day" or "month" (default month).
	PartitionGrain string `json:"partition_grain,omitempty"`
}

// WhereFilter keeps the rows where Column compares with Operator (eq, ne) to one of Values.
type WhereFilter struct {
	Column   string   `json:"column"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

// ErrNotConfigured is returned by a connector whose source is built in but has no
// connection settings yet.
var ErrNotConfigured = errors.New("the source is not configured")

// Partitions is a partitioned table's output: the rewritten partition files in Dir (named
// <partition>.parquet) and the names of every partition the table has now.
type Partitions struct {
	Dir       string
	Rewritten []string
	All       []string
}

// Result is what Extract did.
type Result struct {
	// Kept means the extract already holds the current data (an upload, or a source written
	// by another process); nothing was written to the staging path.
	Kept bool
	// Remote is set for a remote-mode table: the catalog the orchestrator must attach. The
	// table's _meta row is then written with query_mode remote and no data file.
	Remote *extract.RemoteAttach
	// Description, when not empty, replaces the table's description in _meta.
	Description string
	// Strategy is the sync strategy actually used (an incremental table's first sync is a
	// full refresh); empty means the table's own.
	Strategy string
	// RowsChanged is how many rows the source sent (all of them for a full refresh).
	RowsChanged int64
	// Partitions, when set, replaces the single staging file: the table is stored as the
	// partition files of data/<table>/.
	Partitions *Partitions
}

// Parallel is implemented by connectors that can extract several tables at once.
type Parallel interface {
	// Parallelism is how many tables of one job may be extracted at the same time.
	Parallelism() int
}

// Discovered is a table a connector could publish.
type Discovered struct {
	ID          string // the source's own id of the table (Keboola: in.c-bucket.table)
	Name        string // suggested table name (an identifier when the source allows it)
	Bucket      string
	BucketName  string
	SourceTable string
	Description string
	Columns     []string
	Rows        int64
	SizeBytes   int64
	PrimaryKey  []string
	LastChange  time.Time
	LastImport  time.Time
	// ColumnTypes are the columns' types as they will be stored, when the source knows them.
	ColumnTypes []string
}

// Connector is one source of tables.
type Connector interface {
	// Type is the registry's source_type for this source, e.g. "upload" or "keboola".
	Type() string
	// Source is the directory under DATA_DIR/extracts the source's extract lives in.
	Source() string
	// Label is a short human name, e.g. "File uploads".
	Label() string
	// Modes lists the query modes the source supports (extract.ModeLocal, extract.ModeRemote).
	Modes() []string
	// Discover lists the tables the source could publish now.
	Discover(ctx context.Context) ([]Discovered, error)
	// Extract writes table t's complete data as one parquet file at stagePath (a fresh path in
	// a staging directory), or reports Kept or Remote. On error nothing it wrote is used.
	Extract(ctx context.Context, t Table, stagePath string) (*Result, error)
}

// Registry is the set of connectors of one instance, looked up by source type.
type Registry struct {
	extractsDir string
	builtins    []Connector
}

// NewRegistry returns the registry of the built-in connectors plus cs. extractsDir is
// DATA_DIR/extracts; its other source directories are served by passive connectors.
func NewRegistry(extractsDir string, cs ...Connector) *Registry {
	r := &Registry{extractsDir: extractsDir}
	r.builtins = append(r.builtins, NewUpload(filepath.Join(extractsDir, SourceUploads)),
		NewDemo(filepath.Join(filepath.Dir(extractsDir), "cache", "demo")))
	for _, c := range cs {
		if c != nil {
			r.builtins = append(r.builtins, c)
		}
	}
	return r
}

// ExtractsDir is DATA_DIR/extracts.
func (r *Registry) ExtractsDir() string { return r.extractsDir }

// Get returns the connector of sourceType: a built-in one, or a passive connector when a
// source directory of that name exists under extracts.
func (r *Registry) Get(sourceType string) (Connector, bool) {
	t := strings.ToLower(strings.TrimSpace(sourceType))
	for _, c := range r.builtins {
		if c.Type() == t {
			return c, true
		}
	}
	if !extract.ValidIdent(t) || r.claimed(t) {
		return nil, false
	}
	dir := filepath.Join(r.extractsDir, t)
	if fi, err := os.Stat(filepath.Join(dir, extract.FileName)); err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	return &Extracted{dir: dir, name: t}, true
}

// claimed reports whether a built-in connector owns the source directory name.
func (r *Registry) claimed(dir string) bool {
	for _, c := range r.builtins {
		if strings.EqualFold(c.Source(), dir) {
			return true
		}
	}
	return false
}

// All returns every connector: the built-in ones, then a passive one for each other source
// directory under extracts, sorted by type.
func (r *Registry) All() []Connector {
	out := append([]Connector(nil), r.builtins...)
	ents, _ := os.ReadDir(r.extractsDir)
	for _, e := range ents {
		if !e.IsDir() || r.claimed(e.Name()) || !extract.ValidIdent(e.Name()) {
			continue
		}
		if c, ok := r.Get(e.Name()); ok && c.Type() == strings.ToLower(e.Name()) {
			out = append(out, c)
		}
	}
	sort.SliceStable(out[len(r.builtins):], func(i, j int) bool {
		return out[len(r.builtins)+i].Type() < out[len(r.builtins)+j].Type()
	})
	return out
}

// Types lists the source types of All.
func (r *Registry) Types() []string {
	var out []string
	for _, c := range r.All() {
		out = append(out, c.Type())
	}
	return out
}

// SupportsMode reports whether c supports the query mode.
func SupportsMode(c Connector, mode string) bool {
	for _, m := range c.Modes() {
		if m == mode {
			return true
		}
	}
	return false
}

// discoverExtract lists the tables of an extract contract in dir.
func discoverExtract(dir string) ([]Discovered, error) {
	x, err := extract.Read(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Discovered, 0, len(x.Tables))
	for _, t := range x.Tables {
		out = append(out, Discovered{ID: t.Name, Name: t.Name, SourceTable: t.Name, Description: t.Description,
			Rows: t.Rows, SizeBytes: t.SizeBytes, LastImport: t.ExtractedAt})
	}
	return out, nil
}

// keepExisting is Extract for passive sources: the table must be in the contract already.
func keepExisting(dir, source string, t Table) (*Result, error) {
	x, err := extract.Read(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the %s source has no data yet (%s is missing)", source, extract.FileName)
	}
	if err != nil {
		return nil, err
	}
	for _, m := range x.Tables {
		if !strings.EqualFold(m.Name, t.Name) {
			continue
		}
		if m.QueryMode != extract.ModeRemote && len(extract.TableFiles(dir, m.Name)) == 0 {
			return nil, fmt.Errorf("table %s has no data file in the %s source", t.Name, source)
		}
		return &Result{Kept: true}, nil
	}
	return nil, fmt.Errorf("table %s is not in the %s source", t.Name, source)
}

// Upload is the file-upload source: its data arrives through POST /api/upload/table, so a
// sync only re-publishes what is there.
type Upload struct{ dir string }

// NewUpload returns the upload connector over DATA_DIR/extracts/uploads.
func NewUpload(dir string) *Upload { return &Upload{dir: dir} }

// Type implements Connector.
func (u *Upload) Type() string { return TypeUpload }

// Source implements Connector.
func (u *Upload) Source() string { return SourceUploads }

// Label implements Connector.
func (u *Upload) Label() string { return "File uploads" }

// Modes implements Connector.
func (u *Upload) Modes() []string { return []string{extract.ModeLocal} }

// Discover implements Connector: the uploaded tables.
func (u *Upload) Discover(context.Context) ([]Discovered, error) { return discoverExtract(u.dir) }

// Extract implements Connector: an uploaded table is current by definition.
func (u *Upload) Extract(_ context.Context, t Table, _ string) (*Result, error) {
	res, err := keepExisting(u.dir, "upload", t)
	if err != nil {
		return nil, fmt.Errorf("%w; upload the file again", err)
	}
	return res, nil
}

// Extracted is a passive connector for a source directory that another process writes (a
// scheduled extractor following the contract): a sync re-publishes what the contract lists.
type Extracted struct{ dir, name string }

// Type implements Connector.
func (x *Extracted) Type() string { return x.name }

// Source implements Connector.
func (x *Extracted) Source() string { return x.name }

// Label implements Connector.
func (x *Extracted) Label() string { return "Extract " + x.name }

// Modes implements Connector.
func (x *Extracted) Modes() []string { return []string{extract.ModeLocal, extract.ModeRemote} }

// Discover implements Connector.
func (x *Extracted) Discover(context.Context) ([]Discovered, error) { return discoverExtract(x.dir) }

// Extract implements Connector.
func (x *Extracted) Extract(_ context.Context, t Table, _ string) (*Result, error) {
	return keepExisting(x.dir, x.name, t)
}

// Demo is the generated demo data set as a connector: each table is taken from a cached
// generation (DATA_DIR/cache/demo), which is made once and reused.
type Demo struct {
	cache string
	mu    sync.Mutex
}

// NewDemo returns the demo connector generating into cacheDir.
func NewDemo(cacheDir string) *Demo { return &Demo{cache: cacheDir} }

// Type implements Connector.
func (d *Demo) Type() string { return TypeDemo }

// Source implements Connector.
func (d *Demo) Source() string { return SourceDemo }

// Label implements Connector.
func (d *Demo) Label() string { return "Demo data set" }

// Modes implements Connector.
func (d *Demo) Modes() []string { return []string{extract.ModeLocal} }

// Discover implements Connector: the demo tables, with their facts once generated.
func (d *Demo) Discover(context.Context) ([]Discovered, error) {
	facts := map[string]extract.Table{}
	if x, err := extract.Read(d.cache); err == nil {
		for _, t := range x.Tables {
			facts[t.Name] = t
		}
	}
	var out []Discovered
	for _, s := range demo.Tables() {
		f := facts[s.Name]
		out = append(out, Discovered{ID: s.Name, Name: s.Name, Bucket: s.Folder, BucketName: s.Folder, SourceTable: s.Name,
			Description: s.Description, PrimaryKey: []string{s.PrimaryKey}, Rows: f.Rows, SizeBytes: f.SizeBytes,
			LastImport: f.ExtractedAt})
	}
	return out, nil
}

// Extract implements Connector: it copies the table's parquet file of the cached generation.
func (d *Demo) Extract(ctx context.Context, t Table, stagePath string) (*Result, error) {
	name := t.SourceTable
	if name == "" {
		name = t.Name
	}
	known := false
	for _, s := range demo.Tables() {
		if strings.EqualFold(s.Name, name) {
			name, known = s.Name, true
		}
	}
	if !known {
		return nil, fmt.Errorf("the demo data set has no table %q", name)
	}
	d.mu.Lock()
	err := demo.Generate(ctx, d.cache)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	files := extract.TableFiles(d.cache, name)
	if len(files) != 1 {
		return nil, fmt.Errorf("the demo generation has no data file for %s", name)
	}
	return &Result{}, copyFile(files[0], stagePath)
}

// copyFile copies src to dst (which must not exist).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
