package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// KnowledgeConsent is what a user lets the collector read. Notes (CLAUDE.local.md) are read
// unless the user opts out; transcripts only when the user opts in.
type KnowledgeConsent struct {
	UserID      string
	Notes       bool
	Transcripts bool
	UpdatedAt   time.Time // zero when the user never chose
}

// DefaultConsent is the consent of a user who never chose.
func DefaultConsent(userID string) KnowledgeConsent {
	return KnowledgeConsent{UserID: userID, Notes: true, Transcripts: false}
}

// ConsentOf returns a user's consent, the default when none is stored.
func (s *Store) ConsentOf(ctx context.Context, userID string) (KnowledgeConsent, error) {
	all, err := s.AllConsent(ctx)
	if err != nil {
		return KnowledgeConsent{}, err
	}
	if c, ok := all[userID]; ok {
		return c, nil
	}
	return DefaultConsent(userID), nil
}

// AllConsent returns every stored consent by user id.
func (s *Store) AllConsent(ctx context.Context) (map[string]KnowledgeConsent, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT user_id, notes, transcripts, updated_at FROM knowledge_consent`)
	if err != nil {
		return nil, fmt.Errorf("store: consent: %w", err)
	}
	defer rows.Close()
	out := map[string]KnowledgeConsent{}
	for rows.Next() {
		var c KnowledgeConsent
		if err := rows.Scan(&c.UserID, &c.Notes, &c.Transcripts, &c.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: consent: %w", err)
		}
		c.UpdatedAt = c.UpdatedAt.UTC()
		out[c.UserID] = c
	}
	return out, rows.Err()
}

// SetConsent stores a user's consent.
func (s *Store) SetConsent(ctx context.Context, c KnowledgeConsent) error {
	now := nowUTC()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM knowledge_consent WHERE user_id = $1`, c.UserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO knowledge_consent (user_id, notes, transcripts, updated_at) VALUES ($1, $2, $3, $4)`,
			c.UserID, c.Notes, c.Transcripts, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set consent: %w", err)
	}
	return nil
}

// Collection run statuses.
const (
	RunQueued  = "queued"
	RunRunning = "running"
	RunDone    = "done"
	RunFailed  = "failed"
)

// KnowledgeRun is one collection run.
type KnowledgeRun struct {
	ID            string
	Trigger       string // "manual" or "schedule"
	CreatedBy     string
	Status        string
	Provider      string
	StartedAt     time.Time
	FinishedAt    *time.Time
	FilesRead     int64
	ItemsProposed int64
	ItemsMerged   int64
	ItemsDropped  int64
	LLMCalls      int64
	InputTokens   int64
	OutputTokens  int64
	CostUSD       float64
	Error         string
}

// CreateKnowledgeRun inserts a queued run and fills in its id and start time.
func (s *Store) CreateKnowledgeRun(ctx context.Context, r *KnowledgeRun) error {
	r.ID, r.StartedAt, r.Status = uuid.NewString(), nowUTC(), RunQueued
	err := s.writeTxUnaudited(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO knowledge_runs (id, trigger_kind, created_by, status, provider, started_at,
			files_read, items_proposed, items_merged, items_dropped, llm_calls, input_tokens, output_tokens, cost_usd)
			VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, 0, 0, 0, 0, 0)`,
			r.ID, r.Trigger, nullIfEmpty(r.CreatedBy), r.Status, nullIfEmpty(r.Provider), r.StartedAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create collection run: %w", err)
	}
	return nil
}

// UpdateKnowledgeRun writes a run's status and counts.
func (s *Store) UpdateKnowledgeRun(ctx context.Context, r *KnowledgeRun) error {
	err := s.writeTxUnaudited(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE knowledge_runs SET status = $1, finished_at = $2, files_read = $3, items_proposed = $4,
			items_merged = $5, items_dropped = $6, llm_calls = $7, input_tokens = $8, output_tokens = $9, cost_usd = $10, error = $11
			WHERE id = $12`,
			r.Status, r.FinishedAt, r.FilesRead, r.ItemsProposed, r.ItemsMerged, r.ItemsDropped, r.LLMCalls, r.InputTokens,
			r.OutputTokens, r.CostUSD, nullIfEmpty(r.Error), r.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update collection run: %w", err)
	}
	return nil
}

const runColumns = `id, trigger_kind, coalesce(created_by, ''), status, coalesce(provider, ''), started_at, finished_at, files_read,
	items_proposed, items_merged, items_dropped, llm_calls, input_tokens, output_tokens, cost_usd, coalesce(error, '')`

func scanRun(r rowScanner) (*KnowledgeRun, error) {
	var k KnowledgeRun
	var fin sql.NullTime
	if err := r.Scan(&k.ID, &k.Trigger, &k.CreatedBy, &k.Status, &k.Provider, &k.StartedAt, &fin, &k.FilesRead, &k.ItemsProposed,
		&k.ItemsMerged, &k.ItemsDropped, &k.LLMCalls, &k.InputTokens, &k.OutputTokens, &k.CostUSD, &k.Error); err != nil {
		return nil, err
	}
	k.StartedAt = k.StartedAt.UTC()
	if fin.Valid {
		t := fin.Time.UTC()
		k.FinishedAt = &t
	}
	return &k, nil
}

// KnowledgeRunByID returns one run; ErrNotFound when unknown.
func (s *Store) KnowledgeRunByID(ctx context.Context, id string) (*KnowledgeRun, error) {
	r, err := scanRun(s.DB.QueryRowContext(ctx, `SELECT `+runColumns+` FROM knowledge_runs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: collection run: %w", err)
	}
	return r, nil
}

