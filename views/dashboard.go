package views

import "da/auth"

// DashboardData is the numbers and state the dashboard shows.
type DashboardData struct {
	Tables          int
	TotalRows       int64
	Users           int
	LastSync        string // "" means never
	PendingRequests int    // access requests waiting (shown to admins)
	Health          string // "healthy" | "degraded" | "unhealthy"
}

// quickLink is a dashboard shortcut card to one nav destination.
type quickLink struct {
	Item NavItem
	Text string
}

// quickLinkText describes the destinations the dashboard offers, in NavItems order.
var quickLinkText = map[string]string{
	"catalog":         "Browse tables, columns and profiles you can read.",
	"query":           "Run SQL against the warehouse and export results.",
	"upload":          "Add a CSV, TSV, JSON lines or parquet file as a table.",
	"memory":          "Search and contribute to the team's shared knowledge.",
	"memory-admin":    "Review, approve and curate contributed knowledge.",
	"access-requests": "Ask for access to a table or follow your requests.",
	"admin-tables":    "Register, sync and publish tables.",
	"admin-users":     "Invite people and manage their roles.",
	"settings":        "Subscriptions, notifications and access tokens.",
}

// quickLinks lists the dashboard shortcuts role may open, in NavItems order. Settings is the
// filler: it is dropped when it would leave the two-column grid with a lone card.
func quickLinks(role auth.Role) []quickLink {
	var out []quickLink
	var settings *quickLink
	for _, it := range VisibleNav(role) {
		t, ok := quickLinkText[it.Key]
		switch {
		case !ok:
		case it.Key == "settings":
			settings = &quickLink{Item: it, Text: t}
		default:
			out = append(out, quickLink{Item: it, Text: t})
		}
	}
	if settings != nil && len(out)%2 == 1 {
		out = append(out, *settings)
	}
	return out
}

func healthLabel(h string) (label, tone string) {
	switch h {
	case "healthy":
		return "All systems healthy", "green"
	case "degraded":
		return "Degraded", "amber"
	case "unhealthy":
		return "Unhealthy", "red"
	case "":
		return "", ""
	}
	return h, "gray"
}

func lastSyncValue(s string) string {
	if s == "" {
		return "Never"
	}
	return s
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func lastSyncHint(s string) string {
	if s == "" {
		return "no sync has run yet"
	}
	return "most recent data refresh"
}
