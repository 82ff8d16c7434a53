// Package profile computes column profiles of a table stored as parquet: completeness,
// distinct counts, sample values, numeric/string/date/boolean statistics, histograms and
// data-quality alerts (the original system's profiler, spec §8, with its bugs fixed).
//
// Profiling runs on a private in-memory DuckDB instance with its own memory and thread limits,
// so it never touches the system or analytics databases.
package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Version names this profiler in Profile.ProfiledWith; bump it when the output changes.
const Version = "da-profiler/1"

// Type categories of a column (spec §8.2 step 2, plus OTHER for types that get counts only).
const (
	CategoryNumeric   = "NUMERIC"
	CategoryString    = "STRING"
	CategoryDate      = "DATE"
	CategoryTimestamp = "TIMESTAMP"
	CategoryBoolean   = "BOOLEAN"
	CategoryOther     = "OTHER"
)

// Column alert types (Column.Alerts and Alert.Type).
const (
	AlertConstant        = "constant"
	AlertUnique          = "unique"
	AlertHighMissing     = "high_missing"
	AlertMissing         = "missing"
	AlertZeros           = "zeros"
	AlertImbalance       = "imbalance"
	AlertHighCardinality = "high_cardinality"
	// AlertUnknownPrimaryKey reports a primary-key column named in the registry that the
	// table does not have; duplicate_rows is then null.
	AlertUnknownPrimaryKey = "unknown_primary_key"
)

// Input describes the table to profile.
type Input struct {
	TableID      string
	Description  string
	PrimaryKey   string   // comma-separated column names, may be empty
	SyncStrategy string   // copied into the profile
	Files        []string // absolute parquet files, one or many shards
	// FileSizeBytes is the table's size on disk; 0 means "sum the sizes of Files".
	FileSizeBytes int64
	LastSync      *time.Time
}

// Profile is a table's profile; its JSON keys are the original's (spec §8.2 step 6).
type Profile struct {
	TableID         string         `json:"table_id"`
	Description     string         `json:"description"`
	PrimaryKey      string         `json:"primary_key"`
	SyncStrategy    string         `json:"sync_strategy"`
	RowCount        int64          `json:"row_count"`
	ColumnCount     int            `json:"column_count"`
	FileSizeMB      float64        `json:"file_size_mb"`
	AvgCompleteness float64        `json:"avg_completeness"`
	MissingCells    int64          `json:"missing_cells"`
	MissingCellsPct float64        `json:"missing_cells_pct"`
	DuplicateRows   *int64         `json:"duplicate_rows"`
	VariableTypes   map[string]int `json:"variable_types"`
	DateRange       *DateRange     `json:"date_range"`
	Alerts          []Alert        `json:"alerts"`
	Sampled         bool           `json:"sampled"`
	// ProfiledRows is how many rows the statistics were computed on (the sample size when
	// Sampled, else RowCount).
	ProfiledRows  int64          `json:"profiled_rows"`
	LastSync      *time.Time     `json:"last_sync"`
	RelatedTables []RelatedTable `json:"related_tables"`
	UsedByMetrics []MetricRef    `json:"used_by_metrics"`
	Columns       []Column       `json:"columns"`
	SampleRows    []SampleRow    `json:"sample_rows"`
	// ProfiledWith names the profiler and engine versions that made the profile.
	ProfiledWith string `json:"profiled_with"`
}

// DateRange is the span of the table's first date or timestamp column that has values.
type DateRange struct {
	Earliest string `json:"earliest"`
	Latest   string `json:"latest"`
	SpanDays *int64 `json:"span_days"`
}

