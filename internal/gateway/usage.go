package gateway

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// AccountUsage is what an account's callers used since the process started:
// the sums over Callers, and each caller key's own figures.
type AccountUsage struct {
	Account          string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Callers          []CallerUsage // one per Caller.Key, sorted by Key
}

// CallerUsage is what one caller key of an account used. Requests counts the
// calls admitted and forwarded (whatever the upstream answered); tokens are
// those the upstream reported in its answers' usage fields.
type CallerUsage struct {
	Key              string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	LastUsed         time.Time
}

// Usage returns the usage metered for account in this process: per account,
// and per (account, caller key). An account without calls has zero figures.
// Usage is kept in memory and starts from zero when the process starts.
func (g *Gateway) Usage(account string) AccountUsage {
	u := AccountUsage{Account: account}
	for _, c := range g.meter.callersOf(account) {
		cu := CallerUsage{
			Key:              c.key,
			Requests:         c.requests.Load(),
			PromptTokens:     c.prompt.Load(),
			CompletionTokens: c.completion.Load(),
		}
		if ns := c.lastUsed.Load(); ns != 0 {
			cu.LastUsed = time.Unix(0, ns).UTC()
		}
		u.Requests += cu.Requests
		u.PromptTokens += cu.PromptTokens
		u.CompletionTokens += cu.CompletionTokens
		u.Callers = append(u.Callers, cu)
	}
	slices.SortFunc(u.Callers, func(a, b CallerUsage) int { return cmp.Compare(a.Key, b.Key) })
	return u
}

// tokenUsage is what an answer's usage field reported.
type tokenUsage struct {
	prompt, completion int64
}

// callerID names a caller: a key within an account.
type callerID struct{ account, key string }

// meterShards spreads callers over this many maps, each with its own lock, so
// that concurrent calls of different callers rarely meet.
const meterShards = 32

// meter holds the state of every caller seen: counters and limit windows.
type meter struct {
	seed   maphash.Seed
	shards [meterShards]meterShard
}

type meterShard struct {
	mu sync.RWMutex // guards callers
	m  map[callerID]*callerState
}

func newMeter() *meter {
	m := &meter{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[callerID]*callerState)
	}
	return m
}

// caller returns the state of (account, key), creating it on first use.
func (m *meter) caller(account, key string) *callerState {
	id := callerID{account, key}
	sh := &m.shards[maphash.Comparable(m.seed, id)%meterShards]
	sh.mu.RLock()
	c := sh.m[id]
	sh.mu.RUnlock()
	if c != nil {
		return c
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c = sh.m[id]; c == nil {
		c = &callerState{account: account, key: key}
		sh.m[id] = c
	}
	return c
}

// callersOf returns the states of account's callers.
func (m *meter) callersOf(account string) []*callerState {
	var out []*callerState
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for id, c := range sh.m {
			if id.account == account {
				out = append(out, c)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// callerState is one caller's counters (atomic) and limit windows.
type callerState struct {
	account, key string

	requests, prompt, completion atomic.Int64
	lastUsed                     atomic.Int64 // unix nanoseconds of the last admitted call

	mu     sync.Mutex // guards the windows
	reqs   window     // requests admitted
	tokens window     // tokens charged
}

// admit counts a call against c's request window if lim allows it, or tells
// which limit refused it and when to retry. A call is refused when it would
// exceed the requests per minute, or when the tokens already charged in the
// last minute reach the tokens per minute.
func (c *callerState) admit(now time.Time, lim Limits) *overLimit {
	t := now.UnixNano()
	c.mu.Lock()
	c.reqs.roll(t)
	c.tokens.roll(t)
	if lim.RequestsPerMinute > 0 {
		if wait, ok := c.reqs.admits(t, int64(lim.RequestsPerMinute-1), false); !ok {
			c.mu.Unlock()
			return &overLimit{limit: limitRequests, perMinute: lim.RequestsPerMinute, retryAfter: wait}
		}
	}
	if lim.TokensPerMinute > 0 {
		if wait, ok := c.tokens.admits(t, int64(lim.TokensPerMinute), true); !ok {
			c.mu.Unlock()
			return &overLimit{limit: limitTokens, perMinute: lim.TokensPerMinute, retryAfter: wait}
		}
	}
	c.reqs.add(1)
	c.mu.Unlock()
	c.requests.Add(1)
	c.lastUsed.Store(t)
	return nil
}

// charge adds the tokens of an answer to c's counters and token window.
func (c *callerState) charge(now time.Time, u tokenUsage) {
	c.prompt.Add(u.prompt)
	c.completion.Add(u.completion)
	t := now.UnixNano()
	c.mu.Lock()
	c.tokens.roll(t)
	c.tokens.add(u.prompt + u.completion)
	c.mu.Unlock()
}
