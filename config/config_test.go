package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"da/config"
)

// env is a fake environment; its getenv method is what Load receives.
type env map[string]string

func (e env) getenv(k string) string { return e[k] }

// writeFile writes content to name in a fresh temp dir and returns the path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withYAML returns e plus DA_CONFIG pointing at a file holding yaml.
func withYAML(t *testing.T, e env, yaml string) env {
	t.Helper()
	out := env{"DA_CONFIG": writeFile(t, "instance.yaml", yaml)}
	for k, v := range e {
		out[k] = v
	}
	return out
}

func mustLoad(t *testing.T, e env, ov config.Overrides) *config.Config {
	t.Helper()
	c, err := config.Load(e.getenv, ov)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func problems(t *testing.T, e env, ov config.Overrides) []string {
	t.Helper()
	_, err := config.Load(e.getenv, ov)
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error = %v, want *ValidationError", err)
	}
	return ve.Problems
}

func ptr[T any](v T) *T { return &v }

const longSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // the default config/instance.yaml is relative to the working directory
	c := mustLoad(t, env{}, config.Overrides{})

	check := []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, ":8000"},
		{"DataDir", c.DataDir, filepath.Join(dir, "data")},
		{"DatabaseURL", c.DatabaseURL, ""},
		{"StateBackend", c.StateBackend(), "duckdb"},
		{"ConfigPath", c.ConfigPath, "config/instance.yaml"},
		{"ConfigLoaded", c.ConfigLoaded, false},
		{"Env", c.Env, "development"},
		{"NoJobs", c.NoJobs, false},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LogFormat", c.LogFormat, "text"},
		{"JWTSecret", c.JWTSecret, ""},
		{"ServerURL", c.ServerURL, "http://localhost:8000"},
		{"CORSOrigins", len(c.CORSOrigins), 0},
		{"GoogleEnabled", c.GoogleEnabled(), false},
		{"MagicLinkEnabled", c.MagicLinkEnabled(), false},
		{"SMTP.Port", c.SMTP.Port, 587},
		{"SMTP.UseTLS", c.SMTP.UseTLS, true},
		{"InstanceName", c.InstanceName, "AI Data Analyst"},
		{"DataSource", c.DataSource, "local"},
		{"Keboola.TokenEnv", c.Keboola.TokenEnv, "KEBOOLA_STORAGE_TOKEN"},
		{"Jira.DataDir", c.Jira.DataDir, filepath.Join(dir, "data", "extracts", "jira")},
		{"Upload.MaxBytes", c.Upload.MaxBytes, int64(500 * 1024 * 1024)},
		{"Upload.ArtifactMaxBytes", c.Upload.ArtifactMaxBytes, int64(50 * 1024 * 1024)},
		{"Query.Timeout", c.Query.Timeout, 30 * time.Second},
		{"Query.ConsoleMaxRows", c.Query.ConsoleMaxRows, 1000},
		{"Query.APIMaxRows", c.Query.APIMaxRows, 10000},
		{"Query.ExportMaxRows", c.Query.ExportMaxRows, 1_000_000},
		{"Query.MemoryLimit", c.Query.MemoryLimit, "1GB"},
		{"Query.Threads", c.Query.Threads, 2},
		{"MaxJSONBodyBytes", c.MaxJSONBodyBytes, int64(1 << 20)},
		{"HTTP", c.HTTP, config.HTTPConfig{HeaderTimeout: 10 * time.Second, BodyTimeout: 10 * time.Second,
			MinRate: 4096, RateWindow: 30 * time.Second, MaxConnsPerAddr: 128, ShutdownDrain: 5 * time.Second}},
		{"SyncHistoryRetentionDays", c.SyncHistoryRetentionDays, 90},
		{"Profiler", c.Profiler, config.ProfilerConfig{
			SampleSize: 500000, MaxCategoricalDistinct: 50, TopValuesLimit: 10, HistogramBins: 15,
			SampleRowsLimit: 5, SampleValuesLimit: 5, AlertHighMissingPct: 30, AlertMissingPct: 5,
			AlertImbalancePct: 60, AlertHighCardinality: 50, AlertZerosPct: 50, MemoryLimit: "4GB", Threads: 2,
		}},
		{"CorporateMemory.Configured", c.CorporateMemory.Configured, false},
		{"CorporateMemory.ApprovalMode", c.CorporateMemory.ApprovalMode, "review_queue"},
		{"Warnings", len(c.Warnings), 0},
	}
	for _, tc := range check {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	const yaml = `
upload:
  max_bytes: 1000
query:
  timeout: 10s
  export_max_rows: 5000
auth:
  allowed_domain: "yaml.example, other.example"
  google_client_id: yaml-id
  google_client_secret: yaml-secret
email:
  smtp_host: smtp.yaml.example
  smtp_port: 2525
  from_address: noreply@yaml.example
`
	dataDir := t.TempDir()
	tests := []struct {
		name  string
		env   env
		ov    config.Overrides
		check func(*testing.T, *config.Config)
	}{
		{"yaml over defaults", env{}, config.Overrides{}, func(t *testing.T, c *config.Config) {
			if c.Upload.MaxBytes != 1000 || c.Query.Timeout != 10*time.Second || c.Query.ExportMaxRows != 5000 {
				t.Errorf("got %d %s %d", c.Upload.MaxBytes, c.Query.Timeout, c.Query.ExportMaxRows)
			}
			if !slices.Equal(c.AllowedDomains, []string{"yaml.example", "other.example"}) {
				t.Errorf("AllowedDomains = %q", c.AllowedDomains)
			}
			if c.GoogleClientID != "yaml-id" || c.SMTP.Host != "smtp.yaml.example" || c.SMTP.Port != 2525 {
				t.Errorf("got %q %q %d", c.GoogleClientID, c.SMTP.Host, c.SMTP.Port)
			}
		}},
		{"env over yaml", env{
			"DA_UPLOAD_MAX_BYTES": "2000", "DA_QUERY_TIMEOUT": "45", "DA_QUERY_EXPORT_MAX_ROWS": "7000",
			"AUTH_ALLOWED_DOMAINS": "@Env.Example", "GOOGLE_CLIENT_ID": "env-id", "SMTP_HOST": "smtp.env.example",
			"SMTP_FROM": "noreply@env.example",
		}, config.Overrides{}, func(t *testing.T, c *config.Config) {
			if c.Upload.MaxBytes != 2000 || c.Query.Timeout != 45*time.Second || c.Query.ExportMaxRows != 7000 {
				t.Errorf("got %d %s %d", c.Upload.MaxBytes, c.Query.Timeout, c.Query.ExportMaxRows)
			}
			if !slices.Equal(c.AllowedDomains, []string{"env.example"}) {
				t.Errorf("AllowedDomains = %q", c.AllowedDomains)
			}
			if c.GoogleClientID != "env-id" || c.GoogleClientSecret != "yaml-secret" || c.SMTP.Host != "smtp.env.example" {
				t.Errorf("got %q %q %q", c.GoogleClientID, c.GoogleClientSecret, c.SMTP.Host)
			}
		}},
		{"flags over env", env{"DA_ADDR": ":9000", "DATA_DIR": "/nonexistent/env", "DA_NO_JOBS": "true"},
			config.Overrides{Addr: ptr("127.0.0.1:9100"), DataDir: ptr(dataDir), NoJobs: ptr(false)},
			func(t *testing.T, c *config.Config) {
				if c.Addr != "127.0.0.1:9100" || c.DataDir != dataDir || c.NoJobs {
					t.Errorf("got %q %q %v", c.Addr, c.DataDir, c.NoJobs)
				}
			}},
		{"env without flags", env{"DA_ADDR": ":9000", "DATA_DIR": "rel/dir", "DA_NO_JOBS": "true"}, config.Overrides{},
			func(t *testing.T, c *config.Config) {
				wd, _ := os.Getwd()
				if c.Addr != ":9000" || c.DataDir != filepath.Join(wd, "rel", "dir") || !c.NoJobs {
					t.Errorf("got %q %q %v", c.Addr, c.DataDir, c.NoJobs)
				}
			}},
		{"config flag over DA_CONFIG", env{"DA_CONFIG": "/nonexistent/instance.yaml"},
			config.Overrides{ConfigPath: ptr(writeFile(t, "flag.yaml", "query:\n  threads: 7\n"))},
			func(t *testing.T, c *config.Config) {
				if !c.ConfigLoaded || c.Query.Threads != 7 {
					t.Errorf("ConfigLoaded=%v Threads=%d", c.ConfigLoaded, c.Query.Threads)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, mustLoad(t, withYAML(t, tc.env, yaml), tc.ov))
		})
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	secretFile := writeFile(t, "jwt", "  "+longSecret+"\n")
	emptyFile := writeFile(t, "empty", "\n")

	c := mustLoad(t, env{"JWT_SECRET_KEY_FILE": secretFile, "SEED_ADMIN_EMAIL": "admin@example.com",
		"SEED_ADMIN_PASSWORD_FILE": writeFile(t, "pw", "s3cret-pass\n"), "SMTP_PASSWORD_FILE": writeFile(t, "smtp", "mailpw"),
		"DA_DATABASE_URL_FILE": writeFile(t, "db", "postgres://da:pw@db:5432/da\n")},
		config.Overrides{})
	if c.JWTSecret != longSecret || c.SeedAdminPassword != "s3cret-pass" || c.SMTP.Password != "mailpw" {
		t.Errorf("got %q %q %q", c.JWTSecret, c.SeedAdminPassword, c.SMTP.Password)
	}
	if c.DatabaseURL != "postgres://da:pw@db:5432/da" || c.StateBackend() != "postgres" {
		t.Errorf("database URL from file = %q (%s)", c.DatabaseURL, c.StateBackend())
	}

	tests := []struct {
		name string
		env  env
		want string
	}{
		{"both set", env{"JWT_SECRET_KEY": longSecret, "JWT_SECRET_KEY_FILE": secretFile},
			"set only one of JWT_SECRET_KEY and JWT_SECRET_KEY_FILE"},
		{"missing file", env{"SESSION_SECRET_FILE": "/nonexistent/secret"}, "SESSION_SECRET_FILE: open /nonexistent/secret"},
		{"empty file", env{"GOOGLE_CLIENT_SECRET_FILE": emptyFile}, "GOOGLE_CLIENT_SECRET_FILE: " + emptyFile + " is empty"},
		{"short secret from file", env{"JWT_SECRET_KEY_FILE": writeFile(t, "short", "tooshort")},
			"JWT_SECRET_KEY (from JWT_SECRET_KEY_FILE) must be at least 32 bytes (got 8)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := problems(t, tc.env, config.Overrides{})
			if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q do not contain %q", ps, tc.want)
			}
		})
	}
}

