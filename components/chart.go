package components

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Chart limits and geometry (SVG user units).
const (
	ChartMaxRows   = 500
	ChartMaxSeries = 3
	chartW         = 720.0
	chartH         = 320.0
	chartLeft      = 64.0
	chartRight     = 16.0
	chartTop       = 16.0
	chartBottom    = 64.0
	chartMaxLabels = 12
)

// chartColors are the series colours (indigo, emerald, amber).
var chartColors = []string{"#6366f1", "#10b981", "#f59e0b"}

// ChartSpec is a laid-out bar or line chart, ready for Chart to draw.
type ChartSpec struct {
	Kind          string // "bar" (categories) or "line" (dates/timestamps)
	XLabel        string
	Width, Height float64
	PlotLeft      float64
	PlotRight     float64
	PlotTop       float64
	PlotBottom    float64
	YTicks        []ChartTick
	XTicks        []ChartTick
	Series        []ChartSeries
}

// ChartTick is an axis tick at Pos with its label.
type ChartTick struct {
	Pos   float64
	Label string
	Full  string // the untruncated label, for a <title>
}

// ChartSeries is one numeric column: its bars (bar charts) or points (line charts).
type ChartSeries struct {
	Name   string
	Color  string
	Bars   []ChartBar
	Points []ChartPoint
	Path   string // SVG path of the line through Points
}

// ChartBar is one bar with its tooltip.
type ChartBar struct {
	X, Y, W, H float64
	Tip        string
}

// ChartPoint is one line-chart point with its tooltip.
type ChartPoint struct {
	X, Y float64
	Tip  string
}

// IsNumericType reports whether a DuckDB type name is a number type.
func IsNumericType(t string) bool {
	t = strings.ToUpper(strings.TrimSpace(t))
	if strings.HasPrefix(t, "DECIMAL") || strings.HasPrefix(t, "NUMERIC") {
		return true
	}
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
		"UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "INT", "INT1", "INT2", "INT4", "INT8":
		return true
	}
	return false
}

// isTimeType reports whether t is a DATE or TIMESTAMP type.
func isTimeType(t string) bool {
	t = strings.ToUpper(strings.TrimSpace(t))
	return t == "DATE" || strings.HasPrefix(t, "TIMESTAMP")
}

// isTextType reports whether t is a text type usable as categories.
func isTextType(t string) bool {
	t = strings.ToUpper(strings.TrimSpace(t))
	return t == "VARCHAR" || t == "TEXT" || t == "STRING" || strings.HasPrefix(t, "ENUM") || t == "UUID" || t == "BOOLEAN"
}

