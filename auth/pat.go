package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"da/store"
)

// Reasons a personal access token does not authenticate; each is also ErrInvalidToken.
var (
	ErrPATUnknown  = newPATError("auth: unknown personal access token")
	ErrPATRevoked  = newPATError("auth: personal access token was revoked")
	ErrPATExpired  = newPATError("auth: personal access token has expired")
	ErrPATNoUser   = newPATError("auth: owner of the personal access token no longer exists")
	ErrPATInactive = newPATError("auth: owner of the personal access token is deactivated")
	ErrPATStale    = newPATError("auth: personal access token predates the owner's last password or status change")
)

// patError is a specific reason that also matches ErrInvalidToken.
type patError struct{ msg string }

func (e *patError) Error() string        { return e.msg }
func (e *patError) Is(target error) bool { return target == ErrInvalidToken }

func newPATError(msg string) error { return &patError{msg: msg} }

// IsPAT reports whether a bearer token is a personal access token rather than a JWT.
func IsPAT(token string) bool { return strings.HasPrefix(token, store.PATPrefix) }

// AuthenticatePAT resolves a personal access token to its active owner. Unknown, revoked
// and expired tokens, tokens of deleted or deactivated users and tokens created before the
// owner's valid-after time fail with one of the ErrPAT*
// errors (all match ErrInvalidToken). A successful use updates last_used_at, at most once per
// store.PATTouchInterval; a failure to record it does not fail the request.
func AuthenticatePAT(ctx context.Context, st *store.Store, token string, now time.Time) (*store.User, *store.PersonalToken, error) {
	t, err := st.FindPersonalToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrPATUnknown
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := st.GetUserByID(ctx, t.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if err := checkPAT(t, u, now); err != nil {
		return nil, nil, err
	}
	_, _ = st.TouchPersonalToken(ctx, t, now)
	return u, t, nil
}

// checkPAT decides whether token t of user u (nil when deleted) authenticates at now.
func checkPAT(t *store.PersonalToken, u *store.User, now time.Time) error {
	switch {
	case t.RevokedAt != nil:
		return ErrPATRevoked
	case !t.Usable(now):
		return ErrPATExpired
	case u == nil:
		return ErrPATNoUser
	case !u.Active:
		return ErrPATInactive
	case u.IssuedBeforeValidAfter(t.CreatedAt):
		return ErrPATStale
	}
	return nil
}

// PATAllows reports whether a token of this scope may make the request. A full token may do
// whatever its owner may; a read token may only make GET/HEAD requests and run read-only
// queries (POST /api/query, its export and cancelling its own query).
func PATAllows(scope, method, path string) bool {
	if scope != store.ScopeRead {
		return scope == store.ScopeFull
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		if path == "/api/query" || path == "/api/query/export" {
			return true
		}
		rest, ok := strings.CutPrefix(path, "/api/query/")
		return ok && strings.HasSuffix(rest, "/cancel") && strings.Count(rest, "/") == 1
	}
	return false
}
