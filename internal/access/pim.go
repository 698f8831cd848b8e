package access

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Bounds of an eligible assignment's maximum activation.
const (
	MinActivation     = time.Minute
	MaxActivation     = 24 * time.Hour
	DefaultActivation = 8 * time.Hour
)

// Eligibility is an eligible assignment with its role's name.
type Eligibility struct {
	store.EligibleAssignment
	RoleName string
}

// CreateEligible makes principalID eligible to activate role ref at scope for
// at most maxDuration (DefaultActivation when 0), with a justification when
// requireJustification. The caller needs RoleEligibilityWrite at scope and,
// as for assignments, everything the role grants.
func (s *Service) CreateEligible(ctx context.Context, callerID, principalID, ref, scope string, maxDuration time.Duration, requireJustification bool) (Eligibility, error) {
	const o = "access.CreateEligible"
	scope, err := ParseScope(scope)
	if err != nil {
		return Eligibility{}, err
	}
	if maxDuration == 0 {
		maxDuration = DefaultActivation
	}
	if maxDuration < MinActivation || maxDuration > MaxActivation {
		return Eligibility{}, errs.Invalidf(o, "maxDuration", "the maximum activation must be between %s and %s, not %s", MinActivation, MaxActivation, maxDuration)
	}
	if err := s.Authorize(ctx, callerID, RoleEligibilityWrite, scope); err != nil {
		return Eligibility{}, err
	}
	r, err := s.checkAssignable(ctx, callerID, principalID, ref, scope)
	if err != nil {
		return Eligibility{}, err
	}
	e := store.EligibleAssignment{ID: uuid.NewString(), PrincipalID: principalID, RoleID: r.ID, Scope: scope,
		MaxDuration: maxDuration, RequireJustification: requireJustification, CreatedBy: callerID, Created: store.Time(s.now())}
	if err := s.store.CreateEligibleAssignment(ctx, e); err != nil {
		return Eligibility{}, store.Error(o, fmt.Sprintf("an eligible assignment of %q to %s at %s", r.Name, principalID, scope), err)
	}
	s.audit(ctx, Event{Operation: "eligible.create", CallerID: callerID, PrincipalID: principalID, RoleID: r.ID, Scope: scope, Result: "allowed"})
	return Eligibility{EligibleAssignment: e, RoleName: r.Name}, nil
}

// Eligibles lists eligible assignments matching f, a page at a time.
func (s *Service) Eligibles(ctx context.Context, f store.AssignmentFilter, p store.Page) ([]Eligibility, string, error) {
	es, next, err := s.store.EligibleAssignments(ctx, f, p)
	if err != nil {
		return nil, "", store.Error("access.Eligibles", "eligible assignments", err)
	}
	out := make([]Eligibility, len(es))
	for i, e := range es {
		out[i] = Eligibility{EligibleAssignment: e, RoleName: s.roleName(e.RoleID)}
	}
	return out, next, nil
}

// Activate turns the caller's eligible assignment id into an active role
// assignment for duration (the maximum when 0), which expires by itself. Only
// the eligible principal may activate it. Kinds: NotFound, Forbidden, Invalid,
// Conflict (already active).
func (s *Service) Activate(ctx context.Context, callerID, id string, duration time.Duration, justification string) (Assignment, error) {
	const o = "access.Activate"
	e, err := s.store.EligibleAssignment(ctx, id)
	if err != nil {
		return Assignment{}, store.Error(o, "eligible assignment "+id, err)
	}
	if e.PrincipalID != callerID {
		s.audit(ctx, Event{Operation: "eligible.activate", CallerID: callerID, PrincipalID: e.PrincipalID, RoleID: e.RoleID, Scope: e.Scope, Result: "denied"})
		return Assignment{}, errs.E(errs.Forbidden, o, "only the eligible principal may activate its eligible assignment", nil)
	}
	if duration == 0 {
		duration = e.MaxDuration
	}
	if duration < MinActivation || duration > e.MaxDuration {
		return Assignment{}, errs.Invalidf(o, "duration", "activate for between %s and %s (this eligibility's maximum), not %s", MinActivation, e.MaxDuration, duration)
	}
	justification = strings.TrimSpace(justification)
	if e.RequireJustification && justification == "" {
		return Assignment{}, errs.Invalidf(o, "justification", "this eligible assignment needs a justification: say why you elevate")
	}
	if len(justification) > 500 {
		return Assignment{}, errs.Invalidf(o, "justification", "the justification is longer than 500 characters")
	}
	now := s.now()
	if err := s.dropExpiredActivations(ctx, e, now); err != nil {
		return Assignment{}, err
	}
	a := store.RoleAssignment{ID: uuid.NewString(), PrincipalID: e.PrincipalID, RoleID: e.RoleID, Scope: e.Scope,
		Expires: store.Time(now.Add(duration)), EligibilityID: e.ID, Justification: justification, CreatedBy: callerID, Created: store.Time(now)}
	if err := s.store.CreateRoleAssignment(ctx, a); err != nil {
		return Assignment{}, store.Error(o, "an active assignment from eligibility "+e.ID+" (deactivate it first)", err)
	}
	s.audit(ctx, Event{Operation: "eligible.activate", CallerID: callerID, PrincipalID: e.PrincipalID, RoleID: e.RoleID, Scope: e.Scope, Reason: justification,
		Until: a.Expires, Result: "allowed"})
	return Assignment{RoleAssignment: a, RoleName: s.roleName(a.RoleID)}, s.applied(ctx, e.PrincipalID)
}

