package identity

import "sync/atomic"

// The ways a token is asked for, as Stats and audit events name them: a
// bounded set, so that metrics may use them as labels.
const (
	MethodClientSecret    = "client_secret"    // client_credentials with a client secret
	MethodClientAssertion = "client_assertion" // client_credentials with a certificate or federated assertion
	MethodPassword        = "password"         // the password grant (users)
	MethodManagedIdentity = "managed_identity" // IssueFor: a managed identity's token, for an operator allowed to assign it
)

// tokenMethods are the methods in the order of Stats.Tokens.
var tokenMethods = [...]string{MethodClientSecret, MethodClientAssertion, MethodPassword, MethodManagedIdentity}

const (
	methodClientSecret = iota
	methodClientAssertion
	methodPassword
	methodManagedIdentity
)

// Method returns how r asks for its token: MethodPassword,
// MethodClientAssertion or MethodClientSecret.
func (r TokenRequest) Method() string { return tokenMethods[r.method()] }

func (r TokenRequest) method() int {
	switch {
	case r.GrantType == GrantPassword:
		return methodPassword
	case r.ClientAssertion != "":
		return methodClientAssertion
	}
	return methodClientSecret
}

// Stats is a snapshot of the token service's counters, for metrics: the HTTP
// layer exports them (identity knows nothing of Prometheus). Counts start at
// zero when the Service is built and only grow.
type Stats struct {
	// Tokens counts tokens issued and requests refused, one entry per
	// method, in a fixed order. Requests the HTTP layer rejects as malformed
	// before they reach Token are not counted here.
	Tokens []TokenStats
	// VerifyCacheHits and VerifyCacheMisses count Verify's lookups of a
	// token in the cache of verified tokens: a miss costs a signature check.
	VerifyCacheHits, VerifyCacheMisses uint64
	// VerifyCacheEntries is how many verified tokens the cache holds now.
	VerifyCacheEntries int
}

// TokenStats counts one method's token requests by their answer.
type TokenStats struct {
	Method          string // one of the Method constants
	Issued, Refused uint64
}

// paddedCounter is a counter alone on its cache lines, so that the counters
// every request bumps do not slow each other down.
type paddedCounter struct {
	atomic.Uint64
	_ [120]byte
}

// tokenCounters count token requests by method and answer, without locks.
type tokenCounters struct {
	issued, refused [len(tokenMethods)]atomic.Uint64
}

// count records the answer to a request of method m.
func (c *tokenCounters) count(m int, err error) {
	if err != nil {
		c.refused[m].Add(1)
		return
	}
	c.issued[m].Add(1)
}

// Stats returns a snapshot of the counters. They are read one at a time
// while requests are served, so they may disagree by one.
func (s *Service) Stats() Stats {
	st := Stats{Tokens: make([]TokenStats, len(tokenMethods))}
	for i, m := range tokenMethods {
		st.Tokens[i] = TokenStats{Method: m, Issued: s.tokens.issued[i].Load(), Refused: s.tokens.refused[i].Load()}
	}
	st.VerifyCacheHits, st.VerifyCacheMisses, st.VerifyCacheEntries = s.verified.stats()
	return st
}
