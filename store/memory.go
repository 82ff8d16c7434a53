package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Statuses of a corporate-memory (knowledge) item.
const (
	KnowledgePending   = "pending"
	KnowledgeApproved  = "approved"
	KnowledgeMandatory = "mandatory"
	KnowledgeRejected  = "rejected"
	KnowledgeRevoked   = "revoked"
	KnowledgeExpired   = "expired"
)

// KnowledgeStatuses lists every status in display order.
var KnowledgeStatuses = []string{KnowledgeMandatory, KnowledgeApproved, KnowledgePending, KnowledgeRejected, KnowledgeRevoked, KnowledgeExpired}

// ValidKnowledgeStatus reports whether s is a known status.
func ValidKnowledgeStatus(s string) bool {
	for _, k := range KnowledgeStatuses {
		if s == k {
			return true
		}
	}
	return false
}

// KnowledgeItem is a row of knowledge_items with its vote counts. Tags and Contributors are
// stored as JSON text; SourceUser is the author's email.
type KnowledgeItem struct {
	ID           string
	Title        string
	Content      string
	Category     string
	Tags         []string
	Status       string
	Contributors []string
	SourceUser   string
	Audience     string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Upvotes      int
	Downvotes    int
}

// Score is upvotes minus downvotes.
func (k *KnowledgeItem) Score() int { return k.Upvotes - k.Downvotes }

// KnowledgeSorts are the accepted KnowledgeFilter.Sort values.
// Every order pins mandatory items first.
var KnowledgeSorts = map[string]string{
	"updated_at": mandatoryFirst + "k.updated_at DESC NULLS LAST, k.created_at DESC, k.id",
	"created_at": mandatoryFirst + "k.created_at DESC, k.id",
	"score":      mandatoryFirst + "score DESC, k.updated_at DESC NULLS LAST, k.id",
	"title":      mandatoryFirst + "lower(k.title), k.id",
}

// mandatoryFirst is the leading ORDER BY term that pins mandatory items.
const mandatoryFirst = "(k.status = 'mandatory') DESC, "

// KnowledgeFilter selects knowledge items. Items that are pending or rejected are visible
// only to their author (Viewer, an email) unless SeeAll (km_admin and admin) is set.
type KnowledgeFilter struct {
	Status   string   // "" = every visible status
	Statuses []string // when set, only these statuses (with Status, both must hold)
	Category string
	Search   string // case-insensitive substring of title, content, category or tags
	Author   string // only items with this source_user
	Viewer   string
	SeeAll   bool
	Sort     string // a KnowledgeSorts key; "" = updated_at
	Limit    int    // ≤ 0: no limit
	Offset   int
}

const knowledgeColumns = `k.id, k.title, coalesce(k.content, ''), coalesce(k.category, ''), coalesce(CAST(k.tags AS VARCHAR), ''),
	coalesce(k.status, 'pending'), coalesce(CAST(k.contributors AS VARCHAR), ''), coalesce(k.source_user, ''),
	coalesce(k.audience, ''), k.created_at, k.updated_at,
	coalesce(v.up, 0)::INTEGER, coalesce(v.down, 0)::INTEGER, (coalesce(v.up, 0) - coalesce(v.down, 0))::INTEGER AS score`

const knowledgeFrom = ` FROM knowledge_items k LEFT JOIN (
	SELECT item_id, count(*) FILTER (WHERE vote > 0) AS up, count(*) FILTER (WHERE vote < 0) AS down
	FROM knowledge_votes GROUP BY item_id) v ON v.item_id = k.id`

func scanKnowledge(r rowScanner) (*KnowledgeItem, error) {
	var k KnowledgeItem
	var tags, contributors string
	var created, updated sql.NullTime
	var score int
	if err := r.Scan(&k.ID, &k.Title, &k.Content, &k.Category, &tags, &k.Status, &contributors, &k.SourceUser,
		&k.Audience, &created, &updated, &k.Upvotes, &k.Downvotes, &score); err != nil {
		return nil, err
	}
	k.Tags = jsonStrings(tags)
	k.Contributors = jsonStrings(contributors)
	if created.Valid {
		k.CreatedAt = created.Time.UTC()
	}
	if updated.Valid {
		k.UpdatedAt = updated.Time.UTC()
	} else {
		k.UpdatedAt = k.CreatedAt
	}
	return &k, nil
}

