// Package config loads the server's settings from command-line flags, environment variables
// and the optional instance.yaml, validates them once, and hands them out as one explicit
// value. Precedence: flags > environment > instance.yaml > defaults.
package config

import (
	"log/slog"
	"slices"
	"time"
)

// Values accepted by DA_ENV.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Defaults for settings that have one.
const (
	DefaultAddr         = ":8000"
	DefaultDataDir      = "./data"
	DefaultConfigPath   = "config/instance.yaml"
	DefaultServerURL    = "http://localhost:8000"
	DefaultInstanceName = "AI Data Analyst"
)

// MinSecretBytes is the shortest JWT or session secret accepted.
const MinSecretBytes = 32

// MinPasswordChars is the shortest seed admin password accepted (the same rule as
// auth.MinPasswordLength; config does not import auth so that auth may import config).
const MinPasswordChars = 8

// Overrides carries the command-line flags; a nil field means "flag not given".
type Overrides struct {
	Addr       *string // --addr
	DataDir    *string // --data-dir
	ConfigPath *string // --config
	NoJobs     *bool   // --no-jobs
}

// Config is everything the server needs to start, loaded and validated by Load.
type Config struct {
	// Addr is the listen address, host:port (DA_ADDR, --addr).
	Addr string
	// DataDir is the absolute, cleaned data directory (DATA_DIR, --data-dir).
	DataDir string
	// DatabaseURL puts the system database on PostgreSQL (DA_DATABASE_URL(_FILE),
	// database.url): postgres://user:password@host:port/dbname. Empty keeps it in
	// DataDir/state/system.duckdb. It holds a password: log it only through RedactedDatabaseURL.
	DatabaseURL string
	// ConfigPath is the instance.yaml path as given (DA_CONFIG, --config).
	ConfigPath string
	// ConfigLoaded reports whether the file at ConfigPath was found and read.
	ConfigLoaded bool
	// Env is EnvDevelopment or EnvProduction (DA_ENV).
	Env string
	// NoJobs disables the cron jobs in this process (DA_NO_JOBS, --no-jobs).
	NoJobs bool
	// LogLevel is the minimum level logged (LOG_LEVEL).
	LogLevel slog.Level
	// LogFormat is "text" or "json" (LOG_FORMAT).
	LogFormat string

	// JWTSecret signs API tokens (JWT_SECRET_KEY); filled by EnsureSecrets when unset.
	JWTSecret string
	// JWTSecretGenerated reports that EnsureSecrets supplied JWTSecret from DataDir/state.
	JWTSecretGenerated bool
	// SessionSecret keys browser-session helpers (SESSION_SECRET); filled by EnsureSecrets.
	SessionSecret string
	// SessionSecretGenerated reports that EnsureSecrets supplied SessionSecret.
	SessionSecretGenerated bool
	// SeedAdminEmail and SeedAdminPassword create an admin at start when both are set.
	SeedAdminEmail string
	// SeedAdminPassword is the seeded admin's password (SEED_ADMIN_PASSWORD).
	SeedAdminPassword string
	// ServerURL is the public base URL used in e-mailed links and OAuth callbacks.
	ServerURL string
	// CORSOrigins lists cross-origin callers allowed; empty means same-origin only.
	CORSOrigins []string
	// HealthToken (HEALTH_TOKEN(_FILE)) lets a monitoring scraper read the details of
	// GET /api/health with "Authorization: Bearer <token>"; anonymous callers get only the
	// status and the service names.
	HealthToken string
	// MetricsToken (DA_METRICS_TOKEN(_FILE)) lets a Prometheus scraper read GET /metrics with
	// "Authorization: Bearer <token>"; without it only admins may.
	MetricsToken string

	// GoogleClientID is the Google OAuth client id.
	GoogleClientID string
	// GoogleClientSecret is the Google OAuth client secret.
	GoogleClientSecret string
	// AllowedDomains are the lower-case e-mail domains allowed to sign in with Google.
	AllowedDomains []string
	// DisabledProviders hides sign-in methods: "email" (magic link) and/or "google".
	DisabledProviders []string
	// SMTP configures outgoing mail for magic links.
	SMTP SMTPConfig

	// InstanceName is the product name shown in pages and mails.
	InstanceName string
	// InstanceSubtitle is shown under the name.
	InstanceSubtitle string
	// InstanceCopyright is shown in the footer.
	InstanceCopyright string
	// InstanceLogoSVG is an operator-supplied <svg> element for the header (trusted markup).
	InstanceLogoSVG string
	// Theme holds CSS overrides by theme key (primary, background, font_url, ...).
	Theme map[string]string

	// DataSource is the instance's external source type: local, keboola or bigquery.
	DataSource string
	// Keboola holds the Keboola connector's settings.
	Keboola KeboolaConfig
	// BigQuery holds the BigQuery connector's settings.
	BigQuery BigQueryConfig
	// Jira holds the Jira connector's settings.
	Jira JiraConfig
	// Telegram holds the Telegram bot's settings.
	Telegram TelegramConfig
	// OpenMetadata holds the catalog export's settings.
	OpenMetadata OpenMetadataConfig
	// AI holds the LLM provider used by corporate-memory collection.
	AI AIConfig
	// Desktop holds the desktop-app token settings.
	Desktop DesktopConfig

	// Upload holds upload size caps.
	Upload UploadConfig
	// Query holds the query sandbox's limits.
	Query QueryConfig
	// MaxJSONBodyBytes caps JSON request bodies (413 above it).
	MaxJSONBodyBytes int64
	// HTTP bounds what slow or stuck clients and a shutdown may hold.
	HTTP HTTPConfig
	// SyncHistoryRetentionDays is how long sync history rows are kept.
	SyncHistoryRetentionDays int
	// Profiler holds the column profiler's settings.
	Profiler ProfilerConfig
	// Backup configures the scheduled backups (off unless a schedule is set).
	Backup BackupConfig

	// CorporateMemory holds the knowledge governance settings.
	CorporateMemory CorporateMemoryConfig
	// Groups are audience groups by name (top-level groups key).
	Groups map[string]Group
	// Users holds display settings by e-mail (legacy users key).
	Users map[string]UserEntry
	// UsernameMapping maps webapp e-mails to legacy server usernames.
	UsernameMapping map[string]string
	// Datasets are the optional datasets offered in sync settings, as written in the file.
	Datasets map[string]any
	// Catalog holds catalog grouping settings.
	Catalog CatalogConfig
	// Legacy holds keys of the original file that this server accepts but does not use.
	Legacy LegacyConfig

	// Warnings are non-fatal findings of Load (unknown keys, unset ${VAR}s) to log at start.
	Warnings []string
}

