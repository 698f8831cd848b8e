// Package access owns who may do what, where: the scope tree (hubs, projects,
// vaults, accounts), roles in Azure's shape with wildcards, role assignments
// that inherit downward, eligible assignments activated for a while with a
// reason (privileged identity management), and the decision point every
// request of every surface passes.
//
// Decisions come from an in-memory index of assignments, kept in step with the
// store's change feed, so a new, removed or expired assignment is honoured on
// the very next request and a decision costs map lookups, no I/O. Decisions
// read the assignments at request time, never claims frozen into a token.
//
// access imports internal/errs and internal/store (and the domains before it);
// never net/http, database/sql or an adapter.
package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Store is what access needs of the storage contract.
type Store interface {
	store.Principals
	store.Resources
	store.RoleDefinitions
	store.RoleAssignments
	store.EligibleAssignments
	store.Changes
}

// Event is an audit record of an access change or an elevation step.
type Event struct {
	Operation   string // "roleAssignment.create", "eligible.activate", ...
	CallerID    string
	PrincipalID string
	RoleID      string
	Scope       string
	Reason      string    // the justification of an activation
	Until       time.Time // when an activation ends by itself; zero otherwise
	Result      string    // "allowed" or "denied"
}

// Options configure a Service. Store is required.
type Options struct {
	Store Store
	// Audit receives a record of every change to access and every elevation
	// step; nil discards them.
	Audit func(ctx context.Context, e Event)
	// Feed is the process's change-feed follower, shared with the other
	// services; nil gives the Service a follower of its own, which Run runs.
	Feed *store.Follower
	// Sync is called after every write, once this replica applied it: it
	// waits until the other replicas did too (store.Barrier). Nil: no wait.
	Sync   func(ctx context.Context) error
	Logger *slog.Logger
	Now    func() time.Time
}

// Service is the access service. It is safe for concurrent use. Run keeps its
// index in step with the store.
type Service struct {
	store Store
	audit func(ctx context.Context, e Event)
	log   *slog.Logger
	now   func() time.Time
	idx   atomic.Pointer[index]
	feed  *store.Follower
	// ownFeed says Run must run feed (no shared follower was given).
	ownFeed bool
	sync    func(ctx context.Context) error
	// decisions counts Authorize's answers (stats.go).
	decisions decisionCounters
}

// New builds a Service and its index from the store.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("access.New: Store is required")
	}
	s := &Service{store: opts.Store, audit: opts.Audit, log: opts.Logger, now: opts.Now, sync: opts.Sync}
	s.idx.Store(&index{})
	if s.sync == nil {
		s.sync = func(context.Context) error { return nil }
	}
	if s.audit == nil {
		s.audit = func(context.Context, Event) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	seq, err := s.rebuild(ctx)
	if err != nil {
		return nil, err
	}
	if s.feed = opts.Feed; s.feed == nil {
		s.feed, s.ownFeed = store.NewFollower(s.store, seq), true
	}
	s.feed.Subscribe(s.apply)
	return s, nil
}

// Decide answers whether principalID may perform action on scope (canonical),
// with the reason. It costs map lookups and no I/O.
func (s *Service) Decide(principalID, action, scope string) Decision {
	return s.idx.Load().decide(principalID, action, scope, s.now())
}

// allowed reports whether principalID may perform action on scope, without
// writing the reason.
func (s *Service) allowed(principalID, action, scope string) bool {
	return s.idx.Load().evaluate(principalID, action, scope, s.now()).allowed
}

// Authorize returns nil when principalID may perform action on scope, and an
// error of Kind Forbidden saying why not otherwise.
func (s *Service) Authorize(ctx context.Context, principalID, action, scope string) error {
	// A change another replica announced must not be decided on stale
	// assignments: catch up first (at steady state, one atomic load).
	if err := s.feed.Fresh(ctx); err != nil {
		return errs.E(errs.Unavailable, "access.Authorize", "the access index cannot follow the store", err)
	}
	v := s.idx.Load().evaluate(principalID, action, scope, s.now())
	s.decisions.count(v)
	if v.allowed {
		return nil // the hot path: no reason to write
	}
	d := v.decision(principalID, action, scope)
	return errs.E(errs.Forbidden, "access.Authorize", fmt.Sprintf(
		"the caller %s is not allowed to perform %s on %s: %s. Ask an administrator for a role assignment (latchkey role assignment create)",
		principalID, action, scope, d.Reason), nil)
}

// rebuild loads every custom role and assignment into a fresh index and
// returns the last change it reflects.
func (s *Service) rebuild(ctx context.Context) (int64, error) {
	const o = "access.rebuild"
	seq, err := s.store.LatestChange(ctx)
	if err != nil {
		return 0, errs.E(errs.Unavailable, o, "cannot read the change feed", err)
	}
	idx := &index{}
	t := idx.ticket()
	roles, err := s.loadRoles(ctx)
	if err != nil {
		return 0, err
	}
	byPrincipal := map[string]*principalGrants{}
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		as, next, err := s.store.RoleAssignments(ctx, store.AssignmentFilter{}, p)
		if err != nil {
			return 0, errs.E(errs.Unavailable, o, "cannot read role assignments", err)
		}
		for _, a := range as {
			pg := byPrincipal[a.PrincipalID]
			if pg == nil {
				pg = &principalGrants{}
				byPrincipal[a.PrincipalID] = pg
			}
			pg.add(a)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	idx.setRoles(roles, t)
	idx.load(byPrincipal, t)
	s.idx.Store(idx)
	return seq, nil
}

// loadRoles reads every custom role, compiled.
func (s *Service) loadRoles(ctx context.Context) (map[string]*compiledRole, error) {
	ds, err := s.store.RoleDefinitions(ctx)
	if err != nil {
		return nil, errs.E(errs.Unavailable, "access.loadRoles", "cannot read role definitions", err)
	}
	m := make(map[string]*compiledRole, len(ds))
	for _, d := range ds {
		r, err := roleFromStore(d)
		if err != nil {
			return nil, errs.E(errs.Internal, "access.loadRoles", "", err)
		}
		m[d.ID] = compileRole(&r)
	}
	return m, nil
}

// reloadPrincipal reads one principal's assignments into the index.
func (s *Service) reloadPrincipal(ctx context.Context, principalID string) error {
	idx := s.idx.Load()
	t := idx.ticket() // before the read: see index
	var all []store.RoleAssignment
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		as, next, err := s.store.RoleAssignments(ctx, store.AssignmentFilter{PrincipalID: principalID}, p)
		if err != nil {
			return errs.E(errs.Unavailable, "access.reloadPrincipal", "cannot read role assignments", err)
		}
		all = append(all, as...)
		if next == "" {
			break
		}
		p.After = next
	}
	idx.setGrants(principalID, grantsOf(all...), t)
	return nil
}
