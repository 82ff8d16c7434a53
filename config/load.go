package config

import (
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ValidationError lists every problem Load found; each names its variable or key.
type ValidationError struct {
	Problems []string // one message per problem, in a stable order
}

// Error joins the problems, one per line.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0]
	}
	return fmt.Sprintf("invalid configuration (%d problems):\n  - %s",
		len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

// Load builds the configuration from flags (ov), the environment (getenv; nil means
// os.Getenv) and the instance file, and validates it in one pass. Errors that stop the
// file from being read (an explicit path that does not exist, invalid YAML) are returned
// at once; everything else is collected into one *ValidationError.
func Load(getenv func(string) string, ov Overrides) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	l := &loader{getenv: getenv, cfg: defaults(), labels: map[string]string{}, envs: map[string]envResult{}}
	c := l.cfg

	// The file's location comes from flag or environment only.
	explicit := false
	if v, ok := l.raw("DA_CONFIG", env("DA_CONFIG")); ok {
		c.ConfigPath, explicit = v, true
	}
	if ov.ConfigPath != nil {
		l.override("DA_CONFIG", "--config", &c.ConfigPath, ov.ConfigPath)
		explicit = true
	}
	if c.ConfigPath == "" {
		l.problem("%s must not be empty", l.label("DA_CONFIG"))
	}

	f := &fileConfig{}
	if c.ConfigPath != "" {
		fc, err := l.readFile(c.ConfigPath, explicit)
		if err != nil {
			return nil, err
		}
		if fc != nil {
			f, c.ConfigLoaded = fc, true
		}
	}

	l.apply(f, ov)
	l.validate(f)
	if len(l.problems) > 0 {
		return nil, &ValidationError{Problems: l.problems}
	}
	c.Warnings = l.warnings
	return c, nil
}

// loader carries one Load call's state.
type loader struct {
	getenv   func(string) string
	cfg      *Config
	labels   map[string]string // setting id → where its value came from, for messages
	envs     map[string]envResult
	problems []string
	warnings []string
}

type envResult struct {
	val, label string
	ok         bool
}

