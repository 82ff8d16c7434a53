package jira

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rows are the rows of one issue, by table name, in the column order of Tables.
type Rows map[string][][]any

// Issue is a raw issue as Jira returns it (plus the connector's own _synced_at,
// _remote_links and _deleted_at keys). Numbers stay json.Number.
type Issue map[string]any

// ParseIssue decodes raw issue JSON keeping numbers exact.
func ParseIssue(b []byte) (Issue, error) {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return Issue(m), nil
}

// Key is the issue key ("" when absent).
func (is Issue) Key() string { return str(is["key"]) }

// Fields is the issue's fields object (never nil).
func (is Issue) Fields() map[string]any {
	if f, ok := is["fields"].(map[string]any); ok {
		return f
	}
	return map[string]any{}
}

// Updated is fields.updated parsed (zero when missing or unparseable).
func (is Issue) Updated() time.Time {
	t, _ := parseTime(is.Fields()["updated"])
	return t
}

// Month is the shard of the issue: its created month in the timestamp's own offset, or
// the current UTC month when created is missing.
func (is Issue) Month() string {
	if t, ok := parseTime(is.Fields()["created"]); ok {
		return t.Format("2006-01")
	}
	return time.Now().UTC().Format("2006-01")
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// str renders a scalar as text; nil stays nil ("" is returned as "").
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// nstr is str with nil (and missing) kept as SQL NULL.
func nstr(v any) any {
	if v == nil {
		return nil
	}
	return str(v)
}

func nint(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if f, err := x.Float64(); err == nil {
			return int64(f)
		}
	case float64:
		return int64(x)
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n
		}
	}
	return nil
}

var timeLayouts = []string{"2006-01-02T15:04:05.999999999-0700", "2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z07:00"}

// parseTime reads Jira's timestamps (offset with or without a colon, fractional seconds
// dropped); a naive timestamp is UTC.
func parseTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Truncate(time.Second), true
		}
	}
	for _, l := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.Truncate(time.Second), true
		}
	}
	return time.Time{}, false
}

func ts(v any) any {
	if t, ok := parseTime(v); ok {
		return t.UTC()
	}
	return nil
}

// adfText flattens Atlassian Document Format (or a plain string) to text.
func adfText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if t := adfText(e); t != "" {
				parts = append(parts, t)
			}
		}
		return strings.Join(parts, " ")
	case map[string]any:
		parts := []string{}
		if t, ok := x["text"].(string); ok && t != "" {
			parts = append(parts, t)
		}
		if t := adfText(x["content"]); t != "" {
			parts = append(parts, t)
		}
		return strings.TrimSpace(strings.Join(parts, " "))
	default:
		return str(x)
	}
}

func nadf(v any) any {
	if v == nil {
		return nil
	}
	if t := adfText(v); t != "" {
		return t
	}
	return nil
}

func option(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		if s, ok := x["value"]; ok && s != nil {
			return str(s)
		}
		if s, ok := x["name"]; ok && s != nil {
			return str(s)
		}
		return str(x)
	default:
		return str(x)
	}
}