// KnowledgeRuns returns the newest runs first.
func (s *Store) KnowledgeRuns(ctx context.Context, limit int) ([]KnowledgeRun, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+runColumns+` FROM knowledge_runs ORDER BY started_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: collection runs: %w", err)
	}
	defer rows.Close()
	out := []KnowledgeRun{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: collection runs: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// FailUnfinishedRuns marks runs left queued or running (by a process that stopped) failed.
func (s *Store) FailUnfinishedRuns(ctx context.Context, reason string) error {
	return s.writeTxUnaudited(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE knowledge_runs SET status = $1, error = $2, finished_at = $3 WHERE status IN ($4, $5)`,
			RunFailed, reason, nowUTC(), RunQueued, RunRunning)
		return err
	})
}

// CollectedFiles returns the fingerprint of every collected file, keyed by user|kind|name.
func (s *Store) CollectedFiles(ctx context.Context) (map[string]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT user_id, kind, name, sha256 FROM knowledge_collected`)
	if err != nil {
		return nil, fmt.Errorf("store: collected files: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, k, n, h string
		if err := rows.Scan(&u, &k, &n, &h); err != nil {
			return nil, err
		}
		out[CollectedKey(u, k, n)] = h
	}
	return out, rows.Err()
}

// CollectedKey is the key of CollectedFiles.
func CollectedKey(userID, kind, name string) string { return userID + "|" + kind + "|" + name }

// SourceRef names one collected file.
type SourceRef struct {
	UserID, Kind, Name, SHA256 string
}

// Provenance is where an item's knowledge came from.
type Provenance struct {
	ItemID, RunID, UserID, Kind, Name, Location, Excerpt string
	CreatedAt                                            time.Time
}

// ItemChange is one item the collector creates or updates.
type ItemChange struct {
	New          *KnowledgeItem // insert (ID set by the caller)
	UpdateID     string         // update this pending item's fields in place
	Update       KnowledgeEdit
	Contributors []string
	ProposeEdit  string // JSON of an edit proposed for a reviewed item
	Provenance   []Provenance
}

// ApplyCollection writes one run's outcome in a single transaction: items created, pending
// items updated, edits proposed, provenance, "source gone" flags set and cleared, and the
// fingerprints of the files read.
func (s *Store) ApplyCollection(ctx context.Context, runID string, changes []ItemChange, gone, returned []string, files []SourceRef) error {
	now := nowUTC()
	err := s.writeTxUnaudited(ctx, func(tx *sql.Tx) error {
		var prov [][]any
		for _, ch := range changes {
			id := ch.UpdateID
			switch {
			case ch.New != nil:
				k := ch.New
				id = k.ID
				if _, err := tx.ExecContext(ctx, `INSERT INTO knowledge_items (id, title, content, category, tags, status, contributors,
					source_user, audience, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
					k.ID, k.Title, k.Content, nullIfEmpty(k.Category), jsonText(k.Tags), k.Status, jsonText(k.Contributors),
					nullIfEmpty(k.SourceUser), nullIfEmpty(k.Audience), now, now); err != nil {
					return err
				}
			case ch.UpdateID != "" && ch.Update.Title != nil:
				if _, err := tx.ExecContext(ctx, `UPDATE knowledge_items SET title = $1, content = $2, category = $3, tags = $4,
					contributors = $5, updated_at = $6 WHERE id = $7`, *ch.Update.Title, *ch.Update.Content, nullIfEmpty(*ch.Update.Category),
					jsonText(*ch.Update.Tags), jsonText(ch.Contributors), now, id); err != nil {
					return err
				}
			}
			if ch.ProposeEdit != "" {
				if err := upsertItemState(ctx, tx, id, false, ch.ProposeEdit, now); err != nil {
					return err
				}
			}
			for _, p := range ch.Provenance {
				prov = append(prov, []any{id, runID, p.UserID, p.Kind, p.Name, p.Location, p.Excerpt, now})
			}
		}
		if err := insertRows(ctx, tx, `INSERT INTO knowledge_provenance (item_id, run_id, user_id, kind, name, location, excerpt, created_at) VALUES `, prov); err != nil {
			return err
		}
		for _, id := range returned {
			if _, err := tx.ExecContext(ctx, `UPDATE knowledge_item_state SET source_gone = false, updated_at = $1 WHERE item_id = $2`, now, id); err != nil {
				return err
			}
		}
		for _, id := range gone {
			var edit sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT proposed_edit FROM knowledge_item_state WHERE item_id = $1`, id).Scan(&edit)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if err := upsertItemState(ctx, tx, id, true, edit.String, now); err != nil {
				return err
			}
		}
		keys := make([][]any, len(files))
		rows := make([][]any, len(files))
		for i, f := range files {
			keys[i] = []any{CollectedKey(f.UserID, f.Kind, f.Name)}
			rows[i] = []any{f.UserID, f.Kind, f.Name, f.SHA256, now}
		}
		for start := 0; start < len(keys); start += insertChunk {
			chunk := keys[start:min(start+insertChunk, len(keys))]
			ph := make([]string, len(chunk))
			args := make([]any, len(chunk))
			for i, k := range chunk {
				ph[i], args[i] = fmt.Sprintf("$%d", i+1), k[0]
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM knowledge_collected WHERE user_id || '|' || kind || '|' || name IN (`+
				strings.Join(ph, ", ")+`)`, args...); err != nil {
				return err
			}
		}
		return insertRows(ctx, tx, `INSERT INTO knowledge_collected (user_id, kind, name, sha256, collected_at) VALUES `, rows)
	})
	if err != nil {
		return fmt.Errorf("store: apply collection: %w", err)
	}
	return nil
}