func (l *loader) problem(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *loader) warn(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

// env returns the trimmed value of variable name. For secrets the value may instead come
// from the file named by <name>_FILE (content trimmed); setting both is a problem.
func (l *loader) env(name string, secret bool) (val, label string, ok bool) {
	key := name + strconv.FormatBool(secret)
	if r, seen := l.envs[key]; seen {
		return r.val, r.label, r.ok
	}
	r := l.readEnv(name, secret)
	l.envs[key] = r
	return r.val, r.label, r.ok
}

func (l *loader) readEnv(name string, secret bool) envResult {
	v := strings.TrimSpace(l.getenv(name))
	fileVar := name + "_FILE"
	path := ""
	if secret {
		path = strings.TrimSpace(l.getenv(fileVar))
	}
	switch {
	case path == "":
		return envResult{v, name, v != ""}
	case v != "":
		l.problem("set only one of %s and %s", name, fileVar)
		return envResult{v, name, true}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		l.problem("%s: %v", fileVar, err)
		return envResult{"", fileVar, false}
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		l.problem("%s: %s is empty", fileVar, path)
		return envResult{"", fileVar, false}
	}
	return envResult{s, name + " (from " + fileVar + ")", true}
}

// yv is one instance.yaml candidate for a setting.
type yv struct {
	key string
	v   *string
}

func y(key string, v *string) yv { return yv{key, v} }

// src says where one setting may come from, highest precedence first: the environment
// variable (and <env>_FILE when secret), then the yaml keys in order.
type src struct {
	env    string
	secret bool
	yaml   []yv
}

func env(name string, ys ...yv) src    { return src{env: name, yaml: ys} }
func secret(name string, ys ...yv) src { return src{env: name, secret: true, yaml: ys} }
func file(ys ...yv) src                { return src{yaml: ys} }

// raw returns the winning text for a setting and records, under id, the name to use in
// messages about it: the variable or key it came from, else its variable or first key.
func (l *loader) raw(id string, s src) (string, bool) {
	if s.env != "" {
		if v, lab, ok := l.env(s.env, s.secret); ok {
			l.labels[id] = lab
			return v, true
		}
	}
	for _, c := range s.yaml {
		if c.v == nil {
			continue
		}
		if v := strings.TrimSpace(*c.v); v != "" {
			l.labels[id] = c.key
			return v, true
		}
	}
	if _, ok := l.labels[id]; !ok {
		l.labels[id] = s.env
		if s.env == "" && len(s.yaml) > 0 {
			l.labels[id] = s.yaml[0].key
		}
	}
	return "", false
}

// label is the name to use in messages about setting id.
func (l *loader) label(id string) string {
	if lab := l.labels[id]; lab != "" {
		return lab
	}
	return id
}

// override applies a command-line flag to setting id.
func (l *loader) override(id, flag string, dst *string, v *string) {
	if v != nil {
		*dst = strings.TrimSpace(*v)
		l.labels[id] = flag
	}
}

func (l *loader) str(dst *string, id string, s src) {
	if v, ok := l.raw(id, s); ok {
		*dst = v
	}
}

func (l *loader) list(dst *[]string, id string, s src) {
	if v, ok := l.raw(id, s); ok {
		*dst = splitList(v)
	}
}

func (l *loader) integer(dst *int, id string, s src) {
	var n int64
	if l.int64(&n, id, s) {
		if n > math.MaxInt32 || n < math.MinInt32 {
			l.problem("%s: %d is out of range", l.label(id), n)
			return
		}
		*dst = int(n)
	}
}

func (l *loader) int64(dst *int64, id string, s src) bool {
	v, ok := l.raw(id, s)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil {
		l.problem("%s: invalid integer %q", l.label(id), v)
		return false
	}
	*dst = n
	return true
}

func (l *loader) float(dst *float64, id string, s src) {
	v, ok := l.raw(id, s)
	if !ok {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		l.problem("%s: invalid number %q", l.label(id), v)
		return
	}
	*dst = f
}

func (l *loader) boolean(dst *bool, id string, s src) {
	v, ok := l.raw(id, s)
	if !ok {
		return
	}
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "y", "on":
		*dst = true
	case "0", "f", "false", "no", "n", "off":
		*dst = false
	default:
		l.problem("%s: invalid boolean %q (use true or false)", l.label(id), v)
	}
}