func TestVarExpansion(t *testing.T) {
	t.Parallel()
	e := withYAML(t, env{
		"ORG":         "Acme",
		"PORT":        "2525",
		"TLS":         "false",
		"AI_KEY_FILE": writeFile(t, "key", "sk-from-file\n"),
	}, `
instance:
  name: "${ORG} Analytics"
  subtitle: ${UNSET_VAR}
email:
  smtp_port: ${PORT}
  smtp_use_tls: ${TLS}
ai:
  api_key: "${AI_KEY}"
groups:
  team:
    label: "${ORG} team"
    members: ["${ORG}@example.com"]
`)
	c := mustLoad(t, e, config.Overrides{})
	if c.InstanceName != "Acme Analytics" || c.InstanceSubtitle != "" || c.SMTP.Port != 2525 || c.SMTP.UseTLS {
		t.Errorf("got %q %q %d %v", c.InstanceName, c.InstanceSubtitle, c.SMTP.Port, c.SMTP.UseTLS)
	}
	if c.AI.APIKey != "sk-from-file" {
		t.Errorf("AI.APIKey = %q, want the content of AI_KEY_FILE", c.AI.APIKey)
	}
	if g := c.Groups["team"]; g.Label != "Acme team" || !slices.Equal(g.Members, []string{"Acme@example.com"}) {
		t.Errorf("group = %+v", g)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "instance.subtitle refers to ${UNSET_VAR}, which is not set") {
		t.Errorf("Warnings = %q", c.Warnings)
	}

	ps := problems(t, withYAML(t, nil, "instance:\n  name: \"${not valid}\"\n"), config.Overrides{})
	if len(ps) != 1 || !strings.Contains(ps[0], `instance.name: "${not valid}" is not a valid variable reference`) {
		t.Errorf("problems = %q", ps)
	}
}

