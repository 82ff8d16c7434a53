package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Sync statuses stored in sync_state.status and sync_history.status.
const (
	SyncStatusOK          = "ok"
	SyncStatusUnavailable = "unavailable"
	SyncStatusError       = "error"
)

// SyncState is a row of sync_state: what the catalog currently serves for one table.
// LastSync is zero when the column is NULL.
type SyncState struct {
	TableID               string
	LastSync              time.Time
	Rows                  int64
	FileSizeBytes         int64
	UncompressedSizeBytes int64
	Columns               int
	Hash                  string
	Status                string
	Error                 string
}

// SyncHistory is a row of sync_history: one real change of a table's data. ID is generated
// when empty; SyncedAt defaults to now.
type SyncHistory struct {
	ID         string
	TableID    string
	SyncedAt   time.Time
	Rows       int64
	DurationMS int64
	Status     string
	Error      string
}

// DataStats summarises sync_state for health checks and the dashboard.
type DataStats struct {
	Tables    int
	TotalRows int64
	LastSync  *time.Time
	Stale     []string // table ids whose last sync is older than the threshold
}

// DataStats counts synced tables and rows and lists the tables not synced within staleAfter.
func (s *Store) DataStats(ctx context.Context, staleAfter time.Duration) (*DataStats, error) {
	st := &DataStats{}
	var last sql.NullTime
	err := s.DB.QueryRowContext(ctx,
		`SELECT count(*), coalesce(sum("rows"), 0)::BIGINT, max(last_sync) FROM sync_state`).
		Scan(&st.Tables, &st.TotalRows, &last)
	if err != nil {
		return nil, fmt.Errorf("store: data stats: %w", err)
	}
	if last.Valid {
		t := last.Time.UTC()
		st.LastSync = &t
	}
	cutoff := time.Now().UTC().Add(-staleAfter)
	rows, err := s.DB.QueryContext(ctx,
		`SELECT table_id FROM sync_state WHERE last_sync IS NULL OR last_sync < ? ORDER BY table_id`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("store: stale tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: stale tables: %w", err)
		}
		st.Stale = append(st.Stale, id)
	}
	return st, rows.Err()
}

const syncStateColumns = `table_id, last_sync, coalesce("rows", 0)::BIGINT, coalesce(file_size_bytes, 0)::BIGINT,
	coalesce(uncompressed_size_bytes, 0)::BIGINT, coalesce("columns", 0)::INTEGER, coalesce(hash, ''),
	coalesce(status, 'ok'), coalesce(error, '')`

func scanSyncState(r rowScanner) (*SyncState, error) {
	var st SyncState
	var last sql.NullTime
	if err := r.Scan(&st.TableID, &last, &st.Rows, &st.FileSizeBytes, &st.UncompressedSizeBytes, &st.Columns,
		&st.Hash, &st.Status, &st.Error); err != nil {
		return nil, err
	}
	if last.Valid {
		st.LastSync = last.Time.UTC()
	}
	return &st, nil
}

// zeroAsNull stores the zero time as NULL and everything else as naive UTC.
func zeroAsNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

func checkSyncState(st *SyncState) error {
	if strings.TrimSpace(st.TableID) == "" {
		return errors.New("store: sync state: table id is required")
	}
	if st.Rows < 0 || st.FileSizeBytes < 0 || st.UncompressedSizeBytes < 0 || st.Columns < 0 {
		return fmt.Errorf("store: sync state %q: rows, sizes and columns must not be negative", st.TableID)
	}
	return nil
}

const upsertSyncStateSQL = `INSERT INTO sync_state (table_id, last_sync, "rows", file_size_bytes,
		uncompressed_size_bytes, "columns", hash, status, error)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (table_id) DO UPDATE SET last_sync = excluded.last_sync, "rows" = excluded."rows",
		file_size_bytes = excluded.file_size_bytes, uncompressed_size_bytes = excluded.uncompressed_size_bytes,
		"columns" = excluded."columns", hash = excluded.hash, status = excluded.status, error = excluded.error`

func upsertSyncState(ctx context.Context, tx *sql.Tx, st *SyncState) error {
	status := st.Status
	if status == "" {
		status = SyncStatusOK
	}
	_, err := tx.ExecContext(ctx, upsertSyncStateSQL, st.TableID, zeroAsNull(st.LastSync), st.Rows, st.FileSizeBytes,
		st.UncompressedSizeBytes, st.Columns, st.Hash, status, nullString(st.Error))
	if err != nil {
		return fmt.Errorf("store: upsert sync state %q: %w", st.TableID, err)
	}
	return nil
}

