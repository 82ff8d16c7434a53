package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Audit query limits.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 500
)

// AuditEntry is a row of audit_log. Params is stored as a JSON object; keys that look like
// secrets (containing password or secret, ending in token or hash) are dropped on write, whatever the caller passes.
type AuditEntry struct {
	ID         string
	Timestamp  time.Time
	UserID     string
	Action     string
	Resource   string
	Params     map[string]any
	Result     string
	DurationMS int
	ClientIP   string // address of the client whose request this entry records
}

// AuditFilter selects audit rows; zero fields do not filter. Limit defaults to
// DefaultAuditLimit and is capped at MaxAuditLimit. Before is exclusive; Search matches
// resource as a case-insensitive substring; ActionPrefix keeps actions that start with it.
type AuditFilter struct {
	UserID       string
	Action       string
	ActionPrefix string
	Resource     string
	Search       string
	Since        time.Time
	Before       time.Time
	Limit        int
	Offset       int
	// Kind keeps the semantic events (AuditEvents: what a person did, such as "query" or
	// "upload") or the raw request rows (AuditRequests: "POST /api/..."); "" keeps both.
	Kind string
}

// Audit row kinds for AuditFilter.Kind.
const (
	AuditEvents   = "events"
	AuditRequests = "requests"
)

// auditHookKey is the context key of the hook LogAudit calls.
type auditHookKey struct{}

// WithAuditHook returns ctx carrying fn, which LogAudit calls with every entry written under
// that context before it is stored: the HTTP layer uses it to add the client address and the
// request's duration, and to learn that the request was audited.
func WithAuditHook(ctx context.Context, fn func(*AuditEntry)) context.Context {
	return context.WithValue(ctx, auditHookKey{}, fn)
}

// secretKey reports parameter names that must never reach the audit log.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "password") || strings.Contains(k, "secret") ||
		strings.HasSuffix(k, "token") || strings.HasSuffix(k, "hash")
}

// LogAudit appends e to the audit log, filling in ID and Timestamp (now, UTC) when empty.
// Action is required.
func (s *Store) LogAudit(ctx context.Context, e *AuditEntry) error {
	row, err := prepareAudit(ctx, e)
	if err != nil {
		return err
	}
	if err := s.writeTxUnaudited(ctx, func(tx *sql.Tx) error { return row.insert(ctx, tx) }); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	markRecorded(ctx)
	return nil
}

// auditRow is an entry ready to insert.
type auditRow struct {
	e *AuditEntry
}

// prepareAudit validates e, fills its id and time, runs the context's hook and drops secret
// parameters. It runs in the caller's context, so the hook sees the request.
func prepareAudit(ctx context.Context, e *AuditEntry) (*auditRow, error) {
	if strings.TrimSpace(e.Action) == "" {
		return nil, errors.New("store: audit: action is required")
	}
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = nowUTC()
	}
	if fn, ok := ctx.Value(auditHookKey{}).(func(*AuditEntry)); ok && fn != nil {
		fn(e)
	}
	if _, err := auditParams(e); err != nil {
		return nil, err
	}
	return &auditRow{e: e}, nil
}

// auditParams drops secret parameters from e and returns the rest as JSON (nil for none).
func auditParams(e *AuditEntry) (any, error) {
	if len(e.Params) == 0 {
		return nil, nil
	}
	clean := make(map[string]any, len(e.Params))
	for k, v := range e.Params {
		if !secretKey(k) {
			clean[k] = v
		}
	}
	e.Params = clean
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, fmt.Errorf("store: audit: params: %w", err)
	}
	return string(b), nil
}

