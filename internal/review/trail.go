package review

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is the one pass over the audit trail of the period: sign-ins,
// the use of role assignments, secret reads, client addresses and denials.

// readTrail reads every event of the period, oldest first, a page of
// store.MaxPageLimit events at a time.
func (r *run) readTrail(ctx context.Context) error {
	f := audit.Filter{Since: r.since}
	return pages(func(p store.Page) (string, error) {
		es, next, err := audit.Query(ctx, r.s.store, f, p)
		if err != nil {
			return "", err
		}
		for i := range es {
			r.event(&es[i].Event)
		}
		return next, nil
	})
}

// event takes one event into account. It costs a few map lookups, plus a
// scope comparison per role assignment of the event's principal.
func (r *run) event(e *audit.Event) {
	pr := r.principals[e.PrincipalID] // nil for an anonymous caller or a deleted principal
	if e.Result == audit.Denied {
		r.bursts.add(e)
	}
	if pr != nil && e.ClientIP.IsValid() {
		r.address(pr, e)
	}
	if e.Result != audit.Allowed {
		return
	}
	switch e.Operation {
	case audit.TokenOperation:
		if pr != nil {
			pr.signIn(e.Time)
		}
	case access.IdentitiesAssign: // a token issued as the managed identity (latchkey run, latchkey agent)
		if mi := r.identities[e.Scope]; mi != nil {
			mi.signIn(e.Time)
		}
	case access.SecretsGet:
		if sec := r.secrets[e.Scope]; sec != nil {
			sec.read = true
		}
	}
	if e.Scope == "" {
		return // token requests act on no scope
	}
	for _, a := range r.byPrincipal[e.PrincipalID] {
		if !a.used && a.role != nil && access.Within(e.Scope, a.a.Scope) && a.role.allows(e.Operation) {
			a.used = true
		}
	}
}

// address records the address e came from: in the principal's baseline
// before the recent window, among its fresh addresses after.
func (r *run) address(pr *principalState, e *audit.Event) {
	ip := e.ClientIP
	if _, ok := pr.seen[ip]; ok || pr.seenFull {
		return
	}
	if e.Time.Before(r.recent) {
		if len(pr.seen) >= r.s.addressesPerPrincipal {
			pr.seenFull, pr.seen, pr.fresh = true, nil, nil
			return
		}
		if r.track() {
			if pr.seen == nil {
				pr.seen = map[netip.Addr]struct{}{}
			}
			pr.seen[ip] = struct{}{}
		}
		return
	}
	// Events come in the trail's order, so a principal with no baseline by
	// now has none: its recent addresses cannot be judged, and cost nothing.
	if _, ok := pr.fresh[ip]; ok || len(pr.seen) == 0 || len(pr.fresh) >= r.s.addressesPerPrincipal {
		return
	}
	if r.track() {
		if pr.fresh == nil {
			pr.fresh = map[netip.Addr]time.Time{}
		}
		pr.fresh[ip] = e.Time
	}
}

// track counts one more address held, and reports false once MaxTracked
// are.
func (r *run) track() bool {
	if r.addresses >= r.s.maxTracked {
		r.cut(fmt.Sprintf("more than %d principal addresses: new client addresses", r.s.maxTracked))
		return false
	}
	r.addresses++
	return true
}

// cut notes, once, that a bound cut the review short.
func (r *run) cut(what string) {
	for _, o := range r.overflow {
		if o == what {
			return
		}
	}
	r.overflow = append(r.overflow, what)
}
