package auth

import (
	"strings"
	"sync"
	"time"
)

// LoginLimiter throttles password guessing per account and per client address.
// Only failed attempts count against an account; every attempt counts against an address.
type LoginLimiter struct {
	mu          sync.Mutex
	now         func() time.Time
	accountMax  int
	accountWin  time.Duration
	addressMax  int
	addressWin  time.Duration
	accountHits map[string][]time.Time
	addressHits map[string][]time.Time
}

// NewLoginLimiter allows 10 wrong passwords per account in 15 minutes and 120 attempts per
// address per minute.
func NewLoginLimiter() *LoginLimiter {
	return &LoginLimiter{
		now:         time.Now,
		accountMax:  10,
		accountWin:  15 * time.Minute,
		addressMax:  120,
		addressWin:  time.Minute,
		accountHits: map[string][]time.Time{},
		addressHits: map[string][]time.Time{},
	}
}

func prune(hits []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(hits) && hits[i].Before(cutoff) {
		i++
	}
	return hits[i:]
}

// Allow reports whether an attempt for account from address may proceed now; when not, it
// returns how long the caller should wait. It records the attempt against the address.
func (l *LoginLimiter) Allow(account, address string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	account = strings.ToLower(strings.TrimSpace(account))
	a := prune(l.accountHits[account], now.Add(-l.accountWin))
	l.accountHits[account] = a
	if len(a) >= l.accountMax {
		return false, a[0].Add(l.accountWin).Sub(now) + time.Second
	}
	ad := prune(l.addressHits[address], now.Add(-l.addressWin))
	if len(ad) >= l.addressMax {
		l.addressHits[address] = ad
		return false, ad[0].Add(l.addressWin).Sub(now) + time.Second
	}
	l.addressHits[address] = append(ad, now)
	if len(l.addressHits) > 100000 || len(l.accountHits) > 100000 {
		l.sweep(now)
	}
	return true, 0
}

// Failed records a wrong password for account.
func (l *LoginLimiter) Failed(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	account = strings.ToLower(strings.TrimSpace(account))
	l.accountHits[account] = append(l.accountHits[account], l.now())
}

// Succeeded clears the failure count of account.
func (l *LoginLimiter) Succeeded(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.accountHits, strings.ToLower(strings.TrimSpace(account)))
}

// sweep drops expired entries so the maps stay bounded.
func (l *LoginLimiter) sweep(now time.Time) {
	for k, v := range l.accountHits {
		if v = prune(v, now.Add(-l.accountWin)); len(v) == 0 {
			delete(l.accountHits, k)
		} else {
			l.accountHits[k] = v
		}
	}
	for k, v := range l.addressHits {
		if v = prune(v, now.Add(-l.addressWin)); len(v) == 0 {
			delete(l.addressHits, k)
		} else {
			l.addressHits[k] = v
		}
	}
}
