package store

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var patShape = regexp.MustCompile(`^da_pat_[0-9A-Za-z]{40}$`)

func TestPersonalTokenLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		exp := time.Now().Add(48 * time.Hour)
		tok, plain, err := s.CreatePersonalToken(ctx, "u1", " laptop ", "", &exp)
		if err != nil {
			t.Fatal(err)
		}
		if !patShape.MatchString(plain) || tok.Prefix != plain[:PATPrefixLen] || tok.Scope != ScopeFull || tok.Name != "laptop" {
			t.Fatalf("token %q %+v", plain, tok)
		}
		// Only the hash is stored.
		var stored, hash string
		if err := s.DB.QueryRow(`SELECT token_hash, prefix FROM personal_access_tokens WHERE id = ?`, tok.ID).Scan(&hash, &stored); err != nil {
			t.Fatal(err)
		}
		if hash != HashToken(plain) || strings.Contains(hash, plain[len(PATPrefix):]) || len(hash) != 64 {
			t.Errorf("stored hash %q", hash)
		}
		found, err := s.FindPersonalToken(ctx, plain)
		if err != nil || found.ID != tok.ID || found.LastUsedAt != nil || !found.Usable(time.Now()) || found.Usable(exp.Add(time.Second)) {
			t.Fatalf("find: %+v %v", found, err)
		}
		for _, bad := range []string{"", "da_pat_", plain + "x", strings.ToUpper(plain), "Bearer " + plain, "eyJ.x.y"} {
			if _, err := s.FindPersonalToken(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("find %q: %v", bad, err)
			}
		}
		// Touch is throttled to once per PATTouchInterval.
		now := time.Now()
		if wrote, err := s.TouchPersonalToken(ctx, found, now); !wrote || err != nil {
			t.Errorf("first touch: %v %v", wrote, err)
		}
		if wrote, _ := s.TouchPersonalToken(ctx, found, now.Add(30*time.Second)); wrote {
			t.Error("touch within a minute wrote")
		}
		stale, _ := s.FindPersonalToken(ctx, plain) // a second request that read the row earlier
		stale.LastUsedAt = nil
		if wrote, _ := s.TouchPersonalToken(ctx, stale, now.Add(30*time.Second)); wrote {
			t.Error("database-side throttle missed")
		}
		if wrote, _ := s.TouchPersonalToken(ctx, found, now.Add(2*time.Minute)); !wrote {
			t.Error("touch after two minutes did not write")
		}
		again, _ := s.FindPersonalToken(ctx, plain)
		if again.LastUsedAt == nil || again.LastUsedAt.Sub(now) < time.Minute {
			t.Errorf("last_used_at = %v", again.LastUsedAt)
		}

		_, plain2, err := s.CreatePersonalToken(ctx, "u1", "ci", ScopeRead, nil)
		if err != nil || plain2 == plain {
			t.Fatal(err)
		}
		if _, _, err := s.CreatePersonalToken(ctx, "u1", "x", "admin", nil); err == nil {
			t.Error("bad scope accepted")
		}
		if _, _, err := s.CreatePersonalToken(ctx, "u1", "  ", "", nil); err == nil {
			t.Error("empty name accepted")
		}
		list, err := s.ListPersonalTokens(ctx, "u1")
		if err != nil || len(list) != 2 || list[0].Name != "ci" || list[0].ExpiresAt != nil {
			t.Fatalf("list: %+v %v", list, err)
		}
		if other, _ := s.ListPersonalTokens(ctx, "u2"); len(other) != 0 {
			t.Errorf("u2 sees %v", other)
		}
		if err := s.RevokePersonalToken(ctx, "u2", tok.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke by another user: %v", err)
		}
		if err := s.RevokePersonalToken(ctx, "u1", tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokePersonalToken(ctx, "u1", tok.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke twice: %v", err)
		}
		gone, err := s.FindPersonalToken(ctx, plain)
		if err != nil || gone.RevokedAt == nil || gone.Usable(time.Now()) {
			t.Errorf("revoked token: %+v %v", gone, err)
		}
		if list, _ := s.ListPersonalTokens(ctx, "u1"); len(list) != 1 {
			t.Errorf("list after revoke: %v", list)
		}
	})
}

func TestRandomBase62(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		s, err := randomBase62(40)
		if err != nil || len(s) != 40 || seen[s] {
			t.Fatalf("%q %v", s, err)
		}
		seen[s] = true
		for _, r := range s {
			counts[r]++
		}
	}
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want 62", len(counts))
	}
	// 80,000 draws, 1290 expected per character; a biased generator would be far off.
	for r, n := range counts {
		if n < 1000 || n > 1600 {
			t.Errorf("character %q drawn %d times", r, n)
		}
	}
}
