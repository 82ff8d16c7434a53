package components

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
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

// Chart types.
const (
	ChartTypeBar     = "bar"
	ChartTypeLine    = "line"
	ChartTypeArea    = "area"
	ChartTypeScatter = "scatter"
)

// ChartTypes are the chart types in menu order.
var ChartTypes = []string{ChartTypeBar, ChartTypeLine, ChartTypeArea, ChartTypeScatter}

// Axis modes: "auto" adds a right axis when the series' scales differ by more than
// dualAxisRatio, "shared" keeps one axis, "normalised" draws each series as % of its maximum.
const (
	AxisAuto       = "auto"
	AxisShared     = "shared"
	AxisNormalised = "normalised"
	dualAxisRatio  = 20.0
)

// ChartAxes are the axis modes in menu order.
var ChartAxes = []string{AxisAuto, AxisShared, AxisNormalised}

// ChartOptions are a user's choices for a chart; zero values mean "pick for me".
type ChartOptions struct {
	Type   string   `json:"type,omitempty"`
	X      string   `json:"x,omitempty"`
	Series []string `json:"series,omitempty"`
	Axis   string   `json:"axis,omitempty"`
}

// Clean drops unknown values, so options read from a user's text never fail a chart.
func (o ChartOptions) Clean() ChartOptions {
	if !slices.Contains(ChartTypes, o.Type) {
		o.Type = ""
	}
	if !slices.Contains(ChartAxes, o.Axis) || o.Axis == AxisAuto {
		o.Axis = ""
	}
	if len(o.X) > 200 {
		o.X = ""
	}
	var series []string
	for _, s := range o.Series {
		if s != "" && len(s) <= 200 && !slices.Contains(series, s) && len(series) < ChartMaxSeries {
			series = append(series, s)
		}
	}
	o.Series = series
	return o
}

// ChartSpec is a laid-out chart, ready for Chart to draw.
type ChartSpec struct {
	Kind          string // bar, line, area or scatter
	XLabel        string
	Width, Height float64
	PlotLeft      float64
	PlotRight     float64
	PlotTop       float64
	PlotBottom    float64
	YTicks        []ChartTick
	RightTicks    []ChartTick // the second axis, when Axis is "dual"
	RightLabel    string
	LeftLabel     string
	XTicks        []ChartTick
	Series        []ChartSeries
	Axis          string // "single", "dual" or "normalised": what was drawn

	// What the controls offer and what was chosen.
	Options       ChartOptions // the effective choice (type, x, series, axis)
	XOptions      []string     // columns usable as x
	SeriesOptions []string     // numeric columns usable as series
}

// ChartTick is an axis tick at Pos with its label.
type ChartTick struct {
	Pos   float64
	Label string
	Full  string // the untruncated label, for a <title>
}

// ChartSeries is one numeric column: its bars (bar charts) or points (the others).
type ChartSeries struct {
	Name   string
	Color  string
	Right  bool // drawn against the right axis
	Bars   []ChartBar
	Points []ChartPoint
	Path   string // SVG path of the line through Points (line and area charts)
	Fill   string // SVG path of the area under the line (area charts)
}

// ChartBar is one bar with its tooltip.
type ChartBar struct {
	X, Y, W, H float64
	Tip        string
}

// ChartPoint is one point with its tooltip.
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

// chartRow is one result row read for a chart; NaN marks NULL or unreadable numbers.
type chartRow struct {
	label string
	t     time.Time
	xv    float64
	vals  []float64
}