func jsonList(v any, each func(any) any) any {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil
		}
		list = []any{v}
	}
	out := make([]any, 0, len(list))
	for _, e := range list {
		if each != nil {
			e = each(e)
		}
		out = append(out, e)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// sla reads one SLA field: breached ("True"/"False"), goal and elapsed millis.
func sla(v any) (breached, goal, elapsed any) {
	m, ok := v.(map[string]any)
	if !ok || m["errorMessage"] != nil {
		return nil, nil, nil
	}
	cycle, _ := m["ongoingCycle"].(map[string]any)
	if cycle == nil {
		if done, ok := m["completedCycles"].([]any); ok && len(done) > 0 {
			cycle, _ = done[len(done)-1].(map[string]any)
		}
	}
	if cycle == nil {
		return nil, nil, nil
	}
	if b, ok := cycle["breached"].(bool); ok {
		breached = str(b)
	}
	return breached, nint(dig(cycle, "goalDuration", "millis")), nint(dig(cycle, "elapsedTime", "millis"))
}

func count(v any) int64 {
	if l, ok := v.([]any); ok {
		return int64(len(l))
	}
	return 0
}

// Transform turns one raw issue into its rows in the six tables. site is the browse host
// (JIRA_DOMAIN) used for issue_url.
func Transform(is Issue, site string) (Rows, error) {
	key := is.Key()
	if key == "" {
		return nil, fmt.Errorf("jira: issue without a key")
	}
	if site == "" {
		site = "your-org.atlassian.net"
	}
	f := is.Fields()
	user := func(v any) (any, any) { return nstr(dig(v, "emailAddress")), nstr(dig(v, "displayName")) }
	creatorE, creatorN := user(f["creator"])
	reporterE, reporterN := user(f["reporter"])
	assigneeE, assigneeN := user(f["assignee"])
	commentTotal := nint(dig(f["comment"], "total"))
	if commentTotal == nil {
		commentTotal = count(dig(f["comment"], "comments"))
	}
	frB, frG, frE := sla(f["customfield_10328"])
	trB, trG, trE := sla(f["customfield_10161"])
	var labels any = "[]"
	if f["labels"] != nil {
		labels = jsonList(f["labels"], nil)
	}
	var satisfaction any
	if r := dig(f["customfield_10157"], "rating"); r != nil {
		satisfaction = nint(r)
	}
	rows := Rows{}
	rows["issues"] = [][]any{{
		key, nstr(is["id"]), "https://" + site + "/browse/" + key, nstr(f["summary"]), nadf(f["description"]),
		nstr(dig(f["issuetype"], "name")), nstr(dig(f["status"], "name")),
		nstr(dig(f["status"], "statusCategory", "name")), nstr(dig(f["priority"], "name")),
		nstr(dig(f["resolution"], "name")), nstr(dig(f["project"], "key")), nstr(dig(f["project"], "name")),
		creatorE, creatorN, reporterE, reporterN, assigneeE, assigneeN,
		ts(f["created"]), ts(f["updated"]), ts(f["resolutiondate"]), nstr(f["duedate"]), labels,
		count(f["attachment"]), commentTotal, count(f["issuelinks"]),
		nstr(dig(f["customfield_10010"], "requestType", "name")), nstr(dig(f["customfield_10010"], "currentStatus", "status")),
		option(f["customfield_10004"]), jsonList(f["customfield_10323"], option), jsonList(f["customfield_10511"], option),
		jsonList(f["customfield_10156"], func(v any) any {
			if e := dig(v, "emailAddress"); e != nil {
				return str(e)
			}
			return option(v)
		}),
		jsonList(f["customfield_10002"], option), option(f["customfield_10365"]), nadf(f["customfield_10330"]),
		nstr(f["customfield_10325"]), nstr(f["customfield_10350"]), option(f["customfield_10676"]),
		nstr(f["customfield_10475"]), satisfaction,
		frB, frG, frE, trB, trG, trE,
		option(f["customfield_11831"]), nstr(is["_synced_at"]), key + ".json",
	}}
	for _, c := range asList(dig(f["comment"], "comments")) {
		ae, an := user(c["author"])
		rows["comments"] = append(rows["comments"], []any{nstr(c["id"]), key, ae, an, nadf(c["body"]),
			ts(c["created"]), ts(c["updated"]), nstr(dig(c["updateAuthor"], "emailAddress"))})
	}
	for _, a := range asList(f["attachment"]) {
		ae, _ := user(a["author"])
		rows["attachments"] = append(rows["attachments"], []any{nstr(a["id"]), key, nstr(a["filename"]),
			nstr(a["_local_path"]), nil, nint(a["size"]), nstr(a["mimeType"]), ae, ts(a["created"]),
			nstr(a["content"]), nstr(a["thumbnail"])})
	}
	for _, h := range asList(dig(is["changelog"], "histories")) {
		ae, an := user(h["author"])
		for _, it := range asList(h["items"]) {
			rows["changelog"] = append(rows["changelog"], []any{nstr(h["id"]), key, ae, an, nstr(it["field"]),
				nstr(it["fieldtype"]), nstr(it["fromString"]), nstr(it["toString"]), ts(h["created"])})
		}
	}
	for _, l := range asList(f["issuelinks"]) {
		dir, other := "outward", l["outwardIssue"]
		if in := l["inwardIssue"]; in != nil {
			dir, other = "inward", in
		} else if other == nil {
			continue
		}
		rows["issuelinks"] = append(rows["issuelinks"], []any{key, nstr(l["id"]), nstr(dig(l["type"], "name")), dir,
			nstr(dig(other, "key")), nstr(dig(other, "fields", "summary")), nstr(dig(other, "fields", "status", "name")),
			nstr(dig(other, "fields", "priority", "name"))})
	}
	for _, r := range asList(is["_remote_links"]) {
		rows["remote_links"] = append(rows["remote_links"], []any{key, nstr(r["id"]), nstr(dig(r["object"], "url")),
			nstr(dig(r["object"], "title")), nstr(dig(r["application"], "name")), nstr(dig(r["application"], "type"))})
	}
	return rows, nil
}

func asList(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