// Alert is one data-quality finding about a column, with a human-readable message.
type Alert struct {
	Column  string `json:"column"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// RelatedTable is a foreign-key relation to another table (filled by callers that know them).
type RelatedTable struct {
	Table         string `json:"table"`
	JoinColumn    string `json:"join_column"`
	ForeignColumn string `json:"foreign_column"`
	Direction     string `json:"direction"` // belongs_to or has_many
	Description   string `json:"description"`
}

// MetricRef is a metric definition that uses the table (filled by callers that know them).
type MetricRef struct {
	Name string `json:"name"`
	File string `json:"file"`
}

// Column is one column's profile; exactly one of the *Stats fields is set, except for
// OTHER columns, which have counts only.
type Column struct {
	Name            string        `json:"name"`
	Type            string        `json:"type"`
	TypeCategory    string        `json:"type_category"`
	CompletenessPct float64       `json:"completeness_pct"`
	NullCount       int64         `json:"null_count"`
	UniqueCount     int64         `json:"unique_count"`
	UniquePct       float64       `json:"unique_pct"`
	SampleValues    []string      `json:"sample_values"`
	IsPrimaryKey    bool          `json:"is_primary_key"`
	Alerts          []string      `json:"alerts"`
	NumericStats    *NumericStats `json:"numeric_stats,omitempty"`
	StringStats     *StringStats  `json:"string_stats,omitempty"`
	DateStats       *DateStats    `json:"date_stats,omitempty"`
	BooleanStats    *BooleanStats `json:"boolean_stats,omitempty"`
}

// NumericStats describes a NUMERIC column. Values that are undefined (no finite values,
// a single value for stddev) are null. NaN and ±Inf values are left out of the statistics.
type NumericStats struct {
	Min         *float64   `json:"min"`
	Max         *float64   `json:"max"`
	Mean        *float64   `json:"mean"`
	Median      *float64   `json:"median"`
	Stddev      *float64   `json:"stddev"`
	P5          *float64   `json:"p5"`
	P25         *float64   `json:"p25"`
	P75         *float64   `json:"p75"`
	P95         *float64   `json:"p95"`
	Zeros       int64      `json:"zeros"`
	ZerosPct    float64    `json:"zeros_pct"`
	Negative    int64      `json:"negative"`
	NegativePct float64    `json:"negative_pct"`
	Histogram   *Histogram `json:"histogram"`
}

// Histogram is a list of labelled bins and their counts.
type Histogram struct {
	Bins   []string `json:"bins"`
	Counts []int64  `json:"counts"`
}

// StringStats describes a STRING column; lengths are in characters.
type StringStats struct {
	MinLength int64      `json:"min_length"`
	MaxLength int64      `json:"max_length"`
	AvgLength float64    `json:"avg_length"`
	TopValues []TopValue `json:"top_values"`
}

// TopValue is a frequent value of a categorical column; Pct is of the non-null values.
type TopValue struct {
	Value string  `json:"value"`
	Count int64   `json:"count"`
	Pct   float64 `json:"pct"`
}

// DateStats describes a DATE or TIMESTAMP column (timestamps taken as UTC dates); the
// histogram counts values by year and quarter ("2024-Q1").
type DateStats struct {
	Earliest  *string    `json:"earliest"`
	Latest    *string    `json:"latest"`
	SpanDays  *int64     `json:"span_days"`
	Histogram *Histogram `json:"histogram"`
}

// BooleanStats describes a BOOLEAN column; TruePct is of the non-null values.
type BooleanStats struct {
	TrueCount  int64   `json:"true_count"`
	FalseCount int64   `json:"false_count"`
	TruePct    float64 `json:"true_pct"`
}

// SampleRow is one row of sample_rows: every value as text (nil for NULL), in column order.
// It marshals as a JSON object whose keys keep the column order.
type SampleRow struct {
	Columns []string
	Values  []*string
}

// MarshalJSON writes the row as an object in column order.
func (r SampleRow) MarshalJSON() ([]byte, error) {
	if len(r.Columns) != len(r.Values) {
		return nil, fmt.Errorf("profile: sample row has %d columns and %d values", len(r.Columns), len(r.Values))
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range r.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(r.Values[i])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object written by MarshalJSON, keeping the key order; values that
// are not strings are kept as their JSON text.
func (r *SampleRow) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("profile: sample row is not a JSON object")
	}
	r.Columns, r.Values = nil, nil
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		var val *string
		if !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				s = string(raw)
			}
			val = &s
		}
		r.Columns = append(r.Columns, key)
		r.Values = append(r.Values, val)
	}
	_, err = dec.Token() // the closing brace
	return err
}
