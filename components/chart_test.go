package components

import (
	"strings"
	"testing"
)

// monthly is a result of 12 monthly rows with a count in the tens and revenue in the
// hundreds of thousands: two scales that one axis cannot show together.
func monthly() ([]string, []string, [][]any) {
	cols := []string{"month", "orders", "revenue"}
	types := []string{"TIMESTAMP", "BIGINT", "DECIMAL(18,2)"}
	var rows [][]any
	for m := 1; m <= 12; m++ {
		ts := "2025-" + string(rune('0'+m/10)) + string(rune('0'+m%10)) + "-01T00:00:00Z"
		rows = append(rows, []any{ts, int64(10 + m), "1" + strings.Repeat("0", 5) + ".50"})
	}
	return cols, types, rows
}

func TestChartDualAxisAndDateLabels(t *testing.T) {
	cols, types, rows := monthly()
	spec, reason := ChartFor(cols, types, rows, ChartOptions{})
	if spec == nil {
		t.Fatal(reason)
	}
	if spec.Kind != "line" || spec.Axis != "dual" || len(spec.RightTicks) == 0 {
		t.Fatalf("kind %s axis %s right ticks %d, want a line with a right axis", spec.Kind, spec.Axis, len(spec.RightTicks))
	}
	if !spec.Series[0].Right || spec.Series[1].Right {
		t.Errorf("orders should use the right axis, revenue the left: %v %v", spec.Series[0].Right, spec.Series[1].Right)
	}
	for _, tk := range spec.XTicks {
		if strings.Contains(tk.Label, "T00") || strings.Contains(tk.Label, ":") {
			t.Errorf("tick label %q is a raw timestamp", tk.Label)
		}
	}
	if spec.XTicks[0].Label != "Jan 2025" {
		t.Errorf("first tick %q, want Jan 2025", spec.XTicks[0].Label)
	}
	// The counts are visible: their points spread over the plot, not flat on the x axis.
	var lo, hi float64 = 1e9, -1e9
	for _, p := range spec.Series[0].Points {
		lo, hi = min(lo, p.Y), max(hi, p.Y)
	}
	if hi-lo < (spec.PlotBottom-spec.PlotTop)/4 {
		t.Errorf("orders span %.1f units of a %.1f plot", hi-lo, spec.PlotBottom-spec.PlotTop)
	}
	// One shared axis on request; normalised draws percentages.
	shared, _ := ChartFor(cols, types, rows, ChartOptions{Axis: AxisShared})
	if shared.Axis != "single" || len(shared.RightTicks) != 0 {
		t.Errorf("shared: axis %s", shared.Axis)
	}
	norm, _ := ChartFor(cols, types, rows, ChartOptions{Axis: AxisNormalised})
	if norm.Axis != "normalised" || !strings.HasSuffix(norm.YTicks[len(norm.YTicks)-1].Label, "%") {
		t.Errorf("normalised: axis %s ticks %v", norm.Axis, norm.YTicks)
	}
}

func TestChartOptions(t *testing.T) {
	cols, types, rows := monthly()
	for _, kind := range ChartTypes {
		spec, reason := ChartFor(cols, types, rows, ChartOptions{Type: kind, Series: []string{"revenue"}})
		if spec == nil {
			t.Fatalf("%s: %s", kind, reason)
		}
		if spec.Kind != kind || len(spec.Series) != 1 || spec.Series[0].Name != "revenue" {
			t.Errorf("%s: kind %s series %d", kind, spec.Kind, len(spec.Series))
		}
		s := spec.Series[0]
		switch kind {
		case "bar":
			if len(s.Bars) != 12 || len(s.Points) != 0 {
				t.Errorf("bar: %d bars %d points", len(s.Bars), len(s.Points))
			}
		case "line":
			if s.Path == "" || s.Fill != "" || len(s.Points) != 12 {
				t.Errorf("line: path %q fill %q", s.Path, s.Fill)
			}
		case "area":
			if s.Fill == "" || !strings.HasSuffix(s.Fill, "Z") {
				t.Errorf("area: fill %q", s.Fill)
			}
		case "scatter":
			if s.Path != "" || len(s.Points) != 12 {
				t.Errorf("scatter: path %q points %d", s.Path, len(s.Points))
			}
		}
	}
	// A numeric x column: orders against revenue.
	spec, reason := ChartFor(cols, types, rows, ChartOptions{X: "orders"})
	if spec == nil || spec.Kind != "scatter" || spec.XLabel != "orders" || len(spec.Series) != 1 || spec.Series[0].Name != "revenue" {
		t.Fatalf("numeric x: %+v %s", spec, reason)
	}
	// Unknown values fall back to automatic choices instead of failing.
	spec, _ = ChartFor(cols, types, rows, ChartOptions{Type: "pie", X: "nope", Series: []string{"nope", "month"}, Axis: "x"})
	if spec == nil || spec.Kind != "line" || spec.XLabel != "month" || len(spec.Series) != 2 {
		t.Fatalf("bad options: %+v", spec)
	}
}

func TestChartOptionsInSQL(t *testing.T) {
	o := ChartOptions{Type: "area", X: "month", Series: []string{"orders"}, Axis: "normalised"}
	sql := "SELECT 1\n" + o.Comment()
	got := ChartOptionsFromSQL(sql)
	if got.Type != "area" || got.X != "month" || len(got.Series) != 1 || got.Axis != "normalised" {
		t.Fatalf("round trip: %+v from %q", got, sql)
	}
	if got := ChartOptionsFromSQL("SELECT 1 -- da-chart: {nope"); got.Type != "" {
		t.Errorf("broken comment gave %+v", got)
	}
	if got := ChartOptionsFromSQL("SELECT 1"); got.Type != "" || got.X != "" {
		t.Errorf("no comment gave %+v", got)
	}
}