// Deactivate ends the active assignments of an eligible assignment early. The
// eligible principal may do it, and so may whoever may delete assignments at
// its scope.
func (s *Service) Deactivate(ctx context.Context, callerID, id string) error {
	const o = "access.Deactivate"
	e, err := s.store.EligibleAssignment(ctx, id)
	if err != nil {
		return store.Error(o, "eligible assignment "+id, err)
	}
	if e.PrincipalID != callerID {
		if err := s.Authorize(ctx, callerID, RoleAssignmentsDelete, e.Scope); err != nil {
			return err
		}
	}
	as, err := s.activations(ctx, e)
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.store.DeleteRoleAssignment(ctx, a.ID); err != nil {
			return store.Error(o, "active assignment "+a.ID, err)
		}
	}
	s.audit(ctx, Event{Operation: "eligible.deactivate", CallerID: callerID, PrincipalID: e.PrincipalID, RoleID: e.RoleID, Scope: e.Scope, Result: "allowed"})
	return s.applied(ctx, e.PrincipalID)
}

// DeleteEligible removes an eligible assignment and its activations.
func (s *Service) DeleteEligible(ctx context.Context, callerID, id string) error {
	e, err := s.store.EligibleAssignment(ctx, id)
	if err != nil {
		return store.Error("access.DeleteEligible", "eligible assignment "+id, err)
	}
	if err := s.Authorize(ctx, callerID, RoleEligibilityDelete, e.Scope); err != nil {
		return err
	}
	if err := s.store.DeleteEligibleAssignment(ctx, id); err != nil {
		return store.Error("access.DeleteEligible", "eligible assignment "+id, err)
	}
	s.audit(ctx, Event{Operation: "eligible.delete", CallerID: callerID, PrincipalID: e.PrincipalID, RoleID: e.RoleID, Scope: e.Scope, Result: "allowed"})
	return s.applied(ctx, e.PrincipalID)
}

// activations returns the assignments made from eligibility e.
func (s *Service) activations(ctx context.Context, e store.EligibleAssignment) ([]store.RoleAssignment, error) {
	as, _, err := s.store.RoleAssignments(ctx, store.AssignmentFilter{PrincipalID: e.PrincipalID, RoleID: e.RoleID, Scope: e.Scope}, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		return nil, store.Error("access.activations", "role assignments", err)
	}
	var out []store.RoleAssignment
	for _, a := range as {
		if a.EligibilityID == e.ID {
			out = append(out, a)
		}
	}
	return out, nil
}

// dropExpiredActivations deletes activations of e that have expired, so that a
// new activation can take their place.
func (s *Service) dropExpiredActivations(ctx context.Context, e store.EligibleAssignment, now time.Time) error {
	as, err := s.activations(ctx, e)
	if err != nil {
		return err
	}
	for _, a := range as {
		if !a.Expires.IsZero() && !now.Before(a.Expires) {
			if err := s.store.DeleteRoleAssignment(ctx, a.ID); err != nil {
				return store.Error("access.Activate", "expired activation "+a.ID, err)
			}
		} else {
			return errs.E(errs.Conflict, "access.Activate", fmt.Sprintf("this eligible assignment is already active until %s: deactivate it first to change the duration", a.Expires.UTC().Format(time.RFC3339)), nil)
		}
	}
	return nil
}
