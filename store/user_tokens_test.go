package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLinkTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		u := mustCreateUser(t, s, &User{Email: "link@example.com", PasswordHash: "old"})

		if err := s.SetLinkToken(ctx, "no-such-user", LinkMagic, "h"); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetLinkToken(unknown user) = %v, want ErrNotFound", err)
		}
		if err := s.SetLinkToken(ctx, u.ID, LinkPurpose("bogus"), "h"); err == nil {
			t.Error("SetLinkToken(bogus purpose) succeeded")
		}
		if err := s.SetLinkToken(ctx, u.ID, LinkMagic, ""); err == nil {
			t.Error("SetLinkToken(empty hash) succeeded")
		}

		// A magic link, peeked, then used once.
		if err := s.SetLinkToken(ctx, u.ID, LinkMagic, "m1"); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			purpose LinkPurpose
			hash    string
			want    error
		}{
			{"right purpose and hash", LinkMagic, "m1", nil},
			{"wrong hash", LinkMagic, "m2", ErrNotFound},
			{"same hash, other purpose sharing the column", LinkReset, "m1", ErrNotFound},
			{"same hash, setup column", LinkSetup, "m1", ErrNotFound},
		}
		for _, tc := range tests {
			got, err := s.LinkTokenUser(ctx, tc.purpose, tc.hash, time.Hour)
			if !errors.Is(err, tc.want) || (tc.want == nil && (got == nil || got.ID != u.ID)) {
				t.Errorf("%s: LinkTokenUser = %v, %v; want %v", tc.name, got, err, tc.want)
			}
		}
		got, err := s.ConsumeLinkToken(ctx, LinkMagic, "m1", time.Hour, "")
		if err != nil || got.ID != u.ID || got.PasswordHash != "old" {
			t.Fatalf("ConsumeLinkToken = %+v, %v", got, err)
		}
		if _, err := s.ConsumeLinkToken(ctx, LinkMagic, "m1", time.Hour, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("second use = %v, want ErrNotFound", err)
		}
		if _, err := s.LinkTokenUser(ctx, LinkMagic, "m1", time.Hour); !errors.Is(err, ErrNotFound) {
			t.Errorf("peek after use = %v, want ErrNotFound", err)
		}

		// A newer reset link replaces an older magic link (they share reset_token).
		if err := s.SetLinkToken(ctx, u.ID, LinkMagic, "m3"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetLinkToken(ctx, u.ID, LinkReset, "r1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConsumeLinkToken(ctx, LinkMagic, "m3", time.Hour, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("replaced magic link = %v, want ErrNotFound", err)
		}
		// A setup link is independent of the reset column.
		if err := s.SetLinkToken(ctx, u.ID, LinkSetup, "s1"); err != nil {
			t.Fatal(err)
		}
		got, err = s.ConsumeLinkToken(ctx, LinkReset, "r1", time.Hour, "new-hash")
		if err != nil || got.PasswordHash != "new-hash" {
			t.Fatalf("reset = %+v, %v", got, err)
		}
		fresh, err := s.GetUserByID(ctx, u.ID)
		if err != nil || fresh.PasswordHash != "new-hash" || fresh.ResetToken != "" || fresh.ResetTokenCreated != nil {
			t.Errorf("after reset: %+v, %v", fresh, err)
		}
		if fresh.SetupToken != "setup:s1" {
			t.Errorf("setup token = %q, want the stored hash kept", fresh.SetupToken)
		}
	})
}

func TestLinkTokenExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		u := mustCreateUser(t, s, &User{Email: "old@example.com", PasswordHash: "keep"})
		// Backdate the link by rewriting its creation time.
		old := time.Now().UTC().Add(-2 * time.Hour)
		u.ResetToken, u.ResetTokenCreated = LinkReset.stored("r"), &old
		if err := s.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LinkTokenUser(ctx, LinkReset, "r", time.Hour); !errors.Is(err, ErrLinkExpired) {
			t.Errorf("peek expired = %v, want ErrLinkExpired", err)
		}
		if _, err := s.LinkTokenUser(ctx, LinkReset, "r", 3*time.Hour); err != nil {
			t.Errorf("peek within a longer lifetime = %v", err)
		}
		if _, err := s.ConsumeLinkToken(ctx, LinkReset, "r", time.Hour, "new"); !errors.Is(err, ErrLinkExpired) {
			t.Errorf("consume expired = %v, want ErrLinkExpired", err)
		}
		fresh, _ := s.GetUserByID(ctx, u.ID)
		if fresh.PasswordHash != "keep" || fresh.ResetToken != "" {
			t.Errorf("expired link changed the password or was kept: %+v", fresh)
		}
	})
}

// TestLinkTokenSingleUseConcurrent: of many simultaneous uses of one link exactly one wins.
func TestLinkTokenSingleUseConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		u := mustCreateUser(t, s, &User{Email: "race@example.com"})
		if err := s.SetLinkToken(ctx, u.ID, LinkMagic, "once"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, misses := 0, 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.ConsumeLinkToken(ctx, LinkMagic, "once", time.Hour, "")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrNotFound):
					misses++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || misses != 7 {
			t.Errorf("wins=%d misses=%d, want 1 and 7", wins, misses)
		}
	})
}