// SMTPConfig configures the mail relay (SMTP_* variables, email.* keys).
type SMTPConfig struct {
	Host     string // SMTP_HOST / email.smtp_host; empty disables mail
	Port     int    // SMTP_PORT / email.smtp_port, default 587
	User     string // SMTP_USER / email.smtp_user
	Password string // SMTP_PASSWORD(_FILE) / email.smtp_password
	UseTLS   bool   // SMTP_USE_TLS / email.smtp_use_tls, default true
	From     string // SMTP_FROM / email.from_address: an address, optionally "Name <addr>"
	FromName string // SMTP_FROM_NAME / email.from_name, default InstanceName
}

// KeboolaConfig configures the Keboola connector.
type KeboolaConfig struct {
	URL       string // KEBOOLA_STACK_URL / keboola.url / data_source.keboola.stack_url, no trailing /
	TokenEnv  string // keboola.token_env: the variable holding the token, default KEBOOLA_STORAGE_TOKEN
	Token     string // KEBOOLA_STORAGE_TOKEN(_FILE) / $TokenEnv / data_source.keboola.storage_token
	ProjectID string // data_source.keboola.project_id
	// MaxParallel is how many tables one sync job exports at once (KEBOOLA_MAX_PARALLEL /
	// keboola.max_parallel, default 4).
	MaxParallel int
}

// BigQueryConfig configures the BigQuery connector (credentials come from ADC).
type BigQueryConfig struct {
	Project        string // data_source.bigquery.project / bigquery.project_id
	Location       string // data_source.bigquery.location
	BillingProject string // data_source.bigquery.billing_project; empty means Project
}

// JiraConfig configures the Jira connector and its webhook (JIRA_* variables, jira.* keys).
type JiraConfig struct {
	Domain        string // JIRA_DOMAIN, e.g. acme.atlassian.net
	Email         string // JIRA_EMAIL: the API user
	APIToken      string // JIRA_API_TOKEN(_FILE)
	WebhookSecret string // JIRA_WEBHOOK_SECRET(_FILE): HMAC key of incoming webhooks
	CloudID       string // JIRA_CLOUD_ID
	SLAEmail      string // JIRA_SLA_EMAIL: service account for SLA data
	SLAAPIToken   string // JIRA_SLA_API_TOKEN(_FILE)
	Project       string // JIRA_PROJECT: project key for consistency checks
	BaseURL       string // JIRA_BASE_URL: REST base, default https://<Domain>; a proxy or a test server
	SLABaseURL    string // JIRA_SLA_BASE_URL: SLA base, default https://api.atlassian.com/ex/jira/<CloudID>
	Insecure      bool   // JIRA_WEBHOOK_INSECURE: accept unsigned webhooks when no secret is set
	// DataDir is the one root of the connector's files: DATA_DIR/extracts/jira (raw/ and data/).
	DataDir string
}

