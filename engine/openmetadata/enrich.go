package openmetadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"da/config"
)

// CacheDir is where the enrichment cache lives, relative to DATA_DIR.
const CacheDir = "cache/openmetadata/tables"

// DefaultFQNPrefix makes the FQN of a table that has none configured: bigquery.<table id>.
const DefaultFQNPrefix = "bigquery."

// Options configure an Enricher.
type Options struct {
	URL, Token string
	// Timeout bounds each call to OpenMetadata.
	Timeout time.Duration
	// TTL is how long a cached enrichment counts as fresh.
	TTL time.Duration
	// FQNs maps a table id to its OpenMetadata FQN; the others use DefaultFQNPrefix + id.
	FQNs map[string]string
}

// ColumnMeta is what OpenMetadata says about one column.
type ColumnMeta struct {
	Description string   `json:"description,omitempty"`
	DataType    string   `json:"data_type,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// Enrichment is what OpenMetadata says about one table.
type Enrichment struct {
	FQN         string `json:"fqn"`
	Description string `json:"description"`
	// Columns is keyed by the lower-case column name.
	Columns    map[string]ColumnMeta `json:"columns"`
	Tags       []string              `json:"tags"`
	Owners     []string              `json:"owners"`
	Tier       string                `json:"tier"`
	CatalogURL string                `json:"catalog_url"`
}

// Entry is one cached table: the last enrichment fetched (nil when none ever succeeded) and
// the outcome of the last attempt.
type Entry struct {
	Table       string      `json:"table"`
	FQN         string      `json:"fqn"`
	Enrichment  *Enrichment `json:"enrichment"`
	FetchedAt   time.Time   `json:"fetched_at"`   // when Enrichment was fetched; zero when never
	AttemptedAt time.Time   `json:"attempted_at"` // the last attempt, successful or not
	Error       string      `json:"error,omitempty"`
}

// Fresh reports whether the entry's last attempt is within ttl of now.
func (e *Entry) Fresh(now time.Time, ttl time.Duration) bool {
	return !e.AttemptedAt.IsZero() && now.Sub(e.AttemptedAt) < ttl
}

// Enricher fetches and caches enrichments. A nil *Enricher is disabled: every method is a
// no-op, so callers need no check.
type Enricher struct {
	client *Client
	dir    string
	opt    Options
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	pending map[string]bool // tables with a background refresh queued or running
	wg      sync.WaitGroup
}

// FromConfig is New with the instance's openmetadata settings.
func FromConfig(om config.OpenMetadataConfig, dataDir string, log *slog.Logger) *Enricher {
	return New(Options{URL: om.URL, Token: om.Token, Timeout: om.Timeout, TTL: om.CacheTTL, FQNs: om.Tables}, dataDir, log)
}

// New returns an enricher writing its cache under dataDir, or nil when URL or token is not
// configured.
func New(opt Options, dataDir string, log *slog.Logger) *Enricher {
	if strings.TrimSpace(opt.URL) == "" || strings.TrimSpace(opt.Token) == "" {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.TTL <= 0 {
		opt.TTL = time.Hour
	}
	return &Enricher{client: NewClient(opt.URL, opt.Token, opt.Timeout), dir: filepath.Join(dataDir, filepath.FromSlash(CacheDir)),
		opt: opt, log: log, now: time.Now, pending: map[string]bool{}}
}

// Enabled reports whether OpenMetadata is configured.
func (e *Enricher) Enabled() bool { return e != nil }

// Client is the OpenMetadata client (nil when disabled).
func (e *Enricher) Client() *Client {
	if e == nil {
		return nil
	}
	return e.client
}

// FQN is the OpenMetadata FQN of table id.
func (e *Enricher) FQN(id string) string { return TableFQN(e.opt.FQNs, id) }

// TableFQN is the FQN of table id given the configured FQNs.
func TableFQN(fqns map[string]string, id string) string {
	id = strings.ToLower(id)
	if f := strings.TrimSpace(fqns[id]); f != "" {
		return f
	}
	return DefaultFQNPrefix + id
}

var validID = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`)

func (e *Enricher) path(id string) (string, bool) {
	id = strings.ToLower(id)
	if !validID.MatchString(id) {
		return "", false
	}
	return filepath.Join(e.dir, id+".json"), true
}

// Cached returns the cached entry of table id without calling OpenMetadata; ok is false
// when there is none (or the enricher is disabled).
func (e *Enricher) Cached(id string) (*Entry, bool) {
	if e == nil {
		return nil, false
	}
	p, ok := e.path(id)
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			e.log.Warn("openmetadata: cannot read the cache", "table", id, "error", err)
		}
		return nil, false
	}
	var en Entry
	if err := json.Unmarshal(b, &en); err != nil {
		e.log.Warn("openmetadata: unreadable cache entry; it is refetched", "table", id, "error", err)
		return nil, false
	}
	return &en, true
}

