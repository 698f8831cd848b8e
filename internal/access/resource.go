package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// CreateResource records a hub, project, vault or account at scope. Its
// parent must exist; vault and account names are unique in the tenant. The
// HTTP layer has authorized the caller for the kind's write action at scope.
func (s *Service) CreateResource(ctx context.Context, callerID, scope string) (store.Resource, error) {
	const o = "access.CreateResource"
	scope, err := ParseScope(scope)
	if err != nil {
		return store.Resource{}, err
	}
	kind := KindOf(scope)
	if kind == "" {
		return store.Resource{}, errs.Invalidf(o, "scope", "%s is not a hub, project, vault or account", scope)
	}
	now := store.Time(s.now())
	r := store.Resource{Scope: scope, Kind: kind, Name: scope[strings.LastIndexByte(scope, '/')+1:],
		Parent: Parent(scope), Created: now, Updated: now}
	if err := s.store.CreateResource(ctx, r); err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return r, errs.E(errs.NotFound, o, fmt.Sprintf("%s does not exist: create it first", r.Parent), err)
		case errors.Is(err, store.ErrConflict) && (kind == store.Vault || kind == store.Account):
			return r, errs.E(errs.Conflict, o, fmt.Sprintf("a %s named %s already exists in this tenant (%s names are unique, as DNS names are)",
				noun(kind), r.Name, noun(kind)), err)
		}
		return r, store.Error(o, noun(kind)+" "+scope, err)
	}
	s.audit(ctx, Event{Operation: strings.ToLower(string(kind)) + ".create", CallerID: callerID, Scope: scope, Result: "allowed"})
	return r, s.sync(ctx)
}

// Resource returns the resource at scope.
func (s *Service) Resource(ctx context.Context, scope string) (store.Resource, error) {
	scope, err := ParseScope(scope)
	if err != nil {
		return store.Resource{}, err
	}
	r, err := s.store.Resource(ctx, scope)
	return r, store.Error("access.Resource", noun(KindOf(scope))+" "+scope, err)
}

// ResourceByName returns the vault or account named name.
func (s *Service) ResourceByName(ctx context.Context, k store.ResourceKind, name string) (store.Resource, error) {
	r, err := s.store.ResourceByName(ctx, k, strings.ToLower(name))
	return r, store.Error("access.ResourceByName", noun(k)+" "+name, err)
}

// Resources lists resources of kind k under parent ("" for anywhere).
func (s *Service) Resources(ctx context.Context, k store.ResourceKind, parent string, p store.Page) ([]store.Resource, string, error) {
	if parent != "" {
		var err error
		if parent, err = ParseScope(parent); err != nil {
			return nil, "", err
		}
	}
	rs, next, err := s.store.Resources(ctx, k, parent, p)
	return rs, next, store.Error("access.Resources", "resources", err)
}

// DeleteResource deletes the resource at scope, which must hold no other
// resource, and every role assignment at or below it, so that a resource
// created later under the same name does not inherit them.
func (s *Service) DeleteResource(ctx context.Context, callerID, scope string) error {
	const o = "access.DeleteResource"
	scope, err := ParseScope(scope)
	if err != nil {
		return err
	}
	children, _, err := s.store.Resources(ctx, "", scope, store.Page{Limit: 5})
	if err != nil {
		return store.Error(o, "resources", err)
	}
	if len(children) > 0 {
		names := make([]string, len(children))
		for i, c := range children {
			names[i] = c.Scope
		}
		return errs.E(errs.Conflict, o, fmt.Sprintf("%s still holds %s: delete them first", scope, strings.Join(names, ", ")), nil)
	}
	if err := s.store.DeleteResource(ctx, scope); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errs.E(errs.Conflict, o, fmt.Sprintf("%s still holds secrets or other resources: delete (and purge) them first", scope), err)
		}
		return store.Error(o, noun(KindOf(scope))+" "+scope, err)
	}
	if err := s.dropAssignmentsUnder(ctx, scope); err != nil {
		return err
	}
	s.audit(ctx, Event{Operation: strings.ToLower(string(KindOf(scope))) + ".delete", CallerID: callerID, Scope: scope, Result: "allowed"})
	return s.sync(ctx)
}

// DropAssignmentsUnder deletes every role assignment at or below scope. A
// domain that deletes a resource it keeps itself (a connection) calls it, so
// that a resource created later under the same name inherits nothing.
func (s *Service) DropAssignmentsUnder(ctx context.Context, scope string) error {
	scope, err := ParseScope(scope)
	if err != nil {
		return err
	}
	if err := s.dropAssignmentsUnder(ctx, scope); err != nil {
		return err
	}
	return s.sync(ctx)
}

func (s *Service) dropAssignmentsUnder(ctx context.Context, scope string) error {
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		as, next, err := s.store.RoleAssignments(ctx, store.AssignmentFilter{}, p)
		if err != nil {
			return store.Error("access.DeleteResource", "role assignments", err)
		}
		for _, a := range as {
			if Within(a.Scope, scope) {
				if err := s.store.DeleteRoleAssignment(ctx, a.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return store.Error("access.DeleteResource", "role assignment "+a.ID, err)
				}
				if err := s.reloadPrincipal(ctx, a.PrincipalID); err != nil {
					return err
				}
			}
		}
		if next == "" {
			return nil
		}
		p.After = next
	}
}

func noun(k store.ResourceKind) string {
	switch k {
	case store.Hub:
		return "hub"
	case store.Project:
		return "project"
	case store.Vault:
		return "vault"
	case store.Account:
		return "account"
	}
	return "resource"
}