func checkSyncHistory(h *SyncHistory) error {
	if strings.TrimSpace(h.TableID) == "" {
		return errors.New("store: sync history: table id is required")
	}
	if h.Rows < 0 || h.DurationMS < 0 {
		return fmt.Errorf("store: sync history %q: rows and duration must not be negative", h.TableID)
	}
	if h.DurationMS > int64(^uint32(0)>>1) {
		return fmt.Errorf("store: sync history %q: duration %d ms is out of range", h.TableID, h.DurationMS)
	}
	return nil
}

func insertSyncHistory(ctx context.Context, tx *sql.Tx, h *SyncHistory) error {
	id := h.ID
	if id == "" {
		id = uuid.NewString()
	}
	at := h.SyncedAt
	if at.IsZero() {
		at = nowUTC()
	}
	status := h.Status
	if status == "" {
		status = SyncStatusOK
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_history (id, table_id, synced_at, "rows", duration_ms, status, error)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, h.TableID, zeroAsNull(at), h.Rows, h.DurationMS, status, nullString(h.Error))
	if err != nil {
		if isDuplicateKey(err) {
			return fmt.Errorf("store: sync history id %q: %w", id, ErrConflict)
		}
		return fmt.Errorf("store: add sync history %q: %w", h.TableID, err)
	}
	return nil
}

// UpsertSyncState inserts or replaces the sync_state row of st.TableID. An empty Status is
// stored as "ok"; a zero LastSync as NULL.
func (s *Store) UpsertSyncState(ctx context.Context, st SyncState) error {
	if err := checkSyncState(&st); err != nil {
		return err
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error { return upsertSyncState(ctx, tx, &st) })
}

// GetSyncState returns the sync_state row of a table, or ErrNotFound.
func (s *Store) GetSyncState(ctx context.Context, tableID string) (*SyncState, error) {
	st, err := scanSyncState(s.DB.QueryRowContext(ctx,
		`SELECT `+syncStateColumns+` FROM sync_state WHERE table_id = ?`, tableID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get sync state %q: %w", tableID, err)
	}
	return st, nil
}

// ListSyncStates returns every sync_state row ordered by table id.
func (s *Store) ListSyncStates(ctx context.Context) ([]SyncState, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+syncStateColumns+` FROM sync_state ORDER BY table_id`)
	if err != nil {
		return nil, fmt.Errorf("store: list sync states: %w", err)
	}
	defer rows.Close()
	var out []SyncState
	for rows.Next() {
		st, err := scanSyncState(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list sync states: %w", err)
		}
		out = append(out, *st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sync states: %w", err)
	}
	return out, nil
}

// DeleteSyncState removes the sync_state row of a table; ErrNotFound when there is none.
// Its history stays (it is pruned by age).
func (s *Store) DeleteSyncState(ctx context.Context, tableID string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sync_state WHERE table_id = ?`, tableID)
		if err != nil {
			return fmt.Errorf("store: delete sync state %q: %w", tableID, err)
		}
		return mustAffect(res, ErrNotFound)
	})
}

// AddSyncHistory appends one sync_history row.
func (s *Store) AddSyncHistory(ctx context.Context, h SyncHistory) error {
	if err := checkSyncHistory(&h); err != nil {
		return err
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error { return insertSyncHistory(ctx, tx, &h) })
}

// SyncChanges is one rebuild's effect on sync_state and sync_history, applied atomically.
type SyncChanges struct {
	Upsert  []SyncState   // rows to insert or replace
	Delete  []string      // table ids whose rows go (tables no longer served)
	History []SyncHistory // history rows to append
}

// syncBatchRows is how many rows one multi-row statement of ApplySyncChanges carries; one
// statement per row made a 1,000-table rebuild spend seconds here.
const syncBatchRows = 200

// ApplySyncChanges writes c in one transaction: either all of it is stored or none of it.
// When Upsert names a table twice, the last row wins.
func (s *Store) ApplySyncChanges(ctx context.Context, c SyncChanges) error {
	for i := range c.Upsert {
		if err := checkSyncState(&c.Upsert[i]); err != nil {
			return err
		}
	}
	for i := range c.History {
		if err := checkSyncHistory(&c.History[i]); err != nil {
			return err
		}
	}
	if len(c.Upsert) == 0 && len(c.Delete) == 0 && len(c.History) == 0 {
		return nil
	}
	upserts := dedupeSyncStates(c.Upsert)
	history := make([]SyncHistory, len(c.History))
	for i, h := range c.History {
		if h.ID == "" {
			h.ID = uuid.NewString()
		}
		if h.SyncedAt.IsZero() {
			h.SyncedAt = nowUTC()
		}
		if h.Status == "" {
			h.Status = SyncStatusOK
		}
		history[i] = h
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		for part := range slices.Chunk(upserts, syncBatchRows) {
			args := make([]any, 0, 9*len(part))
			for _, st := range part {
				status := st.Status
				if status == "" {
					status = SyncStatusOK
				}
				args = append(args, st.TableID, zeroAsNull(st.LastSync), st.Rows, st.FileSizeBytes,
					st.UncompressedSizeBytes, st.Columns, st.Hash, status, nullString(st.Error))
			}
			q := strings.Replace(upsertSyncStateSQL, "(?, ?, ?, ?, ?, ?, ?, ?, ?)", placeholders(len(part), 9), 1)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("store: upsert sync state: %w", err)
			}
		}
		for part := range slices.Chunk(c.Delete, syncBatchRows) {
			args := make([]any, len(part))
			for i, id := range part {
				args[i] = id
			}
			q := `DELETE FROM sync_state WHERE table_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ") + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("store: delete sync state: %w", err)
			}
		}
		for part := range slices.Chunk(history, syncBatchRows) {
			args := make([]any, 0, 7*len(part))
			for _, h := range part {
				args = append(args, h.ID, h.TableID, zeroAsNull(h.SyncedAt), h.Rows, h.DurationMS, h.Status, nullString(h.Error))
			}
			q := `INSERT INTO sync_history (id, table_id, synced_at, "rows", duration_ms, status, error) VALUES ` +
				placeholders(len(part), 7)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				if isDuplicateKey(err) {
					return fmt.Errorf("store: sync history: %w", ErrConflict)
				}
				return fmt.Errorf("store: add sync history: %w", err)
			}
		}
		return nil
	})
}

