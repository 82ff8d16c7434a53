package config

import (
	"maps"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ThemeKeys are the theme.* keys the pages understand; others are ignored with a warning.
var ThemeKeys = []string{
	"primary", "primary_dark", "primary_light", "text_primary", "text_secondary", "background",
	"surface", "border", "font_primary", "font_url", "radius", "success", "warning", "error",
}

var (
	domainRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	memoryLimitRE = regexp.MustCompile(`(?i)^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)
	botNameRE     = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

// validate checks the assembled Config once, adding every problem to l.problems.
func (l *loader) validate(f *fileConfig) {
	c := l.cfg
	if v := deref(f.ConfigVersion); v != "" && v != "1" {
		l.problem("config_version must be 1 (got %q)", v)
	}

	// Process.
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || !validPort(port) {
		l.problem("%s: invalid address %q (want host:port, e.g. :8000)", l.label("DA_ADDR"), c.Addr)
	}
	if c.DataDir == "" {
		l.problem("%s must not be empty", l.label("DATA_DIR"))
	}
	if c.Env != EnvDevelopment && c.Env != EnvProduction {
		l.problem("DA_ENV must be development or production (got %q)", c.Env)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		l.problem("LOG_FORMAT must be text or json (got %q)", c.LogFormat)
	}

	// Secrets and bootstrap.
	switch n := len(c.JWTSecret); {
	case n == 0 && c.IsProduction():
		l.problem("JWT_SECRET_KEY is required when DA_ENV=production (at least %d bytes, e.g. openssl rand -base64 48)",
			MinSecretBytes)
	case n > 0 && n < MinSecretBytes && c.IsProduction():
		l.problem("%s must be at least %d bytes (got %d)", l.label("JWT_SECRET_KEY"), MinSecretBytes, n)
	case n > 0 && n < MinSecretBytes:
		l.problem("%s must be at least %d bytes (got %d); in development you may unset it to use a generated secret",
			l.label("JWT_SECRET_KEY"), MinSecretBytes, n)
	}
	if n := len(c.SessionSecret); n > 0 && n < MinSecretBytes {
		l.problem("%s must be at least %d bytes (got %d)", l.label("SESSION_SECRET"), MinSecretBytes, n)
	}
	switch {
	case c.SeedAdminEmail != "" && c.SeedAdminPassword == "":
		l.problem("SEED_ADMIN_PASSWORD is required when SEED_ADMIN_EMAIL is set (set both or neither)")
	case c.SeedAdminEmail == "" && c.SeedAdminPassword != "":
		l.problem("SEED_ADMIN_EMAIL is required when SEED_ADMIN_PASSWORD is set (set both or neither)")
	}
	l.email("SEED_ADMIN_EMAIL", c.SeedAdminEmail)
	if n := utf8.RuneCountInString(c.SeedAdminPassword); n > 0 && n < MinPasswordChars {
		l.problem("%s must be at least %d characters (got %d)", l.label("SEED_ADMIN_PASSWORD"), MinPasswordChars, n)
	}
	l.httpURL("SERVER_URL", c.ServerURL, true)
	if c.IsProduction() && c.ServerURL == DefaultServerURL {
		l.warn("SERVER_URL is %s in production; e-mailed links and OAuth callbacks will point there", DefaultServerURL)
	}
	for i, o := range c.CORSOrigins {
		if o == "*" {
			l.problem("%s: \"*\" is not allowed because credentials are sent; list the origins", l.label("CORS_ORIGINS"))
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			l.problem("%s: %q is not an origin (want scheme://host[:port])", l.label("CORS_ORIGINS"), o)
			continue
		}
		c.CORSOrigins[i] = u.Scheme + "://" + strings.ToLower(u.Host)
	}

	// Sign-in.
	if (c.GoogleClientID == "") != (c.GoogleClientSecret == "") {
		missing, given := "GOOGLE_CLIENT_SECRET", l.label("GOOGLE_CLIENT_ID")
		if c.GoogleClientID == "" {
			missing, given = "GOOGLE_CLIENT_ID", l.label("GOOGLE_CLIENT_SECRET")
		}
		l.problem("%s is required when %s is set", missing, given)
	}
	for _, d := range c.AllowedDomains {
		if !domainRE.MatchString(d) {
			l.problem("%s: %q is not a domain (e.g. acme.com)", l.label("AUTH_ALLOWED_DOMAINS"), d)
		}
	}
	if c.GoogleEnabled() && len(c.AllowedDomains) == 0 {
		l.warn("Google sign-in is configured without auth.allowed_domain (AUTH_ALLOWED_DOMAINS): no domain restriction applies")
	}
	for _, p := range c.DisabledProviders {
		if p != "email" && p != "google" {
			l.problem("%s: unknown sign-in method %q (use email or google)", l.label("AUTH_DISABLED_PROVIDERS"), p)
		}
	}
	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		l.problem("%s must be between 1 and 65535 (got %d)", l.label("SMTP_PORT"), c.SMTP.Port)
	}
	if strings.Contains(c.SMTP.Host, "/") || strings.ContainsAny(c.SMTP.Host, " \t") {
		l.problem("%s must be a host name, not a URL (got %q)", l.label("SMTP_HOST"), c.SMTP.Host)
	}
	if c.SMTP.From != "" {
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			l.problem("%s must be an e-mail address (got %q)", l.label("SMTP_FROM"), c.SMTP.From)
		}
	} else if c.SMTP.Host != "" {
		l.problem("SMTP_FROM (email.from_address) is required when %s is set", l.label("SMTP_HOST"))
	}

	// Branding.
	if svg := strings.ToLower(c.InstanceLogoSVG); svg != "" &&
		(!strings.HasPrefix(svg, "<svg") || strings.Contains(svg, "<script") || strings.Contains(svg, "javascript:")) {
		l.problem("instance.logo_svg must be a single <svg> element without scripts")
	}
	for _, k := range slices.Sorted(maps.Keys(c.Theme)) {
		v := c.Theme[k]
		if !slices.Contains(ThemeKeys, k) {
			l.warn("theme.%s is not a theme key (ignored); known keys: %s", k, strings.Join(ThemeKeys, ", "))
			delete(c.Theme, k)
			continue
		}
		if k == "font_url" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
				strings.ContainsAny(v, "\"'()<> \t\n\\") {
				l.problem("theme.font_url must be an http(s) URL (got %q)", v)
			}
			continue
		}
		if strings.ContainsAny(v, "<>{};\\\n\r\t") {
			l.problem("theme.%s must be a plain CSS value without < > { } ; or \\ (got %q)", k, v)
		}
	}

	// Sources and connectors.
	if !slices.Contains([]string{"local", "keboola", "bigquery"}, c.DataSource) {
		l.problem("%s must be one of local, keboola, bigquery (got %q)", l.label("DATA_SOURCE"), c.DataSource)
	}
	l.httpURL("KEBOOLA_STACK_URL", c.Keboola.URL, false)
	if c.Keboola.MaxParallel < 1 || c.Keboola.MaxParallel > 32 {
		l.problem("%s must be between 1 and 32 (got %d)", l.label("KEBOOLA_MAX_PARALLEL"), c.Keboola.MaxParallel)
	}
	if c.Keboola.TokenEnv != "" && !envNameRE.MatchString(c.Keboola.TokenEnv) {
		l.problem("keboola.token_env must be an environment variable name (got %q)", c.Keboola.TokenEnv)
	}
	if c.DataSource == "keboola" && !c.KeboolaConfigured() {
		l.warn("data source is keboola but KEBOOLA_STACK_URL and KEBOOLA_STORAGE_TOKEN are not both set; Keboola sync will fail")
	}
	if c.DataSource == "bigquery" && c.BigQuery.Project == "" {
		l.warn("data source is bigquery but data_source.bigquery.project is not set; BigQuery sync will fail")
	}
	if d := c.Jira.Domain; d != "" && !domainRE.MatchString(d) {
		l.problem("%s must be a host name like acme.atlassian.net (got %q)", l.label("JIRA_DOMAIN"), d)
	}
	for _, u := range []struct{ id, v string }{{"JIRA_BASE_URL", c.Jira.BaseURL}, {"JIRA_SLA_BASE_URL", c.Jira.SLABaseURL}} {
		if p, err := url.Parse(u.v); u.v != "" && (err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "") {
			l.problem("%s must be an http(s) URL like https://acme.atlassian.net (got %q)", l.label(u.id), u.v)
		}
	}
	l.email("JIRA_EMAIL", c.Jira.Email)
	l.email("JIRA_SLA_EMAIL", c.Jira.SLAEmail)
	if u := c.Telegram.BotUsername; u != "" && !botNameRE.MatchString(u) {
		l.problem("%s must be a Telegram username (letters, digits, _) (got %q)", l.label("TELEGRAM_BOT_USERNAME"), u)
	}
	l.httpURL("openmetadata.url", c.OpenMetadata.URL, false)
	l.positive("backup.keep", int64(c.Backup.Keep))
	if c.OpenMetadata.Timeout <= 0 {
		l.problem("%s must be positive", l.label("openmetadata.timeout"))
	}
	if c.OpenMetadata.CacheTTL < 0 {
		l.problem("%s must not be negative", l.label("openmetadata.cache_ttl_seconds"))
	}
	switch c.AI.Provider {
	case "", "anthropic":
	case "openai_compat":
		if c.AI.BaseURL == "" {
			l.problem("ai.base_url is required when ai.provider is openai_compat")
		}
	default:
		l.problem("ai.provider must be anthropic or openai_compat (got %q)", c.AI.Provider)
	}
	l.httpURL("ai.base_url", c.AI.BaseURL, false)
	if !slices.Contains([]string{"strict", "json", "auto"}, c.AI.StructuredOutput) {
		l.problem("ai.structured_output must be one of strict, json, auto (got %q)", c.AI.StructuredOutput)
	}

	// Limits.
	l.positive("upload.max_bytes", c.Upload.MaxBytes)
	l.positive("upload.artifact_max_bytes", c.Upload.ArtifactMaxBytes)
	if c.Query.Timeout <= 0 {
		l.problem("%s must be positive (got %s)", l.label("query.timeout"), c.Query.Timeout)
	}
	l.positive("query.console_max_rows", int64(c.Query.ConsoleMaxRows))
	l.positive("query.api_max_rows", int64(c.Query.APIMaxRows))
	l.positive("query.export_max_rows", int64(c.Query.ExportMaxRows))
	l.positive("query.threads", int64(c.Query.Threads))
	l.memoryLimit("query.memory_limit", c.Query.MemoryLimit)
	l.positive("server.max_json_body_bytes", c.MaxJSONBodyBytes)
	h := c.HTTP
	for _, d := range []struct {
		id string
		v  time.Duration
	}{{"server.header_timeout", h.HeaderTimeout}, {"server.body_timeout", h.BodyTimeout},
		{"server.transfer_window", h.RateWindow}, {"server.shutdown_drain", h.ShutdownDrain}} {
		if d.v <= 0 {
			l.problem("%s must be positive (got %s)", l.label(d.id), d.v)
		}
	}
	l.positive("server.min_transfer_rate", h.MinRate)
	if h.MaxConnsPerAddr < 0 {
		l.problem("%s must be 0 (no cap) or more (got %d)", l.label("server.max_conns_per_addr"), h.MaxConnsPerAddr)
	}
	l.positive("sync.history_retention_days", int64(c.SyncHistoryRetentionDays))
	p := c.Profiler
	l.positive("profiler.sample_size", int64(p.SampleSize))
	l.positive("profiler.max_categorical_distinct", int64(p.MaxCategoricalDistinct))
	l.positive("profiler.top_values_limit", int64(p.TopValuesLimit))
	l.positive("profiler.histogram_bins", int64(p.HistogramBins))
	l.positive("profiler.sample_rows_limit", int64(p.SampleRowsLimit))
	l.positive("profiler.sample_values_limit", int64(p.SampleValuesLimit))
	l.positive("profiler.alert_high_cardinality", int64(p.AlertHighCardinality))
	l.positive("profiler.threads", int64(p.Threads))
	l.percent("profiler.alert_high_missing_pct", p.AlertHighMissingPct)
	l.percent("profiler.alert_missing_pct", p.AlertMissingPct)
	l.percent("profiler.alert_imbalance_pct", p.AlertImbalancePct)
	l.percent("profiler.alert_zeros_pct", p.AlertZerosPct)
	l.memoryLimit("profiler.memory_limit", p.MemoryLimit)

	// Content and governance.
	cm := c.CorporateMemory
	if !slices.Contains([]string{"mandatory_only", "admin_curated", "hybrid"}, cm.DistributionMode) {
		l.problem("corporate_memory.distribution_mode must be one of mandatory_only, admin_curated, hybrid (got %q)",
			cm.DistributionMode)
	}
	l.positive("corporate_memory.bundle_tokens", int64(cm.BundleTokens))
	if !slices.Contains([]string{"review_queue", "auto_publish", "threshold"}, cm.ApprovalMode) {
		l.problem("corporate_memory.approval_mode must be one of review_queue, auto_publish, threshold (got %q)",
			cm.ApprovalMode)
	}
	l.positive("corporate_memory.review_period_months", int64(cm.ReviewPeriodMonths))
	l.groupMembers("groups", c.Groups)
	l.groupMembers("corporate_memory.groups", cm.Groups)
	for _, email := range slices.Sorted(maps.Keys(c.Users)) {
		if !validEmail(email) {
			l.problem("users: key %q must be an e-mail address", email)
		}
	}
}

func (l *loader) positive(id string, v int64) {
	if v <= 0 {
		l.problem("%s must be positive (got %d)", l.label(id), v)
	}
}

func (l *loader) percent(id string, v float64) {
	if v < 0 || v > 100 {
		l.problem("%s must be between 0 and 100 (got %g)", l.label(id), v)
	}
}

func (l *loader) memoryLimit(id, v string) {
	if !memoryLimitRE.MatchString(v) {
		l.problem("%s must be a size such as 512MB or 1GB (got %q)", l.label(id), v)
	}
}

func (l *loader) email(id, v string) {
	if v != "" && !validEmail(v) {
		l.problem("%s must be an e-mail address (got %q)", l.label(id), v)
	}
}

// httpURL checks that v (if set, or always when required) is an absolute http(s) URL.
func (l *loader) httpURL(id, v string, required bool) {
	if v == "" && !required {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.problem("%s must be an absolute http(s) URL (got %q)", l.label(id), v)
	}
}

func (l *loader) groupMembers(key string, gs map[string]Group) {
	for _, name := range slices.Sorted(maps.Keys(gs)) {
		for i, m := range gs[name].Members {
			if !validEmail(m) {
				l.problem("%s.%s.members[%d] must be an e-mail address (got %q)", key, name, i, m)
			}
		}
	}
}

// validEmail is deliberately loose: one @ with something on each side and no spaces.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") &&
		!strings.ContainsAny(s, " \t\r\n<>")
}

// validPort accepts 0 too: it asks the kernel for a free port (tests use it).
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}