// SLAConfigured reports whether the SLA service account is complete.
func (j *JiraConfig) SLAConfigured() bool {
	return j.SLAEmail != "" && j.SLAAPIToken != "" && (j.CloudID != "" || j.SLABaseURL != "")
}

// TelegramConfig configures the Telegram bot.
type TelegramConfig struct {
	BotUsername  string // TELEGRAM_BOT_USERNAME / telegram.bot_username, without the leading @
	BotToken     string // TELEGRAM_BOT_TOKEN(_FILE) / telegram.bot_token
	DomainSuffix string // telegram.domain_suffix
}

// OpenMetadataConfig configures the OpenMetadata catalog export (openmetadata.* keys).
type OpenMetadataConfig struct {
	URL         string        // openmetadata.url; empty disables the export
	Token       string        // openmetadata.token
	CacheTTL    time.Duration // openmetadata.cache_ttl_seconds, default 1h
	FilterTag   string        // openmetadata.filter_tag
	DataProduct string        // openmetadata.data_product
	// Timeout bounds one call to OpenMetadata (openmetadata.timeout, OPENMETADATA_TIMEOUT).
	Timeout time.Duration
	// ExportSchedule runs the catalog export to DATA_DIR/docs as a job (openmetadata.export_schedule,
	// OPENMETADATA_EXPORT_SCHEDULE: cron or @every); empty runs it only on demand.
	ExportSchedule string
	// Tables maps a table id to the OpenMetadata FQN of its table (openmetadata.tables);
	// a table not listed uses the default FQN (see the openmetadata package).
	Tables map[string]string
}

// BackupConfig configures the scheduled backup job (backup.* keys).
type BackupConfig struct {
	Schedule string // backup.schedule (DA_BACKUP_SCHEDULE): cron or @every; empty disables the job
	Keep     int    // backup.keep (DA_BACKUP_KEEP): archives kept, oldest removed first; default 7
	Dir      string // backup.dir (DA_BACKUP_DIR): default DATA_DIR/backups
}

// AIConfig configures the LLM provider used by corporate-memory collection (ai.* keys).
type AIConfig struct {
	Provider         string // "", anthropic or openai_compat (ai.anthropic_api_key alone means anthropic)
	APIKey           string // ai.api_key / ai.anthropic_api_key
	BaseURL          string // ai.base_url, required for openai_compat
	Model            string // ai.model
	StructuredOutput string // ai.structured_output: strict, json or auto
	VerifySSL        bool   // ai.verify_ssl, default true
}

// DesktopConfig configures desktop-app tokens (desktop.* keys).
type DesktopConfig struct {
	JWTIssuer string // desktop.jwt_issuer
	JWTSecret string // DESKTOP_JWT_SECRET(_FILE) / desktop.jwt_secret
	URLScheme string // desktop.url_scheme
}

// UploadConfig caps upload sizes.
type UploadConfig struct {
	MaxBytes         int64 // DA_UPLOAD_MAX_BYTES / upload.max_bytes: table uploads (413 above it)
	ArtifactMaxBytes int64 // DA_UPLOAD_ARTIFACT_MAX_BYTES / upload.artifact_max_bytes: artifacts and sessions
}

// HTTPConfig bounds slow clients and the shutdown (DA_HTTP_* variables, server.* keys).
type HTTPConfig struct {
	// HeaderTimeout is the time a client has to send a request's headers.
	HeaderTimeout time.Duration // DA_HTTP_HEADER_TIMEOUT / server.header_timeout, default 10s
	// BodyTimeout is the time a client has to send a whole form or JSON body.
	BodyTimeout time.Duration // DA_HTTP_BODY_TIMEOUT / server.body_timeout, default 10s
	// MinRate (bytes/s) and RateWindow: an upload or a response that moves fewer than
	// MinRate*RateWindow bytes in any window of RateWindow is cut off.
	MinRate    int64         // DA_HTTP_MIN_RATE / server.min_transfer_rate, default 4096
	RateWindow time.Duration // DA_HTTP_RATE_WINDOW / server.transfer_window, default 30s
	// MaxConnsPerAddr caps open connections per client IP address; 0 means no cap.
	MaxConnsPerAddr int // DA_HTTP_MAX_CONNS_PER_ADDR / server.max_conns_per_addr, default 128
	// ShutdownDrain is how long a stopping server lets requests finish before it cancels them.
	ShutdownDrain time.Duration // DA_SHUTDOWN_DRAIN / server.shutdown_drain, default 5s
}

