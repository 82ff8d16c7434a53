package components

import (
	"fmt"
	"strconv"
)

// ProfileBar is one bar of a profile chart: its label, count and share in percent.
type ProfileBar struct {
	Label string
	Count int64
	Pct   float64
}

// histogram geometry, in SVG user units.
const (
	histW, histH       = 320.0, 140.0
	histLeft, histBase = 34.0, 112.0
	histTop            = 10.0
)

type histBar struct {
	X, Y, W, H float64
	Bar        ProfileBar
}

func histBars(bars []ProfileBar) []histBar {
	if len(bars) == 0 {
		return nil
	}
	maxC := maxCount(bars)
	slot := (histW - histLeft - 4) / float64(len(bars))
	out := make([]histBar, len(bars))
	for i, b := range bars {
		h := 0.0
		if maxC > 0 {
			h = (histBase - histTop) * float64(b.Count) / float64(maxC)
		}
		if b.Count > 0 && h < 1 {
			h = 1
		}
		out[i] = histBar{X: histLeft + float64(i)*slot + 1, Y: histBase - h, W: slot - 2, H: h, Bar: b}
	}
	return out
}

func maxCount(bars []ProfileBar) int64 {
	var m int64
	for _, b := range bars {
		if b.Count > m {
			m = b.Count
		}
	}
	return m
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func pctText(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10) + "%"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "%"
}

func barTitle(b ProfileBar) string {
	if b.Pct > 0 {
		return fmt.Sprintf("%s: %s (%s)", b.Label, FormatInt(b.Count), pctText(b.Pct))
	}
	return fmt.Sprintf("%s: %s", b.Label, FormatInt(b.Count))
}

// FormatInt writes n with thousands separators.
func FormatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func clampPct(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v > 100:
		return 100
	}
	return v
}

func widthStyle(pct float64) string { return "width: " + f1(clampPct(pct)) + "%" }

func max1(v float64) float64 {
	if v < 1 {
		return 1
	}
	return v
}
