package keboola

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	// Registers the "duckdb" database/sql driver.
	_ "github.com/duckdb/duckdb-go/v2"

	"da/config"
	"da/engine/connectors"
	"da/engine/extract"
)

// Source type and extract directory of the connector.
const (
	Type   = "keboola"
	Source = "keboola"
)

// NotConfiguredMessage is the error of every sync of a Keboola table while the connector has
// no stack URL or token.
const NotConfiguredMessage = "Keboola is not configured: set KEBOOLA_STACK_URL and KEBOOLA_STORAGE_TOKEN"

// Config configures the connector. URL and Token empty means "built in but not configured".
type Config struct {
	URL      string
	Token    string
	TokenEnv string // the variable the token came from, written to _remote_attach
	// SourceDir is DATA_DIR/extracts/keboola (previous data of incremental tables).
	SourceDir string
	// CacheDir keeps the discovery cache across restarts (DATA_DIR/cache/keboola).
	CacheDir string
	// Parallel is how many tables one job exports at once (default 4).
	Parallel int
	// SafetyMargin is subtracted from the last export's start for changedSince (default 1 h).
	SafetyMargin time.Duration
	// FullRefreshEvery makes an incremental or partitioned table do a full export when its
	// last full one is older, which also drops rows deleted in Keboola (default 7 days; negative: never).
	FullRefreshEvery time.Duration
	// DiscoveryTTL is how old the discovery cache may be before a background refresh (default 5 min).
	DiscoveryTTL time.Duration
	// MemoryLimit and Threads bound the DuckDB that converts and merges (defaults 1GB, 2).
	MemoryLimit string
	Threads     int
	Client      ClientOptions
	Log         *slog.Logger
}

