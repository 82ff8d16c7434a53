package auth

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a settable time source.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestLimiter() (*LoginLimiter, *fakeClock) {
	l := NewLoginLimiter()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.now = clk.now
	return l, clk
}

// fail makes n wrong-password attempts for account from address, each allowed.
func fail(t *testing.T, l *LoginLimiter, account, address string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if ok, _ := l.Allow(account, address); !ok {
			t.Fatalf("attempt %d for %s from %s refused too early", i, account, address)
		}
		l.Failed(account, address)
	}
}

func TestLoginLimiterLocksOnlyTheGuessingAddress(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter()
	fail(t, l, "victim@example.com", "198.51.100.7", 10)
	if ok, wait := l.Allow("Victim@Example.com", "198.51.100.7"); ok || wait <= 0 {
		t.Fatalf("the guessing address may go on: %v %v", ok, wait)
	}
	// The owner, from another address, is not locked out.
	if ok, _ := l.Allow("victim@example.com", "203.0.113.5"); !ok {
		t.Fatal("the owner's address is locked out by someone else's guesses")
	}
	// The lock ends with the window.
	clk.t = clk.t.Add(16 * time.Minute)
	if ok, _ := l.Allow("victim@example.com", "198.51.100.7"); !ok {
		t.Fatal("the pair lock does not expire")
	}
}

func TestLoginLimiterAddressAcrossAccounts(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter()
	for i := 0; i < 5; i++ {
		fail(t, l, fmt.Sprintf("user%d@example.com", i), "198.51.100.7", 10)
	}
	if ok, _ := l.Allow("user9@example.com", "198.51.100.7"); ok {
		t.Fatal("an address that failed 50 times across accounts may try yet another account")
	}
	if ok, _ := l.Allow("user9@example.com", "203.0.113.5"); !ok {
		t.Fatal("another address is refused")
	}
}

func TestLoginLimiterDistributedGuessingSlowsButSparesTheOwner(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter()
	const victim = "victim@example.com"
	// The owner signed in from home earlier.
	if ok, _ := l.Allow(victim, "203.0.113.5"); !ok {
		t.Fatal("first sign-in refused")
	}
	l.Succeeded(victim, "203.0.113.5")
	// 100 wrong passwords from 20 addresses, 5 each: no pair or address limit is reached.
	for i := 0; i < 20; i++ {
		fail(t, l, victim, fmt.Sprintf("198.51.100.%d", i), 5)
	}
	// Unknown addresses now get one attempt per 10 seconds between them.
	if ok, _ := l.Allow(victim, "192.0.2.1"); !ok {
		t.Fatal("the first slowed attempt is refused")
	}
	l.Failed(victim, "192.0.2.1")
	if ok, wait := l.Allow(victim, "192.0.2.2"); ok || wait <= 0 {
		t.Fatalf("a second unknown address right away: %v %v", ok, wait)
	}
	// The owner's own address is not slowed: ten attempts in a row all go through.
	for i := 0; i < 10; i++ {
		if ok, _ := l.Allow(victim, "203.0.113.5"); !ok {
			t.Fatalf("the owner's known address was refused at attempt %d", i)
		}
	}
	clk.t = clk.t.Add(11 * time.Second)
	if ok, _ := l.Allow(victim, "192.0.2.2"); !ok {
		t.Fatal("the slowed account never lets an unknown address try again")
	}
}

func TestLoginLimiterSuccessAndReset(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter()
	fail(t, l, "a@example.com", "198.51.100.7", 9)
	l.Succeeded("a@example.com", "198.51.100.7")
	fail(t, l, "a@example.com", "198.51.100.7", 9) // the count started over
	fail(t, l, "a@example.com", "198.51.100.7", 1)
	if ok, _ := l.Allow("a@example.com", "198.51.100.7"); ok {
		t.Fatal("ten failures after the success do not lock the pair")
	}
	l.ClearAccount("A@example.com")
	if ok, _ := l.Allow("a@example.com", "198.51.100.7"); !ok {
		t.Fatal("ClearAccount leaves the pair locked")
	}
}

func TestLoginLimiterAttemptsPerAddress(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter()
	for i := 0; i < 120; i++ {
		if ok, _ := l.Allow(fmt.Sprintf("u%d@example.com", i), "198.51.100.7"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if ok, _ := l.Allow("x@example.com", "198.51.100.7"); ok {
		t.Fatal("attempt 121 within a minute is allowed")
	}
}