// jsonStrings decodes a JSON array of strings; anything else (NULL, bad JSON) is empty.
func jsonStrings(s string) []string {
	out := []string{}
	if s == "" {
		return out
	}
	var v []any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return out
	}
	for _, x := range v {
		if str, ok := x.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// jsonText encodes strings as JSON text, or NULL when there are none.
func jsonText(ss []string) any {
	if len(ss) == 0 {
		return nil
	}
	b, _ := json.Marshal(ss)
	return string(b)
}

// where builds the WHERE clause of f.
func (f KnowledgeFilter) where() (string, []any) {
	conds := []string{"TRUE"}
	var args []any
	if !f.SeeAll {
		conds = append(conds, "(coalesce(k.status, 'pending') NOT IN ('pending', 'rejected') OR k.source_user = ?)")
		args = append(args, f.Viewer)
	}
	if f.Status != "" {
		conds = append(conds, "coalesce(k.status, 'pending') = ?")
		args = append(args, f.Status)
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "coalesce(k.status, 'pending') IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.Statuses)), ", ")+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.Category != "" {
		conds = append(conds, "coalesce(k.category, '') = ?")
		args = append(args, f.Category)
	}
	if f.Author != "" {
		conds = append(conds, "k.source_user = ?")
		args = append(args, f.Author)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		conds = append(conds, `(strpos(lower(k.title), ?) > 0 OR strpos(lower(coalesce(k.content, '')), ?) > 0
			OR strpos(lower(coalesce(k.category, '')), ?) > 0 OR strpos(lower(coalesce(CAST(k.tags AS VARCHAR), '')), ?) > 0)`)
		lq := strings.ToLower(q)
		args = append(args, lq, lq, lq, lq)
	}
	return strings.Join(conds, " AND "), args
}

// ListKnowledge returns the items f selects (one page of them) and how many match in all.
func (s *Store) ListKnowledge(ctx context.Context, f KnowledgeFilter) ([]KnowledgeItem, int, error) {
	where, args := f.where()
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM knowledge_items k WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count knowledge: %w", err)
	}
	order, ok := KnowledgeSorts[f.Sort]
	if !ok {
		order = KnowledgeSorts["updated_at"]
	}
	q := `SELECT ` + knowledgeColumns + knowledgeFrom + ` WHERE ` + where + ` ORDER BY ` + order
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d OFFSET %d", f.Limit, max(f.Offset, 0))
	}
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list knowledge: %w", err)
	}
	defer rows.Close()
	out := []KnowledgeItem{}
	for rows.Next() {
		k, err := scanKnowledge(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list knowledge: %w", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list knowledge: %w", err)
	}
	return out, total, nil
}