// Result is the outcome of refreshing one table.
type Result struct {
	Table string `json:"table"`
	FQN   string `json:"fqn"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Refresh fetches the enrichment of each table now and caches it. A failure keeps the
// previous enrichment in the cache, with the error recorded.
func (e *Enricher) Refresh(ctx context.Context, ids []string) []Result {
	if e == nil {
		return nil
	}
	out := make([]Result, 0, len(ids))
	for _, id := range ids {
		out = append(out, e.refreshOne(ctx, strings.ToLower(id)))
	}
	return out
}

func (e *Enricher) refreshOne(ctx context.Context, id string) Result {
	fqn := e.FQN(id)
	res := Result{Table: id, FQN: fqn}
	p, ok := e.path(id)
	if !ok {
		res.Error = "invalid table id"
		return res
	}
	entry, _ := e.Cached(id)
	if entry == nil {
		entry = &Entry{}
	}
	entry.Table, entry.AttemptedAt = id, e.now().UTC()
	t, err := e.client.Table(ctx, fqn)
	if err != nil {
		entry.Error = err.Error()
		if IsNotFound(err) {
			entry.Error = fmt.Sprintf("no table %s in OpenMetadata", fqn)
			entry.Enrichment = nil // it was removed or renamed there
		}
		res.Error = entry.Error
		e.log.Warn("openmetadata: enrichment failed", "table", id, "fqn", fqn, "error", err)
	} else {
		entry.Enrichment, entry.FetchedAt, entry.Error = Enrich(t, e.client.BaseURL()), entry.AttemptedAt, ""
		res.OK = true
	}
	entry.FQN = fqn
	if err := writeJSON(p, entry); err != nil {
		res.OK, res.Error = false, "cache: "+err.Error()
		e.log.Error("openmetadata: cannot write the cache", "table", id, "error", err)
	}
	return res
}

// RefreshLater refreshes, in the background and one at a time, the tables among ids whose
// cache entry is missing or older than the TTL. It never blocks the caller.
func (e *Enricher) RefreshLater(ids ...string) { e.queue(ids, false) }

// RefreshSynced refreshes the tables a sync just published, in the background, whatever
// the age of their cache entries.
func (e *Enricher) RefreshSynced(ids []string) { e.queue(ids, true) }

func (e *Enricher) queue(ids []string, force bool) {
	if e == nil {
		return
	}
	var todo []string
	now := e.now()
	e.mu.Lock()
	for _, id := range ids {
		id = strings.ToLower(id)
		if e.pending[id] {
			continue
		}
		if en, ok := e.Cached(id); ok && !force && en.Fresh(now, e.opt.TTL) {
			continue
		}
		e.pending[id] = true
		todo = append(todo, id)
	}
	if len(todo) == 0 {
		e.mu.Unlock()
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		for _, id := range todo {
			ctx, cancel := context.WithTimeout(context.Background(), 4*e.client.Timeout)
			e.refreshOne(ctx, id)
			cancel()
			e.mu.Lock()
			delete(e.pending, id)
			e.mu.Unlock()
		}
	}()
}

// Wait waits for the background refreshes started so far.
func (e *Enricher) Wait() {
	if e != nil {
		e.wg.Wait()
	}
}

// Enrich turns a table entity into an Enrichment; base is the OpenMetadata web root.
func Enrich(t *Table, base string) *Enrichment {
	en := &Enrichment{FQN: t.FullyQualifiedName, Description: StripHTML(t.Description), Columns: map[string]ColumnMeta{},
		Tags: tagNames(t.Tags), Owners: ownerNames(t.Owners, t.Owner), Tier: tier(t.Extension, t.Tags)}
	if en.FQN != "" {
		en.CatalogURL = base + "/table/" + en.FQN
	}
	for _, c := range t.Columns {
		en.Columns[strings.ToLower(c.Name)] = ColumnMeta{Description: StripHTML(c.Description), DataType: c.DataType, Tags: tagNames(c.Tags)}
	}
	return en
}

// tagNames are the tags' names, else the last segment of their FQN.
func tagNames(tags []TagLabel) []string {
	out := []string{}
	for _, t := range tags {
		n := t.Name
		if n == "" {
			n = t.TagFQN[strings.LastIndex(t.TagFQN, ".")+1:]
		}
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

func ownerNames(owners []EntityRef, single *EntityRef) []string {
	if single != nil && len(owners) == 0 {
		owners = []EntityRef{*single}
	}
	out := []string{}
	for _, o := range owners {
		n := o.Name
		if n == "" {
			n = o.DisplayName
		}
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// tier is extension.tier or extension.Tier, else a Tier.X tag.
func tier(ext map[string]any, tags []TagLabel) string {
	for _, k := range []string{"tier", "Tier"} {
		if s, ok := ext[k].(string); ok && s != "" {
			return s
		}
	}
	for _, t := range tags {
		if rest, ok := strings.CutPrefix(t.TagFQN, "Tier."); ok && rest != "" {
			return rest
		}
	}
	return ""
}

// writeJSON writes v to path atomically: a temporary file in the same directory, synced,
// then renamed over it.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o640)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
