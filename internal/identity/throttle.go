package identity

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/latchkey/latchkey/internal/errs"
)

// ThrottleOptions limit token requests per client (client id or user name) and
// per source address. A zero rate takes the default; a negative rate disables
// that limit.
type ThrottleOptions struct {
	PerClient      rate.Limit // requests per second per client; default 50
	ClientBurst    int        // default 100
	PerAddress     rate.Limit // requests per second per source address; default 200
	AddressBurst   int        // default 400
	MaxTrackedKeys int        // limiters kept in memory; default 100,000
}

// DefaultThrottle is used for zero ThrottleOptions fields.
var DefaultThrottle = ThrottleOptions{PerClient: 50, ClientBurst: 100, PerAddress: 200, AddressBurst: 400, MaxTrackedKeys: 100_000}

// throttle holds one token bucket per client and per address.
type throttle struct {
	opts ThrottleOptions
	now  func() time.Time
	mu   sync.Mutex // guards buckets
	// buckets are keyed "c:" + client or "a:" + address.
	buckets map[string]*rate.Limiter
}

func newThrottle(o ThrottleOptions, now func() time.Time) *throttle {
	d := DefaultThrottle
	// Each zero field takes its default on its own: a rate with a zero burst
	// would refuse every request (and ask it to retry after rate.InfDuration).
	if o.PerClient == 0 {
		o.PerClient = d.PerClient
	}
	if o.ClientBurst <= 0 {
		o.ClientBurst = d.ClientBurst
	}
	if o.PerAddress == 0 {
		o.PerAddress = d.PerAddress
	}
	if o.AddressBurst <= 0 {
		o.AddressBurst = d.AddressBurst
	}
	if o.MaxTrackedKeys <= 0 {
		o.MaxTrackedKeys = d.MaxTrackedKeys
	}
	return &throttle{opts: o, now: now, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token from the client's and the address's buckets, or returns
// a Throttled error saying when to retry.
func (t *throttle) allow(clientID, username, addr string) error {
	client := clientID
	if username != "" {
		client = "user:" + username
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buckets) >= t.opts.MaxTrackedKeys {
		// Full buckets behave like new ones: dropping them forgets nothing.
		for k, l := range t.buckets {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(t.buckets, k)
			}
		}
	}
	var wait time.Duration
	if t.opts.PerClient > 0 && client != "" {
		wait = max(wait, t.take("c:"+client, t.opts.PerClient, t.opts.ClientBurst, now))
	}
	if t.opts.PerAddress > 0 && addr != "" {
		wait = max(wait, t.take("a:"+addr, t.opts.PerAddress, t.opts.AddressBurst, now))
	}
	if wait > 0 {
		e := oauthError(errs.Throttled, CodeTemporarilyUnavail, 50196, "too many token requests: retry after the Retry-After interval").(*errs.Error)
		e.RetryAfter = wait
		return e
	}
	return nil
}

// take returns 0 when a token was available, else how long until one is.
func (t *throttle) take(key string, r rate.Limit, burst int, now time.Time) time.Duration {
	l, ok := t.buckets[key]
	if !ok {
		l = rate.NewLimiter(r, burst)
		t.buckets[key] = l
	}
	res := l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// replayCache remembers client assertion ids until they expire, so an assertion
// is accepted once.
type replayCache struct {
	max int
	mu  sync.Mutex // guards seen
	// seen maps an assertion id to its expiry.
	seen map[string]time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: map[string]time.Time{}}
}

// firstUse records id and reports whether it was not seen before. When the
// cache is full of unexpired ids it refuses rather than forget one (which would
// allow a replay); the token throttle keeps that from happening in practice.
func (c *replayCache) firstUse(id string, expires, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[id]; dup {
		return false
	}
	if len(c.seen) >= c.max {
		for k, exp := range c.seen {
			if exp.Before(now) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return false
		}
	}
	c.seen[id] = expires
	return true
}
