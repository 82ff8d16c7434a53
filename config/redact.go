package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// String summarises the Config without secrets, so that %v and %+v never print one.
func (c Config) String() string {
	return "config.Config" + strings.TrimPrefix(fmt.Sprint(c.Redacted()), "map")
}

// GoString is String for %#v.
func (c Config) GoString() string { return c.String() }

// secretState says whether a secret is present without revealing it.
func secretState(v string, generated bool) string {
	switch {
	case generated:
		return "generated"
	case v != "":
		return "set"
	}
	return "unset"
}

// safeURL keeps only scheme://host[:port] so that credentials, tokens in query strings
// and paths never reach a log.
func safeURL(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return "(invalid)"
	}
	return u.Scheme + "://" + u.Host
}

// Redacted returns the settings as a nested map fit for logs and diagnostics: secrets
// appear only as "set", "generated" or "unset", URLs only as scheme://host.
func (c *Config) Redacted() map[string]any {
	return map[string]any{
		"addr":          c.Addr,
		"data_dir":      c.DataDir,
		"database_url":  RedactedDatabaseURL(c.DatabaseURL),
		"config_path":   c.ConfigPath,
		"config_loaded": c.ConfigLoaded,
		"env":           c.Env,
		"no_jobs":       c.NoJobs,
		"log_level":     c.LogLevel.String(),
		"log_format":    c.LogFormat,
		"server_url":    safeURL(c.ServerURL),
		"cors_origins":  c.CORSOrigins,
		"secrets": map[string]any{
			"jwt_secret_key":      secretState(c.JWTSecret, c.JWTSecretGenerated),
			"session_secret":      secretState(c.SessionSecret, c.SessionSecretGenerated),
			"seed_admin_password": secretState(c.SeedAdminPassword, false),
			"health_token":        secretState(c.HealthToken, false),
		},
		"seed_admin_email": c.SeedAdminEmail,
		"auth": map[string]any{
			"google_enabled":       c.GoogleEnabled(),
			"google_client_id":     c.GoogleClientID,
			"google_client_secret": secretState(c.GoogleClientSecret, false),
			"allowed_domains":      c.AllowedDomains,
			"disabled_providers":   c.DisabledProviders,
			"magic_link_enabled":   c.MagicLinkEnabled(),
		},
		"smtp": map[string]any{
			"host":     c.SMTP.Host,
			"port":     c.SMTP.Port,
			"user":     c.SMTP.User,
			"password": secretState(c.SMTP.Password, false),
			"use_tls":  c.SMTP.UseTLS,
			"from":     c.SMTP.From,
		},
		"instance": map[string]any{"name": c.InstanceName, "subtitle": c.InstanceSubtitle, "theme_keys": len(c.Theme)},
		"data_source": map[string]any{
			"type":              c.DataSource,
			"keboola_url":       safeURL(c.Keboola.URL),
			"keboola_token":     secretState(c.Keboola.Token, false),
			"keboola_token_env": c.Keboola.TokenEnv,
			"bigquery_project":  c.BigQuery.Project,
		},
		"jira": map[string]any{
			"configured":     c.JiraConfigured(),
			"domain":         c.Jira.Domain,
			"api_token":      secretState(c.Jira.APIToken, false),
			"webhook_secret": secretState(c.Jira.WebhookSecret, false),
			"sla_api_token":  secretState(c.Jira.SLAAPIToken, false),
			"data_dir":       c.Jira.DataDir,
		},
		"telegram": map[string]any{
			"bot_username": c.Telegram.BotUsername,
			"bot_token":    secretState(c.Telegram.BotToken, false),
		},
		"openmetadata": map[string]any{
			"url":   safeURL(c.OpenMetadata.URL),
			"token": secretState(c.OpenMetadata.Token, false),
		},
		"ai": map[string]any{
			"provider": c.AI.Provider,
			"base_url": safeURL(c.AI.BaseURL),
			"model":    c.AI.Model,
			"api_key":  secretState(c.AI.APIKey, false),
		},
		"desktop_jwt_secret": secretState(c.Desktop.JWTSecret, false),
		"limits": map[string]any{
			"upload_max_bytes":            c.Upload.MaxBytes,
			"upload_artifact_max_bytes":   c.Upload.ArtifactMaxBytes,
			"query_timeout":               c.Query.Timeout.String(),
			"query_console_max_rows":      c.Query.ConsoleMaxRows,
			"query_api_max_rows":          c.Query.APIMaxRows,
			"query_export_max_rows":       c.Query.ExportMaxRows,
			"query_memory_limit":          c.Query.MemoryLimit,
			"query_threads":               c.Query.Threads,
			"max_json_body_bytes":         c.MaxJSONBodyBytes,
			"http_header_timeout":         c.HTTP.HeaderTimeout.String(),
			"http_body_timeout":           c.HTTP.BodyTimeout.String(),
			"http_min_rate":               c.HTTP.MinRate,
			"http_rate_window":            c.HTTP.RateWindow.String(),
			"http_max_conns_per_addr":     c.HTTP.MaxConnsPerAddr,
			"shutdown_drain":              c.HTTP.ShutdownDrain.String(),
			"sync_history_retention_days": c.SyncHistoryRetentionDays,
		},
	}
}

// LogValue makes a Config safe to pass to slog: a short group with no secret values. It
// has a value receiver so that a Config logged by value is covered too.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.String("addr", c.Addr),
		slog.String("data_dir", c.DataDir),
		slog.String("state", c.StateBackend()),
		slog.String("config", c.ConfigPath),
		slog.Bool("config_loaded", c.ConfigLoaded),
		slog.Bool("no_jobs", c.NoJobs),
		slog.String("server_url", safeURL(c.ServerURL)),
		slog.String("jwt_secret", secretState(c.JWTSecret, c.JWTSecretGenerated)),
		slog.Bool("google", c.GoogleEnabled()),
		slog.Bool("magic_link", c.MagicLinkEnabled()),
		slog.String("data_source", c.DataSource),
		slog.Int64("upload_max_bytes", c.Upload.MaxBytes),
		slog.Duration("query_timeout", c.Query.Timeout),
		slog.Int("export_max_rows", c.Query.ExportMaxRows),
	)
}

// RedactedDatabaseURL is a PostgreSQL URL without its password (user, host, port and
// database stay, for diagnostics), or "" when unset.
func RedactedDatabaseURL(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		return "(invalid)"
	}
	u.RawQuery = ""
	return u.Redacted()
}