// KnowledgeByID returns one item with its votes; ErrNotFound when it does not exist.
func (s *Store) KnowledgeByID(ctx context.Context, id string) (*KnowledgeItem, error) {
	k, err := scanKnowledge(s.DB.QueryRowContext(ctx, `SELECT `+knowledgeColumns+knowledgeFrom+` WHERE k.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: knowledge item: %w", err)
	}
	return k, nil
}

// CreateKnowledge inserts k as a new item with status (pending unless given), filling in ID,
// CreatedAt and UpdatedAt. Title is required.
func (s *Store) CreateKnowledge(ctx context.Context, k *KnowledgeItem) error {
	if strings.TrimSpace(k.Title) == "" {
		return errors.New("store: create knowledge: title is required")
	}
	if k.Status == "" {
		k.Status = KnowledgePending
	}
	if !ValidKnowledgeStatus(k.Status) {
		return fmt.Errorf("store: create knowledge: invalid status %q", k.Status)
	}
	id, now := uuid.NewString(), nowUTC()
	auditResource(ctx, id)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO knowledge_items (id, title, content, category, tags, status, contributors,
			source_user, audience, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, k.Title, k.Content, nullIfEmpty(k.Category), jsonText(k.Tags), k.Status, jsonText(k.Contributors),
			nullIfEmpty(k.SourceUser), nullIfEmpty(k.Audience), now, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create knowledge: %w", err)
	}
	k.ID, k.CreatedAt, k.UpdatedAt = id, now, now
	if k.Tags == nil {
		k.Tags = []string{}
	}
	if k.Contributors == nil {
		k.Contributors = []string{}
	}
	return nil
}

// nullIfEmpty stores "" as NULL.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Votable reports whether an item in status may receive a new vote: only published
// (approved or mandatory) items can; a vote can always be withdrawn.
func Votable(status string) bool {
	return status == KnowledgeApproved || status == KnowledgeMandatory
}

// Visible reports whether f's viewer may see k: pending and rejected items only when the
// viewer wrote them or f.SeeAll is set. It is the rule where() applies in SQL.
func (f KnowledgeFilter) Visible(k *KnowledgeItem) bool {
	if f.SeeAll {
		return true
	}
	if k.Status != KnowledgePending && k.Status != KnowledgeRejected {
		return true
	}
	return f.Viewer != "" && k.SourceUser == f.Viewer
}

// VoteKnowledge records userID's vote (1 or -1) on an item, replacing an earlier one; vote 0
// withdraws it. It returns the item's new counts; ErrNotFound for an unknown item and
// ErrConflict for a vote (not a withdrawal) on an item that is not Votable.
func (s *Store) VoteKnowledge(ctx context.Context, itemID, userID string, vote int) (up, down int, err error) {
	if vote < -1 || vote > 1 {
		return 0, 0, fmt.Errorf("store: vote must be -1, 0 or 1, not %d", vote)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT coalesce(status, 'pending') FROM knowledge_items WHERE id = ?`, itemID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if vote != 0 && !Votable(status) {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM knowledge_votes WHERE item_id = ? AND user_id = ?`, itemID, userID); err != nil {
			return err
		}
		if vote != 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO knowledge_votes (item_id, user_id, vote, voted_at) VALUES (?, ?, ?, ?)`,
				itemID, userID, vote, nowUTC()); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE vote > 0), count(*) FILTER (WHERE vote < 0)
			FROM knowledge_votes WHERE item_id = ?`, itemID).Scan(&up, &down)
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return 0, 0, err
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: vote: %w", err)
	}
	return up, down, nil
}

// KnowledgeVotesOf returns userID's votes: item id → 1 or -1.
func (s *Store) KnowledgeVotesOf(ctx context.Context, userID string) (map[string]int, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT item_id, vote FROM knowledge_votes WHERE user_id = ? AND vote <> 0`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: votes: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("store: votes: %w", err)
		}
		if v > 0 {
			out[id] = 1
		} else {
			out[id] = -1
		}
	}
	return out, rows.Err()
}

// KnowledgeStats counts the items visible under f (its Viewer and SeeAll; the other fields
// are ignored) by status, and lists their distinct non-empty categories, sorted.
func (s *Store) KnowledgeStats(ctx context.Context, f KnowledgeFilter) (total int, byStatus map[string]int, categories []string, err error) {
	where, args := KnowledgeFilter{Viewer: f.Viewer, SeeAll: f.SeeAll}.where()
	rows, err := s.DB.QueryContext(ctx, `SELECT coalesce(k.status, 'pending'), coalesce(k.category, ''), count(*)
		FROM knowledge_items k WHERE `+where+` GROUP BY 1, 2`, args...)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("store: knowledge stats: %w", err)
	}
	defer rows.Close()
	byStatus = map[string]int{}
	cats := map[string]bool{}
	for rows.Next() {
		var status, cat string
		var n int
		if err := rows.Scan(&status, &cat, &n); err != nil {
			return 0, nil, nil, fmt.Errorf("store: knowledge stats: %w", err)
		}
		total += n
		byStatus[status] += n
		if cat != "" {
			cats[cat] = true
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, nil, fmt.Errorf("store: knowledge stats: %w", err)
	}
	categories = make([]string, 0, len(cats))
	for c := range cats {
		categories = append(categories, c)
	}
	sort.Strings(categories)
	return total, byStatus, categories, nil
}