// dedupeSyncStates keeps the last row of each table id, in first-seen order.
func dedupeSyncStates(in []SyncState) []SyncState {
	last := make(map[string]int, len(in))
	for i, st := range in {
		last[st.TableID] = i
	}
	out := make([]SyncState, 0, len(last))
	for i, st := range in {
		if last[st.TableID] == i {
			out = append(out, st)
		}
	}
	return out
}

// placeholders is "(?, ?), (?, ?)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// ListSyncHistory returns up to limit history rows of tableID ("" = every table), newest
// first. A limit of 0 or less means no limit.
func (s *Store) ListSyncHistory(ctx context.Context, tableID string, limit int) ([]SyncHistory, error) {
	q := `SELECT id, table_id, synced_at, coalesce("rows", 0)::BIGINT, coalesce(duration_ms, 0)::BIGINT,
		coalesce(status, ''), coalesce(error, '') FROM sync_history`
	var args []any
	if tableID != "" {
		q += ` WHERE table_id = ?`
		args = append(args, tableID)
	}
	q += ` ORDER BY synced_at DESC, id DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sync history: %w", err)
	}
	defer rows.Close()
	var out []SyncHistory
	for rows.Next() {
		var h SyncHistory
		var at sql.NullTime
		if err := rows.Scan(&h.ID, &h.TableID, &at, &h.Rows, &h.DurationMS, &h.Status, &h.Error); err != nil {
			return nil, fmt.Errorf("store: list sync history: %w", err)
		}
		if at.Valid {
			h.SyncedAt = at.Time.UTC()
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sync history: %w", err)
	}
	return out, nil
}

// PruneSyncHistory deletes history rows synced before olderThan and returns how many went.
func (s *Store) PruneSyncHistory(ctx context.Context, olderThan time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sync_history WHERE synced_at < ?`, olderThan.UTC())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune sync history: %w", err)
	}
	return n, nil
}

// SyncHistorySince reports which of ids have a sync_history row at or after since.
func (s *Store) SyncHistorySince(ctx context.Context, ids []string, since time.Time) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT DISTINCT table_id FROM sync_history WHERE synced_at >= ? AND `+s.d.inList("table_id"),
		since.UTC(), ids)
	if err != nil {
		return nil, fmt.Errorf("store: sync history since: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: sync history since: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}
