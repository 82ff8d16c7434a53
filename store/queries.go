package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Query outcomes recorded in query_history.status.
const (
	QueryOK        = "ok"
	QueryError     = "error"
	QueryTimeout   = "timeout"
	QueryCancelled = "cancelled"
)

// QueryRun is a row of query_history: one query a user ran.
type QueryRun struct {
	ID        string
	UserID    string
	SQL       string
	StartedAt time.Time
	ElapsedMS int64
	RowCount  int64
	Status    string
	Error     string
}

// AddQueryRun records a finished query; ID and StartedAt are filled in when empty.
func (s *Store) AddQueryRun(ctx context.Context, q *QueryRun) error {
	prepareQueryRun(q)
	return s.writeTx(ctx, func(tx *sql.Tx) error { return insertQueryRun(ctx, tx, q) })
}

func prepareQueryRun(q *QueryRun) {
	if q.ID == "" {
		q.ID = uuid.NewString()
	}
	if q.StartedAt.IsZero() {
		q.StartedAt = nowUTC()
	}
}

func insertQueryRun(ctx context.Context, tx *sql.Tx, q *QueryRun) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO query_history (id, user_id, sql, started_at, elapsed_ms, row_count, status, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		q.ID, q.UserID, q.SQL, q.StartedAt.UTC(), q.ElapsedMS, q.RowCount, q.Status, nullString(q.Error))
	if err != nil {
		return fmt.Errorf("store: add query run: %w", err)
	}
	return nil
}

// ListQueryRuns returns a user's most recent queries, newest first (limit ≤ 500).
func (s *Store) ListQueryRuns(ctx context.Context, userID string, limit int) ([]QueryRun, error) {
	s.syncQueryLog()
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, user_id, sql, started_at, coalesce(elapsed_ms, 0), coalesce(row_count, 0),
		status, coalesce(error, '') FROM query_history WHERE user_id = ? ORDER BY started_at DESC, id LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list query runs: %w", err)
	}
	defer rows.Close()
	var out []QueryRun
	for rows.Next() {
		var q QueryRun
		if err := rows.Scan(&q.ID, &q.UserID, &q.SQL, &q.StartedAt, &q.ElapsedMS, &q.RowCount, &q.Status, &q.Error); err != nil {
			return nil, fmt.Errorf("store: list query runs: %w", err)
		}
		q.StartedAt = q.StartedAt.UTC()
		out = append(out, q)
	}
	return out, rows.Err()
}

// GetQueryRun returns one of a user's queries, or ErrNotFound (also for other users' runs).
func (s *Store) GetQueryRun(ctx context.Context, userID, id string) (*QueryRun, error) {
	s.syncQueryLog()
	var q QueryRun
	err := s.DB.QueryRowContext(ctx, `SELECT id, user_id, sql, started_at, coalesce(elapsed_ms, 0), coalesce(row_count, 0),
		status, coalesce(error, '') FROM query_history WHERE id = ? AND user_id = ?`, id, userID).
		Scan(&q.ID, &q.UserID, &q.SQL, &q.StartedAt, &q.ElapsedMS, &q.RowCount, &q.Status, &q.Error)
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get query run: %w", err)
	}
	return &q, nil
}

// SavedQuery is a row of saved_queries. Shared queries are visible to everyone signed in;
// only the owner may change or delete them.
type SavedQuery struct {
	ID        string
	UserID    string
	Name      string
	SQL       string
	Shared    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	OwnerName string // filled by the list queries: the owner's name or e-mail
}

// SaveQuery inserts q (ID empty) or updates the owner's query with that ID (else ErrNotFound).
func (s *Store) SaveQuery(ctx context.Context, q *SavedQuery) error {
	q.Name = strings.TrimSpace(q.Name)
	now := nowUTC()
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if q.ID == "" {
			q.ID = uuid.NewString()
			q.CreatedAt, q.UpdatedAt = now, now
			_, err := tx.ExecContext(ctx, `INSERT INTO saved_queries (id, user_id, name, sql, shared, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, q.ID, q.UserID, q.Name, q.SQL, q.Shared, now, now)
			if err != nil {
				return fmt.Errorf("store: save query: %w", err)
			}
			return nil
		}
		q.UpdatedAt = now
		res, err := tx.ExecContext(ctx, `UPDATE saved_queries SET name = ?, sql = ?, shared = ?, updated_at = ?
			WHERE id = ? AND user_id = ?`, q.Name, q.SQL, q.Shared, now, q.ID, q.UserID)
		if err != nil {
			return fmt.Errorf("store: update saved query: %w", err)
		}
		return mustAffect(res, ErrNotFound)
	})
}

// ListSavedQueries returns the user's own saved queries and those shared by others, by name.
func (s *Store) ListSavedQueries(ctx context.Context, userID string) ([]SavedQuery, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT q.id, q.user_id, q.name, q.sql, coalesce(q.shared, false), q.created_at,
		coalesce(q.updated_at, q.created_at), coalesce(nullif(u.name, ''), u.email, '')
		FROM saved_queries q LEFT JOIN users u ON u.id = q.user_id
		WHERE q.user_id = ? OR coalesce(q.shared, false)
		ORDER BY lower(q.name), q.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list saved queries: %w", err)
	}
	defer rows.Close()
	var out []SavedQuery
	for rows.Next() {
		var q SavedQuery
		if err := rows.Scan(&q.ID, &q.UserID, &q.Name, &q.SQL, &q.Shared, &q.CreatedAt, &q.UpdatedAt, &q.OwnerName); err != nil {
			return nil, fmt.Errorf("store: list saved queries: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// GetSavedQuery returns a saved query the user may see (own or shared), or ErrNotFound.
func (s *Store) GetSavedQuery(ctx context.Context, userID, id string) (*SavedQuery, error) {
	var q SavedQuery
	err := s.DB.QueryRowContext(ctx, `SELECT id, user_id, name, sql, coalesce(shared, false), created_at, coalesce(updated_at, created_at)
		FROM saved_queries WHERE id = ? AND (user_id = ? OR coalesce(shared, false))`, id, userID).
		Scan(&q.ID, &q.UserID, &q.Name, &q.SQL, &q.Shared, &q.CreatedAt, &q.UpdatedAt)
	if err == sql.ErrNoRows {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get saved query: %w", err)
	}
	return &q, nil
}

// DeleteSavedQuery deletes the owner's saved query; ErrNotFound for others' or missing ones.
func (s *Store) DeleteSavedQuery(ctx context.Context, userID, id string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM saved_queries WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return fmt.Errorf("store: delete saved query: %w", err)
		}
		return mustAffect(res, ErrNotFound)
	})
}
