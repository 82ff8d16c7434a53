package views

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CatalogRow is one table of the catalog list.
type CatalogRow struct {
	ID, Name, Description   string
	Source, Folder          string
	QueryMode, Status       string
	Rows                    int64
	SizeBytes               int64
	LastSync                time.Time
	Public, Readable        bool
	Pending, Downloadable   bool
	HasProfile, CanDownload bool // CanDownload: the role may download (analyst or higher)
	Subscribed              bool // the user subscribes to it for da sync
	// Match says where the search matched ("name" or "description"); MatchExcerpt is the
	// description around the match.
	Match, MatchExcerpt string
	Profiling           bool // a profile is being computed in the background
}

// CatalogGroup is the tables of one source/folder.
type CatalogGroup struct {
	Key, Title string
	Rows       []CatalogRow
}

// CatalogFilters are the catalog list's search and filters.
type CatalogFilters struct {
	Q, Source, Folder, Access string
}

// Query encodes the filters as a URL query (without "?").
func (f CatalogFilters) Query() string {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "source": f.Source, "folder": f.Folder, "access": f.Access} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// CatalogData is the catalog page: the groups after filtering and the filter choices.
type CatalogData struct {
	Filters          CatalogFilters
	Groups           []CatalogGroup
	Shown, Total     int
	Sources, Folders []string
	LastSync         time.Time
	Now              time.Time
	CanSync          bool // the role may download, so the Sync switches apply
	Subscriptions    int  // tables the user subscribes to (0: da sync takes every readable table)
}

// Num is a profile number that may be stored as a JSON number, a string (DECIMAL) or null.
type Num float64

// UnmarshalJSON accepts a number, a numeric string or null (NaN).
func (n *Num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		*n = Num(math.NaN())
		return nil
	}
	*n = Num(f)
	return nil
}

// Valid reports whether the number was present.
func (n Num) Valid() bool { return !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0) }

// Text formats the number compactly (integers without decimals).
func (n Num) Text() string {
	if !n.Valid() {
		return "—"
	}
	f := float64(n)
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return FormatCount(int64(f))
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// ProfileHistogram is a profile's {bins, counts}.
type ProfileHistogram struct {
	Bins   []string `json:"bins"`
	Counts []int64  `json:"counts"`
}

// ProfileTopValue is one entry of string_stats.top_values.
type ProfileTopValue struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
	Pct   Num   `json:"pct"`
}

// ProfileColumn is one column of a stored profile (spec §8.2 keys).
type ProfileColumn struct {
	Name            string   `json:"name"`
	Type            string   `json:"type"`
	TypeCategory    string   `json:"type_category"`
	CompletenessPct Num      `json:"completeness_pct"`
	NullCount       int64    `json:"null_count"`
	UniqueCount     int64    `json:"unique_count"`
	UniquePct       Num      `json:"unique_pct"`
	SampleValues    []any    `json:"sample_values"`
	IsPrimaryKey    bool     `json:"is_primary_key"`
	Alerts          []string `json:"alerts"`
	NumericStats    *struct {
		Min, Max, Mean, Median, Stddev Num
		P5, P25, P75, P95              Num
		Zeros                          int64 `json:"zeros"`
		ZerosPct                       Num   `json:"zeros_pct"`
		Negative                       int64 `json:"negative"`
		Histogram                      *ProfileHistogram
	} `json:"numeric_stats"`
	StringStats *struct {
		MinLength Num               `json:"min_length"`
		MaxLength Num               `json:"max_length"`
		AvgLength Num               `json:"avg_length"`
		TopValues []ProfileTopValue `json:"top_values"`
	} `json:"string_stats"`
	DateStats *struct {
		Earliest  string            `json:"earliest"`
		Latest    string            `json:"latest"`
		SpanDays  Num               `json:"span_days"`
		Histogram *ProfileHistogram `json:"histogram"`
	} `json:"date_stats"`
	BooleanStats *struct {
		TrueCount  int64 `json:"true_count"`
		FalseCount int64 `json:"false_count"`
		TruePct    Num   `json:"true_pct"`
	} `json:"boolean_stats"`
}