// ChartFor lays out a chart of a query result when its shape fits: one text or date/timestamp
// column plus 1..3 numeric columns and 1..ChartMaxRows rows. Otherwise it returns nil and the
// reason, phrased for the user.
func ChartFor(columns, types []string, rows [][]any) (*ChartSpec, string) {
	if len(rows) == 0 {
		return nil, "The result has no rows to chart."
	}
	if len(rows) > ChartMaxRows {
		return nil, fmt.Sprintf("Charts show at most %d rows; this result has %d. Aggregate it (GROUP BY) to chart it.", ChartMaxRows, len(rows))
	}
	xcol := -1
	var ycols []int
	for i, t := range types {
		switch {
		case IsNumericType(t):
			ycols = append(ycols, i)
		case (isTextType(t) || isTimeType(t)) && xcol < 0:
			xcol = i
		default:
			return nil, "Charts need one text or date column plus 1 to 3 numeric columns."
		}
	}
	if xcol < 0 || len(ycols) == 0 || len(ycols) > ChartMaxSeries {
		return nil, "Charts need one text or date column plus 1 to 3 numeric columns."
	}
	spec := &ChartSpec{Kind: "bar", XLabel: columns[xcol], Width: chartW, Height: chartH,
		PlotLeft: chartLeft, PlotRight: chartW - chartRight, PlotTop: chartTop, PlotBottom: chartH - chartBottom}
	timeX := isTimeType(types[xcol])
	if timeX {
		spec.Kind = "line"
	}

	// Read values; NaN marks NULL or unreadable numbers.
	type row struct {
		label string
		t     time.Time
		okT   bool
		vals  []float64
	}
	data := make([]row, 0, len(rows))
	lo, hi := 0.0, 0.0
	seen := false
	for _, r := range rows {
		if len(r) != len(columns) {
			return nil, "The result has an unexpected shape."
		}
		rw := row{label: cellLabel(r[xcol]), vals: make([]float64, len(ycols))}
		if timeX {
			rw.t, rw.okT = parseTime(rw.label)
			if !rw.okT {
				continue // NULL dates cannot be placed on a time axis
			}
		}
		for j, c := range ycols {
			v := toFloat(r[c])
			rw.vals[j] = v
			if !math.IsNaN(v) {
				if !seen {
					lo, hi = v, v
				}
				lo, hi = min(lo, v), max(hi, v)
				seen = true
			}
		}
		data = append(data, rw)
	}
	if !seen || len(data) == 0 {
		return nil, "The numeric columns hold no values to chart."
	}
	if timeX {
		sort.SliceStable(data, func(i, j int) bool { return data[i].t.Before(data[j].t) })
	}
	lo, hi, step := niceRange(lo, hi)
	plotH := spec.PlotBottom - spec.PlotTop
	plotW := spec.PlotRight - spec.PlotLeft
	yPos := func(v float64) float64 { return spec.PlotBottom - (v-lo)/(hi-lo)*plotH }
	for v := lo; v <= hi+step/2; v += step {
		l := formatNumber(v)
		spec.YTicks = append(spec.YTicks, ChartTick{Pos: yPos(v), Label: l, Full: l})
	}

	n := len(data)
	xPos := make([]float64, n)
	if timeX {
		t0, t1 := data[0].t, data[n-1].t
		span := t1.Sub(t0).Seconds()
		for i, d := range data {
			if span <= 0 {
				xPos[i] = spec.PlotLeft + plotW/2
			} else {
				xPos[i] = spec.PlotLeft + d.t.Sub(t0).Seconds()/span*plotW
			}
		}
	} else {
		for i := range data {
			xPos[i] = spec.PlotLeft + (float64(i)+0.5)*plotW/float64(n)
		}
	}
	every := (n + chartMaxLabels - 1) / chartMaxLabels
	for i, d := range data {
		if i%every != 0 {
			continue
		}
		spec.XTicks = append(spec.XTicks, ChartTick{Pos: xPos[i], Label: shorten(d.label, 14), Full: d.label})
	}

	zero := yPos(max(lo, min(0, hi)))
	group := plotW / float64(n)
	barW := group * 0.8 / float64(len(ycols))
	for j, c := range ycols {
		s := ChartSeries{Name: columns[c], Color: chartColors[j%len(chartColors)]}
		var path strings.Builder
		pen := false
		for i, d := range data {
			v := d.vals[j]
			if math.IsNaN(v) {
				pen = false
				continue
			}
			tip := fmt.Sprintf("%s · %s: %s", d.label, columns[c], formatNumber(v))
			if timeX {
				y := yPos(v)
				s.Points = append(s.Points, ChartPoint{X: xPos[i], Y: y, Tip: tip})
				if pen {
					fmt.Fprintf(&path, " L%.1f %.1f", xPos[i], y)
				} else {
					fmt.Fprintf(&path, "M%.1f %.1f", xPos[i], y)
				}
				pen = true
				continue
			}
			y := yPos(v)
			top, h := min(y, zero), math.Abs(zero-y)
			if h < 1 {
				h = 1
			}
			x := spec.PlotLeft + float64(i)*group + group*0.1 + float64(j)*barW
			s.Bars = append(s.Bars, ChartBar{X: x, Y: top, W: max(barW-1, 1), H: h, Tip: tip})
		}
		s.Path = strings.TrimSpace(path.String())
		spec.Series = append(spec.Series, s)
	}
	return spec, ""
}

func cellLabel(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case nil:
		return math.NaN()
	case float64:
		return x
	case float32:
		return float64(x)
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case uint64:
		return float64(x)
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f
		}
		return math.NaN()
	}
	if f, err := strconv.ParseFloat(fmt.Sprint(v), 64); err == nil && !math.IsInf(f, 0) {
		return f
	}
	return math.NaN()
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// niceRange widens [lo, hi] to round tick values (about five ticks), always including zero
// for bars' sake.
func niceRange(lo, hi float64) (float64, float64, float64) {
	lo, hi = min(lo, 0), max(hi, 0)
	if hi == lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

// formatNumber prints a number compactly: 1234567 → 1.23M, 0.5 → 0.5.
func formatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimFloat(v/1e9, 2) + "B"
	case a >= 1e6:
		return trimFloat(v/1e6, 2) + "M"
	case a >= 1e4:
		return trimFloat(v/1e3, 1) + "k"
	case a == math.Trunc(a):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return trimFloat(v, 3)
}

func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// chartNum formats an SVG coordinate.
func chartNum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
