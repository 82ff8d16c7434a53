package auth

import (
	"context"
	"strings"

	"da/store"
)

// CanAccessTable is the single table-access rule (DESIGN.md §5) used by query, catalog and
// download. A user may read a table when they are an active admin, or when the table has a
// registry row and it is public, or it is an upload they own, or they hold a "read" grant for
// its id or for "<its bucket>.*". A "none" grant gives nothing. A nil or deactivated user
// reads nothing; a table without a registry row is readable by admins only. Table ids are
// compared case-insensitively.
func CanAccessTable(ctx context.Context, st *store.Store, u *store.User, tableID string) (bool, error) {
	if u == nil || !u.Active || strings.TrimSpace(tableID) == "" {
		return false, nil
	}
	if Role(u.Role) == RoleAdmin {
		return true, nil
	}
	return st.TableReadableBy(ctx, u.ID, u.Email, tableID)
}

// Readable is the set of tables a user may read, computed once per request.
type Readable struct {
	// All is true for admins, who may read every table, registered or not.
	All bool
	// IDs holds the lower-cased ids of the readable registered tables.
	IDs map[string]bool
}

// Has reports whether the table id (any case) is readable.
func (r *Readable) Has(id string) bool {
	if r == nil {
		return false
	}
	return r.All || r.IDs[strings.ToLower(strings.TrimSpace(id))]
}

// ReadableTables applies CanAccessTable's rule to every registered table in one query.
func ReadableTables(ctx context.Context, st *store.Store, u *store.User) (*Readable, error) {
	r := &Readable{IDs: map[string]bool{}}
	if u == nil || !u.Active {
		return r, nil
	}
	if Role(u.Role) == RoleAdmin {
		r.All = true
		return r, nil
	}
	ids, err := st.ReadableTableIDs(ctx, u.ID, u.Email)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		r.IDs[id] = true
	}
	return r, nil
}
