package auth

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"da/store"
)

// TestPrincipalsCacheAndGeneration shows that resolved callers are reused (a change that
// bypasses the store is not seen) and that every store write path that withdraws rights
// drops them at once.
func TestPrincipalsCacheAndGeneration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Open(filepath.Join(t.TempDir(), "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Email: "a@example.com", Role: "analyst"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	p := NewPrincipals(st)
	role := func() string {
		t.Helper()
		got, err := p.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Role
	}
	if r := role(); r != "analyst" {
		t.Fatalf("role %q", r)
	}
	// Written behind the store's back: the cached principal is served.
	if _, err := st.DB.ExecContext(ctx, `UPDATE users SET role = 'viewer' WHERE id = ?`, u.ID); err != nil {
		t.Fatal(err)
	}
	if r := role(); r != "analyst" {
		t.Fatalf("the cache was not used: role %q", r)
	}
	// Any store change to the user is seen on the next call.
	km := "km_admin"
	if _, err := st.PatchUser(ctx, u.ID, store.UserPatch{Role: &km}); err != nil {
		t.Fatal(err)
	}
	if r := role(); r != km {
		t.Fatalf("after PatchUser: role %q", r)
	}
	// The TTL bounds an entry even without a change.
	if _, err := st.DB.ExecContext(ctx, `UPDATE users SET role = 'viewer' WHERE id = ?`, u.ID); err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return time.Now().Add(PrincipalTTL + time.Second) }
	if r := role(); r != "viewer" {
		t.Fatalf("past the TTL: role %q", r)
	}
	p.now = time.Now

	// Personal access tokens: cached, and revocation is seen at once.
	tok, plain, err := st.CreatePersonalToken(ctx, u.ID, "cli", store.ScopeFull, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, _, err := p.AuthenticatePAT(ctx, plain, now); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokePersonalToken(ctx, u.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.AuthenticatePAT(ctx, plain, now); !errors.Is(err, ErrPATRevoked) {
		t.Fatalf("revoked token: %v", err)
	}
	// Deletion.
	if _, err := p.User(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUserAndGrants(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.User(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
}

// TestPrincipalsJWTVerifiedOnceStillExpires reuses a verified token's claims but still
// refuses it once it expires, and never lets a token with a forged signature ride on the
// cache of the genuine one.
func TestPrincipalsJWTVerifiedOnceStillExpires(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Open(filepath.Join(t.TempDir(), "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Email: "j@example.com", Role: "analyst"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	issuer := NewIssuer("0123456789abcdef0123456789abcdef")
	issuer.now = func() time.Time { return now }
	token, _, err := issuer.Issue(u.ID, u.Email, RoleAnalyst)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPrincipals(st)
	for i := 0; i < 2; i++ {
		if got, err := p.ParseJWT(ctx, issuer, token); err != nil || got.ID != u.ID {
			t.Fatalf("round %d: %v, %v", i, got, err)
		}
	}
	forged := token[:len(token)-2] + "AA"
	if forged == token {
		forged = token[:len(token)-2] + "BB"
	}
	if _, err := p.ParseJWT(ctx, issuer, forged); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("forged signature: %v", err)
	}
	other := NewIssuer("fedcba9876543210fedcba9876543210")
	if _, err := p.ParseJWT(ctx, other, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another secret accepted the cached token: %v", err)
	}
	now = now.Add(TokenTTL + time.Second)
	if _, err := p.ParseJWT(ctx, issuer, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token: %v", err)
	}
}
