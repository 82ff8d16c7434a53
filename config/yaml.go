package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The file's shape. Every scalar is read as text (*string, nil when absent or null) and
// parsed by the loader, so that env and yaml values share one parser and one message style.
type fileConfig struct {
	ConfigVersion    *string              `yaml:"config_version"`
	Instance         fileInstance         `yaml:"instance"`
	InstanceName     *string              `yaml:"instance_name"`     // read by the original app
	InstanceSubtitle *string              `yaml:"instance_subtitle"` // read by the original app
	Server           fileServer           `yaml:"server"`
	Database         fileDatabase         `yaml:"database"`
	Admins           []fileAdmin          `yaml:"admins"`
	Deployment       fileDeployment       `yaml:"deployment"`
	Auth             fileAuth             `yaml:"auth"`
	Theme            map[string]*string   `yaml:"theme"`
	DataSource       fileDataSource       `yaml:"data_source"`
	Keboola          fileKeboola          `yaml:"keboola"`
	BigQuery         fileBigQueryTop      `yaml:"bigquery"`
	OpenMetadata     fileOpenMetadata     `yaml:"openmetadata"`
	Email            fileEmail            `yaml:"email"`
	Desktop          fileDesktop          `yaml:"desktop"`
	Telegram         fileTelegram         `yaml:"telegram"`
	Jira             fileJira             `yaml:"jira"`
	AI               fileAI               `yaml:"ai"`
	CorporateMemory  *fileCorporateMemory `yaml:"corporate_memory"`
	Groups           map[string]fileGroup `yaml:"groups"`
	Users            map[string]fileUser  `yaml:"users"`
	UsernameMapping  map[string]*string   `yaml:"username_mapping"`
	Datasets         map[string]any       `yaml:"datasets"`
	Catalog          fileCatalog          `yaml:"catalog"`
	Profiler         fileProfiler         `yaml:"profiler"`
	RemoteQuery      fileRemoteQuery      `yaml:"remote_query"`
	Upload           fileUpload           `yaml:"upload"`
	Query            fileQuery            `yaml:"query"`
	Sync             fileSync             `yaml:"sync"`
	Backup           fileBackup           `yaml:"backup"`
}

type fileInstance struct {
	Name      *string `yaml:"name"`
	Subtitle  *string `yaml:"subtitle"`
	Copyright *string `yaml:"copyright"`
	LogoSVG   *string `yaml:"logo_svg"`
}

type fileDatabase struct {
	URL *string `yaml:"url"`
}

type fileServer struct {
	Hostname         *string `yaml:"hostname"`
	Host             *string `yaml:"host"`
	AppDir           *string `yaml:"app_dir"`
	SSHAlias         *string `yaml:"ssh_alias"`
	SSHKey           *string `yaml:"ssh_key"`
	ProjectDir       *string `yaml:"project_dir"`
	MaxJSONBodyBytes *string `yaml:"max_json_body_bytes"`
	HeaderTimeout    *string `yaml:"header_timeout"`
	BodyTimeout      *string `yaml:"body_timeout"`
	MinTransferRate  *string `yaml:"min_transfer_rate"`
	TransferWindow   *string `yaml:"transfer_window"`
	MaxConnsPerAddr  *string `yaml:"max_conns_per_addr"`
	ShutdownDrain    *string `yaml:"shutdown_drain"`
}

type fileAdmin struct {
	Username     *string `yaml:"username"`
	SSHPublicKey *string `yaml:"ssh_public_key"`
}

type fileDeployment struct {
	Method  *string `yaml:"method"`
	RepoURL *string `yaml:"repo_url"`
	Branch  *string `yaml:"branch"`
}

type fileAuth struct {
	AllowedDomain       *string  `yaml:"allowed_domain"`
	WebappSecretKey     *string  `yaml:"webapp_secret_key"` // legacy Flask secret, ignored
	GoogleClientID      *string  `yaml:"google_client_id"`
	GoogleClientSecret  *string  `yaml:"google_client_secret"`
	UsernameStripDomain *string  `yaml:"username_strip_domain"`
	UsernamePrefix      *string  `yaml:"username_prefix"`
	DisabledProviders   []string `yaml:"disabled_providers"`
}

type fileDataSource struct {
	Type     *string            `yaml:"type"`
	Keboola  fileSourceKeboola  `yaml:"keboola"`
	BigQuery fileSourceBigQuery `yaml:"bigquery"`
}

type fileSourceKeboola struct {
	StorageToken *string `yaml:"storage_token"`
	StackURL     *string `yaml:"stack_url"`
	ProjectID    *string `yaml:"project_id"`
}

type fileSourceBigQuery struct {
	Project         *string `yaml:"project"`
	Location        *string `yaml:"location"`
	BillingProject  *string `yaml:"billing_project"`
	LegacyWrapViews *string `yaml:"legacy_wrap_views"` // accepted, unused
}