// QueryConfig limits what one query may do.
type QueryConfig struct {
	Timeout        time.Duration // DA_QUERY_TIMEOUT / query.timeout
	ConsoleMaxRows int           // DA_QUERY_CONSOLE_MAX_ROWS / query.console_max_rows: rows shown in the console
	APIMaxRows     int           // DA_QUERY_API_MAX_ROWS / query.api_max_rows: largest limit of POST /api/query
	ExportMaxRows  int           // DA_QUERY_EXPORT_MAX_ROWS / query.export_max_rows: rows in an export
	MemoryLimit    string        // DA_QUERY_MEMORY_LIMIT / query.memory_limit: a DuckDB size, e.g. "1GB"
	Threads        int           // DA_QUERY_THREADS / query.threads
}

// ProfilerConfig holds the profiler's settings (spec §8.1 keys and defaults, profiler.*).
type ProfilerConfig struct {
	SampleSize             int     // tables with more rows are profiled on a sample this size
	MaxCategoricalDistinct int     // at most this many distinct values makes a column categorical
	TopValuesLimit         int     // top values per categorical column
	HistogramBins          int     // bins of numeric histograms
	SampleRowsLimit        int     // sample rows shown
	SampleValuesLimit      int     // example values per column
	AlertHighMissingPct    float64 // "high missing" alert above this % of nulls
	AlertMissingPct        float64 // "missing" alert above this % of nulls
	AlertImbalancePct      float64 // "imbalanced" alert when one value exceeds this %
	AlertHighCardinality   int     // "high cardinality" alert above this many distinct values
	AlertZerosPct          float64 // "zeros" alert above this % of zeros (fixed 50 in the original)
	MemoryLimit            string  // DuckDB memory limit while profiling, default "4GB"
	Threads                int     // DuckDB threads while profiling, default 2
}

// CorporateMemoryConfig holds the knowledge governance settings (corporate_memory.*).
type CorporateMemoryConfig struct {
	Configured         bool             // the file has a corporate_memory section
	DistributionMode   string           // mandatory_only, admin_curated or hybrid
	ApprovalMode       string           // review_queue, auto_publish or threshold
	ReviewPeriodMonths int              // review period of approved items
	NotifyOnNewItems   bool             // notify knowledge admins of pending items
	BundleTokens       int              // estimated token budget of the agents' knowledge bundle
	Groups             map[string]Group // corporate_memory.groups
}

// Group is a named audience.
type Group struct {
	Label   string   // display name
	Members []string // e-mail addresses
}

// UserEntry is a legacy per-user display entry (users.<email>).
type UserEntry struct {
	DisplayName string // display_name
	KMAdmin     bool   // km_admin; roles live in the database, this is informational
}

// CatalogConfig holds catalog grouping (catalog.*).
type CatalogConfig struct {
	Categories map[string]any // category name → settings, as written in the file
	Order      []string       // category names in display order
}

// LegacyConfig holds accepted-but-unused keys of the original instance.yaml.
type LegacyConfig struct {
	Server              ServerHints       // server.*
	Admins              []Admin           // admins
	Deployment          Deployment        // deployment.*
	UsernameStripDomain bool              // auth.username_strip_domain
	UsernamePrefix      string            // auth.username_prefix
	RemoteQuery         RemoteQueryConfig // remote_query.*
}

// ServerHints are the original's server.* provisioning hints.
type ServerHints struct {
	Hostname   string // server.hostname
	Host       string // server.host
	AppDir     string // server.app_dir
	SSHAlias   string // server.ssh_alias
	SSHKey     string // server.ssh_key
	ProjectDir string // server.project_dir
}

// Admin is an entry of the original's admins list.
type Admin struct {
	Username     string // username
	SSHPublicKey string // ssh_public_key
}

// Deployment is the original's deployment section.
type Deployment struct {
	Method  string // manual or github_actions
	RepoURL string // repo_url
	Branch  string // branch
}

// RemoteQueryConfig is the original's remote_query section.
type RemoteQueryConfig struct {
	TimeoutSeconds        int    // timeout_seconds
	MaxResultRows         int    // max_result_rows
	MaxBQRegistrationRows int    // max_bq_registration_rows
	DefaultFormat         string // default_format
	OutputDir             string // output_dir
}

