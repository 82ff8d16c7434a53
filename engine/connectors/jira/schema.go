// Package jira is the Jira Cloud connector: signed webhooks and REST fetches become six
// tables (issues, comments, attachments, changelog, issuelinks, remote_links) in monthly
// parquet shards under DATA_DIR/extracts/jira/data/<table>/<YYYY-MM>.parquet, published
// through the extract contract.
package jira

import "strings"

// Column is one column of a Jira table with its DuckDB type.
type Column struct {
	Name string
	Type string // VARCHAR, BIGINT or TIMESTAMPTZ (parquet timestamp(us, UTC))
}

// Table is one of the six tables and its explicit schema.
type Table struct {
	Name    string
	Columns []Column
}

func cols(spec string) []Column {
	var out []Column
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, typ, _ := strings.Cut(f, " ")
		switch typ {
		case "ts":
			typ = "TIMESTAMPTZ"
		case "int":
			typ = "BIGINT"
		default:
			typ = "VARCHAR"
		}
		out = append(out, Column{Name: name, Type: typ})
	}
	return out
}

// Tables are the six tables in publishing order, with exactly the original's columns.
var Tables = []Table{
	{Name: "issues", Columns: cols(`issue_key, issue_id, issue_url, summary, description, issue_type, status,
		status_category, priority, resolution, project_key, project_name, creator_email, creator_name,
		reporter_email, reporter_name, assignee_email, assignee_name, created_at ts, updated_at ts, resolved_at ts,
		due_date, labels, attachment_count int, comment_count int, issuelink_count int, request_type,
		request_status, severity, triage, configuration_item, participants, organizations, spam, context,
		custom_url, slack_link, technical_issue_category, email_address, satisfaction int,
		first_response_breached, first_response_goal_millis int, first_response_elapsed_millis int,
		time_to_resolution_breached, time_to_resolution_goal_millis int, time_to_resolution_elapsed_millis int,
		l3_team, _synced_at, _raw_file`)},
	{Name: "comments", Columns: cols(`comment_id, issue_key, author_email, author_name, body, created_at ts,
		updated_at ts, update_author_email`)},
	{Name: "attachments", Columns: cols(`attachment_id, issue_key, filename, local_path, hierarchical_path,
		size_bytes int, mime_type, author_email, created_at ts, content_url, thumbnail_url`)},
	{Name: "changelog", Columns: cols(`change_id, issue_key, author_email, author_name, field_name, field_type,
		from_value, to_value, changed_at ts`)},
	{Name: "issuelinks", Columns: cols(`issue_key, link_id, link_type, direction, linked_issue_key,
		linked_issue_summary, linked_issue_status, linked_issue_priority`)},
	{Name: "remote_links", Columns: cols(`issue_key, remote_link_id, url, title, application_name,
		application_type`)},
}

// Schema is the table's column list as SQL ("name TYPE, ..."), for a typed empty view.
func (t Table) Schema() string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		parts[i] = `"` + c.Name + `" ` + c.Type
	}
	return strings.Join(parts, ", ")
}
