package review

import (
	"context"
	"net/netip"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is what a review reads of the store before the audit trail:
// principals, roles, role assignments and secrets, each held once.

// run is one review: the period, the records, and what the audit trail
// showed of them.
type run struct {
	s      *Service
	period string // "30 days", for people
	scope  string
	now    time.Time
	since  time.Time // the period's start
	recent time.Time // addresses seen from here on are checked against those before

	principals  map[string]*principalState // by object id
	identities  map[string]*principalState // managed identities by scope
	roles       map[string]*roleState      // by role id
	assignments []*assignmentState
	byPrincipal map[string][]*assignmentState
	secrets     map[string]*secretState // by the secret's scope
	secretList  []*secretState

	addresses int // baseline and recent addresses tracked, across principals
	bursts    *bursts
	overflow  []string // what a bound cut short, for the Incomplete finding
}

func newRun(s *Service, days int, scope string) *run {
	now := s.now().UTC()
	return &run{
		s: s, period: plural(days, "day"), scope: scope, now: now,
		since:      now.Add(-time.Duration(days) * 24 * time.Hour),
		recent:     now.Add(-s.recentWindow),
		principals: map[string]*principalState{}, identities: map[string]*principalState{},
		roles: map[string]*roleState{}, byPrincipal: map[string][]*assignmentState{}, secrets: map[string]*secretState{},
		bursts: newBursts(s.burstDenials, s.burstWindow, s.maxTracked),
	}
}

// principalState is a principal and what the trail showed of it.
type principalState struct {
	p           store.Principal
	signedIn    time.Time // the last sign-in in the period; zero: none
	assignments int
	elevated    bool                     // holds a privileged role, or any role at "/"
	seen        map[netip.Addr]struct{}  // addresses before recent
	seenFull    bool                     // more than AddressesPerPrincipal: no baseline kept
	fresh       map[netip.Addr]time.Time // addresses since recent, and when first seen
}

func (p *principalState) signIn(t time.Time) {
	if t.After(p.signedIn) {
		p.signedIn = t
	}
}

// roleState is a role and the answers of its permission check, per
// operation (operations are the catalog's actions: a bounded set).
type roleState struct {
	role       access.Role
	privileged bool // it grants role assignments or role definitions: it can change access
	grants     map[string]bool
}

func (r *roleState) allows(operation string) bool {
	if ok, known := r.grants[operation]; known {
		return ok
	}
	if _, known := access.Lookup(operation); !known {
		return false // not remembered: the trail's text is not a bounded set
	}
	ok := r.role.Grants(operation)
	r.grants[operation] = ok
	return ok
}

// assignmentState is a role assignment and whether the trail showed it used.
type assignmentState struct {
	a    access.Assignment
	role *roleState // nil when the role no longer exists
	used bool
}

// secretState is a secret, its current version's attributes, and whether
// its value was read in the period.
type secretState struct {
	s       store.Secret
	scope   string
	enabled bool
	expires time.Time
	read    bool
}

// load reads the records the review is about.
func (r *run) load(ctx context.Context) error {
	if err := r.loadPrincipals(ctx); err != nil {
		return err
	}
	if err := r.loadAssignments(ctx); err != nil {
		return err
	}
	return r.loadSecrets(ctx)
}

func (r *run) loadPrincipals(ctx context.Context) error {
	return pages(func(p store.Page) (string, error) {
		ps, next, err := r.s.store.Principals(ctx, "", p)
		if err != nil {
			return "", unavailable("principals", err)
		}
		for _, pr := range ps {
			st := &principalState{p: pr}
			r.principals[pr.ID] = st
			if pr.Kind == store.ManagedIdentity && pr.Scope != "" {
				r.identities[pr.Scope] = st
			}
		}
		return next, nil
	})
}

func (r *run) loadAssignments(ctx context.Context) error {
	roles, err := r.s.access.Roles(ctx)
	if err != nil {
		return err
	}
	for _, role := range roles {
		rs := &roleState{role: role, grants: map[string]bool{}}
		rs.privileged = role.Grants(access.RoleAssignmentsWrite) || role.Grants(access.RoleDefinitionsWrite)
		r.roles[role.ID] = rs
	}
	return pages(func(p store.Page) (string, error) {
		as, next, err := r.s.access.Assignments(ctx, store.AssignmentFilter{}, p)
		if err != nil {
			return "", err
		}
		for _, a := range as {
			st := &assignmentState{a: a, role: r.roles[a.RoleID]}
			if pr := r.principals[a.PrincipalID]; pr != nil && !pr.p.Enabled {
				continue // a disabled principal can do nothing with it
			}
			r.assignments = append(r.assignments, st)
			r.byPrincipal[a.PrincipalID] = append(r.byPrincipal[a.PrincipalID], st)
			if pr := r.principals[a.PrincipalID]; pr != nil {
				pr.assignments++
				pr.elevated = pr.elevated || st.elevated()
			}
		}
		return next, nil
	})
}

// elevated reports whether the assignment can change access or reaches the
// whole tenant.
func (a *assignmentState) elevated() bool {
	return a.a.Scope == "/" || a.role != nil && a.role.privileged
}

// loadSecrets reads the secrets of the vaults at or above the review's
// scope, or below it, with their current versions: one query per page of
// vaults and of secrets, and one per secret.
func (r *run) loadSecrets(ctx context.Context) error {
	var vaults []store.Resource
	err := pages(func(p store.Page) (string, error) {
		vs, next, err := r.s.store.Resources(ctx, store.Vault, "", p)
		if err != nil {
			return "", unavailable("vaults", err)
		}
		for _, v := range vs {
			if access.Within(v.Scope, r.scope) || access.Within(r.scope, v.Scope) {
				vaults = append(vaults, v)
			}
		}
		return next, nil
	})
	if err != nil {
		return err
	}
	for _, v := range vaults {
		err := pages(func(p store.Page) (string, error) {
			ss, next, err := r.s.store.Secrets(ctx, v.Name, false, p)
			if err != nil {
				return "", unavailable("secrets", err)
			}
			for _, sec := range ss {
				cur, err := r.s.store.SecretVersion(ctx, v.Name, sec.Name, sec.CurrentVersion)
				if err != nil {
					return "", unavailable("secrets", err)
				}
				st := &secretState{s: sec, scope: v.Scope + "/secrets/" + sec.Name, enabled: cur.Enabled, expires: cur.Expires}
				r.secrets[st.scope] = st
				r.secretList = append(r.secretList, st)
			}
			return next, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// pages calls list with each page's cursor until it returns "".
func pages(list func(p store.Page) (next string, err error)) error {
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		next, err := list(p)
		if err != nil || next == "" {
			return err
		}
		p.After = next
	}
}

func unavailable(what string, err error) error {
	return errs.E(errs.Unavailable, "review.Review", "cannot read the "+what+" to review", err)
}