type fileKeboola struct {
	URL         *string `yaml:"url"`
	TokenEnv    *string `yaml:"token_env"`
	MaxParallel *string `yaml:"max_parallel"`
}

type fileBigQueryTop struct {
	ProjectID *string `yaml:"project_id"`
}

type fileOpenMetadata struct {
	URL             *string           `yaml:"url"`
	Token           *string           `yaml:"token"`
	CacheTTLSeconds *string           `yaml:"cache_ttl_seconds"`
	FilterTag       *string           `yaml:"filter_tag"`
	DataProduct     *string           `yaml:"data_product"`
	Timeout         *string           `yaml:"timeout"`
	ExportSchedule  *string           `yaml:"export_schedule"`
	Tables          map[string]string `yaml:"tables"`
}

type fileEmail struct {
	FromAddress  *string `yaml:"from_address"`
	FromName     *string `yaml:"from_name"`
	SMTPHost     *string `yaml:"smtp_host"`
	SMTPPort     *string `yaml:"smtp_port"`
	SMTPUser     *string `yaml:"smtp_user"`
	SMTPPassword *string `yaml:"smtp_password"`
	SMTPUseTLS   *string `yaml:"smtp_use_tls"`
}

type fileDesktop struct {
	JWTIssuer *string `yaml:"jwt_issuer"`
	JWTSecret *string `yaml:"jwt_secret"`
	URLScheme *string `yaml:"url_scheme"`
}

type fileTelegram struct {
	BotToken     *string `yaml:"bot_token"`
	BotUsername  *string `yaml:"bot_username"`
	DomainSuffix *string `yaml:"domain_suffix"`
}

type fileJira struct {
	Domain        *string `yaml:"domain"`
	Email         *string `yaml:"email"`
	APIToken      *string `yaml:"api_token"`
	WebhookSecret *string `yaml:"webhook_secret"`
	SLAEmail      *string `yaml:"sla_email"`
	SLAAPIToken   *string `yaml:"sla_api_token"`
	CloudID       *string `yaml:"cloud_id"`
	Project       *string `yaml:"project"`
	BaseURL       *string `yaml:"base_url"`
	SLABaseURL    *string `yaml:"sla_base_url"`
}

type fileAI struct {
	Provider         *string `yaml:"provider"`
	APIKey           *string `yaml:"api_key"`
	AnthropicAPIKey  *string `yaml:"anthropic_api_key"` // legacy form of provider anthropic
	BaseURL          *string `yaml:"base_url"`
	Model            *string `yaml:"model"`
	StructuredOutput *string `yaml:"structured_output"`
	VerifySSL        *string `yaml:"verify_ssl"`
}

type fileCorporateMemory struct {
	DistributionMode   *string              `yaml:"distribution_mode"`
	ApprovalMode       *string              `yaml:"approval_mode"`
	ReviewPeriodMonths *string              `yaml:"review_period_months"`
	NotifyOnNewItems   *string              `yaml:"notify_on_new_items"`
	BundleTokens       *string              `yaml:"bundle_tokens"`
	Groups             map[string]fileGroup `yaml:"groups"`
}

type fileGroup struct {
	Label   *string  `yaml:"label"`
	Members []string `yaml:"members"`
}

type fileUser struct {
	DisplayName *string `yaml:"display_name"`
	KMAdmin     *string `yaml:"km_admin"`
}

type fileCatalog struct {
	Categories map[string]any `yaml:"categories"`
	Order      []string       `yaml:"order"`
}

type fileProfiler struct {
	SampleSize             *string `yaml:"sample_size"`
	MaxCategoricalDistinct *string `yaml:"max_categorical_distinct"`
	TopValuesLimit         *string `yaml:"top_values_limit"`
	HistogramBins          *string `yaml:"histogram_bins"`
	SampleRowsLimit        *string `yaml:"sample_rows_limit"`
	SampleValuesLimit      *string `yaml:"sample_values_limit"`
	AlertHighMissingPct    *string `yaml:"alert_high_missing_pct"`
	AlertMissingPct        *string `yaml:"alert_missing_pct"`
	AlertImbalancePct      *string `yaml:"alert_imbalance_pct"`
	AlertHighCardinality   *string `yaml:"alert_high_cardinality"`
	AlertZerosPct          *string `yaml:"alert_zeros_pct"`
	MemoryLimit            *string `yaml:"memory_limit"`
	Threads                *string `yaml:"threads"`
}

type fileRemoteQuery struct {
	TimeoutSeconds        *string `yaml:"timeout_seconds"`
	MaxResultRows         *string `yaml:"max_result_rows"`
	MaxBQRegistrationRows *string `yaml:"max_bq_registration_rows"`
	DefaultFormat         *string `yaml:"default_format"`
	OutputDir             *string `yaml:"output_dir"`
}

