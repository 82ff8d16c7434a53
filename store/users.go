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

// DefaultRole is stored when a user is created without a role (the original
// column default).
const DefaultRole = "analyst"

// User is a row of users. Nullable text columns read as "" and nullable
// timestamps as nil; all times are UTC.
type User struct {
	ID                string
	Email             string
	Name              string
	Role              string
	PasswordHash      string
	SetupToken        string
	SetupTokenCreated *time.Time
	ResetToken        string
	ResetTokenCreated *time.Time
	// Active is false for deactivated users, who cannot sign in.
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// ValidAfter, when set, is the time before which the user's tokens, personal access
	// tokens and sessions were issued in vain (user_valid_after.go).
	ValidAfter *time.Time
}

// active is NULL only if something wrote NULL explicitly; treat that like the
// column default rather than locking the user out.
const userColumns = `id, email, name, role, password_hash,
	setup_token, setup_token_created, reset_token, reset_token_created,
	COALESCE(active, true), created_at, updated_at,
	(SELECT v.valid_after FROM user_valid_after v WHERE v.user_id = users.id)`

// NormalizeEmail is how emails are stored and compared: trimmed, lower-case.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// CreateUser inserts u. It fills in a UUIDv4 ID if u.ID is empty, normalises
// the email, stores DefaultRole if u.Role is empty, and sets CreatedAt and
// UpdatedAt to now. New users are always active (u.Active is set to true);
// deactivate with UpdateUser. A taken email gives ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	email := NormalizeEmail(u.Email)
	if email == "" {
		return errors.New("store: create user: email is required")
	}
	id := u.ID
	if id == "" {
		id = uuid.NewString()
	}
	role := u.Role
	if role == "" {
		role = DefaultRole
	}
	now := nowUTC()
	auditResource(ctx, id)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := emailFree(ctx, tx, email, ""); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, role, password_hash,
			setup_token, setup_token_created, reset_token, reset_token_created,
			active, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, true, ?, ?)`,
			id, email, nullString(u.Name), role, nullString(u.PasswordHash),
			nullString(u.SetupToken), nullTime(u.SetupTokenCreated),
			nullString(u.ResetToken), nullTime(u.ResetTokenCreated),
			now, now)
		return err
	})
	if err != nil {
		if isDuplicateKey(err) {
			// Either the id or the email (a concurrent insert) is taken.
			return fmt.Errorf("%w: user id or email already exists", ErrConflict)
		}
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("store: create user: %w", err)
	}
	u.ID, u.Email, u.Role, u.Active = id, email, role, true
	u.CreatedAt, u.UpdatedAt = now, now
	return nil
}

// GetUserByID returns the user with that id, or ErrNotFound.
func (s *Store) GetUserByID(ctx context.Context, id string) (*User, error) {
	row := s.DB.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get user: %w", err)
	}
	return u, nil
}

// GetUserByEmail returns the user with that email, ignoring case and
// surrounding spaces, or ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	email = NormalizeEmail(email)
	row := s.DB.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", email)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		// This da stores emails lower-case, but a database written by the
		// original system may hold mixed case. (A separate query: sorting
		// for an exact-match-first single query costs ~1 ms more.)
		row = s.DB.QueryRowContext(ctx, "SELECT "+userColumns+` FROM users
			WHERE lower(email) = ? ORDER BY email, id LIMIT 1`, email)
		u, err = scanUser(row)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no user with that email", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get user by email: %w", err)
	}
	return u, nil
}

// ListUsers returns every user ordered by email.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY email, id")
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		users = append(users, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return users, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

const (
	updateUserSQL = `UPDATE users SET name = ?, role = ?,
		password_hash = ?, setup_token = ?, setup_token_created = ?,
		reset_token = ?, reset_token_created = ?, active = ?, updated_at = ?
		WHERE id = ?`
	updateUserEmailSQL = `UPDATE users SET email = ?, name = ?, role = ?,
		password_hash = ?, setup_token = ?, setup_token_created = ?,
		reset_token = ?, reset_token_created = ?, active = ?, updated_at = ?
		WHERE id = ?`
)

// UpdateUser writes every mutable field of u (email, name, role, password
// hash, setup and reset tokens with their times, active) and sets UpdatedAt
// to now. It returns ErrNotFound if u.ID does not exist and ErrConflict if
// the email belongs to another user.
func (s *Store) UpdateUser(ctx context.Context, u *User) error {
	email := NormalizeEmail(u.Email)
	if email == "" {
		return errors.New("store: update user: email is required")
	}
	now := nowUTC()
	notFound := fmt.Errorf("%w: user %q", ErrNotFound, u.ID)
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		var current string
		var oldHash sql.NullString
		var wasActive bool
		err := tx.QueryRowContext(ctx, "SELECT email, password_hash, coalesce(active, true) FROM users WHERE id = ?",
			u.ID).Scan(&current, &oldHash, &wasActive)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound
		}
		if err != nil {
			return err
		}
		// DuckDB runs an UPDATE that assigns a UNIQUE column as delete +
		// insert, and that path does not see a concurrent uncommitted update
		// of the row: one of the two is silently lost. So email is only
		// assigned when it really changes; otherwise the row is updated in
		// place and a concurrent writer gets a retryable conflict.
		query := updateUserSQL
		args := []any{nullString(u.Name), nullString(u.Role), nullString(u.PasswordHash),
			nullString(u.SetupToken), nullTime(u.SetupTokenCreated),
			nullString(u.ResetToken), nullTime(u.ResetTokenCreated),
			u.Active, now, u.ID}
		if current != email {
			if err := emailFree(ctx, tx, email, u.ID); err != nil {
				return err
			}
			query = updateUserEmailSQL
			args = append([]any{email}, args...)
		}
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if err := mustAffect(res, notFound); err != nil {
			return err
		}
		if oldHash.String != u.PasswordHash || wasActive != u.Active {
			if err := bumpValidAfter(ctx, tx, u.ID, now); err != nil {
				return err
			}
			u.ValidAfter = &now
		}
		return nil
	})
	if err != nil {
		if isDuplicateKey(err) {
			return fmt.Errorf("%w: email already in use", ErrConflict)
		}
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("store: update user: %w", err)
	}
	u.Email, u.UpdatedAt = email, now
	return nil
}

// DeleteUser deletes the user with that id, or returns ErrNotFound. Rows in
// other tables that name the user are left alone (there are no foreign keys).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, fmt.Errorf("%w: user %q", ErrNotFound, id)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM user_valid_after WHERE user_id = ?", id)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: delete user: %w", err)
	}
	return err
}

// emailFree returns ErrConflict if a user other than exceptID has email,
// compared case-insensitively: the UNIQUE constraint alone would let a
// legacy "Alice@x" and a new "alice@x" coexist.
func emailFree(ctx context.Context, tx *sql.Tx, email, exceptID string) error {
	var n int
	err := tx.QueryRowContext(ctx,
		"SELECT count(*) FROM users WHERE lower(email) = ? AND id <> ?", email, exceptID).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: email already in use", ErrConflict)
	}
	return nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

func scanUser(r rowScanner) (*User, error) {
	var (
		u                                       User
		name, role, hash, setupToken, resetTok  sql.NullString
		setupCreated, resetCreated, crt, updted sql.NullTime
		validAfter                              sql.NullTime
	)
	err := r.Scan(&u.ID, &u.Email, &name, &role, &hash,
		&setupToken, &setupCreated, &resetTok, &resetCreated,
		&u.Active, &crt, &updted, &validAfter)
	if err != nil {
		return nil, err
	}
	u.Name, u.Role, u.PasswordHash = name.String, role.String, hash.String
	u.SetupToken, u.ResetToken = setupToken.String, resetTok.String
	u.SetupTokenCreated, u.ResetTokenCreated = timePtr(setupCreated), timePtr(resetCreated)
	u.ValidAfter = timePtr(validAfter)
	if crt.Valid {
		u.CreatedAt = crt.Time.UTC()
	}
	if updted.Valid {
		u.UpdatedAt = updted.Time.UTC()
	}
	return &u, nil
}

// nowUTC is the current time as DuckDB stores it: UTC, microseconds.
func nowUTC() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime maps nil to NULL and anything else to naive UTC.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// mustAffect returns notFound if res changed no rows.
func mustAffect(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}