// ChartFor lays out a chart of a query result with the user's options (zero values pick:
// the first text or date column as x, else the first number; every other numeric column up
// to ChartMaxSeries as series; bars over categories, lines over dates, points over numbers;
// a right axis when the series' scales differ by more than 20×). When the result cannot be
// charted it returns nil and the reason, phrased for the user.
func ChartFor(columns, types []string, rows [][]any, opt ChartOptions) (*ChartSpec, string) {
	opt = opt.Clean()
	if len(rows) == 0 {
		return nil, "The result has no rows to chart."
	}
	if len(rows) > ChartMaxRows {
		return nil, fmt.Sprintf("Charts show at most %d rows; this result has %d. Aggregate it (GROUP BY) to chart it.", ChartMaxRows, len(rows))
	}
	if len(types) != len(columns) {
		return nil, "The result has an unexpected shape."
	}
	spec := &ChartSpec{Width: chartW, Height: chartH, PlotLeft: chartLeft, PlotRight: chartW - chartRight,
		PlotTop: chartTop, PlotBottom: chartH - chartBottom}
	var numeric []int
	defX := -1
	for i, t := range types {
		switch {
		case IsNumericType(t):
			numeric = append(numeric, i)
			spec.XOptions = append(spec.XOptions, columns[i])
		case isTextType(t) || isTimeType(t):
			spec.XOptions = append(spec.XOptions, columns[i])
			if defX < 0 {
				defX = i
			}
		}
	}
	xcol := slices.Index(columns, opt.X)
	if xcol < 0 || !slices.Contains(spec.XOptions, opt.X) {
		xcol = defX
	}
	if xcol < 0 && len(numeric) >= 2 {
		xcol = numeric[0]
	}
	for _, c := range numeric {
		if c != xcol {
			spec.SeriesOptions = append(spec.SeriesOptions, columns[c])
		}
	}
	if xcol < 0 || len(spec.SeriesOptions) == 0 {
		return nil, "Charts need a text, date or number column for the x axis plus at least one numeric column."
	}
	var ycols []int
	for _, name := range opt.Series {
		if i := slices.Index(columns, name); i >= 0 && i != xcol && IsNumericType(types[i]) {
			ycols = append(ycols, i)
		}
	}
	if len(ycols) == 0 {
		for _, c := range numeric {
			if c != xcol && len(ycols) < ChartMaxSeries {
				ycols = append(ycols, c)
			}
		}
	}
	timeX, numX := isTimeType(types[xcol]), IsNumericType(types[xcol])
	kind := opt.Type
	if kind == "" {
		switch {
		case timeX:
			kind = ChartTypeLine
		case numX:
			kind = ChartTypeScatter
		default:
			kind = ChartTypeBar
		}
	}
	spec.Kind, spec.XLabel = kind, columns[xcol]
	spec.Options = ChartOptions{Type: kind, X: columns[xcol], Axis: opt.Axis}
	for _, c := range ycols {
		spec.Options.Series = append(spec.Options.Series, columns[c])
	}
	if spec.Options.Axis == "" {
		spec.Options.Axis = AxisAuto
	}

	data := make([]chartRow, 0, len(rows))
	for _, r := range rows {
		if len(r) != len(columns) {
			return nil, "The result has an unexpected shape."
		}
		rw := chartRow{label: cellLabel(r[xcol]), vals: make([]float64, len(ycols))}
		if timeX {
			var ok bool
			if rw.t, ok = parseTime(rw.label); !ok {
				continue // NULL dates cannot be placed on a time axis
			}
		}
		if numX {
			if rw.xv = toFloat(r[xcol]); math.IsNaN(rw.xv) {
				continue
			}
		}
		for j, c := range ycols {
			rw.vals[j] = toFloat(r[c])
		}
		data = append(data, rw)
	}
	if len(data) == 0 {
		return nil, "The x column holds no values to chart."
	}
	if timeX {
		sort.SliceStable(data, func(i, j int) bool { return data[i].t.Before(data[j].t) })
	} else if numX && kind != ChartTypeBar {
		sort.SliceStable(data, func(i, j int) bool { return data[i].xv < data[j].xv })
	}
	if timeX {
		layout := timeLabelLayout(data)
		for i := range data {
			data[i].label = data[i].t.Format(layout)
		}
	}

	// Per-series magnitude decides the axes.
	mag := make([]float64, len(ycols))
	anyValue := false
	for j := range ycols {
		for _, d := range data {
			if v := d.vals[j]; !math.IsNaN(v) {
				mag[j] = max(mag[j], math.Abs(v))
				anyValue = true
			}
		}
	}
	if !anyValue {
		return nil, "The numeric columns hold no values to chart."
	}
	right := make([]bool, len(ycols))
	spec.Axis = "single"
	switch {
	case opt.Axis == AxisNormalised:
		spec.Axis = "normalised"
		for j := range ycols {
			if mag[j] == 0 {
				continue
			}
			for i := range data {
				data[i].vals[j] = data[i].vals[j] / mag[j] * 100
			}
		}
	case opt.Axis != AxisShared && len(ycols) > 1:
		top := slices.Max(mag)
		for j := range ycols {
			if top > 0 && mag[j]*dualAxisRatio < top {
				right[j] = true
				spec.Axis = "dual"
			}
		}
	}
	if spec.Axis == "dual" {
		spec.PlotRight = chartW - chartLeft
	}
	plotH := spec.PlotBottom - spec.PlotTop
	plotW := spec.PlotRight - spec.PlotLeft
	scale := func(onRight bool) (func(float64) float64, []ChartTick) {
		lo, hi, seen := 0.0, 0.0, false
		for j := range ycols {
			if right[j] != onRight {
				continue
			}
			for _, d := range data {
				if v := d.vals[j]; !math.IsNaN(v) {
					if !seen {
						lo, hi, seen = v, v, true
					}
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
		lo, hi, step := niceRange(lo, hi)
		pos := func(v float64) float64 { return spec.PlotBottom - (v-lo)/(hi-lo)*plotH }
		var ticks []ChartTick
		for v := lo; v <= hi+step/2; v += step {
			l := formatNumber(v)
			if spec.Axis == "normalised" {
				l += "%"
			}
			ticks = append(ticks, ChartTick{Pos: pos(v), Label: l, Full: l})
		}
		return pos, ticks
	}
	leftPos, leftTicks := scale(false)
	spec.YTicks = leftTicks
	rightPos := leftPos
	var leftNames, rightNames []string
	for j, c := range ycols {
		if right[j] {
			rightNames = append(rightNames, columns[c])
		} else {
			leftNames = append(leftNames, columns[c])
		}
	}
	if spec.Axis == "dual" {
		rightPos, spec.RightTicks = scale(true)
		spec.LeftLabel, spec.RightLabel = strings.Join(leftNames, ", "), strings.Join(rightNames, ", ")
	} else if spec.Axis == "normalised" {
		spec.LeftLabel = "% of each series' maximum"
	}

	n := len(data)
	xPos := make([]float64, n)
	categorical := kind == ChartTypeBar || (!timeX && !numX)
	switch {
	case categorical:
		for i := range data {
			xPos[i] = spec.PlotLeft + (float64(i)+0.5)*plotW/float64(n)
		}
	case timeX:
		t0, t1 := data[0].t, data[n-1].t
		span := t1.Sub(t0).Seconds()
		for i, d := range data {
			if span <= 0 {
				xPos[i] = spec.PlotLeft + plotW/2
			} else {
				xPos[i] = spec.PlotLeft + 8 + d.t.Sub(t0).Seconds()/span*(plotW-16)
			}
		}
	default:
		x0, x1 := data[0].xv, data[n-1].xv
		for i, d := range data {
			if x1 <= x0 {
				xPos[i] = spec.PlotLeft + plotW/2
			} else {
				xPos[i] = spec.PlotLeft + 8 + (d.xv-x0)/(x1-x0)*(plotW-16)
			}
		}
	}
	if numX && !categorical {
		lo, hi, step := niceRangeFree(data[0].xv, data[n-1].xv)
		x0, x1 := data[0].xv, data[n-1].xv
		for v := lo; v <= hi+step/2; v += step {
			if v < x0-step/1e6 || v > x1+step/1e6 || x1 <= x0 {
				continue
			}
			l := formatNumber(v)
			spec.XTicks = append(spec.XTicks, ChartTick{Pos: spec.PlotLeft + 8 + (v-x0)/(x1-x0)*(plotW-16), Label: l, Full: l})
		}
	}
	if len(spec.XTicks) == 0 {
		every := (n + chartMaxLabels - 1) / chartMaxLabels
		for i, d := range data {
			if i%every != 0 {
				continue
			}
			spec.XTicks = append(spec.XTicks, ChartTick{Pos: xPos[i], Label: shorten(d.label, 14), Full: d.label})
		}
	}

	group := plotW / float64(n)
	barW := group * 0.8 / float64(len(ycols))
	for j, c := range ycols {
		yPos := leftPos
		if right[j] {
			yPos = rightPos
		}
		zero := yPos(0)
		zero = min(max(zero, spec.PlotTop), spec.PlotBottom)
		s := ChartSeries{Name: columns[c], Color: chartColors[j%len(chartColors)], Right: right[j]}
		var path, fill strings.Builder
		pen := false
		firstX, lastX := 0.0, 0.0
		flush := func() {
			if pen && kind == ChartTypeArea {
				fmt.Fprintf(&fill, " L%.1f %.1f L%.1f %.1f Z", lastX, zero, firstX, zero)
			}
			pen = false
		}
		for i, d := range data {
			v := d.vals[j]
			if math.IsNaN(v) {
				flush()
				continue
			}
			shown := formatNumber(v)
			if spec.Axis == "normalised" {
				shown = trimFloat(v, 1) + "%"
			}
			tip := fmt.Sprintf("%s · %s: %s", d.label, columns[c], shown)
			y := yPos(v)
			if kind == ChartTypeBar {
				top, h := min(y, zero), math.Abs(zero-y)
				if h < 1 {
					h = 1
				}
				x := spec.PlotLeft + float64(i)*group + group*0.1 + float64(j)*barW
				s.Bars = append(s.Bars, ChartBar{X: x, Y: top, W: max(barW-1, 1), H: h, Tip: tip})
				continue
			}
			s.Points = append(s.Points, ChartPoint{X: xPos[i], Y: y, Tip: tip})
			if kind == ChartTypeScatter {
				continue
			}
			if pen {
				fmt.Fprintf(&path, " L%.1f %.1f", xPos[i], y)
				fmt.Fprintf(&fill, " L%.1f %.1f", xPos[i], y)
			} else {
				fmt.Fprintf(&path, " M%.1f %.1f", xPos[i], y)
				fmt.Fprintf(&fill, " M%.1f %.1f", xPos[i], y)
				firstX = xPos[i]
			}
			lastX = xPos[i]
			pen = true
		}
		flush()
		s.Path = strings.TrimSpace(path.String())
		if kind == ChartTypeArea {
			s.Fill = strings.TrimSpace(fill.String())
		}
		spec.Series = append(spec.Series, s)
	}
	return spec, ""
}

// timeLabelLayout picks the date format the x labels need: months when every value is the
// first of a month, days when every value is a midnight (with the year when it changes),
// hours and minutes within two days, else day and time.
func timeLabelLayout(data []chartRow) string {
	months, midnights := true, true
	for _, d := range data {
		h, m, s := d.t.Clock()
		if h != 0 || m != 0 || s != 0 || d.t.Nanosecond() != 0 {
			midnights, months = false, false
			break
		}
		if d.t.Day() != 1 {
			months = false
		}
	}
	span := data[len(data)-1].t.Sub(data[0].t)
	sameYear := data[0].t.Year() == data[len(data)-1].t.Year()
	switch {
	case months:
		return "Jan 2006"
	case midnights && sameYear:
		return "Jan 2"
	case midnights:
		return "Jan 2, 2006"
	case span <= 24*time.Hour && data[0].t.YearDay() == data[len(data)-1].t.YearDay():
		return "15:04"
	case sameYear:
		return "Jan 2 15:04"
	}
	return "2006-01-02 15:04"
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

// niceRangeFree is niceRange without forcing zero in, for a numeric x axis.
func niceRangeFree(lo, hi float64) (float64, float64, float64) {
	if hi <= lo {
		return lo, lo + 1, 1
	}
	raw := (hi - lo) / 6
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

func pointRadius(kind string) string {
	if kind == ChartTypeScatter {
		return "4.5"
	}
	return "3.5"
}

func pointFill(kind, color string) string {
	if kind == ChartTypeScatter {
		return color
	}
	return "#fff"
}

func pointOpacity(kind string) string {
	if kind == ChartTypeScatter {
		return "0.6"
	}
	return "1"
}

// chartCommentRE finds the chart options a query's text carries: a line
// "-- da-chart: {json}", which every SQL engine ignores, so a saved query keeps its chart
// wherever it is stored, run or shared.
var chartCommentRE = regexp.MustCompile(`(?m)^[ \t]*--[ \t]*da-chart:[ \t]*(\{.*\})[ \t]*$`)

// ChartOptionsFromSQL reads the last "-- da-chart: {...}" line of sql; invalid or missing
// options give the zero value (automatic choices).
func ChartOptionsFromSQL(sql string) ChartOptions {
	m := chartCommentRE.FindAllStringSubmatch(sql, -1)
	if len(m) == 0 {
		return ChartOptions{}
	}
	var o ChartOptions
	if err := json.Unmarshal([]byte(m[len(m)-1][1]), &o); err != nil {
		return ChartOptions{}
	}
	return o.Clean()
}

// Comment is the SQL comment line that carries o (see ChartOptionsFromSQL).
func (o ChartOptions) Comment() string {
	b, _ := json.Marshal(o.Clean())
	return "-- da-chart: " + string(b)
}
