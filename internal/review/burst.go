package review

import (
	"net/netip"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
)

// This file finds bursts of denials: at least BurstDenials denied requests
// by one principal, or from one client address, within BurstWindow. Each
// key keeps the times of its last BurstDenials denials in a ring, so a
// burst is found in O(1) per event, in the order of the trail.

// burstKey is a principal or an address; one of the two is set.
type burstKey struct {
	principal string
	addr      netip.Addr
}

// denials is one key's recent denials.
type denials struct {
	ring  []int64 // unix µs of the last denials, up to the threshold
	next  int     // once the ring is full: where the oldest is, and the next goes
	count int     // denials in the period (since the key was last tracked)
	first time.Time
	last  time.Time
	burst time.Time // the start of the first burst; zero while none
	name  string    // the principal's name at the time, for people
}

// bursts tracks denials by key, for at most max keys.
type bursts struct {
	threshold int
	window    int64 // µs
	max       int
	saturated bool // a sweep freed too little: new keys are no longer tracked
	dropped   bool // a key was not tracked
	m         map[burstKey]*denials
}

func newBursts(threshold int, window time.Duration, max int) *bursts {
	return &bursts{threshold: threshold, window: window.Microseconds(), max: max, m: map[burstKey]*denials{}}
}

// add counts a denied event against its principal and its address.
func (b *bursts) add(e *audit.Event) {
	if e.PrincipalID != "" {
		b.count(burstKey{principal: e.PrincipalID}, e)
	}
	if e.ClientIP.IsValid() {
		b.count(burstKey{addr: e.ClientIP}, e)
	}
}

func (b *bursts) count(k burstKey, e *audit.Event) {
	d := b.m[k]
	if d == nil {
		if len(b.m) >= b.max && !b.sweep(e.Time) {
			b.dropped = true
			return
		}
		d = &denials{ring: make([]int64, 0, b.threshold), first: e.Time}
		b.m[k] = d
	}
	d.count++
	d.last, d.name = e.Time, e.PrincipalName
	us := e.Time.UnixMicro()
	if len(d.ring) < b.threshold {
		d.ring = append(d.ring, us)
	} else {
		d.ring[d.next] = us
		d.next = (d.next + 1) % b.threshold
	}
	if d.burst.IsZero() && len(d.ring) == b.threshold {
		if oldest := d.ring[d.next]; us-oldest <= b.window {
			d.burst = time.UnixMicro(oldest).UTC()
		}
	}
}

// sweep forgets keys with no burst whose last denial is older than the
// window before now: no later denial can make a burst with theirs. It
// reports whether there is room for a new key; when a sweep frees less than
// a quarter of the map, later ones are not tried, so that a full map costs
// O(1) per event rather than a sweep each.
func (b *bursts) sweep(now time.Time) bool {
	if b.saturated {
		return false
	}
	before := len(b.m)
	cutoff := now.UnixMicro() - b.window
	for k, d := range b.m {
		if d.burst.IsZero() && d.last.UnixMicro() < cutoff {
			delete(b.m, k)
		}
	}
	if before-len(b.m) < b.max/4 {
		b.saturated = true
	}
	return len(b.m) < b.max
}
