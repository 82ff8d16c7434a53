package views

import (
	"regexp"
	"time"

	"da/auth"
)

// DashboardData is the numbers and state the dashboard shows.
type DashboardData struct {
	Tables          int
	TotalRows       int64
	Users           int
	LastSync        string // "" means never
	PendingRequests int    // access requests waiting (shown to admins)
	Health          string // "healthy" | "degraded" | "unhealthy"
	QueriesWeek     int    // the user's queries in the last 7 days
	Datasets        []DashboardDataset
	RecentSyncs     []DashboardSync
	RecentQueries   []DashboardQuery
	MyRequests      []DashboardRequest
	Now             time.Time
	CanSync         bool     // the role may download (analyst or higher): Sync switches apply
	Subscribed      int      // tables the user subscribes to; 0 means da sync takes all
	Admins          []string // whom a viewer asks for a role
	Failing         []string // readable tables whose every recent sync failed
}

// DashboardDataset is one table the user can read, with its subscription state.
type DashboardDataset struct {
	ID, Name, Status string
	Rows             int64
	LastSync         time.Time
	Subscribed       bool
}

// DashboardSync is one recent data change.
type DashboardSync struct {
	TableID, Status string
	Rows            int64
	At              time.Time
}

// DashboardQuery is one of the user's recent queries.
type DashboardQuery struct {
	SQL, Status string
	Rows        int64
	At          time.Time
}

// DashboardRequest is one of the user's access requests.
type DashboardRequest struct {
	TableID, Status string
	At              time.Time // when it was made (pending) or decided
	ReviewedBy      string
}

// requestTone is the badge colour of an access request's status.
func requestTone(status string) string {
	switch status {
	case "approved":
		return "green"
	case "denied":
		return "red"
	}
	return "amber"
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

// lastSyncValue is the last sync as "5 min ago", the way the dataset list says it (the
// exact time is the hint), so that it fits its card on one line.
func lastSyncValue(s string, now time.Time) string {
	if s == "" {
		return "Never"
	}
	t, err := time.Parse("2006-01-02 15:04 UTC", s)
	if err != nil {
		return s
	}
	return Ago(t, now)
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
	return s
}

func datasetFreshness(d DashboardDataset, now time.Time) string {
	if d.Status != "ok" {
		return d.Status
	}
	if d.LastSync.IsZero() {
		return "synced"
	}
	return "synced " + Ago(d.LastSync, now)
}

func subscriptionTitle(on bool) string {
	if on {
		return "Subscribed: da sync downloads it. Click to unsubscribe."
	}
	return "Not subscribed. Click to subscribe."
}

// exampleTable is the table the agent card's query example names: the first one the user can
// read whose name needs no quoting inside the shell command, or a placeholder when there is
// none.
func exampleTable(ds []DashboardDataset) string {
	for _, d := range ds {
		if plainIdent.MatchString(d.ID) {
			return d.ID
		}
	}
	return "my_table"
}

var plainIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
