package gateway

import (
	"fmt"
	"time"
)

// Rate limits count in a sliding window of one minute, estimated from two
// fixed windows aligned on the clock's minutes: the count of the current
// minute plus the previous minute's count weighted by the share of the
// previous minute still inside the sliding window. That needs two counters
// per limit, smooths the burst a fixed window allows at its boundary, and
// tells exactly when a refused caller may retry. Time is counted in
// milliseconds and the arithmetic is done in integers, so the instant
// Retry-After names is the one at which the call is admitted.

const (
	minuteMs = int64(time.Minute / time.Millisecond)
	// maxCount bounds a window's count, so that count*minuteMs cannot overflow.
	maxCount = 1 << 46
)

// window counts events (requests or tokens) in the current minute and the one
// before it.
type window struct {
	start      int64 // unix milliseconds of the current minute's start
	curr, prev int64
}

// msOf converts unix nanoseconds to unix milliseconds, rounding down.
func msOf(t int64) int64 { return floorDiv(t, int64(time.Millisecond)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// roll moves w to the minute holding t (unix nanoseconds). A clock that goes
// back leaves w as it is.
func (w *window) roll(t int64) {
	start := floorDiv(msOf(t), minuteMs) * minuteMs
	switch {
	case start <= w.start:
		return
	case start-w.start == minuteMs:
		w.prev = w.curr
	default:
		w.prev = 0
	}
	w.curr, w.start = 0, start
}

// add counts n more events in the current minute.
func (w *window) add(n int64) { w.curr = min(w.curr+max(n, 0), maxCount) }

// admits reports whether the count in the minute before t (unix nanoseconds,
// in w's current minute) is at most threshold (below it, when strict) and,
// if not, how long until it will be, with no more events. In units of
// events×milliseconds the estimate at d milliseconds into the minute is
// prev*(minuteMs-d) + curr*minuteMs, compared with threshold*minuteMs.
func (w *window) admits(t int64, threshold int64, strict bool) (time.Duration, bool) {
	d := msOf(t) - w.start
	within := func(v, limit int64) bool {
		if strict {
			return v < limit
		}
		return v <= limit
	}
	if within(w.prev*(minuteMs-d)+w.curr*minuteMs, threshold*minuteMs) {
		return 0, true
	}
	// The estimate falls as the previous minute slides out: find the first
	// millisecond it is within threshold, in this minute if the current
	// count alone is within it, else in the next minute (where this
	// minute's count is the previous one).
	var at int64 // milliseconds after w.start
	if within(w.curr, threshold) && w.prev > 0 {
		at = minuteMs - slack((threshold-w.curr)*minuteMs, w.prev, strict)
	} else {
		at = 2*minuteMs - slack(max(threshold, 0)*minuteMs, w.curr, strict)
	}
	wait := time.Duration(w.start+at)*time.Millisecond - time.Duration(t)
	return max(wait, time.Nanosecond), false
}

// slack is the largest number of milliseconds s for which weight*s is at
// most room (below it, when strict).
func slack(room, weight int64, strict bool) int64 {
	if strict {
		return (room+weight-1)/weight - 1
	}
	return room / weight
}

// limitKind says which limit refused a call.
type limitKind uint8

const (
	limitRequests limitKind = iota
	limitTokens
)

var limitNames = [...]string{limitRequests: "requests", limitTokens: "tokens"}

func (k limitKind) String() string { return limitNames[k] }

// overLimit says why a call was refused and when to retry.
type overLimit struct {
	limit      limitKind
	perMinute  int
	retryAfter time.Duration
}

// message is the caller-safe text of a refusal: it names the caller's key
// (key1, key2 or principal:<oid>), never a credential.
func (o *overLimit) message(account, key string) string {
	secs := int64((o.retryAfter + time.Second - 1) / time.Second)
	return fmt.Sprintf("the caller %s of account %s is over its limit of %d %s per minute: retry after %d seconds",
		key, account, o.perMinute, o.limit, secs)
}
