package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Assignment is a role assignment with its role's name, as listings show it.
type Assignment struct {
	store.RoleAssignment
	RoleName string
}

// CreateAssignment assigns the role ref (id or name) to principalID at scope.
// The caller must hold RoleAssignmentsWrite at scope and, so that nobody can
// hand out more than they have, every known action the role grants there
// (control and data). Kinds: Invalid, NotFound, Forbidden, Conflict.
func (s *Service) CreateAssignment(ctx context.Context, callerID, principalID, ref, scope string) (Assignment, error) {
	const o = "access.CreateAssignment"
	scope, err := ParseScope(scope)
	if err != nil {
		return Assignment{}, err
	}
	if err := s.Authorize(ctx, callerID, RoleAssignmentsWrite, scope); err != nil {
		return Assignment{}, err
	}
	r, err := s.checkAssignable(ctx, callerID, principalID, ref, scope)
	if err != nil {
		return Assignment{}, err
	}
	a := store.RoleAssignment{ID: uuid.NewString(), PrincipalID: principalID, RoleID: r.ID, Scope: scope,
		CreatedBy: callerID, Created: store.Time(s.now())}
	if err := s.store.CreateRoleAssignment(ctx, a); err != nil {
		return Assignment{}, store.Error(o, fmt.Sprintf("an assignment of %q to %s at %s", r.Name, principalID, scope), err)
	}
	s.audit(ctx, Event{Operation: "roleAssignment.create", CallerID: callerID, PrincipalID: principalID, RoleID: r.ID, Scope: scope, Result: "allowed"})
	return Assignment{RoleAssignment: a, RoleName: r.Name}, s.applied(ctx, principalID)
}

// checkAssignable resolves the role and checks the principal exists, the role
// may be assigned at scope, and the caller holds everything it grants.
func (s *Service) checkAssignable(ctx context.Context, callerID, principalID, ref, scope string) (Role, error) {
	const o = "access.CreateAssignment"
	r, err := s.Role(ctx, ref)
	if err != nil {
		return r, err
	}
	if _, err := s.store.Principal(ctx, principalID); err != nil {
		return r, store.Error(o, "principal "+principalID, err)
	}
	assignable := false
	for _, as := range r.AssignableScopes {
		assignable = assignable || Within(scope, as)
	}
	if !assignable {
		return r, errs.Invalidf(o, "scope", "role %q can be assigned only at or below %s", r.Name, strings.Join(r.AssignableScopes, ", "))
	}
	return r, s.checkGrantable(o, callerID, r, scope)
}

// checkGrantable returns nil when the caller holds at scope every known action
// role r grants, and an error of Kind Forbidden naming what it lacks otherwise.
func (s *Service) checkGrantable(o, callerID string, r Role, scope string) error {
	var missing []string
	for _, a := range compileRole(&r).knownActions() {
		if !s.allowed(callerID, a.Name, scope) {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing) // knownActions walks a map
	if len(missing) > 3 {
		missing = append(missing[:3], fmt.Sprintf("and %d more", len(missing)-3))
	}
	return errs.E(errs.Forbidden, o, fmt.Sprintf(
		"the caller cannot grant role %q at %s: it does not itself hold %s there, and nobody may hand out more than they have",
		r.Name, scope, strings.Join(missing, ", ")), nil)
}

// Assignments lists role assignments matching f, a page at a time.
func (s *Service) Assignments(ctx context.Context, f store.AssignmentFilter, p store.Page) ([]Assignment, string, error) {
	if f.Scope != "" {
		sc, err := ParseScope(f.Scope)
		if err != nil {
			return nil, "", err
		}
		f.Scope = sc
	}
	if f.RoleID != "" {
		r, err := s.Role(ctx, f.RoleID)
		if err != nil {
			return nil, "", err
		}
		f.RoleID = r.ID
	}
	as, next, err := s.store.RoleAssignments(ctx, f, p)
	if err != nil {
		return nil, "", store.Error("access.Assignments", "role assignments", err)
	}
	out := make([]Assignment, len(as))
	for i, a := range as {
		out[i] = Assignment{RoleAssignment: a, RoleName: s.roleName(a.RoleID)}
	}
	return out, next, nil
}

// Assignment returns one role assignment.
func (s *Service) Assignment(ctx context.Context, id string) (Assignment, error) {
	a, err := s.store.RoleAssignment(ctx, id)
	if err != nil {
		return Assignment{}, store.Error("access.Assignment", "role assignment "+id, err)
	}
	return Assignment{RoleAssignment: a, RoleName: s.roleName(a.RoleID)}, nil
}

// DeleteAssignment removes a role assignment. The caller must hold
// RoleAssignmentsDelete at its scope. It applies from the next request on.
func (s *Service) DeleteAssignment(ctx context.Context, callerID, id string) error {
	a, err := s.Assignment(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Authorize(ctx, callerID, RoleAssignmentsDelete, a.Scope); err != nil {
		return err
	}
	if err := s.store.DeleteRoleAssignment(ctx, id); err != nil {
		return store.Error("access.DeleteAssignment", "role assignment "+id, err)
	}
	s.audit(ctx, Event{Operation: "roleAssignment.delete", CallerID: callerID, PrincipalID: a.PrincipalID, RoleID: a.RoleID, Scope: a.Scope, Result: "allowed"})
	return s.applied(ctx, a.PrincipalID)
}

// Bootstrap assigns role ref to principalID at scope without any caller check:
// for the installation's first administrator only (dev mode, `latchkey admin
// bootstrap`). An existing identical assignment is kept.
func (s *Service) Bootstrap(ctx context.Context, principalID, ref, scope string) error {
	r, err := s.Role(ctx, ref)
	if err != nil {
		return err
	}
	a := store.RoleAssignment{ID: uuid.NewString(), PrincipalID: principalID, RoleID: r.ID, Scope: scope,
		CreatedBy: principalID, Created: store.Time(s.now())}
	if err := s.store.CreateRoleAssignment(ctx, a); err != nil && !errors.Is(err, store.ErrConflict) {
		return store.Error("access.Bootstrap", "assignment", err)
	}
	s.audit(ctx, Event{Operation: "roleAssignment.bootstrap", PrincipalID: principalID, RoleID: r.ID, Scope: scope, Result: "allowed"})
	return s.applied(ctx, principalID)
}

func (s *Service) roleName(id string) string {
	if r := s.idx.Load().role(id); r != nil {
		return r.role.Name
	}
	return id
}
