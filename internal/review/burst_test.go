package review

import (
	"net/netip"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
)

func TestBursts(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	// at returns n times every apart from start.
	at := func(start time.Time, n int, every time.Duration) []time.Time {
		var ts []time.Time
		for i := range n {
			ts = append(ts, start.Add(time.Duration(i)*every))
		}
		return ts
	}
	cases := []struct {
		name  string
		times []time.Time
		burst time.Time // zero: none
	}{
		{"20 within exactly 5 minutes", at(t0, 20, 5*time.Minute/19), t0},
		{"20 within 5 minutes and a microsecond", append(at(t0, 19, time.Second), t0.Add(5*time.Minute+time.Microsecond)), time.Time{}},
		{"19 within a second", at(t0, 19, time.Millisecond), time.Time{}},
		{"slow, then fast: the ring wraps", append(at(t0, 30, time.Minute), at(t0.Add(time.Hour), 20, time.Second)...), t0.Add(time.Hour)},
		// 30 every 20 s, then from 590 s one a second: the fifth fast one
		// (594 s) is within 5 minutes of the slow one at 300 s, 19 back.
		{"slow, then fast joining the last slow ones", append(at(t0, 30, 20*time.Second), at(t0.Add(590*time.Second), 10, time.Second)...), t0.Add(5 * time.Minute)},
	}
	for _, tc := range cases {
		b := newBursts(20, 5*time.Minute, 10)
		for _, ts := range tc.times {
			b.add(&audit.Event{Time: ts, PrincipalID: "p", Result: audit.Denied})
		}
		d := b.m[burstKey{principal: "p"}]
		if !d.burst.Equal(tc.burst) || d.count != len(tc.times) {
			t.Errorf("%s: burst from %v after %d denials, want from %v after %d", tc.name, d.burst, d.count, tc.burst, len(tc.times))
		}
	}
}

// TestBurstsBound: a full map forgets keys that can no longer burst, and
// stops taking keys when that frees too little.
func TestBurstsBound(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	b := newBursts(3, 5*time.Minute, 4)
	for i := range 4 {
		b.add(&audit.Event{Time: t0, ClientIP: addr(i)})
	}
	// An hour later, the four old keys cannot burst any more: room again.
	for i := 4; i < 8; i++ {
		b.add(&audit.Event{Time: t0.Add(time.Hour), ClientIP: addr(i)})
	}
	if len(b.m) != 4 || b.dropped || b.saturated {
		t.Fatalf("after a sweep: %d keys, dropped %v, saturated %v; want the 4 new keys", len(b.m), b.dropped, b.saturated)
	}
	// A minute later nothing can be forgotten: the new key is dropped.
	b.add(&audit.Event{Time: t0.Add(time.Hour + time.Minute), ClientIP: addr(9)})
	if !b.dropped || !b.saturated || len(b.m) != 4 {
		t.Errorf("full map of recent keys: %d keys, dropped %v, saturated %v; want the key dropped", len(b.m), b.dropped, b.saturated)
	}
	// Known keys still count.
	for range 3 {
		b.add(&audit.Event{Time: t0.Add(time.Hour + 2*time.Minute), ClientIP: addr(5)})
	}
	if d := b.m[burstKey{addr: addr(5)}]; d.burst.IsZero() || d.count != 4 {
		t.Errorf("a tracked key in a full map: %+v, want a burst after 4 denials", d)
	}
}
