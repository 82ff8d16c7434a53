package jiratest

import (
	"encoding/json"
	"fmt"
	"time"
)

// NewIssue builds a v3 issue as GET /rest/api/3/issue returns it: ADF description, one
// comment, one changelog entry, one attachment, one outward link. created and updated are
// Jira timestamps (2026-02-03T12:06:52.829+0100).
func NewIssue(key string, id int, created, updated string) map[string]any {
	user := func(name string) map[string]any {
		return map[string]any{"accountId": "acc-" + name, "displayName": name, "emailAddress": name + "@example.com"}
	}
	adf := func(text string) map[string]any {
		return map[string]any{"type": "doc", "version": 1, "content": []any{
			map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": text}}}}}
	}
	return map[string]any{
		"id": fmt.Sprint(id), "key": key, "self": fmt.Sprintf("https://acme.atlassian.net/rest/api/3/issue/%d", id),
		"fields": map[string]any{
			"summary": "Summary of " + key, "description": adf("Description of " + key),
			"issuetype": map[string]any{"name": "Bug"},
			"status":    map[string]any{"name": "In Progress", "statusCategory": map[string]any{"key": "indeterminate", "name": "In Progress"}},
			"priority":  map[string]any{"name": "High"}, "resolution": nil,
			"project": map[string]any{"key": "SUP", "name": "Support"},
			"creator": user("carol"), "reporter": user("rita"), "assignee": user("alan"),
			"created": created, "updated": updated, "resolutiondate": nil, "duedate": "2026-03-01",
			"labels": []any{"vip", "billing"},
			"comment": map[string]any{"comments": []any{map[string]any{
				"id": fmt.Sprint(id*10 + 1), "author": user("carol"), "body": adf("First comment"),
				"created": created, "updated": created, "updateAuthor": user("carol")}}, "total": 1, "startAt": 0, "maxResults": 100},
			"attachment": []any{map[string]any{"id": fmt.Sprint(id*10 + 2), "filename": "log.txt", "size": 12,
				"mimeType": "text/plain", "author": user("rita"), "created": created,
				"content": fmt.Sprintf("https://acme.atlassian.net/rest/api/3/attachment/content/%d", id*10+2)}},
			"issuelinks": []any{map[string]any{"id": fmt.Sprint(id*10 + 3), "type": map[string]any{"name": "Blocks"},
				"outwardIssue": map[string]any{"key": "SUP-9999", "fields": map[string]any{"summary": "Other",
					"status": map[string]any{"name": "Open"}, "priority": map[string]any{"name": "Low"}}}}},
			"customfield_10004": map[string]any{"value": "Sev 2"},
			"customfield_10328": SLA(false, 3600000, 60000, true),
			"customfield_10161": SLA(false, 14400000, 120000, true),
		},
		"changelog": map[string]any{"startAt": 0, "maxResults": 100, "total": 1, "histories": []any{map[string]any{
			"id": fmt.Sprint(id*10 + 4), "author": user("alan"), "created": updated,
			"items": []any{map[string]any{"field": "status", "fieldtype": "jira", "fromString": "Open", "toString": "In Progress"}}}}},
	}
}

// SLA is a JSM SLA field value with one cycle (ongoing or completed).
func SLA(breached bool, goal, elapsed int64, ongoing bool) map[string]any {
	cycle := map[string]any{"breached": breached, "goalDuration": map[string]any{"millis": goal},
		"elapsedTime": map[string]any{"millis": elapsed}, "remainingTime": map[string]any{"millis": goal - elapsed}}
	v := map[string]any{"id": "1", "name": "Time to resolution", "completedCycles": []any{}}
	if ongoing {
		v["ongoingCycle"] = cycle
	} else {
		v["completedCycles"] = []any{cycle}
	}
	return v
}

// Webhook builds a webhook body for event about issue (the embedded issue is the subset a
// webhook carries); extra keys (comment, issueLink, ...) are merged in.
func Webhook(event string, issue map[string]any, extra map[string]any) []byte {
	body := map[string]any{"timestamp": time.Now().UnixMilli(), "webhookEvent": event, "matchedWebhookIds": []any{1}}
	if issue != nil {
		body["issue"] = issue
	}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	return b
}

// LinkWebhook builds an issuelink_created/deleted body: numeric ids only, no keys.
func LinkWebhook(event string, linkID, sourceID, destID int) []byte {
	return Webhook(event, nil, map[string]any{"issueLink": map[string]any{"id": linkID, "sourceIssueId": sourceID,
		"destinationIssueId": destID, "issueLinkType": map[string]any{"id": 10002, "name": "Duplicate",
			"inwardName": "is duplicated by", "outwardName": "duplicates"}, "systemLink": false}})
}
