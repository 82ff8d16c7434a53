package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Statuses of an access request.
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestDenied   = "denied"
)

// AccessRequest is a row of access_requests: a user asking an admin for read access to a
// table. ReviewedAt is nil until the request is approved or denied.
type AccessRequest struct {
	ID         string
	UserID     string
	UserEmail  string
	TableID    string
	Reason     string
	Status     string
	ReviewedBy string
	ReviewedAt *time.Time
	CreatedAt  time.Time
}

const accessRequestColumns = `id, user_id, user_email, table_id, coalesce(reason, ''),
	coalesce(status, 'pending'), coalesce(reviewed_by, ''), reviewed_at, created_at`

func scanAccessRequest(r rowScanner) (*AccessRequest, error) {
	var a AccessRequest
	var reviewed, created sql.NullTime
	if err := r.Scan(&a.ID, &a.UserID, &a.UserEmail, &a.TableID, &a.Reason, &a.Status, &a.ReviewedBy,
		&reviewed, &created); err != nil {
		return nil, err
	}
	a.ReviewedAt = timePtr(reviewed)
	if created.Valid {
		a.CreatedAt = created.Time.UTC()
	}
	return &a, nil
}

// CreateAccessRequest inserts a pending request for r.UserID and r.TableID, filling in ID,
// Status and CreatedAt. A pending request of the same user for the same table (ignoring
// case) gives ErrConflict; the check and the insert are one transaction.
func (s *Store) CreateAccessRequest(ctx context.Context, r *AccessRequest) error {
	if r.UserID == "" || r.UserEmail == "" || strings.TrimSpace(r.TableID) == "" {
		return errors.New("store: create access request: user id, user email and table id are required")
	}
	id, now := uuid.NewString(), nowUTC()
	auditResource(ctx, id)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		pending, err := hasPending(ctx, tx, r.UserID, r.TableID)
		if err != nil {
			return err
		}
		if pending {
			return fmt.Errorf("%w: a pending request for this table already exists", ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO access_requests (id, user_id, user_email, table_id, reason, status, created_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?)`, id, r.UserID, r.UserEmail, r.TableID, r.Reason, now)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("store: create access request: %w", err)
	}
	r.ID, r.Status, r.CreatedAt, r.ReviewedBy, r.ReviewedAt = id, RequestPending, now, "", nil
	return nil
}

// GetAccessRequest returns the request with that id, or ErrNotFound.
func (s *Store) GetAccessRequest(ctx context.Context, id string) (*AccessRequest, error) {
	a, err := scanAccessRequest(s.DB.QueryRowContext(ctx, `SELECT `+accessRequestColumns+` FROM access_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: access request %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get access request: %w", err)
	}
	return a, nil
}

// ListPendingAccessRequests returns every pending request, newest first.
func (s *Store) ListPendingAccessRequests(ctx context.Context) ([]AccessRequest, error) {
	return s.listAccessRequests(ctx, `coalesce(status, 'pending') = 'pending'`)
}

// ListDecidedAccessRequests returns the latest limit approved or denied requests, most
// recently reviewed first.
func (s *Store) ListDecidedAccessRequests(ctx context.Context, limit int) ([]AccessRequest, error) {
	all, err := s.listAccessRequests(ctx, `coalesce(status, 'pending') <> 'pending'`)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i].ReviewedAt, all[j].ReviewedAt
		if a == nil || b == nil {
			return b == nil && a != nil
		}
		return a.After(*b)
	})
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// ListAccessRequestsByUser returns every request of one user, newest first.
func (s *Store) ListAccessRequestsByUser(ctx context.Context, userID string) ([]AccessRequest, error) {
	return s.listAccessRequests(ctx, `user_id = ?`, userID)
}

func (s *Store) listAccessRequests(ctx context.Context, where string, args ...any) ([]AccessRequest, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+accessRequestColumns+` FROM access_requests WHERE `+where+
		` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list access requests: %w", err)
	}
	defer rows.Close()
	out := []AccessRequest{}
	for rows.Next() {
		a, err := scanAccessRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list access requests: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list access requests: %w", err)
	}
	return out, nil
}

// HasPendingAccessRequest reports whether the user has a pending request for the table.
func (s *Store) HasPendingAccessRequest(ctx context.Context, userID, tableID string) (bool, error) {
	ok, err := hasPending(ctx, s.DB, userID, tableID)
	if err != nil {
		return false, fmt.Errorf("store: pending access request: %w", err)
	}
	return ok, nil
}

func hasPending(ctx context.Context, q queryer, userID, tableID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM access_requests
		WHERE user_id = ? AND lower(table_id) = lower(?) AND coalesce(status, 'pending') = 'pending'`,
		userID, tableID).Scan(&n)
	return n > 0, err
}

// ApproveAccessRequest marks a pending request approved by reviewer (an e-mail) and, in the
// same transaction, grants the requester read access to the table. ErrNotFound for an
// unknown id, ErrConflict when the request is no longer pending.
func (s *Store) ApproveAccessRequest(ctx context.Context, id, reviewer string) (*AccessRequest, error) {
	return s.reviewAccessRequest(ctx, id, reviewer, RequestApproved)
}

// DenyAccessRequest marks a pending request denied by reviewer. ErrNotFound for an unknown
// id, ErrConflict when the request is no longer pending.
func (s *Store) DenyAccessRequest(ctx context.Context, id, reviewer string) (*AccessRequest, error) {
	return s.reviewAccessRequest(ctx, id, reviewer, RequestDenied)
}

func (s *Store) reviewAccessRequest(ctx context.Context, id, reviewer, status string) (*AccessRequest, error) {
	now := nowUTC()
	var out *AccessRequest
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		a, err := scanAccessRequest(tx.QueryRowContext(ctx, `SELECT `+accessRequestColumns+` FROM access_requests WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: access request %q", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if a.Status != RequestPending {
			return fmt.Errorf("%w: access request %q is already %s", ErrConflict, id, a.Status)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE access_requests SET status = ?, reviewed_by = ?, reviewed_at = ? WHERE id = ?`,
			status, nullString(reviewer), now, id); err != nil {
			return err
		}
		if status == RequestApproved {
			if err := grantTx(ctx, tx, &Permission{UserID: a.UserID, Dataset: NormalizeDataset(a.TableID), Access: AccessRead}); err != nil {
				return err
			}
		}
		a.Status, a.ReviewedBy, a.ReviewedAt = status, reviewer, &now
		NoteAudit(ctx, "table_id", a.TableID)
		NoteAudit(ctx, "user_id", a.UserID)
		out = a
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return nil, err
		}
		return nil, fmt.Errorf("store: review access request: %w", err)
	}
	return out, nil
}
