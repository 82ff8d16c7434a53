package auth

import (
	"context"
	"strings"
	"time"

	"da/store"
)

// cachedReadable is one user's readable set, valid while the store's auth generation and the
// user's e-mail (which decides upload ownership) are those it was computed under.
type cachedReadable struct {
	r     *Readable
	email string
}

// ReadableTables is the package's ReadableTables through the cache. Registering, deleting,
// publishing or unpublishing a table, a grant or its revocation, and any change to a user
// move the store's auth generation on, so the next call after such a change reads the
// database again. The returned set is shared: callers must not modify it.
func (p *Principals) ReadableTables(ctx context.Context, u *store.User) (*Readable, error) {
	if u == nil || !u.Active || Role(u.Role) == RoleAdmin {
		return ReadableTables(ctx, p.st, u)
	}
	// As in User: the generation is read before the database.
	gen := p.st.AuthGeneration()
	if e, ok := p.readable.get(u.ID, gen, time.Time{}); ok && e.email == u.Email {
		return e.r, nil
	}
	r, err := ReadableTables(ctx, p.st, u)
	if err != nil {
		return nil, err
	}
	p.readable.put(u.ID, cachedReadable{r: r, email: u.Email}, gen, time.Time{})
	return r, nil
}

// CanAccessTable is the package's CanAccessTable answered from the cached readable set.
func (p *Principals) CanAccessTable(ctx context.Context, u *store.User, tableID string) (bool, error) {
	if u == nil || !u.Active || strings.TrimSpace(tableID) == "" {
		return false, nil
	}
	r, err := p.ReadableTables(ctx, u)
	if err != nil {
		return false, err
	}
	return r.Has(tableID), nil
}
