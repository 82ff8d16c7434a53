package handlers

import (
	"fmt"
	"sort"
	"strings"

	"da/store"
	"da/views"
)

// auditLabels name the semantic events for people.
var auditLabels = map[string]string{
	"query":                       "Query",
	auditUpload:                   "Upload",
	auditUserCreate:               "User added",
	auditUserUpdate:               "User changed",
	auditUserDelete:               "User deleted",
	auditPasswordSetup:            "Password set",
	auditPasswordChange:           "Password changed",
	auditPermGrant:                "Access granted",
	auditPermRevoke:               "Access revoked",
	auditRequestCreate:            "Access requested",
	auditRequestApprove:           "Request approved",
	auditRequestDeny:              "Request denied",
	auditTokenCreate:              "Token created",
	auditTokenRevoke:              "Token revoked",
	auditLoginSuccess:             "Signed in",
	auditLoginFailure:             "Sign-in failed",
	auditTableRegister:            "Table registered",
	auditTableUpdate:              "Table changed",
	auditTableDelete:              "Table deleted",
	auditSyncTrigger:              "Sync started",
	auditTablePublic:              "Visibility changed",
	auditMemoryCreate:             "Knowledge contributed",
	auditMemoryBatch:              "Knowledge batch",
	auditMemoryPrefix + "approve": "Knowledge approved",
	auditMemoryPrefix + "reject":  "Knowledge rejected",
	auditMemoryPrefix + "mandate": "Knowledge mandated",
	auditMemoryPrefix + "revoke":  "Knowledge revoked",
	auditMemoryPrefix + "edit":    "Knowledge edited",
}

// auditLabel is the event's name for people; request rows keep their method and path.
func auditLabel(action string) string {
	if l, ok := auditLabels[action]; ok {
		return l
	}
	if strings.Contains(action, " /") {
		return action
	}
	s := strings.ReplaceAll(strings.TrimPrefix(action, auditMemoryPrefix), "_", " ")
	if s == "" {
		return action
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// activityRow turns an audit entry into what the activity page shows: the subject by name
// (a table, a person) rather than an id, and a one-line summary of what happened.
func activityRow(e store.AuditEntry, emails map[string]string) views.ActivityRow {
	r := views.ActivityRow{Time: e.Timestamp.UTC().Format("2006-01-02 15:04:05"), User: emailOr(emails, e.UserID),
		Action: e.Action, Label: auditLabel(e.Action), Resource: e.Resource, Result: e.Result, ClientIP: e.ClientIP}
	if e.DurationMS > 0 {
		r.Duration = fmt.Sprint(e.DurationMS)
	}
	p := e.Params
	str := func(k string) string {
		if v, ok := p[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	// The subject: a table, else a person, else the resource as recorded.
	switch {
	case str("table_id") != "":
		r.Subject = str("table_id")
	case str("table") != "":
		r.Subject = str("table")
	case str("email") != "":
		r.Subject = str("email")
	case str("user_id") != "" && emails[str("user_id")] != "":
		r.Subject = emails[str("user_id")]
	case emails[e.Resource] != "":
		r.Subject = emails[e.Resource]
	case str("title") != "":
		r.Subject = str("title")
	case e.Action != "query":
		r.Subject = e.Resource
	}
	switch e.Action {
	case "query":
		verb := "Ran"
		if f := str("export"); f != "" {
			verb = "Exported as " + strings.ToUpper(f) + ":"
		}
		r.Summary = verb + " " + oneLine(str("sql"), 140)
		if rows := str("rows"); rows != "" && e.Result != "failure" {
			r.Summary += " · " + rows + " rows"
		}
	case auditUpload:
		r.Summary = "File " + str("file")
		if rows := str("rows"); rows != "" {
			r.Summary += " · " + rows + " rows"
		}
	case auditRequestApprove, auditRequestDeny:
		if u := emails[str("user_id")]; u != "" {
			r.Summary = "For " + u
		}
	default:
		var parts []string
		for k, v := range p {
			switch k {
			case "table_id", "table", "email", "error", "via":
				continue
			}
			parts = append(parts, k+": "+oneLine(fmt.Sprint(v), 60))
		}
		sort.Strings(parts)
		r.Summary = strings.Join(parts, " · ")
	}
	if msg := str("error"); msg != "" {
		if r.Summary != "" {
			r.Summary += " — "
		}
		r.Summary += oneLine(msg, 200)
	}
	return r
}

// oneLine squeezes whitespace and cuts s to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