// SetKnowledgeStatus changes an item's status (and its audience when audience is not nil)
// and its updated_at; ErrNotFound for an unknown item.
func (s *Store) SetKnowledgeStatus(ctx context.Context, id, status string, audience *string) error {
	if !ValidKnowledgeStatus(status) {
		return fmt.Errorf("store: invalid knowledge status %q", status)
	}
	q, args := `UPDATE knowledge_items SET status = ?, updated_at = ? WHERE id = ?`, []any{status, nowUTC(), id}
	if audience != nil {
		q, args = `UPDATE knowledge_items SET status = ?, audience = ?, updated_at = ? WHERE id = ?`, []any{status, nullIfEmpty(*audience), nowUTC(), id}
	}
	n, err := s.execAffected(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: set knowledge status: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// KnowledgeEdit holds the fields an edit changes; nil fields stay as they are.
type KnowledgeEdit struct {
	Title    *string
	Content  *string
	Category *string
	Tags     *[]string
}

// EditKnowledge applies e to an item and sets updated_at; it returns the names of the
// changed fields (as the API calls them). An empty edit changes nothing. ErrNotFound for an
// unknown item.
func (s *Store) EditKnowledge(ctx context.Context, id string, e KnowledgeEdit) ([]string, error) {
	sets := []string{}
	args := []any{}
	fields := []string{}
	if e.Title != nil {
		if strings.TrimSpace(*e.Title) == "" {
			return nil, errors.New("store: edit knowledge: title cannot be empty")
		}
		sets, args, fields = append(sets, "title = ?"), append(args, *e.Title), append(fields, "title")
	}
	if e.Content != nil {
		sets, args, fields = append(sets, "content = ?"), append(args, *e.Content), append(fields, "content")
	}
	if e.Category != nil {
		sets, args, fields = append(sets, "category = ?"), append(args, nullIfEmpty(*e.Category)), append(fields, "category")
	}
	if e.Tags != nil {
		sets, args, fields = append(sets, "tags = ?"), append(args, jsonText(*e.Tags)), append(fields, "tags")
	}
	if len(sets) == 0 {
		// Nothing to change: report whether the item exists, but leave updated_at alone.
		if _, err := s.KnowledgeByID(ctx, id); err != nil {
			return nil, err
		}
		return fields, nil
	}
	sets = append(sets, "updated_at = ?")
	args = append(args, nowUTC(), id)
	NoteAudit(ctx, "fields", fields)
	n, err := s.execAffected(ctx, `UPDATE knowledge_items SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: edit knowledge: %w", err)
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	return fields, nil
}

// execAffected runs one write statement in a retried write transaction and returns how many
// rows it changed.
func (s *Store) execAffected(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if n == 0 {
			// Nothing changed: roll back, so that no audit entry records a change.
			return errNothingChanged
		}
		return nil
	})
	if errors.Is(err, errNothingChanged) {
		return 0, nil
	}
	return n, err
}

// errNothingChanged rolls back a write transaction whose statement matched no row.
var errNothingChanged = errors.New("store: nothing changed")

// governableFrom lists, for each status a governance action sets, the statuses an item may
// be in: only approved items become mandatory, only pending ones are rejected.
var governableFrom = map[string][]string{
	KnowledgeApproved:  {KnowledgePending, KnowledgeRejected, KnowledgeRevoked, KnowledgeMandatory},
	KnowledgeRejected:  {KnowledgePending},
	KnowledgeMandatory: {KnowledgeApproved, KnowledgeMandatory},
	KnowledgeRevoked:   {KnowledgeApproved, KnowledgeMandatory},
}

// TransitionError is a governance action an item's status does not allow. It matches
// ErrConflict.
type TransitionError struct{ From, To string }

func (e *TransitionError) Error() string {
	switch e.To {
	case KnowledgeMandatory:
		return "only approved items can be made mandatory; this item is " + e.From + ": approve it first"
	case KnowledgeRejected:
		return "only pending items can be rejected; this item is " + e.From + " (revoke a published item instead)"
	case KnowledgeRevoked:
		return "only approved or mandatory items can be revoked; this item is " + e.From
	}
	return "this item is " + e.From + " and cannot become " + e.To
}

// Unwrap makes a TransitionError an ErrConflict.
func (e *TransitionError) Unwrap() error { return ErrConflict }

// GovernKnowledge moves an item to status to (and sets its audience when not nil) if its
// current status allows it, in one statement; ErrNotFound for an unknown item, a
// *TransitionError when the status does not allow the move.
func (s *Store) GovernKnowledge(ctx context.Context, id, to string, audience *string) error {
	from, ok := governableFrom[to]
	if !ok {
		return fmt.Errorf("store: %q is not a governance status", to)
	}
	in := "'" + strings.Join(from, "', '") + "'"
	q, args := `UPDATE knowledge_items SET status = ?, updated_at = ? WHERE id = ? AND status IN (`+in+`)`, []any{to, nowUTC(), id}
	if audience != nil {
		q, args = `UPDATE knowledge_items SET status = ?, audience = ?, updated_at = ? WHERE id = ? AND status IN (`+in+`)`,
			[]any{to, nullIfEmpty(*audience), nowUTC(), id}
	}
	n, err := s.execAffected(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: govern knowledge: %w", err)
	}
	if n > 0 {
		return nil
	}
	k, err := s.KnowledgeByID(ctx, id)
	if err != nil {
		return err
	}
	return &TransitionError{From: k.Status, To: to}
}