// insert writes the entry; its parameters are read now, so a change's transaction may
// still add details it learns while it runs (NoteAudit).
func (r *auditRow) insert(ctx context.Context, tx *sql.Tx) error {
	e := r.e
	params, err := auditParams(e)
	if err != nil {
		return err
	}
	var dur any
	if e.DurationMS > 0 {
		dur = e.DurationMS
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (id, timestamp, user_id, action, resource, params, result, duration_ms, client_ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Timestamp.UTC(), nullString(e.UserID), e.Action,
		nullString(e.Resource), params, nullString(e.Result), dur, nullString(e.ClientIP))
	return err
}

// insertAuditRows writes rows as insert does for one, with one multi-row INSERT per
// rowsPerInsert rows: DuckDB then parses, plans and checks one statement instead of one per
// entry.
func insertAuditRows(ctx context.Context, tx *sql.Tx, rows []*auditRow) error {
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), rowsPerInsert)]
		rows = rows[len(chunk):]
		args := make([]any, 0, 9*len(chunk))
		for _, r := range chunk {
			e := r.e
			params, err := auditParams(e)
			if err != nil {
				return err
			}
			var dur any
			if e.DurationMS > 0 {
				dur = e.DurationMS
			}
			args = append(args, e.ID, e.Timestamp.UTC(), nullString(e.UserID), e.Action,
				nullString(e.Resource), params, nullString(e.Result), dur, nullString(e.ClientIP))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, timestamp, user_id, action, resource, params, result, duration_ms, client_ip)
		VALUES `+valueTuples(len(chunk), 9), args...)
		if err != nil {
			return err
		}
	}
	return nil
}

func auditWhere(f AuditFilter) (string, []any) {
	var conds []string
	var args []any
	if f.UserID != "" {
		conds, args = append(conds, "user_id = ?"), append(args, f.UserID)
	}
	if f.Action != "" {
		conds, args = append(conds, "action = ?"), append(args, f.Action)
	}
	if f.ActionPrefix != "" {
		conds, args = append(conds, "starts_with(action, ?)"), append(args, f.ActionPrefix)
	}
	// Request rows are named "<METHOD> <path>"; events are single words.
	switch f.Kind {
	case AuditEvents:
		conds = append(conds, "strpos(action, ' /') = 0")
	case AuditRequests:
		conds = append(conds, "strpos(action, ' /') > 0")
	}
	if f.Resource != "" {
		conds, args = append(conds, "resource = ?"), append(args, f.Resource)
	}
	if f.Search != "" {
		conds = append(conds, `strpos(lower(coalesce(resource, '')), ?) > 0`)
		args = append(args, strings.ToLower(f.Search))
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "timestamp >= ?"), append(args, f.Since.UTC())
	}
	if !f.Before.IsZero() {
		conds, args = append(conds, "timestamp < ?"), append(args, f.Before.UTC())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// QueryAudit returns the entries matching f, newest first.
func (s *Store) QueryAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	s.syncQueryLog()
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	where, args := auditWhere(f)
	rows, err := s.DB.QueryContext(ctx, `SELECT id, timestamp, coalesce(user_id, ''), action, coalesce(resource, ''),
		CAST(params AS VARCHAR), coalesce(result, ''), coalesce(duration_ms, 0), coalesce(client_ip, '')
		FROM audit_log`+where+` ORDER BY timestamp DESC, id LIMIT ? OFFSET ?`,
		append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var ts sql.NullTime
		var params sql.NullString
		if err := rows.Scan(&e.ID, &ts, &e.UserID, &e.Action, &e.Resource, &params, &e.Result, &e.DurationMS, &e.ClientIP); err != nil {
			return nil, fmt.Errorf("store: query audit: %w", err)
		}
		if ts.Valid {
			e.Timestamp = ts.Time.UTC()
		}
		e.Params = decodeParams(params)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	return out, nil
}

// decodeParams reads the params column; rows written by the original system may hold any
// JSON (or none), which is kept under "value".
func decodeParams(p sql.NullString) map[string]any {
	if !p.Valid || p.String == "" || p.String == "null" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(p.String), &m); err == nil {
		return m
	}
	var v any
	if err := json.Unmarshal([]byte(p.String), &v); err == nil {
		return map[string]any{"value": v}
	}
	return map[string]any{"value": p.String}
}

// CountAudit returns how many entries match f (Limit and Offset are ignored).
func (s *Store) CountAudit(ctx context.Context, f AuditFilter) (int, error) {
	s.syncQueryLog()
	where, args := auditWhere(f)
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM audit_log`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count audit: %w", err)
	}
	return n, nil
}

// AuditActions returns the distinct actions in the audit log, sorted, for filter pickers.
// A non-empty userID limits them to that user's entries.
func (s *Store) AuditActions(ctx context.Context, userID string) ([]string, error) {
	s.syncQueryLog()
	q := `SELECT DISTINCT action FROM audit_log`
	var args []any
	if userID != "" {
		q += ` WHERE user_id = ?`
		args = append(args, userID)
	}
	rows, err := s.DB.QueryContext(ctx, q+` ORDER BY action`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit actions: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("store: audit actions: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit actions: %w", err)
	}
	return out, nil
}