// duration accepts a Go duration ("30s", "2m") or a plain number of seconds.
func (l *loader) duration(dst *time.Duration, id string, s src) {
	v, ok := l.raw(id, s)
	if !ok {
		return
	}
	if d, err := time.ParseDuration(v); err == nil {
		*dst = d
		return
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && math.Abs(f) < 1e9 {
		*dst = time.Duration(f * float64(time.Second))
		return
	}
	l.problem("%s: invalid duration %q (use e.g. 30s, 2m or a number of seconds)", l.label(id), v)
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// apply fills the Config from yaml, environment and flags.
func (l *loader) apply(f *fileConfig, ov Overrides) {
	c := l.cfg

	// Process.
	l.str(&c.Addr, "DA_ADDR", env("DA_ADDR"))
	l.override("DA_ADDR", "--addr", &c.Addr, ov.Addr)
	l.str(&c.DataDir, "DATA_DIR", env("DATA_DIR"))
	l.override("DATA_DIR", "--data-dir", &c.DataDir, ov.DataDir)
	if c.DataDir != "" {
		if abs, err := filepath.Abs(c.DataDir); err != nil {
			l.problem("%s: %v", l.label("DATA_DIR"), err)
		} else {
			c.DataDir = abs
		}
	}
	l.str(&c.DatabaseURL, "DA_DATABASE_URL", secret("DA_DATABASE_URL", y("database.url", f.Database.URL)))
	if c.DatabaseURL != "" {
		if msg := checkDatabaseURL(c.DatabaseURL); msg != "" {
			l.problem("%s %s", l.label("DA_DATABASE_URL"), msg)
		}
	}
	l.str(&c.Env, "DA_ENV", env("DA_ENV"))
	c.Env = strings.ToLower(c.Env)
	l.boolean(&c.NoJobs, "DA_NO_JOBS", env("DA_NO_JOBS"))
	if ov.NoJobs != nil {
		c.NoJobs = *ov.NoJobs
	}
	if v, ok := l.raw("LOG_LEVEL", env("LOG_LEVEL")); ok {
		switch strings.ToLower(v) {
		case "debug":
			c.LogLevel = slog.LevelDebug
		case "info":
			c.LogLevel = slog.LevelInfo
		case "warn", "warning":
			c.LogLevel = slog.LevelWarn
		case "error":
			c.LogLevel = slog.LevelError
		default:
			l.problem("LOG_LEVEL must be one of debug, info, warn, error (got %q)", v)
		}
	}
	l.str(&c.LogFormat, "LOG_FORMAT", env("LOG_FORMAT"))
	c.LogFormat = strings.ToLower(c.LogFormat)

	// Secrets and bootstrap.
	l.str(&c.JWTSecret, "JWT_SECRET_KEY", secret("JWT_SECRET_KEY"))
	l.str(&c.SessionSecret, "SESSION_SECRET", secret("SESSION_SECRET"))
	l.str(&c.SeedAdminEmail, "SEED_ADMIN_EMAIL", env("SEED_ADMIN_EMAIL"))
	l.str(&c.SeedAdminPassword, "SEED_ADMIN_PASSWORD", secret("SEED_ADMIN_PASSWORD"))
	l.str(&c.ServerURL, "SERVER_URL", env("SERVER_URL"))
	c.ServerURL = strings.TrimRight(c.ServerURL, "/")
	l.list(&c.CORSOrigins, "CORS_ORIGINS", env("CORS_ORIGINS"))
	l.str(&c.HealthToken, "HEALTH_TOKEN", secret("HEALTH_TOKEN"))
	l.str(&c.MetricsToken, "DA_METRICS_TOKEN", secret("DA_METRICS_TOKEN"))

	// Sign-in.
	a := &f.Auth
	l.str(&c.GoogleClientID, "GOOGLE_CLIENT_ID", env("GOOGLE_CLIENT_ID", y("auth.google_client_id", a.GoogleClientID)))
	l.str(&c.GoogleClientSecret, "GOOGLE_CLIENT_SECRET",
		secret("GOOGLE_CLIENT_SECRET", y("auth.google_client_secret", a.GoogleClientSecret)))
	l.list(&c.AllowedDomains, "AUTH_ALLOWED_DOMAINS",
		env("AUTH_ALLOWED_DOMAINS", y("auth.allowed_domain", a.AllowedDomain)))
	for i, d := range c.AllowedDomains {
		c.AllowedDomains[i] = strings.ToLower(strings.TrimPrefix(d, "@"))
	}
	if len(a.DisabledProviders) > 0 {
		c.DisabledProviders = a.DisabledProviders
		l.labels["AUTH_DISABLED_PROVIDERS"] = "auth.disabled_providers"
	}
	l.list(&c.DisabledProviders, "AUTH_DISABLED_PROVIDERS", env("AUTH_DISABLED_PROVIDERS"))
	for i, p := range c.DisabledProviders {
		c.DisabledProviders[i] = strings.ToLower(strings.TrimSpace(p))
	}
	e := &f.Email
	l.str(&c.SMTP.Host, "SMTP_HOST", env("SMTP_HOST", y("email.smtp_host", e.SMTPHost)))
	l.integer(&c.SMTP.Port, "SMTP_PORT", env("SMTP_PORT", y("email.smtp_port", e.SMTPPort)))
	l.str(&c.SMTP.User, "SMTP_USER", env("SMTP_USER", y("email.smtp_user", e.SMTPUser)))
	l.str(&c.SMTP.Password, "SMTP_PASSWORD", secret("SMTP_PASSWORD", y("email.smtp_password", e.SMTPPassword)))
	l.boolean(&c.SMTP.UseTLS, "SMTP_USE_TLS", env("SMTP_USE_TLS", y("email.smtp_use_tls", e.SMTPUseTLS)))
	l.str(&c.SMTP.From, "SMTP_FROM", env("SMTP_FROM", y("email.from_address", e.FromAddress)))
	l.str(&c.SMTP.FromName, "SMTP_FROM_NAME", env("SMTP_FROM_NAME", y("email.from_name", e.FromName)))

	// Branding.
	l.str(&c.InstanceName, "instance.name", file(y("instance.name", f.Instance.Name), y("instance_name", f.InstanceName)))
	l.str(&c.InstanceSubtitle, "instance.subtitle",
		file(y("instance.subtitle", f.Instance.Subtitle), y("instance_subtitle", f.InstanceSubtitle)))
	l.str(&c.InstanceCopyright, "instance.copyright", file(y("instance.copyright", f.Instance.Copyright)))
	l.str(&c.InstanceLogoSVG, "instance.logo_svg", file(y("instance.logo_svg", f.Instance.LogoSVG)))
	if c.SMTP.FromName == "" {
		c.SMTP.FromName = c.InstanceName
	}
	for k, v := range f.Theme {
		if s := deref(v); s != "" {
			c.Theme[k] = s
		}
	}

	// Sources and connectors.
	ds := &f.DataSource
	l.str(&c.DataSource, "DATA_SOURCE", env("DATA_SOURCE", y("data_source.type", ds.Type)))
	c.DataSource = strings.ToLower(c.DataSource)
	k := &c.Keboola
	l.str(&k.URL, "KEBOOLA_STACK_URL",
		env("KEBOOLA_STACK_URL", y("keboola.url", f.Keboola.URL), y("data_source.keboola.stack_url", ds.Keboola.StackURL)))
	k.URL = strings.TrimRight(k.URL, "/")
	l.str(&k.TokenEnv, "keboola.token_env", file(y("keboola.token_env", f.Keboola.TokenEnv)))
	l.str(&k.Token, "KEBOOLA_STORAGE_TOKEN", secret("KEBOOLA_STORAGE_TOKEN"))
	if k.Token == "" && k.TokenEnv != "" && envNameRE.MatchString(k.TokenEnv) {
		l.str(&k.Token, "keboola.token", secret(k.TokenEnv))
	}
	if k.Token == "" {
		l.str(&k.Token, "keboola.token", file(y("data_source.keboola.storage_token", ds.Keboola.StorageToken)))
	}
	l.integer(&k.MaxParallel, "KEBOOLA_MAX_PARALLEL", env("KEBOOLA_MAX_PARALLEL", y("keboola.max_parallel", f.Keboola.MaxParallel)))
	l.str(&k.ProjectID, "data_source.keboola.project_id", file(y("data_source.keboola.project_id", ds.Keboola.ProjectID)))
	bq := &c.BigQuery
	l.str(&bq.Project, "data_source.bigquery.project",
		file(y("data_source.bigquery.project", ds.BigQuery.Project), y("bigquery.project_id", f.BigQuery.ProjectID)))
	l.str(&bq.Location, "data_source.bigquery.location", file(y("data_source.bigquery.location", ds.BigQuery.Location)))
	l.str(&bq.BillingProject, "data_source.bigquery.billing_project",
		file(y("data_source.bigquery.billing_project", ds.BigQuery.BillingProject)))

	j, fj := &c.Jira, &f.Jira
	l.str(&j.Domain, "JIRA_DOMAIN", env("JIRA_DOMAIN", y("jira.domain", fj.Domain)))
	l.str(&j.Email, "JIRA_EMAIL", env("JIRA_EMAIL", y("jira.email", fj.Email)))
	l.str(&j.APIToken, "JIRA_API_TOKEN", secret("JIRA_API_TOKEN", y("jira.api_token", fj.APIToken)))
	l.str(&j.WebhookSecret, "JIRA_WEBHOOK_SECRET", secret("JIRA_WEBHOOK_SECRET", y("jira.webhook_secret", fj.WebhookSecret)))
	l.str(&j.CloudID, "JIRA_CLOUD_ID", env("JIRA_CLOUD_ID", y("jira.cloud_id", fj.CloudID)))
	l.str(&j.SLAEmail, "JIRA_SLA_EMAIL", env("JIRA_SLA_EMAIL", y("jira.sla_email", fj.SLAEmail)))
	l.str(&j.SLAAPIToken, "JIRA_SLA_API_TOKEN", secret("JIRA_SLA_API_TOKEN", y("jira.sla_api_token", fj.SLAAPIToken)))
	l.str(&j.Project, "JIRA_PROJECT", env("JIRA_PROJECT", y("jira.project", fj.Project)))
	l.str(&j.BaseURL, "JIRA_BASE_URL", env("JIRA_BASE_URL", y("jira.base_url", fj.BaseURL)))
	l.str(&j.SLABaseURL, "JIRA_SLA_BASE_URL", env("JIRA_SLA_BASE_URL", y("jira.sla_base_url", fj.SLABaseURL)))
	l.boolean(&j.Insecure, "JIRA_WEBHOOK_INSECURE", env("JIRA_WEBHOOK_INSECURE"))
	j.Domain = strings.ToLower(j.Domain)
	// One root for every Jira file: the webhook, the transform, the jobs and the catalog all
	// read and write DATA_DIR/extracts/jira/{raw,data}.
	j.DataDir = filepath.Join(l.cfg.DataDir, "extracts", "jira")
	if j.BaseURL == "" && j.Domain != "" {
		j.BaseURL = "https://" + j.Domain
	}
	j.BaseURL = strings.TrimRight(j.BaseURL, "/")
	if j.SLABaseURL == "" && j.CloudID != "" {
		j.SLABaseURL = "https://api.atlassian.com/ex/jira/" + j.CloudID
	}
	j.SLABaseURL = strings.TrimRight(j.SLABaseURL, "/")

	t, ft := &c.Telegram, &f.Telegram
	l.str(&t.BotUsername, "TELEGRAM_BOT_USERNAME", env("TELEGRAM_BOT_USERNAME", y("telegram.bot_username", ft.BotUsername)))
	t.BotUsername = strings.TrimPrefix(t.BotUsername, "@")
	l.str(&t.BotToken, "TELEGRAM_BOT_TOKEN", secret("TELEGRAM_BOT_TOKEN", y("telegram.bot_token", ft.BotToken)))
	l.str(&t.DomainSuffix, "telegram.domain_suffix", file(y("telegram.domain_suffix", ft.DomainSuffix)))

	om, fo := &c.OpenMetadata, &f.OpenMetadata
	l.str(&om.URL, "openmetadata.url", env("OPENMETADATA_URL", y("openmetadata.url", fo.URL)))
	l.str(&om.Token, "openmetadata.token", secret("OPENMETADATA_TOKEN", y("openmetadata.token", fo.Token)))
	l.str(&om.ExportSchedule, "openmetadata.export_schedule",
		env("OPENMETADATA_EXPORT_SCHEDULE", y("openmetadata.export_schedule", fo.ExportSchedule)))
	l.duration(&om.Timeout, "openmetadata.timeout", env("OPENMETADATA_TIMEOUT", y("openmetadata.timeout", fo.Timeout)))
	if len(fo.Tables) > 0 {
		om.Tables = map[string]string{}
		for k, v := range fo.Tables {
			om.Tables[strings.ToLower(k)] = v
		}
	}
	l.duration(&om.CacheTTL, "openmetadata.cache_ttl_seconds", file(y("openmetadata.cache_ttl_seconds", fo.CacheTTLSeconds)))
	l.str(&om.FilterTag, "openmetadata.filter_tag", file(y("openmetadata.filter_tag", fo.FilterTag)))
	l.str(&om.DataProduct, "openmetadata.data_product", file(y("openmetadata.data_product", fo.DataProduct)))

	ai, fa := &c.AI, &f.AI
	l.str(&ai.Provider, "ai.provider", env("LLM_PROVIDER", y("ai.provider", fa.Provider)))
	if ai.Provider == "" && (deref(fa.AnthropicAPIKey) != "" || l.getenv("ANTHROPIC_API_KEY") != "") {
		ai.Provider = "anthropic" // the original's legacy form, or a key in the environment
	}
	// The provider's own variables (ANTHROPIC_*, OPENAI_*) win over the file.
	keyEnv, urlEnv := "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"
	if ai.Provider == "openai_compat" {
		keyEnv, urlEnv = "OPENAI_API_KEY", "OPENAI_BASE_URL"
	}
	l.str(&ai.APIKey, "ai.api_key", secret(keyEnv, y("ai.api_key", fa.APIKey), y("ai.anthropic_api_key", fa.AnthropicAPIKey)))
	l.str(&ai.BaseURL, "ai.base_url", env(urlEnv, y("ai.base_url", fa.BaseURL)))
	l.str(&ai.Model, "ai.model", env("LLM_MODEL", y("ai.model", fa.Model)))
	l.str(&ai.StructuredOutput, "ai.structured_output", file(y("ai.structured_output", fa.StructuredOutput)))
	l.boolean(&ai.VerifySSL, "ai.verify_ssl", file(y("ai.verify_ssl", fa.VerifySSL)))

	d, fd := &c.Desktop, &f.Desktop
	l.str(&d.JWTIssuer, "desktop.jwt_issuer", file(y("desktop.jwt_issuer", fd.JWTIssuer)))
	l.str(&d.JWTSecret, "DESKTOP_JWT_SECRET", secret("DESKTOP_JWT_SECRET", y("desktop.jwt_secret", fd.JWTSecret)))
	l.str(&d.URLScheme, "desktop.url_scheme", file(y("desktop.url_scheme", fd.URLScheme)))

	// Limits.
	l.int64(&c.Upload.MaxBytes, "upload.max_bytes", env("DA_UPLOAD_MAX_BYTES", y("upload.max_bytes", f.Upload.MaxBytes)))
	l.int64(&c.Upload.ArtifactMaxBytes, "upload.artifact_max_bytes",
		env("DA_UPLOAD_ARTIFACT_MAX_BYTES", y("upload.artifact_max_bytes", f.Upload.ArtifactMaxBytes)))
	q, fq := &c.Query, &f.Query
	l.duration(&q.Timeout, "query.timeout", env("DA_QUERY_TIMEOUT", y("query.timeout", fq.Timeout)))
	l.integer(&q.ConsoleMaxRows, "query.console_max_rows",
		env("DA_QUERY_CONSOLE_MAX_ROWS", y("query.console_max_rows", fq.ConsoleMaxRows)))
	l.integer(&q.APIMaxRows, "query.api_max_rows", env("DA_QUERY_API_MAX_ROWS", y("query.api_max_rows", fq.APIMaxRows)))
	l.integer(&q.ExportMaxRows, "query.export_max_rows",
		env("DA_QUERY_EXPORT_MAX_ROWS", y("query.export_max_rows", fq.ExportMaxRows)))
	l.str(&q.MemoryLimit, "query.memory_limit", env("DA_QUERY_MEMORY_LIMIT", y("query.memory_limit", fq.MemoryLimit)))
	l.integer(&q.Threads, "query.threads", env("DA_QUERY_THREADS", y("query.threads", fq.Threads)))
	l.int64(&c.MaxJSONBodyBytes, "server.max_json_body_bytes",
		env("DA_MAX_JSON_BODY_BYTES", y("server.max_json_body_bytes", f.Server.MaxJSONBodyBytes)))
	h, fs := &c.HTTP, &f.Server
	l.duration(&h.HeaderTimeout, "server.header_timeout", env("DA_HTTP_HEADER_TIMEOUT", y("server.header_timeout", fs.HeaderTimeout)))
	l.duration(&h.BodyTimeout, "server.body_timeout", env("DA_HTTP_BODY_TIMEOUT", y("server.body_timeout", fs.BodyTimeout)))
	l.int64(&h.MinRate, "server.min_transfer_rate", env("DA_HTTP_MIN_RATE", y("server.min_transfer_rate", fs.MinTransferRate)))
	l.duration(&h.RateWindow, "server.transfer_window", env("DA_HTTP_RATE_WINDOW", y("server.transfer_window", fs.TransferWindow)))
	l.integer(&h.MaxConnsPerAddr, "server.max_conns_per_addr",
		env("DA_HTTP_MAX_CONNS_PER_ADDR", y("server.max_conns_per_addr", fs.MaxConnsPerAddr)))
	l.duration(&h.ShutdownDrain, "server.shutdown_drain", env("DA_SHUTDOWN_DRAIN", y("server.shutdown_drain", fs.ShutdownDrain)))
	b, fb := &c.Backup, &f.Backup
	l.str(&b.Schedule, "backup.schedule", env("DA_BACKUP_SCHEDULE", y("backup.schedule", fb.Schedule)))
	l.integer(&b.Keep, "backup.keep", env("DA_BACKUP_KEEP", y("backup.keep", fb.Keep)))
	l.str(&b.Dir, "backup.dir", env("DA_BACKUP_DIR", y("backup.dir", fb.Dir)))
	l.integer(&c.SyncHistoryRetentionDays, "sync.history_retention_days",
		env("DA_SYNC_HISTORY_RETENTION_DAYS", y("sync.history_retention_days", f.Sync.HistoryRetentionDays)))

	p, fp := &c.Profiler, &f.Profiler
	l.integer(&p.SampleSize, "profiler.sample_size", file(y("profiler.sample_size", fp.SampleSize)))
	l.integer(&p.MaxCategoricalDistinct, "profiler.max_categorical_distinct",
		file(y("profiler.max_categorical_distinct", fp.MaxCategoricalDistinct)))
	l.integer(&p.TopValuesLimit, "profiler.top_values_limit", file(y("profiler.top_values_limit", fp.TopValuesLimit)))
	l.integer(&p.HistogramBins, "profiler.histogram_bins", file(y("profiler.histogram_bins", fp.HistogramBins)))
	l.integer(&p.SampleRowsLimit, "profiler.sample_rows_limit", file(y("profiler.sample_rows_limit", fp.SampleRowsLimit)))
	l.integer(&p.SampleValuesLimit, "profiler.sample_values_limit",
		file(y("profiler.sample_values_limit", fp.SampleValuesLimit)))
	l.float(&p.AlertHighMissingPct, "profiler.alert_high_missing_pct",
		file(y("profiler.alert_high_missing_pct", fp.AlertHighMissingPct)))
	l.float(&p.AlertMissingPct, "profiler.alert_missing_pct", file(y("profiler.alert_missing_pct", fp.AlertMissingPct)))
	l.float(&p.AlertImbalancePct, "profiler.alert_imbalance_pct", file(y("profiler.alert_imbalance_pct", fp.AlertImbalancePct)))
	l.integer(&p.AlertHighCardinality, "profiler.alert_high_cardinality",
		file(y("profiler.alert_high_cardinality", fp.AlertHighCardinality)))
	l.float(&p.AlertZerosPct, "profiler.alert_zeros_pct", file(y("profiler.alert_zeros_pct", fp.AlertZerosPct)))
	l.str(&p.MemoryLimit, "profiler.memory_limit", file(y("profiler.memory_limit", fp.MemoryLimit)))
	l.integer(&p.Threads, "profiler.threads", file(y("profiler.threads", fp.Threads)))

	// Content and governance.
	if cm := f.CorporateMemory; cm != nil {
		m := &c.CorporateMemory
		m.Configured = true
		l.str(&m.DistributionMode, "corporate_memory.distribution_mode",
			file(y("corporate_memory.distribution_mode", cm.DistributionMode)))
		l.str(&m.ApprovalMode, "corporate_memory.approval_mode", file(y("corporate_memory.approval_mode", cm.ApprovalMode)))
		l.integer(&m.ReviewPeriodMonths, "corporate_memory.review_period_months",
			file(y("corporate_memory.review_period_months", cm.ReviewPeriodMonths)))
		l.boolean(&m.NotifyOnNewItems, "corporate_memory.notify_on_new_items",
			file(y("corporate_memory.notify_on_new_items", cm.NotifyOnNewItems)))
		l.integer(&m.BundleTokens, "corporate_memory.bundle_tokens", file(y("corporate_memory.bundle_tokens", cm.BundleTokens)))
		m.Groups = groups(cm.Groups)
	}
	c.Groups = groups(f.Groups)
	for _, email := range slices.Sorted(maps.Keys(f.Users)) {
		u := f.Users[email]
		var e UserEntry
		e.DisplayName = deref(u.DisplayName)
		l.boolean(&e.KMAdmin, "users."+email+".km_admin", file(y("users."+email+".km_admin", u.KMAdmin)))
		c.Users[email] = e
	}
	for from, to := range f.UsernameMapping {
		c.UsernameMapping[from] = deref(to)
	}
	if f.Datasets != nil {
		c.Datasets = f.Datasets
	}
	if f.Catalog.Categories != nil {
		c.Catalog.Categories = f.Catalog.Categories
	}
	c.Catalog.Order = f.Catalog.Order

	// Legacy.
	lg, fs := &c.Legacy, &f.Server
	lg.Server = ServerHints{
		Hostname: deref(fs.Hostname), Host: deref(fs.Host), AppDir: deref(fs.AppDir),
		SSHAlias: deref(fs.SSHAlias), SSHKey: deref(fs.SSHKey), ProjectDir: deref(fs.ProjectDir),
	}
	for _, ad := range f.Admins {
		lg.Admins = append(lg.Admins, Admin{Username: deref(ad.Username), SSHPublicKey: deref(ad.SSHPublicKey)})
	}
	l.str(&lg.Deployment.Method, "deployment.method", file(y("deployment.method", f.Deployment.Method)))
	l.str(&lg.Deployment.RepoURL, "deployment.repo_url", file(y("deployment.repo_url", f.Deployment.RepoURL)))
	l.str(&lg.Deployment.Branch, "deployment.branch", file(y("deployment.branch", f.Deployment.Branch)))
	l.boolean(&lg.UsernameStripDomain, "auth.username_strip_domain",
		file(y("auth.username_strip_domain", a.UsernameStripDomain)))
	l.str(&lg.UsernamePrefix, "auth.username_prefix", file(y("auth.username_prefix", a.UsernamePrefix)))
	rq, fr := &lg.RemoteQuery, &f.RemoteQuery
	l.integer(&rq.TimeoutSeconds, "remote_query.timeout_seconds", file(y("remote_query.timeout_seconds", fr.TimeoutSeconds)))
	l.integer(&rq.MaxResultRows, "remote_query.max_result_rows", file(y("remote_query.max_result_rows", fr.MaxResultRows)))
	l.integer(&rq.MaxBQRegistrationRows, "remote_query.max_bq_registration_rows",
		file(y("remote_query.max_bq_registration_rows", fr.MaxBQRegistrationRows)))
	l.str(&rq.DefaultFormat, "remote_query.default_format", file(y("remote_query.default_format", fr.DefaultFormat)))
	l.str(&rq.OutputDir, "remote_query.output_dir", file(y("remote_query.output_dir", fr.OutputDir)))
}

// dirUnder makes a relative directory setting absolute, defaulting to DataDir/def.
func (l *loader) dirUnder(dst *string, id, def string) {
	if *dst == "" {
		*dst = filepath.Join(l.cfg.DataDir, filepath.FromSlash(def))
		return
	}
	if abs, err := filepath.Abs(*dst); err != nil {
		l.problem("%s: %v", l.label(id), err)
	} else {
		*dst = abs
	}
}

func groups(in map[string]fileGroup) map[string]Group {
	out := make(map[string]Group, len(in))
	for name, g := range in {
		out[name] = Group{Label: deref(g.Label), Members: g.Members}
	}
	return out
}

// checkDatabaseURL says what is wrong with a PostgreSQL URL, or "" when it looks usable.
// The message never repeats the URL, which holds a password.
func checkDatabaseURL(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "is not a URL; want postgres://user:password@host:port/dbname"
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return "must start with postgres:// or postgresql://"
	case u.Host == "":
		return "names no host; want postgres://user:password@host:port/dbname"
	case strings.Trim(u.Path, "/") == "":
		return "names no database; want postgres://user:password@host:port/dbname"
	}
	return ""
}