type fileUpload struct {
	MaxBytes         *string `yaml:"max_bytes"`
	ArtifactMaxBytes *string `yaml:"artifact_max_bytes"`
}

type fileQuery struct {
	Timeout        *string `yaml:"timeout"`
	ConsoleMaxRows *string `yaml:"console_max_rows"`
	APIMaxRows     *string `yaml:"api_max_rows"`
	ExportMaxRows  *string `yaml:"export_max_rows"`
	MemoryLimit    *string `yaml:"memory_limit"`
	Threads        *string `yaml:"threads"`
}

type fileBackup struct {
	Schedule *string `yaml:"schedule"`
	Keep     *string `yaml:"keep"`
	Dir      *string `yaml:"dir"`
}

type fileSync struct {
	HistoryRetentionDays *string `yaml:"history_retention_days"`
}

// readFile reads and decodes the instance file. A missing file yields (nil, nil) unless
// required. Errors that make the file unusable (unreadable, not YAML) are returned; shape
// problems (a list where a value belongs) go to l.problems, unknown keys to l.warnings.
func (l *loader) readFile(path string, required bool) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(path, data, err)
	}
	fc := &fileConfig{}
	if len(root.Content) == 0 { // empty or comments only
		return fc, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		if isNull(doc) {
			return fc, nil
		}
		return nil, fmt.Errorf("config: %s:%d: the top level must be a mapping of keys", path, doc.Line)
	}
	l.expand(path, doc, "")
	before := len(l.problems)
	l.checkShape(path, doc, reflect.TypeOf(fileConfig{}), "")
	if err := doc.Decode(fc); err != nil && len(l.problems) == before {
		// checkShape should have caught every mismatch; keep yaml's own words otherwise.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		for _, e := range te.Errors {
			l.problem("%s: %s", path, e)
		}
	}
	return fc, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError names the file and the line of a YAML syntax error. yaml.v3 leaves the line
// out of errors on the first line (its marks are zero-based and 0 means "unknown"), so the
// document is parsed once more behind one blank line, which moves such an error to line 2.
func syntaxError(path string, data []byte, err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("config: %s:%s: invalid YAML: %s", path, m[1], m[2])
	}
	var n yaml.Node
	if err2 := yaml.Unmarshal(append([]byte("\n"), data...), &n); err2 != nil {
		if m := yamlLineRE.FindStringSubmatch(err2.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return fmt.Errorf("config: %s:%d: invalid YAML: %s", path, line-1, m[2])
		}
	}
	return fmt.Errorf("config: %s: invalid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

var varRefRE = regexp.MustCompile(`\$\{([^}]*)\}`)
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} in every scalar value below n with the variable's value (or the
// content of VAR_FILE); an unset variable becomes "" and a warning.
func (l *loader) expand(path string, n *yaml.Node, at string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.expand(path, n.Content[i+1], join(at, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			l.expand(path, c, fmt.Sprintf("%s[%d]", at, i))
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = varRefRE.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			if !envNameRE.MatchString(name) {
				l.problem("%s:%d: %s: %q is not a valid variable reference", path, n.Line, at, ref)
				return ref
			}
			v, _, ok := l.env(name, true)
			if !ok {
				l.warn("%s:%d: %s refers to ${%s}, which is not set; using an empty value", path, n.Line, at, name)
			}
			return v
		})
		if n.Style == 0 {
			n.Tag = "" // let the expanded plain scalar resolve again (e.g. "" is null)
		}
	}
}

// checkShape walks the document against the fileConfig type: a list or mapping where a
// single value belongs (and the reverse) is a problem naming key and line; a key the type
// does not know is a warning.
func (l *loader) checkShape(path string, n *yaml.Node, t reflect.Type, at string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	want := ""
	switch t.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			want = "a single value"
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			want = "a list"
			break
		}
		for i, c := range n.Content {
			l.checkShape(path, c, t.Elem(), fmt.Sprintf("%s[%d]", at, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			want = "a mapping of keys"
			break
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.checkShape(path, n.Content[i+1], t.Elem(), join(at, n.Content[i].Value))
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			want = "a mapping of keys"
			break
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value == "<<" { // merge key
				continue
			}
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				l.warn("%s:%d: unknown key %s (ignored)", path, k.Line, join(at, k.Value))
				continue
			}
			l.checkShape(path, n.Content[i+1], f.Type, join(at, k.Value))
		}
	}
	if want != "" {
		l.problem("%s:%d: %s must be %s, not %s", path, n.Line, at, want, kindName(n))
	}
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == key && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("the value %q", n.Value)
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}