// Every problem must name the variable or key it is about.
func TestValidationMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		yaml string
		ov   config.Overrides
		key  string // the variable or key the message must name
		want string // the message (substring)
	}{
		{name: "dev short jwt", env: env{"JWT_SECRET_KEY": "0123456789"}, key: "JWT_SECRET_KEY",
			want: "JWT_SECRET_KEY must be at least 32 bytes (got 10); in development you may unset it"},
		{name: "session short", env: env{"SESSION_SECRET": "short"}, key: "SESSION_SECRET",
			want: "SESSION_SECRET must be at least 32 bytes (got 5)"},
		{name: "env", env: env{"DA_ENV": "staging"}, key: "DA_ENV",
			want: `DA_ENV must be development or production (got "staging")`},
		{name: "log level", env: env{"LOG_LEVEL": "loud"}, key: "LOG_LEVEL",
			want: `LOG_LEVEL must be one of debug, info, warn, error (got "loud")`},
		{name: "log format", env: env{"LOG_FORMAT": "xml"}, key: "LOG_FORMAT", want: "LOG_FORMAT must be text or json"},
		{name: "addr env", env: env{"DA_ADDR": "8000"}, key: "DA_ADDR", want: `DA_ADDR: invalid address "8000"`},
		{name: "addr flag", ov: config.Overrides{Addr: ptr("localhost:http")}, key: "--addr",
			want: `--addr: invalid address "localhost:http"`},
		{name: "data dir flag", ov: config.Overrides{DataDir: ptr("")}, key: "--data-dir",
			want: "--data-dir must not be empty"},
		{name: "no jobs", env: env{"DA_NO_JOBS": "maybe"}, key: "DA_NO_JOBS", want: `DA_NO_JOBS: invalid boolean "maybe"`},
		{name: "seed email alone", env: env{"SEED_ADMIN_EMAIL": "a@example.com"}, key: "SEED_ADMIN_PASSWORD",
			want: "SEED_ADMIN_PASSWORD is required when SEED_ADMIN_EMAIL is set"},
		{name: "seed password alone", env: env{"SEED_ADMIN_PASSWORD": "long enough"}, key: "SEED_ADMIN_EMAIL",
			want: "SEED_ADMIN_EMAIL is required when SEED_ADMIN_PASSWORD is set"},
		{name: "seed email shape", env: env{"SEED_ADMIN_EMAIL": "admin", "SEED_ADMIN_PASSWORD": "long enough"},
			key: "SEED_ADMIN_EMAIL", want: `SEED_ADMIN_EMAIL must be an e-mail address (got "admin")`},
		{name: "seed password short", env: env{"SEED_ADMIN_EMAIL": "a@example.com", "SEED_ADMIN_PASSWORD": "12345"},
			key: "SEED_ADMIN_PASSWORD", want: "SEED_ADMIN_PASSWORD must be at least 8 characters (got 5)"},
		{name: "server url", env: env{"SERVER_URL": "localhost:8000"}, key: "SERVER_URL",
			want: "SERVER_URL must be an absolute http(s) URL"},
		{name: "cors star", env: env{"CORS_ORIGINS": "*"}, key: "CORS_ORIGINS", want: `CORS_ORIGINS: "*" is not allowed`},
		{name: "cors path", env: env{"CORS_ORIGINS": "https://ok.example, https://x.example/app"}, key: "CORS_ORIGINS",
			want: `CORS_ORIGINS: "https://x.example/app" is not an origin`},
		{name: "google id alone", env: env{"GOOGLE_CLIENT_ID": "id"}, key: "GOOGLE_CLIENT_SECRET",
			want: "GOOGLE_CLIENT_SECRET is required when GOOGLE_CLIENT_ID is set"},
		{name: "google secret alone yaml", yaml: "auth:\n  google_client_secret: s\n", key: "GOOGLE_CLIENT_ID",
			want: "GOOGLE_CLIENT_ID is required when auth.google_client_secret is set"},
		{name: "allowed domain yaml", yaml: "auth:\n  allowed_domain: \"acme.com, acme\"\n", key: "auth.allowed_domain",
			want: `auth.allowed_domain: "acme" is not a domain`},
		{name: "disabled providers", yaml: "auth:\n  disabled_providers: [email, github]\n", key: "auth.disabled_providers",
			want: `auth.disabled_providers: unknown sign-in method "github"`},
		{name: "smtp port range", env: env{"SMTP_PORT": "70000"}, key: "SMTP_PORT",
			want: "SMTP_PORT must be between 1 and 65535 (got 70000)"},
		{name: "smtp port text", yaml: "email:\n  smtp_port: abc\n", key: "email.smtp_port",
			want: `email.smtp_port: invalid integer "abc"`},
		{name: "smtp from missing", env: env{"SMTP_HOST": "smtp.example.com"}, key: "SMTP_FROM",
			want: "SMTP_FROM (email.from_address) is required when SMTP_HOST is set"},
		{name: "smtp from shape", env: env{"SMTP_FROM": "nobody"}, key: "SMTP_FROM", want: "SMTP_FROM must be an e-mail address"},
		{name: "database url scheme", env: env{"DA_DATABASE_URL": "mysql://u:pw-SECRET@db/da"}, key: "DA_DATABASE_URL",
			want: "DA_DATABASE_URL must start with postgres:// or postgresql://"},
		{name: "database url no db", env: env{"DA_DATABASE_URL": "postgres://u:pw@db:5432/"}, key: "DA_DATABASE_URL",
			want: "DA_DATABASE_URL names no database"},
		{name: "database url yaml", yaml: "database:\n  url: \"postgres:///da\"\n", key: "database.url",
			want: "database.url names no host"},
		{name: "data source", env: env{"DATA_SOURCE": "mysql"}, key: "DATA_SOURCE",
			want: `DATA_SOURCE must be one of local, keboola, bigquery (got "mysql")`},
		{name: "keboola url", env: env{"KEBOOLA_STACK_URL": "connection.keboola.com"}, key: "KEBOOLA_STACK_URL",
			want: "KEBOOLA_STACK_URL must be an absolute http(s) URL"},
		{name: "keboola token env", yaml: "keboola:\n  token_env: \"not a name\"\n", key: "keboola.token_env",
			want: "keboola.token_env must be an environment variable name"},
		{name: "jira domain", env: env{"JIRA_DOMAIN": "https://acme.atlassian.net"}, key: "JIRA_DOMAIN",
			want: "JIRA_DOMAIN must be a host name like acme.atlassian.net"},
		{name: "jira email", yaml: "jira:\n  email: nobody\n", key: "jira.email", want: "jira.email must be an e-mail address"},
		{name: "telegram", env: env{"TELEGRAM_BOT_USERNAME": "my bot"}, key: "TELEGRAM_BOT_USERNAME",
			want: "TELEGRAM_BOT_USERNAME must be a Telegram username"},
		{name: "upload yaml", yaml: "upload:\n  max_bytes: -1\n", key: "upload.max_bytes",
			want: "upload.max_bytes must be positive (got -1)"},
		{name: "upload env", env: env{"DA_UPLOAD_MAX_BYTES": "0"}, key: "DA_UPLOAD_MAX_BYTES",
			want: "DA_UPLOAD_MAX_BYTES must be positive (got 0)"},
		{name: "upload env text", env: env{"DA_UPLOAD_MAX_BYTES": "500MB"}, key: "DA_UPLOAD_MAX_BYTES",
			want: `DA_UPLOAD_MAX_BYTES: invalid integer "500MB"`},
		{name: "timeout env", env: env{"DA_QUERY_TIMEOUT": "abc"}, key: "DA_QUERY_TIMEOUT",
			want: `DA_QUERY_TIMEOUT: invalid duration "abc"`},
		{name: "timeout yaml zero", yaml: "query:\n  timeout: 0s\n", key: "query.timeout",
			want: "query.timeout must be positive (got 0s)"},
		{name: "export rows", env: env{"DA_QUERY_EXPORT_MAX_ROWS": "-5"}, key: "DA_QUERY_EXPORT_MAX_ROWS",
			want: "DA_QUERY_EXPORT_MAX_ROWS must be positive (got -5)"},
		{name: "threads", yaml: "query:\n  threads: 0\n", key: "query.threads", want: "query.threads must be positive (got 0)"},
		{name: "memory limit", env: env{"DA_QUERY_MEMORY_LIMIT": "1GB; SET x=1"}, key: "DA_QUERY_MEMORY_LIMIT",
			want: "DA_QUERY_MEMORY_LIMIT must be a size such as 512MB or 1GB"},
		{name: "json body", env: env{"DA_MAX_JSON_BODY_BYTES": "0"}, key: "DA_MAX_JSON_BODY_BYTES",
			want: "DA_MAX_JSON_BODY_BYTES must be positive"},
		{name: "header timeout", env: env{"DA_HTTP_HEADER_TIMEOUT": "0"}, key: "DA_HTTP_HEADER_TIMEOUT",
			want: "DA_HTTP_HEADER_TIMEOUT must be positive (got 0s)"},
		{name: "body timeout yaml", yaml: "server:\n  body_timeout: soon\n", key: "server.body_timeout",
			want: `server.body_timeout: invalid duration "soon"`},
		{name: "min rate", env: env{"DA_HTTP_MIN_RATE": "-1"}, key: "DA_HTTP_MIN_RATE",
			want: "DA_HTTP_MIN_RATE must be positive (got -1)"},
		{name: "rate window", yaml: "server:\n  transfer_window: 0s\n", key: "server.transfer_window",
			want: "server.transfer_window must be positive (got 0s)"},
		{name: "conns per addr", env: env{"DA_HTTP_MAX_CONNS_PER_ADDR": "-3"}, key: "DA_HTTP_MAX_CONNS_PER_ADDR",
			want: "DA_HTTP_MAX_CONNS_PER_ADDR must be 0 (no cap) or more (got -3)"},
		{name: "shutdown drain", env: env{"DA_SHUTDOWN_DRAIN": "-1s"}, key: "DA_SHUTDOWN_DRAIN",
			want: "DA_SHUTDOWN_DRAIN must be positive (got -1s)"},
		{name: "retention", yaml: "sync:\n  history_retention_days: 0\n", key: "sync.history_retention_days",
			want: "sync.history_retention_days must be positive"},
		{name: "profiler pct", yaml: "profiler:\n  alert_missing_pct: 150\n", key: "profiler.alert_missing_pct",
			want: "profiler.alert_missing_pct must be between 0 and 100 (got 150)"},
		{name: "profiler int", yaml: "profiler:\n  histogram_bins: many\n", key: "profiler.histogram_bins",
			want: `profiler.histogram_bins: invalid integer "many"`},
		{name: "theme value", yaml: "theme:\n  primary: \"red;} body{display:none\"\n", key: "theme.primary",
			want: "theme.primary must be a plain CSS value"},
		{name: "theme font url", yaml: "theme:\n  font_url: \"javascript:alert(1)\"\n", key: "theme.font_url",
			want: "theme.font_url must be an http(s) URL"},
		{name: "logo", yaml: "instance:\n  logo_svg: \"<img src=x onerror=alert(1)>\"\n", key: "instance.logo_svg",
			want: "instance.logo_svg must be a single <svg> element"},
		{name: "approval mode", yaml: "corporate_memory:\n  approval_mode: yolo\n", key: "corporate_memory.approval_mode",
			want: `corporate_memory.approval_mode must be one of review_queue, auto_publish, threshold (got "yolo")`},
		{name: "ai provider", yaml: "ai:\n  provider: skynet\n", key: "ai.provider", want: "ai.provider must be anthropic or openai_compat"},
		{name: "ai base url", yaml: "ai:\n  provider: openai_compat\n", key: "ai.base_url",
			want: "ai.base_url is required when ai.provider is openai_compat"},
		{name: "group member", yaml: "groups:\n  finance:\n    members: [bob]\n", key: "groups.finance.members[0]",
			want: `groups.finance.members[0] must be an e-mail address (got "bob")`},
		{name: "config version", yaml: "config_version: 2\n", key: "config_version", want: "config_version must be 1"},
		{name: "list for value", yaml: "instance:\n  name: [a, b]\n", key: "instance.name",
			want: "instance.yaml:2: instance.name must be a single value, not a list"},
		{name: "value for mapping", yaml: "query: fast\n", key: "query",
			want: `instance.yaml:1: query must be a mapping of keys, not the value "fast"`},
		{name: "value for list", yaml: "catalog:\n  order: name\n", key: "catalog.order",
			want: `instance.yaml:2: catalog.order must be a list, not the value "name"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := problems(t, withYAML(t, tc.env, tc.yaml), tc.ov)
			i := slices.IndexFunc(ps, func(p string) bool { return strings.Contains(p, tc.want) })
			if i < 0 {
				t.Fatalf("problems %q do not contain %q", ps, tc.want)
			}
			if !strings.Contains(ps[i], tc.key) {
				t.Errorf("problem %q does not name %s", ps[i], tc.key)
			}
		})
	}
}

func TestAllProblemsReportedTogether(t *testing.T) {
	t.Parallel()
	e := withYAML(t, env{
		"DA_ENV":           "prod",
		"LOG_LEVEL":        "verbose",
		"DA_QUERY_TIMEOUT": "abc",
		"SEED_ADMIN_EMAIL": "nobody",
	}, "upload:\n  max_bytes: 0\n")
	_, err := config.Load(e.getenv, config.Overrides{})
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	for _, name := range []string{"DA_ENV", "LOG_LEVEL", "DA_QUERY_TIMEOUT", "SEED_ADMIN_EMAIL", "SEED_ADMIN_PASSWORD", "upload.max_bytes"} {
		if !slices.ContainsFunc(ve.Problems, func(p string) bool { return strings.Contains(p, name) }) {
			t.Errorf("no problem names %s: %q", name, ve.Problems)
		}
	}
	if len(ve.Problems) != 6 {
		t.Errorf("got %d problems, want 6: %q", len(ve.Problems), ve.Problems)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "invalid configuration (6 problems):\n  - ") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestProduction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		want string // "" means valid
	}{
		{"no secret", env{"DA_ENV": "production"}, "JWT_SECRET_KEY is required when DA_ENV=production"},
		{"short secret", env{"DA_ENV": "production", "JWT_SECRET_KEY": "short-secret"},
			"JWT_SECRET_KEY must be at least 32 bytes (got 12)"},
		{"good secret", env{"DA_ENV": "Production", "JWT_SECRET_KEY": longSecret, "SERVER_URL": "https://data.example.com/"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.want == "" {
				c := mustLoad(t, tc.env, config.Overrides{})
				if !c.IsProduction() || c.ServerURL != "https://data.example.com" || len(c.Warnings) != 0 {
					t.Errorf("Env=%q ServerURL=%q Warnings=%q", c.Env, c.ServerURL, c.Warnings)
				}
				return
			}
			ps := problems(t, tc.env, config.Overrides{})
			if len(ps) != 1 || !strings.Contains(ps[0], tc.want) || strings.Contains(ps[0], "development") {
				t.Errorf("problems = %q, want only %q", ps, tc.want)
			}
		})
	}
}

func TestExampleFileValidates(t *testing.T) {
	t.Parallel()
	for _, e := range []env{
		{"DA_CONFIG": "instance.yaml.example"},
		{"DA_CONFIG": "instance.yaml.example", "DA_ENV": "production", "JWT_SECRET_KEY": longSecret,
			"SERVER_URL": "https://data.example.com"},
	} {
		c := mustLoad(t, e, config.Overrides{})
		if !c.ConfigLoaded {
			t.Fatal("example not loaded")
		}
		if len(c.Warnings) != 0 {
			t.Errorf("example gives warnings (a key the loader does not know?): %q", c.Warnings)
		}
		// The example documents the defaults: loading it changes no limit.
		d := mustLoad(t, env{"DA_CONFIG": writeFile(t, "empty.yaml", "")}, config.Overrides{})
		for _, pair := range [][2]any{
			{c.Upload, d.Upload}, {c.Query, d.Query}, {c.Profiler, d.Profiler},
			{c.MaxJSONBodyBytes, d.MaxJSONBodyBytes}, {c.SyncHistoryRetentionDays, d.SyncHistoryRetentionDays},
			{c.SMTP.Port, d.SMTP.Port}, {c.SMTP.UseTLS, d.SMTP.UseTLS}, {c.AI.Model, d.AI.Model},
			{c.AI.StructuredOutput, d.AI.StructuredOutput}, {c.CorporateMemory.ApprovalMode, d.CorporateMemory.ApprovalMode},
		} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Errorf("example %+v differs from default %+v", pair[0], pair[1])
			}
		}
		if c.InstanceName != "AI Data Analyst" || len(c.Theme) != len(config.ThemeKeys) || c.DataSource != "local" ||
			!c.CorporateMemory.Configured || c.GoogleEnabled() || c.MagicLinkEnabled() {
			t.Errorf("unexpected example values: %+v", c.Redacted())
		}
	}
}

func TestConfigFileLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		ov   config.Overrides
		want string
	}{
		{"DA_CONFIG missing", env{"DA_CONFIG": "/nonexistent/instance.yaml"}, config.Overrides{}, "/nonexistent/instance.yaml"},
		{"--config missing", env{}, config.Overrides{ConfigPath: ptr("/nonexistent/flag.yaml")}, "/nonexistent/flag.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(tc.env.getenv, tc.ov)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, os.ErrNotExist) {
				t.Errorf("err = %v, want a not-exist error naming %s", err, tc.want)
			}
		})
	}
}

func TestMalformedYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, want string
	}{
		// yaml.v3 names the line where the broken construct starts.
		{"bad indentation", "instance:\n  name: a\n bad: b\n", "bad.yaml:2: invalid YAML: did not find expected key"},
		{"first line", "a: b: c\n", "bad.yaml:1: invalid YAML: mapping values are not allowed"},
		{"unterminated quote", "\n\ninstance:\n  name: \"open\n", "bad.yaml:4: invalid YAML"},
		{"top level list", "- a\n- b\n", "bad.yaml:1: the top level must be a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env{"DA_CONFIG": writeFile(t, "bad.yaml", tc.yaml)}.getenv, config.Overrides{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, withYAML(t, nil, "query:\n  timout: 5s\nfuture_section:\n  x: 1\ntheme:\n  sparkle: gold\n"),
		config.Overrides{})
	want := []string{"instance.yaml:2: unknown key query.timout (ignored)", "instance.yaml:3: unknown key future_section (ignored)",
		"theme.sparkle is not a theme key (ignored)"}
	for _, w := range want {
		if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("warnings %q lack %q", c.Warnings, w)
		}
	}
	if c.Query.Timeout != 30*time.Second || len(c.Theme) != 0 {
		t.Errorf("Timeout=%s Theme=%v", c.Query.Timeout, c.Theme)
	}
}

func TestOriginalShapes(t *testing.T) {
	t.Parallel()
	const yaml = `
instance_name: "Legacy Name"
instance_subtitle: "Legacy Sub"
keboola:
  token_env: MY_KBC_TOKEN
data_source:
  type: keboola
  keboola:
    stack_url: "https://connection.keboola.com/"
    project_id: "42"
bigquery:
  project_id: bq-proj
ai:
  anthropic_api_key: sk-legacy
corporate_memory:
  distribution_mode: admin_curated
  groups:
    leads: {label: Leads, members: [lead@example.com]}
groups:
  finance:
    label: "Finance & Analytics"
    members: ["a@example.com", "b@example.com"]
users:
  admin@example.com:
    display_name: "Admin User"
    km_admin: true
username_mapping:
  a@example.com: a_user
datasets:
  sales: {label: Sales, tables: [orders, customers]}
catalog:
  categories: {finance: {label: Finance}}
  order: [finance]
admins:
  - username: admin
    ssh_public_key: "ssh-ed25519 AAAA"
auth:
  disabled_providers: [email]
  username_strip_domain: true
query:
  timeout: 90
base: &base {label: Base}
`
	c := mustLoad(t, withYAML(t, env{"MY_KBC_TOKEN": "kbc-token"}, yaml), config.Overrides{})
	check := []struct {
		name      string
		got, want any
	}{
		{"InstanceName", c.InstanceName, "Legacy Name"},
		{"InstanceSubtitle", c.InstanceSubtitle, "Legacy Sub"},
		{"Keboola", c.Keboola, config.KeboolaConfig{URL: "https://connection.keboola.com", TokenEnv: "MY_KBC_TOKEN",
			Token: "kbc-token", ProjectID: "42", MaxParallel: 4}},
		{"KeboolaConfigured", c.KeboolaConfigured(), true},
		{"BigQuery.Project", c.BigQuery.Project, "bq-proj"},
		{"AI.Provider", c.AI.Provider, "anthropic"},
		{"AI.APIKey", c.AI.APIKey, "sk-legacy"},
		{"CorporateMemory.DistributionMode", c.CorporateMemory.DistributionMode, "admin_curated"},
		{"CorporateMemory.Groups", c.CorporateMemory.Groups["leads"].Members, []string{"lead@example.com"}},
		{"Groups", c.Groups["finance"], config.Group{Label: "Finance & Analytics", Members: []string{"a@example.com", "b@example.com"}}},
		{"Users", c.Users["admin@example.com"], config.UserEntry{DisplayName: "Admin User", KMAdmin: true}},
		{"UsernameMapping", c.UsernameMapping["a@example.com"], "a_user"},
		{"Datasets", fmt.Sprint(c.Datasets["sales"]), "map[label:Sales tables:[orders customers]]"},
		{"Catalog.Order", c.Catalog.Order, []string{"finance"}},
		{"Admins", c.Legacy.Admins, []config.Admin{{Username: "admin", SSHPublicKey: "ssh-ed25519 AAAA"}}},
		{"UsernameStripDomain", c.Legacy.UsernameStripDomain, true},
		{"DisabledProviders", c.DisabledProviders, []string{"email"}},
		{"Query.Timeout", c.Query.Timeout, 90 * time.Second},
	}
	for _, tc := range check {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	baseLine := 1 + strings.Count(yaml[:strings.Index(yaml, "base:")], "\n")
	if !slices.Equal(c.Warnings, []string{fmt.Sprintf("%s:%d: unknown key base (ignored)", c.ConfigPath, baseLine)}) {
		t.Errorf("Warnings = %q", c.Warnings)
	}
}

func TestSignInMethods(t *testing.T) {
	t.Parallel()
	google := env{"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "secret", "AUTH_ALLOWED_DOMAINS": "example.com",
		"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "Analyst <noreply@example.com>"}
	c := mustLoad(t, google, config.Overrides{})
	if !c.GoogleEnabled() || !c.MagicLinkEnabled() {
		t.Errorf("GoogleEnabled=%v MagicLinkEnabled=%v", c.GoogleEnabled(), c.MagicLinkEnabled())
	}
	google["AUTH_DISABLED_PROVIDERS"] = "google, EMAIL"
	c = mustLoad(t, google, config.Overrides{})
	if c.GoogleEnabled() || c.MagicLinkEnabled() {
		t.Errorf("disabled: GoogleEnabled=%v MagicLinkEnabled=%v", c.GoogleEnabled(), c.MagicLinkEnabled())
	}
	delete(google, "AUTH_ALLOWED_DOMAINS")
	delete(google, "AUTH_DISABLED_PROVIDERS")
	c = mustLoad(t, google, config.Overrides{})
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "without auth.allowed_domain") {
		t.Errorf("Warnings = %q", c.Warnings)
	}
}

func TestEnsureSecrets(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	load := func() *config.Config { return mustLoad(t, env{"DATA_DIR": dataDir}, config.Overrides{}) }
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	c := load()
	if err := c.EnsureSecrets(logger); err != nil {
		t.Fatal(err)
	}
	if len(c.JWTSecret) < config.MinSecretBytes || !c.JWTSecretGenerated || len(c.SessionSecret) < config.MinSecretBytes ||
		c.SessionSecret == c.JWTSecret {
		t.Fatalf("JWTSecret len %d generated %v, SessionSecret len %d", len(c.JWTSecret), c.JWTSecretGenerated, len(c.SessionSecret))
	}
	for _, p := range []string{filepath.Join(dataDir, "state"), filepath.Join(dataDir, "state", config.JWTSecretFile),
		filepath.Join(dataDir, "state", config.SessionSecretFile)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if !strings.Contains(logs.String(), "generated secret") || strings.Contains(logs.String(), c.JWTSecret) ||
		strings.Contains(logs.String(), c.SessionSecret) {
		t.Errorf("log = %q: want a warning and no secret", logs.String())
	}

	c2 := load()
	if err := c2.EnsureSecrets(logger); err != nil {
		t.Fatal(err)
	}
	if c2.JWTSecret != c.JWTSecret || c2.SessionSecret != c.SessionSecret {
		t.Error("second start did not reuse the kept secrets")
	}

	// A configured secret is used as is and nothing is written.
	other := t.TempDir()
	c3 := mustLoad(t, env{"DATA_DIR": other, "JWT_SECRET_KEY": longSecret, "SESSION_SECRET": longSecret + "x"}, config.Overrides{})
	if err := c3.EnsureSecrets(logger); err != nil || c3.JWTSecret != longSecret || c3.JWTSecretGenerated {
		t.Errorf("err=%v JWTSecret=%q generated=%v", err, c3.JWTSecret, c3.JWTSecretGenerated)
	}
	if _, err := os.Stat(filepath.Join(other, "state")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir written although secrets were configured: %v", err)
	}

	// Production never generates a JWT secret (Load refuses first; this guards direct use).
	c4 := &config.Config{Env: config.EnvProduction, DataDir: t.TempDir()}
	if err := c4.EnsureSecrets(logger); err == nil || !strings.Contains(err.Error(), "JWT_SECRET_KEY") {
		t.Errorf("production EnsureSecrets err = %v", err)
	}
}

func TestEnsureSecretsConcurrentAndDamaged(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	secrets := make([]string, 8)
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Go(func() {
			c := &config.Config{Env: config.EnvDevelopment, DataDir: dataDir}
			if err := c.EnsureSecrets(logger); err != nil {
				t.Error(err)
			}
			secrets[i] = c.JWTSecret
		})
	}
	wg.Wait()
	for _, s := range secrets {
		if s == "" || s != secrets[0] {
			t.Fatalf("processes starting together got different secrets: %q", secrets)
		}
	}
	path := filepath.Join(dataDir, "state", config.JWTSecretFile)

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &config.Config{Env: config.EnvDevelopment, DataDir: dataDir}
	if err := c.EnsureSecrets(logger); err != nil || c.JWTSecret != secrets[0] {
		t.Fatalf("err=%v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("loose secret file not tightened: %v", fi.Mode().Perm())
	}

	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = &config.Config{Env: config.EnvDevelopment, DataDir: dataDir}
	if err := c.EnsureSecrets(logger); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged secret file: err = %v", err)
	}
}

func TestRedactionHidesSecrets(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"JWT_SECRET_KEY":        "jwt-SECRET-0123456789abcdef0123456789",
		"SESSION_SECRET":        "session-SECRET-0123456789abcdef012345",
		"SEED_ADMIN_PASSWORD":   "seed-SECRET-pw",
		"GOOGLE_CLIENT_SECRET":  "google-SECRET",
		"SMTP_PASSWORD":         "smtp-SECRET",
		"KEBOOLA_STORAGE_TOKEN": "kbc-SECRET",
		"JIRA_API_TOKEN":        "jira-SECRET",
		"JIRA_WEBHOOK_SECRET":   "hook-SECRET",
		"JIRA_SLA_API_TOKEN":    "sla-SECRET",
		"TELEGRAM_BOT_TOKEN":    "tg-SECRET",
		"DESKTOP_JWT_SECRET":    "desktop-SECRET",
		"AI_KEY":                "ai-SECRET",
		"OM_TOKEN":              "om-SECRET",
		"DA_METRICS_TOKEN":      "metrics-SECRET",
	}
	e := env{"DA_DATABASE_URL": "postgres://da:db-SECRET@db.example.com:5432/da?sslmode=disable&password=q2-SECRET", "SEED_ADMIN_EMAIL": "admin@example.com", "GOOGLE_CLIENT_ID": "id", "SMTP_HOST": "smtp.example.com",
		"SMTP_FROM": "noreply@example.com", "KEBOOLA_STACK_URL": "https://user:url-SECRET@connection.keboola.com/?token=q-SECRET"}
	for k, v := range secrets {
		e[k] = v
	}
	c := mustLoad(t, withYAML(t, e, `
ai:
  provider: openai_compat
  api_key: "${AI_KEY}"
  base_url: "https://proxy.example.com/v1?key=base-SECRET"
openmetadata:
  url: "https://om.example.com"
  token: "${OM_TOKEN}"
`), config.Overrides{})
	if c.AI.APIKey != "ai-SECRET" || c.OpenMetadata.Token != "om-SECRET" {
		t.Fatal("secrets not loaded; the test would prove nothing")
	}
	js, err := json.Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("start", "config", c)
	var texted bytes.Buffer
	slog.New(slog.NewTextHandler(&texted, nil)).Info("start", "config", c)
	var byValue bytes.Buffer
	slog.New(slog.NewTextHandler(&byValue, nil)).Info("start", "config", *c)
	for name, out := range map[string]string{
		"Redacted": string(js), "LogValue json": logged.String(), "LogValue text": texted.String(),
		"LogValue by value": byValue.String(), "fmt": fmt.Sprintf("%v %+v %#v %s", c, *c, c, c),
	} {
		if strings.Contains(out, "SECRET") {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
	}
	if !strings.Contains(string(js), `"jwt_secret_key":"set"`) || !strings.Contains(logged.String(), `"addr":":8000"`) {
		t.Errorf("redacted output lacks expected fields: %s / %s", js, logged.String())
	}
}

// The key layout of the original system's instance.yaml.example (values shortened), with
// its commented-out sections switched on: every key must be accepted without warnings.
const originalExample = `
instance:
  name: "AI Data Analyst"
  subtitle: "Your Organization"
  copyright: "Your Organization"
  logo_svg: '<svg width="120" height="30" xmlns="http://www.w3.org/2000/svg"><text y="22">Logo</text></svg>'
server:
  hostname: "data.acme.com"
  host: "10.0.0.1"
  app_dir: "/opt/data-analyst"
  ssh_alias: "data-analyst"
  ssh_key: "~/.ssh/data_analyst_server"
  project_dir: "data-analyst"
admins:
  - username: "admin"
    ssh_public_key: "ssh-ed25519 AAAA..."
deployment:
  method: "manual"
  repo_url: ""
  branch: "main"
auth:
  allowed_domain: "acme.com, partner.org"
  webapp_secret_key: "${WEBAPP_SECRET_KEY}"
  google_client_id: "${GOOGLE_CLIENT_ID}"
  google_client_secret: "${GOOGLE_CLIENT_SECRET}"
  username_strip_domain: false
  username_prefix: ""
  disabled_providers:
    - "email"
theme:
  primary: "#0073D1"
  primary_dark: "#005BA3"
  primary_light: "rgba(0, 115, 209, 0.1)"
  text_primary: "#1A253C"
  text_secondary: "#6B7280"
  background: "#F5F7FA"
  surface: "#FFFFFF"
  border: "#E5E7EB"
  font_primary: "'Inter', system-ui, sans-serif"
  font_url: "https://fonts.googleapis.com/css2?family=Inter:wght@400;500;600;700&display=swap"
  radius: "6px"
  success: "#10B77F"
  warning: "#F59F0A"
  error: "#EA580C"
data_source:
  type: "keboola"
  keboola:
    storage_token: "${KEBOOLA_STORAGE_TOKEN}"
    stack_url: "https://connection.keboola.com"
    project_id: ""
  bigquery:
    project: "${BIGQUERY_PROJECT}"
    location: "${BIGQUERY_LOCATION}"
openmetadata:
  url: "https://your-catalog.example.com"
  token: "${OPENMETADATA_TOKEN}"
  cache_ttl_seconds: 3600
  filter_tag: ""
  data_product: ""
email:
  from_address: "noreply@example.com"
  from_name: "AI Data Analyst"
  smtp_host: "${SMTP_HOST}"
  smtp_port: 587
  smtp_user: "${SMTP_USER}"
  smtp_password: "${SMTP_PASSWORD}"
desktop:
  jwt_issuer: "data-analyst"
  jwt_secret: "${DESKTOP_JWT_SECRET}"
  url_scheme: "data-analyst"
telegram:
  bot_token: "${TELEGRAM_BOT_TOKEN}"
  bot_username: ""
  domain_suffix: ""
jira:
  domain: ""
  email: ""
  api_token: "${JIRA_API_TOKEN}"
  webhook_secret: "${JIRA_WEBHOOK_SECRET}"
  sla_email: ""
  sla_api_token: "${JIRA_SLA_API_TOKEN}"
  cloud_id: ""
ai:
  provider: "anthropic"
  api_key: "${ANTHROPIC_API_KEY}"
  model: "claude-haiku-4-5-20251001"
  structured_output: "auto"
corporate_memory:
  distribution_mode: "hybrid"
  approval_mode: "review_queue"
  review_period_months: 6
  notify_on_new_items: true
groups:
  finance:
    label: "Finance & Analytics"
    members: ["analyst1@company.com", "analyst2@company.com"]
users:
  admin@company.com:
    display_name: "Admin User"
    km_admin: true
username_mapping: {}
datasets: {}
catalog:
  categories: {}
  order: []
profiler:
  sample_size: 500000
  max_categorical_distinct: 50
  top_values_limit: 10
  histogram_bins: 15
  sample_rows_limit: 5
  sample_values_limit: 5
  alert_high_missing_pct: 30.0
  alert_missing_pct: 5.0
  alert_imbalance_pct: 60.0
  alert_high_cardinality: 50
remote_query:
  timeout_seconds: 300
  max_result_rows: 100000
  max_bq_registration_rows: 500000
  default_format: "table"
  output_dir: "/tmp/remote_query"
`

func TestOriginalExampleKeysAccepted(t *testing.T) {
	t.Parallel()
	vars := env{}
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(originalExample, -1) {
		vars[m[1]] = "value-of-" + m[1]
	}
	vars["SMTP_HOST"] = "smtp.example.com"
	c := mustLoad(t, withYAML(t, vars, originalExample), config.Overrides{})
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	if c.DataSource != "keboola" || !c.KeboolaConfigured() || !c.GoogleEnabled() || c.MagicLinkEnabled() ||
		!slices.Equal(c.AllowedDomains, []string{"acme.com", "partner.org"}) || c.Legacy.Server.Hostname != "data.acme.com" {
		t.Errorf("unexpected values: %+v", c.Redacted())
	}
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	if c := mustLoad(t, env{"DA_METRICS_TOKEN": "scrape-me"}, config.Overrides{}); c.MetricsToken != "scrape-me" {
		t.Errorf("MetricsToken = %q", c.MetricsToken)
	}
	file := writeFile(t, "metrics_token", "from-file\n")
	if c := mustLoad(t, env{"DA_METRICS_TOKEN_FILE": file}, config.Overrides{}); c.MetricsToken != "from-file" {
		t.Errorf("MetricsToken from file = %q", c.MetricsToken)
	}
	if c := mustLoad(t, env{}, config.Overrides{}); c.MetricsToken != "" {
		t.Errorf("MetricsToken without configuration = %q", c.MetricsToken)
	}
}
