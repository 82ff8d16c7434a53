package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"da/store"
)

// PrincipalTTL bounds how long a resolved caller is reused. Invalidation does not wait for
// it: every entry also carries the store's auth generation, and any change that can withdraw
// rights (role, deactivation, deletion, password, token revocation, permissions) moves the
// generation on, so the next request reads the database again.
const PrincipalTTL = 30 * time.Second

// principalCacheMax bounds each map; past it the cache starts over.
const principalCacheMax = 10000

// Principals resolves callers — a user by id, a personal access token — through a short-lived
// cache, so that an authenticated request does not pay for database reads that a request
// moments earlier already made.
type Principals struct {
	st   *store.Store
	now  func() time.Time
	user genCache[store.User]
	pat  genCache[store.PersonalToken] // by store.HashToken of the token
	// readable holds non-admin users' readable sets by user id (readable_cache.go).
	readable genCache[cachedReadable]
	// jwt holds the claims of JWTs whose signature was verified, by the token itself: a
	// token's bytes fix its claims, so only the time checks need repeating.
	mu  sync.Mutex
	jwt map[string]cachedJWT
}

type cachedJWT struct {
	issuer *Issuer
	claims *Claims
}

// genCache holds values by key, each valid while the store's auth generation is the one it
// was read under and, when it has a deadline, until then. Past principalCacheMax entries
// it starts over.
type genCache[V any] struct {
	mu sync.Mutex
	m  map[string]genEntry[V]
}

type genEntry[V any] struct {
	v     V
	gen   uint64
	until time.Time // zero: no deadline
}

// get returns a copy of the value under key when it is still valid at gen and now.
func (c *genCache[V]) get(key string, gen uint64, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || e.gen != gen || (!e.until.IsZero() && !now.Before(e.until)) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v under key, read at generation gen and valid until until (zero: no deadline).
func (c *genCache[V]) put(key string, v V, gen uint64, until time.Time) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= principalCacheMax {
		c.m = map[string]genEntry[V]{}
	}
	c.m[key] = genEntry[V]{v: v, gen: gen, until: until}
	c.mu.Unlock()
}

// update changes the value under key in place, if there is one.
func (c *genCache[V]) update(key string, fn func(*V)) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		fn(&e.v)
		c.m[key] = e
	}
	c.mu.Unlock()
}

// NewPrincipals returns an empty cache over st.
func NewPrincipals(st *store.Store) *Principals {
	return &Principals{st: st, now: time.Now, jwt: map[string]cachedJWT{}}
}

// User returns the user with that id (store.ErrNotFound when there is none). The caller gets
// its own copy.
func (p *Principals) User(ctx context.Context, id string) (*store.User, error) {
	// The generation is read before the database: a change that commits after the read
	// moves it on, so what is cached below can only be as new as the generation it carries.
	gen := p.st.AuthGeneration()
	now := p.now()
	if u, ok := p.user.get(id, gen, now); ok {
		return &u, nil
	}
	u, err := p.st.GetUserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	p.user.put(id, *u, gen, now.Add(PrincipalTTL))
	return u, nil
}

// findPAT returns the token row for token, from the cache when it is fresh.
func (p *Principals) findPAT(ctx context.Context, token string) (*store.PersonalToken, string, error) {
	key := store.HashToken(token)
	gen := p.st.AuthGeneration()
	now := p.now()
	if t, ok := p.pat.get(key, gen, now); ok {
		return &t, key, nil
	}
	t, err := p.st.FindPersonalToken(ctx, token)
	if err != nil {
		return nil, key, err
	}
	p.pat.put(key, *t, gen, now.Add(PrincipalTTL))
	return t, key, nil
}

// touched records in the cache that the token's last use was written.
func (p *Principals) touched(key string, t *store.PersonalToken) {
	p.pat.update(key, func(c *store.PersonalToken) {
		if c.ID == t.ID {
			c.LastUsedAt = t.LastUsedAt
		}
	})
}

// AuthenticatePAT is the package's AuthenticatePAT through the cache.
func (p *Principals) AuthenticatePAT(ctx context.Context, token string, now time.Time) (*store.User, *store.PersonalToken, error) {
	t, key, err := p.findPAT(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrPATUnknown
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := p.User(ctx, t.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if err := checkPAT(t, u, now); err != nil {
		return nil, nil, err
	}
	if wrote, _ := p.st.TouchPersonalToken(ctx, t, now); wrote {
		p.touched(key, t)
	}
	return u, t, nil
}

// ParseJWT verifies a JWT with issuer and returns its user, who must exist, be active and
// not have invalidated the token since it was issued (ErrTokenStale).
func (p *Principals) ParseJWT(ctx context.Context, issuer *Issuer, token string) (*store.User, error) {
	claims, err := p.verifiedClaims(issuer, token)
	if err != nil {
		return nil, err
	}
	u, err := p.User(ctx, claims.Subject)
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, ErrAccountInactive
	}
	if u.IssuedBeforeValidAfter(claims.Issued()) {
		return nil, ErrTokenStale
	}
	return u, nil
}

// Reasons a JWT of an existing user does not authenticate.
var (
	ErrAccountInactive = errors.New("auth: account is deactivated")
	ErrTokenStale      = errors.New("auth: token was issued before the account's password or status changed")
)

// verifiedClaims is issuer.Parse(token), verifying a given token's signature only once. The
// expiry (and not-before time) are checked on every call, exactly as Parse does.
func (p *Principals) verifiedClaims(issuer *Issuer, token string) (*Claims, error) {
	p.mu.Lock()
	e, ok := p.jwt[token]
	p.mu.Unlock()
	if ok && e.issuer == issuer {
		now := issuer.now()
		if e.claims.ExpiresAt == nil || !now.Before(e.claims.ExpiresAt.Time) ||
			(e.claims.NotBefore != nil && now.Before(e.claims.NotBefore.Time)) {
			return nil, ErrInvalidToken
		}
		return e.claims, nil
	}
	claims, err := issuer.Parse(token)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if len(p.jwt) >= principalCacheMax {
		clear(p.jwt)
	}
	p.jwt[token] = cachedJWT{issuer: issuer, claims: claims}
	p.mu.Unlock()
	return claims, nil
}