// insertChunk is how many rows one multi-row statement carries.
const insertChunk = 200

// insertRows inserts rows with multi-row VALUES statements of insertChunk rows each.
func insertRows(ctx context.Context, tx *sql.Tx, prefix string, rows [][]any) error {
	for start := 0; start < len(rows); start += insertChunk {
		chunk := rows[start:min(start+insertChunk, len(rows))]
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, len(chunk)*len(chunk[0]))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j := range r {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "$%d", len(args)+j+1)
			}
			b.WriteString(")")
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func upsertItemState(ctx context.Context, tx *sql.Tx, id string, gone bool, edit string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM knowledge_item_state WHERE item_id = $1`, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO knowledge_item_state (item_id, source_gone, proposed_edit, updated_at) VALUES ($1, $2, $3, $4)`,
		id, gone, nullIfEmpty(edit), now)
	return err
}

// ItemState is an item's collection state.
type ItemState struct {
	SourceGone   bool
	ProposedEdit string
}

// KnowledgeItemStates returns the collection state of every item that has one.
func (s *Store) KnowledgeItemStates(ctx context.Context) (map[string]ItemState, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT item_id, source_gone, coalesce(proposed_edit, '') FROM knowledge_item_state`)
	if err != nil {
		return nil, fmt.Errorf("store: item states: %w", err)
	}
	defer rows.Close()
	out := map[string]ItemState{}
	for rows.Next() {
		var id string
		var st ItemState
		if err := rows.Scan(&id, &st.SourceGone, &st.ProposedEdit); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

// ProvenanceOf returns the provenance of the given items (all items when ids is empty),
// newest first, by item id.
func (s *Store) ProvenanceOf(ctx context.Context, ids []string) (map[string][]Provenance, error) {
	q := `SELECT item_id, run_id, user_id, kind, name, location, excerpt, created_at FROM knowledge_provenance`
	args := []any{}
	if len(ids) > 0 {
		ph := make([]string, len(ids))
		for i, id := range ids {
			ph[i] = fmt.Sprintf("$%d", i+1)
			args = append(args, id)
		}
		q += ` WHERE item_id IN (` + strings.Join(ph, ", ") + `)`
	}
	rows, err := s.DB.QueryContext(ctx, q+` ORDER BY created_at DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: provenance: %w", err)
	}
	defer rows.Close()
	out := map[string][]Provenance{}
	for rows.Next() {
		var p Provenance
		if err := rows.Scan(&p.ItemID, &p.RunID, &p.UserID, &p.Kind, &p.Name, &p.Location, &p.Excerpt, &p.CreatedAt); err != nil {
			return nil, err
		}
		out[p.ItemID] = append(out[p.ItemID], p)
	}
	return out, rows.Err()
}
