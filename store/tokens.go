package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Personal access tokens look like "da_pat_" followed by PATSecretLen base62 characters
// (about 238 bits). Only the SHA-256 of the whole token is stored, with its first
// PATPrefixLen characters as a public label.
const (
	PATPrefix    = "da_pat_"
	PATSecretLen = 40
	PATPrefixLen = len(PATPrefix) + 8
)

// Scopes of a personal access token.
const (
	ScopeFull = "full"
	ScopeRead = "read"
)

// PATTouchInterval is how stale last_used_at may get before a use writes it again, so that
// a busy token does not write on every request.
const PATTouchInterval = time.Minute

// PersonalToken is a row of personal_access_tokens, without its hash.
type PersonalToken struct {
	ID         string
	UserID     string
	Name       string
	Prefix     string
	Scope      string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Usable reports whether the token is neither revoked nor expired at now.
func (t *PersonalToken) Usable(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// HashToken is the stored form of a personal access token: lower-case hex SHA-256.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters drawn uniformly from crypto/rand (rejection sampling, so
// no character is more likely than another).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4*62: keeps the draw uniform
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

const patColumns = `id, user_id, name, prefix, coalesce(scope, 'full'), created_at, expires_at, last_used_at, revoked_at`

func scanPAT(r rowScanner) (*PersonalToken, error) {
	var t PersonalToken
	var created, expires, used, revoked sql.NullTime
	if err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.Scope, &created, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	if created.Valid {
		t.CreatedAt = created.Time.UTC()
	}
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = timePtr(expires), timePtr(used), timePtr(revoked)
	return &t, nil
}

// CreatePersonalToken stores a new token for userID and returns it with its plaintext, which
// exists nowhere else afterwards. scope is ScopeFull or ScopeRead ("" means full); a nil
// expiresAt never expires.
func (s *Store) CreatePersonalToken(ctx context.Context, userID, name, scope string, expiresAt *time.Time) (*PersonalToken, string, error) {
	name = strings.TrimSpace(name)
	if userID == "" || name == "" {
		return nil, "", errors.New("store: create token: user id and name are required")
	}
	if scope == "" {
		scope = ScopeFull
	}
	if scope != ScopeFull && scope != ScopeRead {
		return nil, "", fmt.Errorf("store: create token: scope must be %q or %q, not %q", ScopeFull, ScopeRead, scope)
	}
	secret, err := randomBase62(PATSecretLen)
	if err != nil {
		return nil, "", fmt.Errorf("store: create token: %w", err)
	}
	plain := PATPrefix + secret
	t := &PersonalToken{ID: uuid.NewString(), UserID: userID, Name: name, Prefix: plain[:PATPrefixLen],
		Scope: scope, CreatedAt: nowUTC()}
	if expiresAt != nil {
		e := expiresAt.UTC().Truncate(time.Microsecond)
		t.ExpiresAt = &e
	}
	auditResource(ctx, t.ID)
	NoteAudit(ctx, "prefix", t.Prefix)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO personal_access_tokens (id, user_id, name, prefix, token_hash, scope, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.UserID, t.Name, t.Prefix, HashToken(plain), t.Scope, t.CreatedAt, nullTime(t.ExpiresAt))
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: create token: %w", err)
	}
	return t, plain, nil
}

// FindPersonalToken returns the token row whose hash matches token, revoked and expired ones
// included (check Usable), or ErrNotFound. The lookup is by hash, so its timing says nothing
// about the secret.
func (s *Store) FindPersonalToken(ctx context.Context, token string) (*PersonalToken, error) {
	if !strings.HasPrefix(token, PATPrefix) {
		return nil, fmt.Errorf("%w: not a personal access token", ErrNotFound)
	}
	t, err := scanPAT(s.DB.QueryRowContext(ctx, `SELECT `+patColumns+` FROM personal_access_tokens WHERE token_hash = ?`, HashToken(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: personal access token", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: find token: %w", err)
	}
	return t, nil
}

// ListPersonalTokens returns the user's tokens that are not revoked, newest first.
func (s *Store) ListPersonalTokens(ctx context.Context, userID string) ([]PersonalToken, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+patColumns+` FROM personal_access_tokens
		WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	out := []PersonalToken{}
	for rows.Next() {
		t, err := scanPAT(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return out, nil
}

// RevokePersonalToken revokes the user's token id. Another user's token, an unknown id and
// an already revoked token all give ErrNotFound, so ids of others' tokens cannot be probed.
func (s *Store) RevokePersonalToken(ctx context.Context, userID, id string) error {
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE personal_access_tokens SET revoked_at = ?
			WHERE id = ? AND user_id = ? AND revoked_at IS NULL`, nowUTC(), id, userID)
		if err != nil {
			return err
		}
		return mustAffect(res, fmt.Errorf("%w: token %q", ErrNotFound, id))
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: revoke token: %w", err)
	}
	return err
}

// TouchPersonalToken records a use of the token at now, unless last_used_at is already
// within PATTouchInterval of it. It reports whether it wrote.
func (s *Store) TouchPersonalToken(ctx context.Context, t *PersonalToken, now time.Time) (bool, error) {
	now = now.UTC().Truncate(time.Microsecond)
	if t.LastUsedAt != nil && now.Sub(*t.LastUsedAt) < PATTouchInterval {
		return false, nil
	}
	var n int64
	// Bookkeeping, not the change a request makes: it carries no audit entry.
	err := s.writeTx(WithoutAudit(ctx), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE personal_access_tokens SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, now, t.ID, now.Add(-PATTouchInterval))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: touch token: %w", err)
	}
	if n > 0 {
		t.LastUsedAt = &now
	}
	return n > 0, nil
}
