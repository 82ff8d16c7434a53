package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// A user's "valid after" time (table user_valid_after) ends every credential issued before
// it: JWTs by their iat, personal access tokens by created_at, browser sessions by the time
// they signed in. A password change, reset or set-up and a deactivation or reactivation move
// it to the time of the change, in the change's own transaction, so there is no window in
// which the new password is stored but the old tokens still work.

// bumpValidAfter moves the user's valid-after time to at (never backwards).
func bumpValidAfter(ctx context.Context, tx *sql.Tx, userID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO user_valid_after (user_id, valid_after) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET valid_after = greatest(user_valid_after.valid_after, excluded.valid_after)`,
		userID, at.UTC())
	return err
}

// IssuedBeforeValidAfter reports whether a credential issued at issued predates the user's
// valid-after time and so must no longer authenticate.
func (u *User) IssuedBeforeValidAfter(issued time.Time) bool {
	return u.ValidAfter != nil && issued.Before(*u.ValidAfter)
}

// AuthGeneration is a counter the store moves forward after every committed change that can
// withdraw a caller's rights: a user's role, active flag, password or deletion, a personal
// access token's revocation, a dataset permission. A cache of resolved callers stamped with
// the generation it read is stale as soon as the generation moves.
func (s *Store) AuthGeneration() uint64 { return s.authGen.Load() }

// authWriteTx is writeTx for changes that can withdraw rights: the auth generation moves on
// after the transaction ends, whatever its outcome (a spurious move only costs a cache miss).
func (s *Store) authWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	defer func() {
		s.authGen.Add(1)
		if hook := authChangeHook(s); hook != nil {
			hook(ctx)
		}
	}()
	return s.writeTx(ctx, fn)
}

// authHooks holds, per store, what runs after every change that moved the auth generation
// (replicas tell each other through it; see OnAuthChange).
var authHooks sync.Map // *Store -> func(context.Context)

func authChangeHook(s *Store) func(context.Context) {
	if v, ok := authHooks.Load(s); ok {
		return v.(func(context.Context))
	}
	return nil
}

// OnAuthChange runs fn after every change that moves the auth generation on, once the
// change has ended, so that the other replicas sharing this database can drop their cached
// callers too (see InvalidateAuth). nil removes it.
func (s *Store) OnAuthChange(fn func(ctx context.Context)) {
	if fn == nil {
		authHooks.Delete(s)
		return
	}
	authHooks.Store(s, fn)
}

// InvalidateAuth moves the auth generation on without a change here: another replica
// changed rights, or may have while this one was not listening.
func (s *Store) InvalidateAuth() { s.authGen.Add(1) }
