package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// adminRole is auth.RoleAdmin; store cannot import auth (auth imports store).
const adminRole = "admin"

// ErrLastAdmin refuses a change that would leave no active admin. It matches ErrConflict too.
var ErrLastAdmin = fmt.Errorf("%w: this is the last active admin; make another user admin first", ErrConflict)

// UserPatch lists the fields PatchUser changes; nil fields stay as they are.
type UserPatch struct {
	Name   *string
	Role   *string
	Active *bool
}

// otherActiveAdmins counts active admins other than id.
func otherActiveAdmins(ctx context.Context, tx *sql.Tx, id string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users
		WHERE role = ? AND coalesce(active, true) AND id <> ?`, adminRole, id).Scan(&n)
	return n, err
}

// PatchUser applies p to the user in one transaction and returns the updated user. It
// returns ErrNotFound for an unknown id and ErrLastAdmin when the change would demote or
// deactivate the last active admin. Role validation is the caller's job.
func (s *Store) PatchUser(ctx context.Context, id string, p UserPatch) (*User, error) {
	var out *User
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %q", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		wasAdmin := u.Role == adminRole && u.Active
		wasActive := u.Active
		if p.Name != nil {
			u.Name = *p.Name
		}
		if p.Role != nil {
			u.Role = *p.Role
		}
		if p.Active != nil {
			u.Active = *p.Active
		}
		if wasAdmin && (u.Role != adminRole || !u.Active) {
			n, err := otherActiveAdmins(ctx, tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastAdmin
			}
		}
		u.UpdatedAt = nowUTC()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET name = ?, role = ?, active = ?, updated_at = ? WHERE id = ?`,
			nullString(u.Name), nullString(u.Role), u.Active, u.UpdatedAt, id); err != nil {
			return err
		}
		if wasActive != u.Active {
			// Deactivation ends every credential; reactivation must not revive them.
			if err := bumpValidAfter(ctx, tx, id, u.UpdatedAt); err != nil {
				return err
			}
			u.ValidAfter = &u.UpdatedAt
		}
		out = u
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return nil, err
		}
		return nil, fmt.Errorf("store: patch user: %w", err)
	}
	return out, nil
}

// DeleteUserAndGrants deletes the user together with their dataset permissions and personal
// access tokens, in one transaction. Access requests and audit rows stay as history. It
// returns ErrNotFound for an unknown id and ErrLastAdmin for the last active admin.
func (s *Store) DeleteUserAndGrants(ctx context.Context, id string) error {
	err := s.authWriteTx(ctx, func(tx *sql.Tx) error {
		var role sql.NullString
		var active bool
		err := tx.QueryRowContext(ctx, `SELECT role, coalesce(active, true) FROM users WHERE id = ?`, id).Scan(&role, &active)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %q", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if role.String == adminRole && active {
			n, err := otherActiveAdmins(ctx, tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastAdmin
			}
		}
		for _, q := range []string{
			`DELETE FROM dataset_permissions WHERE user_id = ?`,
			`DELETE FROM personal_access_tokens WHERE user_id = ?`,
			`DELETE FROM knowledge_votes WHERE user_id = ?`,
			`DELETE FROM user_valid_after WHERE user_id = ?`,
			`DELETE FROM users WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("store: delete user: %w", err)
	}
	return nil
}

// CreateInvitedUser creates u (as CreateUser does) holding a password set-up link whose
// token hashes to setupHash (auth.NewLinkToken), in the format LinkTokenUser and
// ConsumeLinkToken with LinkSetup read, so user and link appear together or not at all.
func (s *Store) CreateInvitedUser(ctx context.Context, u *User, setupHash string) error {
	if setupHash == "" {
		return errors.New("store: create invited user: empty set-up token hash")
	}
	now := nowUTC()
	u.SetupToken, u.SetupTokenCreated = LinkSetup.stored(setupHash), &now
	return s.CreateUser(ctx, u)
}
