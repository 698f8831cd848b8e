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
	Reason      string // the justification of an activation
	Result      string // "allowed" or "denied"
}

// Options configure a Service. Store is required.
type Options struct {
	Store Store
	// Audit receives a record of every change to access and every elevation
	// step; nil discards them.
	Audit  func(ctx context.Context, e Event)
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
	// lastSeq is the last change applied to the index; only Run's goroutine
	// (and New, before it) writes it.
	lastSeq atomic.Int64
}

// New builds a Service and its index from the store.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("access.New: Store is required")
	}
	s := &Service{store: opts.Store, audit: opts.Audit, log: opts.Logger, now: opts.Now}
	s.idx.Store(&index{})
	if s.audit == nil {
		s.audit = func(context.Context, Event) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.rebuild(ctx); err != nil {
		return nil, err
	}
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
	return s.idx.Load().evaluate(principalID, action, scope, s.now()).grant != nil
}

// Authorize returns nil when principalID may perform action on scope, and an
// error of Kind Forbidden saying why not otherwise.
func (s *Service) Authorize(ctx context.Context, principalID, action, scope string) error {
	v := s.idx.Load().evaluate(principalID, action, scope, s.now())
	if v.grant != nil {
		return nil // the hot path: no reason to write
	}
	d := v.decision(principalID, action, scope)
	return errs.E(errs.Forbidden, "access.Authorize", fmt.Sprintf(
		"the caller %s is not allowed to perform %s on %s: %s. Ask an administrator for a role assignment (latchkey role assignment create)",
		principalID, action, scope, d.Reason), nil)
}

// rebuild loads every custom role and assignment into a fresh index.
func (s *Service) rebuild(ctx context.Context) error {
	const o = "access.rebuild"
	seq, err := s.store.LatestChange(ctx)
	if err != nil {
		return errs.E(errs.Unavailable, o, "cannot read the change feed", err)
	}
	idx := &index{}
	t := idx.ticket()
	roles, err := s.loadRoles(ctx)
	if err != nil {
		return err
	}
	byPrincipal := map[string][]grant{}
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		as, next, err := s.store.RoleAssignments(ctx, store.AssignmentFilter{}, p)
		if err != nil {
			return errs.E(errs.Unavailable, o, "cannot read role assignments", err)
		}
		for _, a := range as {
			byPrincipal[a.PrincipalID] = append(byPrincipal[a.PrincipalID], grantOf(a))
		}
		if next == "" {
			break
		}
		p.After = next
	}
	idx.setRoles(roles, t)
	idx.load(byPrincipal, t)
	s.idx.Store(idx)
	s.lastSeq.Store(seq)
	return nil
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
	idx.setGrants(principalID, grantsFromAssignments(all), t)
	return nil
}
