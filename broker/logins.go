package broker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LoginLimits bounds how fast one address may guess the platform's password: each failed
// login with credentials that address has not just failed with takes a token from the
// address's bucket, which holds Failures tokens and gets one back every Interval; an
// address with none left is refused until its next one. Zero values take
// DefaultLoginFailures and DefaultLoginInterval.
type LoginLimits struct {
	Failures int
	Interval time.Duration
}

// recentFailures is how many of an address's last failed credentials are remembered, so that
// sending one of them again is no new guess.
const recentFailures = 4

// loginLimiter is the failed-login bucket of every address that failed lately, at most
// MaxLoginAddresses of them. It keeps no credential: a failed one is remembered as a keyed
// hash (HMAC-SHA-256 under a key of the process, cut to 64 bits).
type loginLimiter struct {
	burst    float64
	interval time.Duration
	now      func() time.Time
	key      []byte

	mu    sync.Mutex
	addrs map[netip.Prefix]*loginBucket
}

// loginBucket is one address's tokens as of at, and the credentials it failed with last.
type loginBucket struct {
	tokens float64
	at     time.Time
	recent [recentFailures]uint64
	next   int
}

func newLoginLimiter(limits LoginLimits, now func() time.Time) *loginLimiter {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &loginLimiter{
		burst:    float64(orDefault(limits.Failures, DefaultLoginFailures)),
		interval: orDefault(limits.Interval, DefaultLoginInterval),
		now:      now,
		key:      key,
		addrs:    map[netip.Prefix]*loginBucket{},
	}
}

// loginAddress is what the limiter counts failures by: the remote address of the
// connection (never a header a client may set), an IPv6 address by its /64, which one host
// usually has to itself.
func loginAddress(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	prefix, _ := addr.Prefix(bits)
	return prefix
}

// wait is how long addr must wait before the broker looks at its credentials again: zero
// while its bucket holds a token.
func (l *loginLimiter) wait(addr netip.Prefix) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.addrs[addr]
	if b == nil {
		return 0
	}
	l.refill(b, l.now())
	if b.tokens >= l.burst {
		delete(l.addrs, addr) // back where a new address starts
		return 0
	}
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.interval))
}

// failed records a failed login of addr with the credentials user and password, and
// reports whether it took the address's last token. Credentials that are among the
// address's last failures take none: a client with a stale password that keeps trying it
// guesses nothing, and must not use up the allowance of the others behind its address.
func (l *loginLimiter) failed(addr netip.Prefix, user, password string) (throttled bool) {
	mac := hmac.New(sha256.New, l.key)
	_, _ = mac.Write([]byte(user))
	_, _ = mac.Write([]byte{0})
	_, _ = mac.Write([]byte(password))
	sum := binary.BigEndian.Uint64(mac.Sum(nil))

	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.addrs[addr]
	if b == nil {
		if len(l.addrs) >= MaxLoginAddresses {
			l.evict(now)
		}
		b = &loginBucket{tokens: l.burst, at: now}
		l.addrs[addr] = b
	}
	l.refill(b, now)
	for _, r := range b.recent {
		if r == sum {
			return false
		}
	}
	b.recent[b.next] = sum
	b.next = (b.next + 1) % recentFailures
	b.tokens = math.Max(0, b.tokens-1)
	return b.tokens < 1
}

func (l *loginLimiter) refill(b *loginBucket, now time.Time) {
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(elapsed)/float64(l.interval))
	}
	b.at = now
}

// evict makes room in a full table: it drops every address whose bucket has filled up again
// (it holds nothing a new bucket would not), and when there is none, the one closest to full,
// so that a flood of new addresses frees the least throttled first.
func (l *loginLimiter) evict(now time.Time) {
	var fullest netip.Prefix
	most := -1.0
	for addr, b := range l.addrs {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.addrs, addr)
			continue
		}
		if b.tokens > most {
			fullest, most = addr, b.tokens
		}
	}
	if len(l.addrs) >= MaxLoginAddresses {
		delete(l.addrs, fullest)
	}
}

// size is how many addresses the table holds.
func (l *loginLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}
