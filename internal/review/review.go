// Package review owns the access review: findings about identities, role
// assignments, secrets and keys that go unused or need attention, and about
// unusual activity, computed from the store's records and the audit trail of
// the last N days. Every finding has a severity and a concrete fix.
//
// A review reads the whole window of the audit trail once, in pages, and
// keeps in memory only what the records need (one entry per principal,
// assignment, secret and key) plus two maps bounded by Options.MaxTracked:
// the client addresses of principals and the recent denials of principals
// and addresses. Its cost is documented in docs/audit.md.
//
// review imports internal/errs, internal/store and the domains before it
// (audit, access); never net/http, database/sql or an adapter.
package review

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Kind says what a finding is about.
type Kind string

// The kinds of finding.
const (
	UnusedIdentity   Kind = "unusedIdentity"   // a principal with no sign-in in the period
	UnusedAssignment Kind = "unusedAssignment" // a role assignment none of whose permissions was used in the period
	UnreadSecret     Kind = "unreadSecret"     // a secret whose value nobody read in the period
	ExpiringSecret   Kind = "expiringSecret"   // a secret that expires within ExpiryNotice
	ExpiredSecret    Kind = "expiredSecret"    // a secret past its expiry
	StaleKey         Kind = "staleKey"         // a long-lived key (a client secret, ...) not rotated in the period
	DenialBurst      Kind = "denialBurst"      // many denials of one principal or address within BurstWindow
	NewClientAddress Kind = "newClientAddress" // a principal seen in the last day from an address it never used before
	Incomplete       Kind = "incompleteReview" // a memory bound was reached: some findings may be missing
)

// Severity ranks findings: High first.
type Severity string

// The severities, and the rules that give them (docs/audit.md#access-review):
// High for what is already failing or under attack (an expired secret, a
// burst of denials) and for what keeps access that can change access (a role
// that grants role assignments, or any role at "/"); Medium for unused or
// stale access of other kinds and secrets about to expire; Low for
// housekeeping (unread secrets, identities that hold no role).
const (
	High   Severity = "high"
	Medium Severity = "medium"
	Low    Severity = "low"
)

func (s Severity) rank() int {
	switch s {
	case High:
		return 0
	case Medium:
		return 1
	}
	return 2
}

// Finding is one thing the review asks a person to look at.
type Finding struct {
	Kind       Kind
	Severity   Severity
	Subject    string // what it is about: a principal's object id, an assignment id, a secret's scope, a key's id, a client address
	Scope      string // where it lies on the scope tree; "/" for what belongs to the tenant
	Detail     string // what was found, for people
	Suggestion string // a concrete fix, usually a latchkey command
}

// Store is what a review reads of the storage contract.
type Store interface {
	store.Principals
	store.Credentials
	store.Resources
	store.Secrets
	store.Audit
}

// Options configure a Service. Store and Access are required; zero values
// of the others take the defaults named.
type Options struct {
	Store Store
	// Access gives the roles and role assignments, and matches a role's
	// permissions against the operations of the audit trail.
	Access *access.Service
	// KeySources list long-lived keys beyond client secrets, whose age the
	// review checks (StaleKey): the extension point for AI services
	// accounts' keys and any later kind.
	KeySources []KeySource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BurstDenials denied requests by one principal or from one address
	// within BurstWindow make a DenialBurst: 20 within 5 minutes.
	BurstDenials int
	BurstWindow  time.Duration
	// ExpiryNotice is how long before its expiry a secret is reported: 30 days.
	ExpiryNotice time.Duration
	// RecentWindow is how far back an address counts as new for
	// NewClientAddress: 24 hours. Addresses before it, within the period, are
	// the baseline.
	RecentWindow time.Duration
	// MaxTracked bounds each of the two maps a review fills from the audit
	// trail (principals' addresses; recent denials by principal or address):
	// 50,000 entries. Past it the review reports Incomplete.
	MaxTracked int
	// AddressesPerPrincipal bounds one principal's baseline of addresses:
	// 64. A principal seen from more is not checked for new addresses.
	AddressesPerPrincipal int
}

// MaxDays is the longest period a review covers.
const MaxDays = 365

// Service runs access reviews. It is safe for concurrent use; each review
// reads the store afresh.
type Service struct {
	store   Store
	access  *access.Service
	sources []KeySource
	now     func() time.Time

	burstDenials          int
	burstWindow           time.Duration
	expiryNotice          time.Duration
	recentWindow          time.Duration
	maxTracked            int
	addressesPerPrincipal int
}

// New returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Access == nil {
		return nil, errors.New("review.New: Store and Access are required")
	}
	s := &Service{
		store: opts.Store, access: opts.Access, sources: opts.KeySources, now: opts.Now,
		burstDenials: orDefault(opts.BurstDenials, 20), burstWindow: orDefault(opts.BurstWindow, 5*time.Minute),
		expiryNotice: orDefault(opts.ExpiryNotice, 30*24*time.Hour), recentWindow: orDefault(opts.RecentWindow, 24*time.Hour),
		maxTracked: orDefault(opts.MaxTracked, 50_000), addressesPerPrincipal: orDefault(opts.AddressesPerPrincipal, 64),
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Review looks back days days (1 to MaxDays) from now and returns the
// findings at scope or below it ("/" for the whole tenant), most severe
// first. Findings about principals and client addresses lie at "/" (a
// managed identity's at its own scope), so a review of a hub leaves them
// out. The caller must have authorized the review at scope. Errors: Invalid
// for days out of range or a scope that is not one; Unavailable when the
// store cannot be read.
func (s *Service) Review(ctx context.Context, days int, scope string) ([]Finding, error) {
	const op = "review.Review"
	if days < 1 || days > MaxDays {
		return nil, errs.Invalidf(op, "days", "days must be a whole number from 1 to %d, not %d", MaxDays, days)
	}
	scope, err := access.ParseScope(scope)
	if err != nil {
		return nil, err
	}
	r := newRun(s, days, scope)
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	if err := r.readTrail(ctx); err != nil {
		return nil, err
	}
	fs, err := r.findings(ctx)
	if err != nil {
		return nil, err
	}
	fs = slices.DeleteFunc(fs, func(f Finding) bool { return f.Kind != Incomplete && !access.Within(f.Scope, scope) })
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Severity.rank(), b.Severity.rank()), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Subject, b.Subject))
	})
	return fs, nil
}