// defaults returns a Config holding every default value.
func defaults() *Config {
	return &Config{
		Addr:       DefaultAddr,
		DataDir:    DefaultDataDir,
		ConfigPath: DefaultConfigPath,
		Env:        EnvDevelopment,
		LogLevel:   slog.LevelInfo,
		LogFormat:  "text",
		ServerURL:  DefaultServerURL,
		SMTP:       SMTPConfig{Port: 587, UseTLS: true},

		InstanceName: DefaultInstanceName,
		Theme:        map[string]string{},

		DataSource:   "local",
		Keboola:      KeboolaConfig{TokenEnv: "KEBOOLA_STORAGE_TOKEN", MaxParallel: 4},
		OpenMetadata: OpenMetadataConfig{CacheTTL: time.Hour, Timeout: 10 * time.Second},
		Backup:       BackupConfig{Keep: 7},
		AI: AIConfig{
			Model:            "claude-haiku-4-5-20251001",
			StructuredOutput: "auto",
			VerifySSL:        true,
		},

		Upload: UploadConfig{MaxBytes: 500 << 20, ArtifactMaxBytes: 50 << 20},
		Query: QueryConfig{
			Timeout:        30 * time.Second,
			ConsoleMaxRows: 1_000,
			APIMaxRows:     10_000,
			ExportMaxRows:  1_000_000,
			MemoryLimit:    "1GB",
			Threads:        2,
		},
		MaxJSONBodyBytes: 1 << 20,
		HTTP: HTTPConfig{HeaderTimeout: 10 * time.Second, BodyTimeout: 10 * time.Second, MinRate: 4096,
			RateWindow: 30 * time.Second, MaxConnsPerAddr: 128, ShutdownDrain: 5 * time.Second},
		SyncHistoryRetentionDays: 90,
		Profiler: ProfilerConfig{
			SampleSize:             500_000,
			MaxCategoricalDistinct: 50,
			TopValuesLimit:         10,
			HistogramBins:          15,
			SampleRowsLimit:        5,
			SampleValuesLimit:      5,
			AlertHighMissingPct:    30,
			AlertMissingPct:        5,
			AlertImbalancePct:      60,
			AlertHighCardinality:   50,
			AlertZerosPct:          50,
			MemoryLimit:            "4GB",
			Threads:                2,
		},

		CorporateMemory: CorporateMemoryConfig{
			DistributionMode:   "hybrid",
			ApprovalMode:       "review_queue",
			ReviewPeriodMonths: 6,
			NotifyOnNewItems:   true,
			BundleTokens:       6000,
			Groups:             map[string]Group{},
		},
		Groups:          map[string]Group{},
		Users:           map[string]UserEntry{},
		UsernameMapping: map[string]string{},
		Datasets:        map[string]any{},
		Catalog:         CatalogConfig{Categories: map[string]any{}},
		Legacy: LegacyConfig{
			Deployment: Deployment{Method: "manual", Branch: "main"},
			RemoteQuery: RemoteQueryConfig{
				TimeoutSeconds:        300,
				MaxResultRows:         100_000,
				MaxBQRegistrationRows: 500_000,
				DefaultFormat:         "table",
			},
		},
	}
}

// IsProduction reports whether DA_ENV is production.
func (c *Config) IsProduction() bool { return c.Env == EnvProduction }

// ProviderDisabled reports whether auth.disabled_providers names the sign-in method.
func (c *Config) ProviderDisabled(name string) bool {
	return slices.Contains(c.DisabledProviders, name)
}

// GoogleEnabled reports whether Google sign-in is configured and not disabled.
func (c *Config) GoogleEnabled() bool {
	return c.GoogleClientID != "" && c.GoogleClientSecret != "" && !c.ProviderDisabled("google")
}

// MagicLinkEnabled reports whether e-mail magic links can be sent (SMTP host set, not disabled).
func (c *Config) MagicLinkEnabled() bool {
	return c.SMTP.Host != "" && !c.ProviderDisabled("email")
}

// KeboolaConfigured reports whether the Keboola connector has a URL and a token.
func (c *Config) KeboolaConfigured() bool { return c.Keboola.URL != "" && c.Keboola.Token != "" }

// JiraConfigured reports whether Jira webhook processing has its domain, e-mail and token.
func (c *Config) JiraConfigured() bool {
	return c.Jira.BaseURL != "" && c.Jira.Email != "" && c.Jira.APIToken != ""
}

// StateBackend names where the system database lives: "postgres" when DatabaseURL is set,
// else "duckdb".
func (c *Config) StateBackend() string {
	if c.DatabaseURL != "" {
		return "postgres"
	}
	return "duckdb"
}