// ProfileAlert is one table-level alert.
type ProfileAlert struct {
	Column  string `json:"column"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Profile is a stored profile document decoded for the table page (spec §8.2 keys).
type Profile struct {
	RowCount        int64          `json:"row_count"`
	ColumnCount     int            `json:"column_count"`
	FileSizeMB      Num            `json:"file_size_mb"`
	AvgCompleteness Num            `json:"avg_completeness"`
	MissingCells    int64          `json:"missing_cells"`
	MissingCellsPct Num            `json:"missing_cells_pct"`
	DuplicateRows   *int64         `json:"duplicate_rows"`
	VariableTypes   map[string]int `json:"variable_types"`
	DateRange       *struct {
		Earliest string `json:"earliest"`
		Latest   string `json:"latest"`
		SpanDays Num    `json:"span_days"`
	} `json:"date_range"`
	Alerts     []ProfileAlert  `json:"alerts"`
	Sampled    bool            `json:"sampled"`
	Columns    []ProfileColumn `json:"columns"`
	ProfiledAt time.Time       `json:"-"`
}

// DecodeProfile reads a stored profile document.
func DecodeProfile(doc []byte) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("profile document: %w", err)
	}
	return &p, nil
}

// SampleRows is the sample of a table run through the sandbox, or the error it gave.
type SampleRows struct {
	Columns []string
	Rows    [][]ResultCell // formatted as the query console shows them (NULL included)
	Error   string
}

// CatalogTableData is the table detail page.
type CatalogTableData struct {
	Row         CatalogRow
	Columns     int
	Profile     *Profile // nil when the table has not been profiled
	ProfileErr  string
	PrimaryKey  string
	CanRefresh  bool
	RefreshNote string // result of a refresh, shown above the profile
	Profiling   bool   // a profile is being computed in the background; the panel polls
	Now         time.Time
	// Subscriptions is how many tables the user subscribes to for da sync.
	Subscriptions int
	// OpenMetadata is the table's enrichment from OpenMetadata; nil when there is none.
	OpenMetadata *OpenMetadataView
}

// Ago describes how long ago t was ("3 h ago"), or "never".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

// FormatBytes writes a size in B, KB, MB or GB with one decimal, dropped when it is zero:
// "512 B", "5.8 KB", "500 MB", "1.5 GB".
func FormatBytes(n int64) string {
	const k = 1024
	unit := func(v float64, suffix string) string {
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + suffix
	}
	switch {
	case n < k:
		return strconv.FormatInt(n, 10) + " B"
	case n < k*k:
		return unit(float64(n)/k, "KB")
	case n < k*k*k:
		return unit(float64(n)/(k*k), "MB")
	}
	return unit(float64(n)/(k*k*k), "GB")
}

func freshness(r CatalogRow, now time.Time) string {
	switch {
	case r.QueryMode == "remote":
		return "queried live at the source"
	case r.Status != "ok":
		return r.Status
	case r.LastSync.IsZero():
		return "synced, time unknown"
	}
	return "synced " + Ago(r.LastSync, now)
}

func anyText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case float64:
		return Num(x).Text()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// OpenMetadataView is what OpenMetadata says about a table, shown on its page.
type OpenMetadataView struct {
	TableID string
	// Fetched is false until an enrichment was fetched; CanRefresh shows the admin's button.
	Fetched, CanRefresh bool
	Note                string // outcome of a refresh from the page
	FQN, Description    string
	Tags, Owners        []string
	Tier                string
	URL                 string // the table's page in OpenMetadata; "" when unknown
	FetchedAgo          string
	Error               string // why the last refresh failed (the data shown is older)
	Columns             []OpenMetadataColumn
}

// OpenMetadataColumn is a column's description and tags from OpenMetadata.
type OpenMetadataColumn struct {
	Name, Description string
	Tags              []string
}
