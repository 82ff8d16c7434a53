package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LinkPurpose names what a one-time e-mailed link is for. Only a hash of the link's secret
// is stored, prefixed with the purpose, so a link made for one purpose never works for
// another. Magic links and password resets share users.reset_token (the column the original
// used for magic links): a newer link of either kind replaces the older one. Set-up links for
// invited users live in users.setup_token.
type LinkPurpose string

// The purposes of one-time links.
const (
	LinkMagic LinkPurpose = "magic" // sign in by e-mail (users.reset_token)
	LinkReset LinkPurpose = "reset" // choose a new password (users.reset_token)
	LinkSetup LinkPurpose = "setup" // invited user sets a first password (users.setup_token)
)

// ErrLinkExpired reports a one-time link that exists but is older than its lifetime.
var ErrLinkExpired = errors.New("store: link expired")

// columns returns the token and created-time columns of p; the names are constants.
func (p LinkPurpose) columns() (token, created string, err error) {
	switch p {
	case LinkMagic, LinkReset:
		return "reset_token", "reset_token_created", nil
	case LinkSetup:
		return "setup_token", "setup_token_created", nil
	}
	return "", "", fmt.Errorf("store: unknown link purpose %q", string(p))
}

// stored is the column value for a token hash.
func (p LinkPurpose) stored(hash string) string { return string(p) + ":" + hash }

// SetLinkToken stores the hash of a new one-time link of purpose p for the user, replacing
// any earlier link that uses the same column. It returns ErrNotFound for an unknown user.
func (s *Store) SetLinkToken(ctx context.Context, userID string, p LinkPurpose, hash string) error {
	col, created, err := p.columns()
	if err != nil {
		return err
	}
	if hash == "" {
		return errors.New("store: set link token: empty hash")
	}
	now := nowUTC()
	notFound := fmt.Errorf("%w: user %q", ErrNotFound, userID)
	err = s.authWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET "+col+" = ?, "+created+" = ?, updated_at = ? WHERE id = ?",
			p.stored(hash), now, now, userID)
		if err != nil {
			return err
		}
		return mustAffect(res, notFound)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: set link token: %w", err)
	}
	return err
}

// LinkTokenUser returns the user a still-valid link belongs to without using it up, for the
// pages that show a confirm button or a password form. Unknown or used links give
// ErrNotFound; links older than maxAge give ErrLinkExpired.
func (s *Store) LinkTokenUser(ctx context.Context, p LinkPurpose, hash string, maxAge time.Duration) (*User, error) {
	col, created, err := p.columns()
	if err != nil {
		return nil, err
	}
	u, at, err := findLinkUser(ctx, s.DB, col, created, p.stored(hash))
	if err != nil {
		return nil, err
	}
	if linkExpired(at, maxAge) {
		return nil, ErrLinkExpired
	}
	return u, nil
}

// ConsumeLinkToken uses up a one-time link: in one transaction it finds the user whose
// stored hash matches, checks the link's age against maxAge, clears the link (so a second
// use finds nothing) and, when passwordHash is not empty, stores it as the new password.
// Unknown or used links give ErrNotFound; an expired link gives ErrLinkExpired and is
// cleared. A user who is deactivated still consumes the link; callers check User.Active.
func (s *Store) ConsumeLinkToken(ctx context.Context, p LinkPurpose, hash string, maxAge time.Duration, passwordHash string) (*User, error) {
	col, created, err := p.columns()
	if err != nil {
		return nil, err
	}
	var user *User
	expired := false
	err = s.authWriteTx(ctx, func(tx *sql.Tx) error {
		u, at, err := findLinkUser(ctx, tx, col, created, p.stored(hash))
		if err != nil {
			return err
		}
		now := nowUTC()
		expired = linkExpired(at, maxAge)
		query := "UPDATE users SET " + col + " = NULL, " + created + " = NULL, updated_at = ? WHERE id = ? AND " + col + " = ?"
		args := []any{now, u.ID, p.stored(hash)}
		if passwordHash != "" && !expired {
			query = "UPDATE users SET " + col + " = NULL, " + created + " = NULL, password_hash = ?, updated_at = ? WHERE id = ? AND " + col + " = ?"
			args = []any{passwordHash, now, u.ID, p.stored(hash)}
			u.PasswordHash = passwordHash
		}
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if err := mustAffect(res, fmt.Errorf("%w: link already used", ErrNotFound)); err != nil {
			return err
		}
		if passwordHash != "" && !expired {
			if err := bumpValidAfter(ctx, tx, u.ID, now); err != nil {
				return err
			}
			u.ValidAfter = &now
		}
		u.UpdatedAt = now
		user = u
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("store: consume link token: %w", err)
	}
	if expired {
		return nil, ErrLinkExpired
	}
	return user, nil
}

// findLinkUser loads the user whose link column holds value, with the link's creation time.
func findLinkUser(ctx context.Context, q queryer, col, created, value string) (*User, *time.Time, error) {
	row := q.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE "+col+" = ? LIMIT 1", value)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("%w: no such link", ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: find link: %w", err)
	}
	at := u.ResetTokenCreated
	if created == "setup_token_created" {
		at = u.SetupTokenCreated
	}
	return u, at, nil
}

// linkExpired reports whether a link created at at is older than maxAge; a link with no
// creation time is treated as expired.
func linkExpired(at *time.Time, maxAge time.Duration) bool {
	return at == nil || time.Now().UTC().Sub(at.UTC()) > maxAge
}
