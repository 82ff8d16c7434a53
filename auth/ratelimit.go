package auth

import (
	"strings"
	"sync"
	"time"
)

// LoginLimiter throttles password guessing without letting a guesser lock the owner out.
// Wrong passwords count per (account, address) pair, per address across accounts, and per
// account across addresses:
//
//   - a pair that failed pairMax times is refused: a guesser locks out only themselves;
//   - an address that failed addressFailMax times, whatever the accounts, is refused, so one
//     address cannot sweep many accounts;
//   - an account that failed accountMax times from all addresses together (a distributed
//     guess) slows to one attempt per accountSlow from addresses that never signed in to
//     it; addresses that did (the owner's own) go on as before, held only by their pair.
//
// Every attempt also counts against its address (addressMax per addressWin), to bound load.
type LoginLimiter struct {
	mu  sync.Mutex
	now func() time.Time

	failWin        time.Duration // window of the failure counts
	pairMax        int
	addressFailMax int
	accountMax     int
	accountSlow    time.Duration
	addressMax     int
	addressWin     time.Duration
	knownFor       time.Duration // how long a successful sign-in marks an address as the owner's

	pairFails    map[string][]time.Time // by pairKey
	addressFails map[string][]time.Time
	accountFails map[string][]time.Time
	attempts     map[string][]time.Time // by address
	known        map[string]time.Time   // pairKey → last successful sign-in
	slowNext     map[string]time.Time   // account → when an unknown address may try again
}

// NewLoginLimiter allows, within 15 minutes, 10 wrong passwords per account and address, 50
// per address across accounts and 100 per account across addresses (then one attempt per 10
// seconds from addresses the account never signed in from); and 120 attempts per address
// per minute.
func NewLoginLimiter() *LoginLimiter {
	return &LoginLimiter{
		now:            time.Now,
		failWin:        15 * time.Minute,
		pairMax:        10,
		addressFailMax: 50,
		accountMax:     100,
		accountSlow:    10 * time.Second,
		addressMax:     120,
		addressWin:     time.Minute,
		knownFor:       30 * 24 * time.Hour,
		pairFails:      map[string][]time.Time{},
		addressFails:   map[string][]time.Time{},
		accountFails:   map[string][]time.Time{},
		attempts:       map[string][]time.Time{},
		known:          map[string]time.Time{},
		slowNext:       map[string]time.Time{},
	}
}

func normAccount(account string) string { return strings.ToLower(strings.TrimSpace(account)) }

func pairKey(account, address string) string { return account + "\x00" + address }

func prune(hits []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(hits) && hits[i].Before(cutoff) {
		i++
	}
	return hits[i:]
}

// over reports whether m[key] holds max or more hits within win of now (pruning it), and
// how long until the oldest of them leaves the window.
func over(m map[string][]time.Time, key string, max int, win time.Duration, now time.Time) (bool, time.Duration) {
	hits := prune(m[key], now.Add(-win))
	if len(hits) == 0 {
		delete(m, key)
	} else {
		m[key] = hits
	}
	if len(hits) < max {
		return false, 0
	}
	return true, hits[len(hits)-max].Add(win).Sub(now) + time.Second
}

// Allow reports whether an attempt for account from address may proceed now; when not, it
// returns how long the caller should wait. It records the attempt against the address.
func (l *LoginLimiter) Allow(account, address string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	account = normAccount(account)
	pk := pairKey(account, address)
	if bad, wait := over(l.pairFails, pk, l.pairMax, l.failWin, now); bad {
		return false, wait
	}
	if bad, wait := over(l.addressFails, address, l.addressFailMax, l.failWin, now); bad {
		return false, wait
	}
	if bad, wait := over(l.attempts, address, l.addressMax, l.addressWin, now); bad {
		return false, wait
	}
	if bad, _ := over(l.accountFails, account, l.accountMax, l.failWin, now); bad && !l.isKnown(pk, now) {
		if next := l.slowNext[account]; now.Before(next) {
			return false, next.Sub(now) + time.Second
		}
		l.slowNext[account] = now.Add(l.accountSlow)
	}
	l.attempts[address] = append(l.attempts[address], now)
	if len(l.attempts)+len(l.pairFails)+len(l.accountFails)+len(l.known) > 200000 {
		l.sweep(now)
	}
	return true, 0
}

func (l *LoginLimiter) isKnown(pk string, now time.Time) bool {
	at, ok := l.known[pk]
	return ok && now.Sub(at) < l.knownFor
}

// Failed records a wrong password for account from address.
func (l *LoginLimiter) Failed(account, address string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	account = normAccount(account)
	pk := pairKey(account, address)
	l.pairFails[pk] = append(l.pairFails[pk], now)
	l.addressFails[address] = append(l.addressFails[address], now)
	l.accountFails[account] = append(l.accountFails[account], now)
}

// Succeeded records a correct password for account from address: the pair's failures are
// cleared and the address counts as the owner's from now on.
func (l *LoginLimiter) Succeeded(account, address string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pk := pairKey(normAccount(account), address)
	delete(l.pairFails, pk)
	l.known[pk] = l.now()
}

// ClearAccount forgets every failure against account (after its password was reset, the
// old guesses mean nothing).
func (l *LoginLimiter) ClearAccount(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	account = normAccount(account)
	delete(l.accountFails, account)
	delete(l.slowNext, account)
	prefix := account + "\x00"
	for k := range l.pairFails {
		if strings.HasPrefix(k, prefix) {
			delete(l.pairFails, k)
		}
	}
}

// sweep drops expired entries so the maps stay bounded.
func (l *LoginLimiter) sweep(now time.Time) {
	for _, m := range []struct {
		hits map[string][]time.Time
		win  time.Duration
	}{{l.pairFails, l.failWin}, {l.addressFails, l.failWin}, {l.accountFails, l.failWin}, {l.attempts, l.addressWin}} {
		for k, v := range m.hits {
			if v = prune(v, now.Add(-m.win)); len(v) == 0 {
				delete(m.hits, k)
			} else {
				m.hits[k] = v
			}
		}
	}
	for k, at := range l.known {
		if now.Sub(at) >= l.knownFor {
			delete(l.known, k)
		}
	}
	for k, next := range l.slowNext {
		if !now.Before(next) {
			delete(l.slowNext, k)
		}
	}
}
