package auth

import (
	"strings"
	"testing"
	"time"
)

func TestNewLinkToken(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		tok, hash, err := NewLinkToken()
		if err != nil {
			t.Fatal(err)
		}
		if !PlausibleLinkToken(tok) || len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
			t.Fatalf("token %q is not 43 URL-safe characters", tok)
		}
		if hash != HashLinkToken(tok) || len(hash) != 64 || strings.Contains(hash, tok) {
			t.Fatalf("hash %q of %q", hash, tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestPlausibleLinkToken(t *testing.T) {
	tok, _, _ := NewLinkToken()
	tests := []struct {
		in   string
		want bool
	}{
		{tok, true},
		{"", false},
		{tok[:42], false},
		{tok + "A", false},
		{strings.Repeat("!", 43), false},
		{strings.Repeat("a", 42) + "/", false},
		{"' OR 1=1 --" + strings.Repeat("a", 32), false},
	}
	for _, tc := range tests {
		if got := PlausibleLinkToken(tc.in); got != tc.want {
			t.Errorf("PlausibleLinkToken(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLinkLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := NewLinkLimiter()
	l.now = func() time.Time { return now }

	// Per e-mail: five requests, then refused, whatever the case and spacing of the address.
	for i := range 5 {
		if ok, _ := l.Allow("magic", "  Ann@Example.com", "10.0.0."+string(rune('1'+i))); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, wait := l.Allow("magic", "ann@example.com", "10.0.0.9")
	if ok || wait <= 0 || wait > 16*time.Minute {
		t.Fatalf("6th request for one e-mail: ok=%v wait=%v", ok, wait)
	}
	// Another kind has its own budget.
	if ok, _ := l.Allow("reset", "ann@example.com", "10.0.0.9"); !ok {
		t.Error("reset refused because of magic-link requests")
	}
	// After the window the address may ask again.
	now = now.Add(16 * time.Minute)
	if ok, _ := l.Allow("magic", "ann@example.com", "10.0.0.9"); !ok {
		t.Error("refused after the window")
	}

	// Per client address: 30 requests for different e-mails, then refused.
	for i := range 30 {
		if ok, _ := l.Allow("magic", strings.Repeat("x", i+1)+"@example.com", "192.0.2.1"); !ok {
			t.Fatalf("address request %d refused", i+1)
		}
	}
	if ok, _ := l.Allow("magic", "fresh@example.com", "192.0.2.1"); ok {
		t.Error("31st request from one address allowed")
	}
	if ok, _ := l.Allow("magic", "fresh@example.com", "192.0.2.2"); !ok {
		t.Error("another address refused")
	}
}
