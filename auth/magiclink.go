package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// Lifetimes of e-mailed one-time links.
const (
	// MagicLinkTTL is how long an e-mailed sign-in link works.
	MagicLinkTTL = time.Hour
	// ResetLinkTTL is how long a password-reset link works.
	ResetLinkTTL = time.Hour
	// SetupLinkTTL is how long an invited user's password set-up link works.
	SetupLinkTTL = 7 * 24 * time.Hour
)

// linkTokenBytes is the entropy of a link token: 256 bits, so guessing is hopeless and the
// links need no rate limit of their own.
const linkTokenBytes = 32

// NewLinkToken returns a fresh one-time link token (43 URL-safe characters) to put in an
// e-mail, and its hash, which is what the database stores.
func NewLinkToken() (token, hash string, err error) {
	b := make([]byte, linkTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashLinkToken(token), nil
}

// HashLinkToken is the stored form of a link token: hex SHA-256. A fast hash is enough
// because the token itself carries 256 random bits.
func HashLinkToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// PlausibleLinkToken reports whether s could be a token from NewLinkToken, so that junk is
// refused before it reaches the database.
func PlausibleLinkToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// LinkLimiter throttles requests for e-mailed links, per e-mail address and per client
// address, so that the server cannot be used to flood a mailbox or to send mail in bulk.
// Requests count whether or not the address has an account, so a refusal reveals nothing.
type LinkLimiter struct {
	mu         sync.Mutex
	now        func() time.Time
	emailMax   int
	addressMax int
	window     time.Duration
	emailHits  map[string][]time.Time
	addrHits   map[string][]time.Time
}

// NewLinkLimiter allows 5 link requests per e-mail address and 30 per client address in
// 15 minutes.
func NewLinkLimiter() *LinkLimiter {
	return &LinkLimiter{
		now:        time.Now,
		emailMax:   5,
		addressMax: 30,
		window:     15 * time.Minute,
		emailHits:  map[string][]time.Time{},
		addrHits:   map[string][]time.Time{},
	}
}

// Allow records a request of kind (e.g. "magic", "reset") for email from address and
// reports whether it may proceed; when not, it returns how long to wait.
func (l *LinkLimiter) Allow(kind, email, address string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	cutoff := now.Add(-l.window)
	key := kind + "\x00" + strings.ToLower(strings.TrimSpace(email))
	ad := prune(l.addrHits[address], cutoff)
	l.addrHits[address] = ad
	if len(ad) >= l.addressMax {
		return false, ad[0].Add(l.window).Sub(now) + time.Second
	}
	em := prune(l.emailHits[key], cutoff)
	l.emailHits[key] = em
	if len(em) >= l.emailMax {
		return false, em[0].Add(l.window).Sub(now) + time.Second
	}
	l.addrHits[address] = append(ad, now)
	l.emailHits[key] = append(em, now)
	if len(l.emailHits) > 100000 || len(l.addrHits) > 100000 {
		for _, m := range []map[string][]time.Time{l.emailHits, l.addrHits} {
			for k, v := range m {
				if v = prune(v, cutoff); len(v) == 0 {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
		}
	}
	return true, 0
}