// Status is the connection state shown by health and the admin page.
type Status struct {
	State     string    `json:"status"` // ok, not_configured, invalid_token, unreachable, unknown
	Message   string    `json:"message,omitempty"`
	Project   string    `json:"project,omitempty"`
	ProjectID string    `json:"project_id,omitempty"`
	URL       string    `json:"url,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// Connection states.
const (
	StateOK            = "ok"
	StateNotConfigured = "not_configured"
	StateInvalidToken  = "invalid_token"
	StateUnreachable   = "unreachable"
	StateUnknown       = "unknown"
)

// Connector is the Keboola Storage source.
type Connector struct {
	cfg    Config
	client *Client // nil when not configured
	log    *slog.Logger

	mu         sync.Mutex
	status     Status
	cache      *discovery
	refreshing bool

	extOnce   sync.Once
	extReason string // why the DuckDB keboola extension cannot be loaded; empty: it can
}

// discovery is the cached listing of the project.
type discovery struct {
	FetchedAt time.Time               `json:"fetched_at"`
	Tables    []connectors.Discovered `json:"tables"`
}

// New returns the connector; it never fails: a bad configuration shows in Status.
func New(cfg Config) *Connector {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.SafetyMargin == 0 {
		cfg.SafetyMargin = time.Hour
	}
	if cfg.FullRefreshEvery == 0 {
		cfg.FullRefreshEvery = 7 * 24 * time.Hour
	}
	if cfg.DiscoveryTTL <= 0 {
		cfg.DiscoveryTTL = 5 * time.Minute
	}
	if cfg.MemoryLimit == "" {
		cfg.MemoryLimit = "1GB"
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 2
	}
	if cfg.TokenEnv == "" {
		cfg.TokenEnv = "KEBOOLA_STORAGE_TOKEN"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	k := &Connector{cfg: cfg, log: cfg.Log, status: Status{State: StateNotConfigured, Message: NotConfiguredMessage}}
	if cfg.URL != "" && cfg.Token != "" {
		c, err := NewClient(cfg.URL, cfg.Token, cfg.Client)
		if err != nil {
			k.status = Status{State: StateNotConfigured, Message: err.Error()}
		} else {
			k.client = c
			k.status = Status{State: StateUnknown, Message: "not checked yet", URL: c.BaseURL()}
		}
	}
	k.loadCache()
	return k
}

// Configured reports whether the connector has a usable URL and token.
func (k *Connector) Configured() bool { return k.client != nil }

// Type implements connectors.Connector.
func (k *Connector) Type() string { return Type }

// Source implements connectors.Connector.
func (k *Connector) Source() string { return Source }

// Label implements connectors.Connector.
func (k *Connector) Label() string { return "Keboola Storage" }

// Parallelism implements connectors.Parallel.
func (k *Connector) Parallelism() int { return k.cfg.Parallel }

// Modes implements connectors.Connector: remote mode only when the DuckDB keboola extension
// can be loaded from the local extension directory.
func (k *Connector) Modes() []string {
	if k.ExtensionUnavailable() == "" {
		return []string{extract.ModeLocal, extract.ModeRemote}
	}
	return []string{extract.ModeLocal}
}

// ModeRefusal says why a query mode cannot be used, or "" when it can.
func (k *Connector) ModeRefusal(mode string) string {
	if mode == extract.ModeRemote {
		if r := k.ExtensionUnavailable(); r != "" {
			return "remote mode needs the DuckDB keboola extension, which cannot be loaded here (" + r +
				"); nothing is downloaded at run time: put the extension in DuckDB's extension directory, or register the table in local mode"
		}
	}
	return ""
}

// ExtensionUnavailable is why the DuckDB keboola extension cannot be loaded ("" when it can).
// It is probed once, with automatic installation off.
func (k *Connector) ExtensionUnavailable() string {
	k.extOnce.Do(func() {
		db, err := sql.Open("duckdb", "?autoinstall_known_extensions=false&autoload_known_extensions=false")
		if err != nil {
			k.extReason = err.Error()
			return
		}
		defer db.Close()
		if _, err := db.Exec("LOAD keboola"); err != nil {
			k.extReason = "keboola extension unavailable"
		}
	})
	return k.extReason
}

// Status is the last known connection state.
func (k *Connector) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status
}

// Check verifies the token now (GET /v2/storage/tokens/verify) and records the outcome.
func (k *Connector) Check(ctx context.Context) Status {
	if k.client == nil {
		return k.Status()
	}
	st := Status{URL: k.client.BaseURL(), CheckedAt: time.Now().UTC()}
	tok, err := k.client.VerifyToken(ctx)
	switch {
	case err == nil && (tok.IsExpired || tok.IsDisabled):
		st.State, st.Message = StateInvalidToken, "the storage token is expired or disabled"
	case err == nil:
		st.State, st.Project, st.ProjectID = StateOK, tok.ProjectName(), tok.ProjectID()
		st.Message = "connected to project " + tok.ProjectName()
	case IsUnauthorized(err):
		st.State, st.Message = StateInvalidToken, err.Error()
	default:
		st.State, st.Message = StateUnreachable, err.Error()
	}
	k.mu.Lock()
	k.status = st
	k.mu.Unlock()
	return st
}

// Discover implements connectors.Connector from the cache: a fresh cache answers at once, a
// stale one answers at once and is refreshed in the background, and only an empty cache makes
// the caller wait for Keboola.
func (k *Connector) Discover(ctx context.Context) ([]connectors.Discovered, error) {
	if k.client == nil {
		return nil, fmt.Errorf("%w: %s", connectors.ErrNotConfigured, NotConfiguredMessage)
	}
	k.mu.Lock()
	c := k.cache
	if c != nil && time.Since(c.FetchedAt) > k.cfg.DiscoveryTTL && !k.refreshing {
		k.refreshing = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if _, err := k.Refresh(ctx); err != nil {
				k.log.Warn("keboola: refreshing the table list failed", "error", err)
			}
		}()
	}
	k.mu.Unlock()
	if c != nil {
		return c.Tables, nil
	}
	return k.Refresh(ctx)
}

// CachedAt is when the discovery cache was filled (zero: never).
func (k *Connector) CachedAt() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cache == nil {
		return time.Time{}
	}
	return k.cache.FetchedAt
}

// Refresh lists the project now and replaces the cache.
func (k *Connector) Refresh(ctx context.Context) ([]connectors.Discovered, error) {
	defer func() { k.mu.Lock(); k.refreshing = false; k.mu.Unlock() }()
	if k.client == nil {
		return nil, fmt.Errorf("%w: %s", connectors.ErrNotConfigured, NotConfiguredMessage)
	}
	tables, err := k.client.ListTables(ctx)
	if err != nil {
		if IsUnauthorized(err) {
			k.mu.Lock()
			k.status = Status{State: StateInvalidToken, Message: err.Error(), URL: k.client.BaseURL(), CheckedAt: time.Now().UTC()}
			k.mu.Unlock()
		}
		return nil, err
	}
	out := make([]connectors.Discovered, 0, len(tables))
	for i := range tables {
		out = append(out, discovered(&tables[i]))
	}
	d := &discovery{FetchedAt: time.Now().UTC(), Tables: out}
	k.mu.Lock()
	k.cache = d
	k.mu.Unlock()
	k.saveCache(d)
	return out, nil
}

// discovered is a listed table as the registry sees it.
func discovered(t *Table) connectors.Discovered {
	bucket := t.Bucket.ID
	if bucket == "" {
		if i := strings.LastIndex(t.ID, "."); i > 0 {
			bucket = t.ID[:i]
		}
	}
	bname := t.Bucket.DisplayName
	if bname == "" {
		bname = t.Bucket.Name
	}
	var types []string
	for _, c := range ColumnTypes(t) {
		types = append(types, c.DuckDB)
	}
	return connectors.Discovered{ID: t.ID, Name: tableName(t.Name), Bucket: bucket, BucketName: bname, SourceTable: t.Name,
		Description: t.Description(), Columns: t.Columns, ColumnTypes: types, Rows: t.RowsCount, SizeBytes: t.DataSizeBytes,
		PrimaryKey: t.PrimaryKey, LastChange: t.LastChangeDate.Time, LastImport: t.LastImportDate.Time}
}

// tableName turns a Keboola table name into a registry identifier.
func tableName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r >= '0' && r <= '9' && i > 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteString("_")
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 64 {
		out = out[:64]
	}
	if out == "" {
		out = "_"
	}
	return out
}

func (k *Connector) cachePath() string {
	if k.cfg.CacheDir == "" {
		return ""
	}
	return filepath.Join(k.cfg.CacheDir, "discovery.json")
}

// loadCache reads the discovery cache a previous process saved, if it is for the same stack.
func (k *Connector) loadCache() {
	p := k.cachePath()
	if p == "" || k.client == nil {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	var saved struct {
		URL string `json:"url"`
		discovery
	}
	if json.Unmarshal(b, &saved) != nil || saved.URL != k.client.BaseURL() {
		return
	}
	d := saved.discovery
	k.cache = &d
}

func (k *Connector) saveCache(d *discovery) {
	p := k.cachePath()
	if p == "" {
		return
	}
	b, err := json.Marshal(struct {
		URL string `json:"url"`
		*discovery
	}{k.client.BaseURL(), d})
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return
	}
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o640) == nil {
		_ = os.Rename(tmp, p)
	}
}

// tableID is the Keboola id of a registered table: bucket + "." + source table, or the
// source table alone when it already is a full id.
func tableID(t connectors.Table) (string, error) {
	src := t.SourceTable
	if src == "" {
		src = t.Name
	}
	if t.Bucket == "" {
		if strings.Count(src, ".") >= 2 {
			return src, nil
		}
		return "", fmt.Errorf("table %s has no bucket: set bucket to the Keboola bucket id (e.g. in.c-main)", t.Name)
	}
	if strings.HasPrefix(src, t.Bucket+".") {
		return src, nil
	}
	return t.Bucket + "." + src, nil
}

var errCast = errors.New("a value does not convert")

// FromConfig returns the connector of an instance: configured when the stack URL and token
// are set, else built in but "not configured".
func FromConfig(c config.KeboolaConfig, dataDir string, log *slog.Logger) *Connector {
	return New(Config{URL: c.URL, Token: c.Token, TokenEnv: c.TokenEnv, Parallel: c.MaxParallel,
		SourceDir: filepath.Join(dataDir, "extracts", Source), CacheDir: filepath.Join(dataDir, "cache", "keboola"), Log: log})
}
