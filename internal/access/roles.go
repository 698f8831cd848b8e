package access

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

func roleFromStore(d store.RoleDefinition) (Role, error) {
	r := Role{ID: d.ID, Name: d.Name, Description: d.Description, AssignableScopes: d.AssignableScopes}
	if err := json.Unmarshal(d.Permissions, &r.Permissions); err != nil {
		return r, err
	}
	return r, nil
}

// Roles returns every role: built-in first, then custom ones by name.
func (s *Service) Roles(ctx context.Context) ([]Role, error) {
	ds, err := s.store.RoleDefinitions(ctx)
	if err != nil {
		return nil, errs.E(errs.Unavailable, "access.Roles", "", err)
	}
	out := BuiltinRoles()
	for _, d := range ds {
		r, err := roleFromStore(d)
		if err != nil {
			return nil, errs.E(errs.Internal, "access.Roles", "", err)
		}
		out = append(out, r)
	}
	sort.SliceStable(out[len(builtinRoles):], func(i, j int) bool {
		return strings.ToLower(out[len(builtinRoles)+i].Name) < strings.ToLower(out[len(builtinRoles)+j].Name)
	})
	return out, nil
}

// Role returns the role whose id or name (case-insensitive) is ref.
func (s *Service) Role(ctx context.Context, ref string) (Role, error) {
	if c, ok := builtinByID[ref]; ok {
		return *c.role, nil
	}
	if c, ok := builtinByName[strings.ToLower(ref)]; ok {
		return *c.role, nil
	}
	roles, err := s.Roles(ctx)
	if err != nil {
		return Role{}, err
	}
	for _, r := range roles {
		if r.ID == ref || strings.EqualFold(r.Name, ref) {
			return r, nil
		}
	}
	return Role{}, errs.E(errs.NotFound, "access.Role", "no role has the id or name "+quote(ref)+": see latchkey role definition list", nil)
}

// CreateRole creates a custom role. The caller must hold RoleDefinitionsWrite
// at every assignable scope (the HTTP layer checks "/" or the first).
func (s *Service) CreateRole(ctx context.Context, callerID string, r Role) (Role, error) {
	r, err := r.validate()
	if err != nil {
		return r, err
	}
	for _, sc := range r.AssignableScopes {
		if err := s.Authorize(ctx, callerID, RoleDefinitionsWrite, sc); err != nil {
			return r, err
		}
	}
	r.ID = uuid.NewString()
	now := s.now()
	d := store.RoleDefinition{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: encodePermissions(r.Permissions),
		AssignableScopes: r.AssignableScopes, Created: store.Time(now), Updated: store.Time(now)}
	if err := s.store.CreateRoleDefinition(ctx, d); err != nil {
		return r, store.Error("access.CreateRole", "role "+r.Name, err)
	}
	s.audit(ctx, Event{Operation: "roleDefinition.create", CallerID: callerID, RoleID: r.ID, Scope: r.AssignableScopes[0], Result: "allowed"})
	return r, s.applied(ctx, "")
}

// UpdateRole replaces a custom role's name, description, permissions and
// assignable scopes. The change applies to its assignments at once.
func (s *Service) UpdateRole(ctx context.Context, callerID string, r Role) (Role, error) {
	old, err := s.Role(ctx, r.ID)
	if err != nil {
		return r, err
	}
	if old.BuiltIn {
		return r, errs.E(errs.Forbidden, "access.UpdateRole", "built-in roles cannot be changed: create a custom role instead", nil)
	}
	r.ID = old.ID // r.ID may have named the role by its name
	if r, err = r.validate(); err != nil {
		return r, err
	}
	for _, sc := range slices.Concat(old.AssignableScopes, r.AssignableScopes) {
		if err := s.Authorize(ctx, callerID, RoleDefinitionsWrite, sc); err != nil {
			return r, err
		}
	}
	// The update reaches every existing holder at once, so it passes the same
	// guard as an assignment: where the role is assigned (or eligible), the
	// caller must hold all it will grant. Otherwise one could assign a harmless
	// role to oneself and then widen it.
	if err := s.checkGrantableWhereHeld(ctx, callerID, r); err != nil {
		return r, err
	}
	d := store.RoleDefinition{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: encodePermissions(r.Permissions),
		AssignableScopes: r.AssignableScopes, Updated: store.Time(s.now())}
	if err := s.store.UpdateRoleDefinition(ctx, d); err != nil {
		return r, store.Error("access.UpdateRole", "role "+r.Name, err)
	}
	s.audit(ctx, Event{Operation: "roleDefinition.update", CallerID: callerID, RoleID: r.ID, Scope: r.AssignableScopes[0], Result: "allowed"})
	return r, s.applied(ctx, "")
}

// DeleteRole deletes a custom role that no assignment uses.
func (s *Service) DeleteRole(ctx context.Context, callerID, ref string) error {
	r, err := s.Role(ctx, ref)
	if err != nil {
		return err
	}
	if r.BuiltIn {
		return errs.E(errs.Forbidden, "access.DeleteRole", "built-in roles cannot be deleted", nil)
	}
	for _, sc := range r.AssignableScopes {
		if err := s.Authorize(ctx, callerID, RoleDefinitionsDelete, sc); err != nil {
			return err
		}
	}
	if err := s.store.DeleteRoleDefinition(ctx, r.ID); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errs.E(errs.Conflict, "access.DeleteRole", "role "+r.Name+" is still assigned: delete its assignments and eligible assignments first", err)
		}
		return store.Error("access.DeleteRole", "role "+r.Name, err)
	}
	s.audit(ctx, Event{Operation: "roleDefinition.delete", CallerID: callerID, RoleID: r.ID, Result: "allowed"})
	return s.refreshRoles(ctx)
}

// checkGrantableWhereHeld checks the caller could grant r at every scope
// where an assignment or eligible assignment of r exists.
func (s *Service) checkGrantableWhereHeld(ctx context.Context, callerID string, r Role) error {
	const o = "access.UpdateRole"
	scopes := map[string]bool{}
	f := store.AssignmentFilter{RoleID: r.ID}
	for p := (store.Page{Limit: store.MaxPageLimit}); ; {
		as, next, err := s.store.RoleAssignments(ctx, f, p)
		if err != nil {
			return store.Error(o, "role assignments", err)
		}
		for _, a := range as {
			scopes[a.Scope] = true
		}
		if next == "" {
			break
		}
		p.After = next
	}
	for p := (store.Page{Limit: store.MaxPageLimit}); ; {
		es, next, err := s.store.EligibleAssignments(ctx, f, p)
		if err != nil {
			return store.Error(o, "eligible assignments", err)
		}
		for _, e := range es {
			scopes[e.Scope] = true
		}
		if next == "" {
			break
		}
		p.After = next
	}
	for _, sc := range slices.Sorted(maps.Keys(scopes)) {
		if err := s.checkGrantable(o, callerID, r, sc); err != nil {
			return err
		}
	}
	return nil
}

// refreshRoles reads the custom roles into the index.
func (s *Service) refreshRoles(ctx context.Context) error {
	idx := s.idx.Load()
	t := idx.ticket() // before the read: see index
	m, err := s.loadRoles(ctx)
	if err != nil {
		return err
	}
	idx.setRoles(m, t)
	return nil
}

func quote(s string) string {
	b, _ := json.Marshal(clip(s))
	return string(b)
}
