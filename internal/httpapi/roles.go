package httpapi

import (
	"net/http"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// This file is the management API of access control: role definitions, role
// assignments, eligible assignments (PIM) and access checks.

func roleDefinitionOf(r access.Role) client.RoleDefinition {
	d := client.RoleDefinition{ID: r.ID, RoleName: r.Name, RoleType: "CustomRole", Description: r.Description, AssignableScopes: r.AssignableScopes}
	if r.BuiltIn {
		d.RoleType = "BuiltInRole"
	}
	for _, p := range r.Permissions {
		d.Permissions = append(d.Permissions, client.Permission(p))
	}
	return d
}

func roleOf(d client.RoleDefinition) access.Role {
	r := access.Role{ID: d.ID, Name: d.RoleName, Description: d.Description, AssignableScopes: d.AssignableScopes}
	for _, p := range d.Permissions {
		r.Permissions = append(r.Permissions, access.Permission(p))
	}
	return r
}

func (s *Server) roleDefinitions(w http.ResponseWriter, r *http.Request) error {
	roles, err := s.access.Roles(r.Context())
	if err != nil {
		return err
	}
	out := make([]client.RoleDefinition, len(roles))
	for i, role := range roles {
		out[i] = roleDefinitionOf(role)
	}
	return writeJSON(w, http.StatusOK, client.List[client.RoleDefinition]{Value: out})
}

func (s *Server) roleDefinition(w http.ResponseWriter, r *http.Request) error {
	role, err := s.access.Role(r.Context(), r.PathValue("role"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, roleDefinitionOf(role))
}

func (s *Server) createRoleDefinition(w http.ResponseWriter, r *http.Request) error {
	var d client.RoleDefinition
	if err := readJSON(w, r, &d); err != nil {
		return err
	}
	role, err := s.access.CreateRole(r.Context(), caller(r.Context()).ObjectID, roleOf(d))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, roleDefinitionOf(role))
}

func (s *Server) updateRoleDefinition(w http.ResponseWriter, r *http.Request) error {
	var d client.RoleDefinition
	if err := readJSON(w, r, &d); err != nil {
		return err
	}
	old, err := s.access.Role(r.Context(), r.PathValue("role"))
	if err != nil {
		return err
	}
	d.ID = old.ID
	role, err := s.access.UpdateRole(r.Context(), caller(r.Context()).ObjectID, roleOf(d))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, roleDefinitionOf(role))
}

func (s *Server) deleteRoleDefinition(w http.ResponseWriter, r *http.Request) error {
	if err := s.access.DeleteRole(r.Context(), caller(r.Context()).ObjectID, r.PathValue("role")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func roleAssignmentOf(a access.Assignment) client.RoleAssignment {
	out := client.RoleAssignment{
		ID: a.ID, PrincipalID: a.PrincipalID, RoleDefinitionID: a.RoleID, RoleDefinitionName: a.RoleName, Scope: a.Scope,
		EligibilityID: a.EligibilityID, Justification: a.Justification, CreatedBy: a.CreatedBy, Created: a.Created,
	}
	if !a.Expires.IsZero() {
		exp := a.Expires
		out.Expires = &exp
	}
	return out
}

// queryScope is the scope of a listing: ?scope=, or the tenant.
func queryScope(r *http.Request) string {
	if sc := r.URL.Query().Get("scope"); sc != "" {
		if canonical, err := access.ParseScope(sc); err == nil {
			return canonical
		}
		return sc // refused by the handler with a clear error
	}
	return "/"
}

func (s *Server) roleAssignments(w http.ResponseWriter, r *http.Request) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	f := store.AssignmentFilter{Scope: r.URL.Query().Get("scope"), RoleID: r.URL.Query().Get("role")}
	if a := r.URL.Query().Get("assignee"); a != "" {
		if f.PrincipalID, err = s.resolveAssignee(r, a); err != nil {
			return err
		}
	}
	as, next, err := s.access.Assignments(r.Context(), f, p)
	if err != nil {
		return err
	}
	return listItems(w, r, as, p, next, roleAssignmentOf)
}

func (s *Server) createRoleAssignment(w http.ResponseWriter, r *http.Request) error {
	var req client.CreateRoleAssignmentRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	id, err := s.resolveAssignee(r, req.Assignee)
	if err != nil {
		return err
	}
	a, err := s.access.CreateAssignment(r.Context(), caller(r.Context()).ObjectID, id, req.Role, req.Scope)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, roleAssignmentOf(a))
}

func (s *Server) deleteRoleAssignment(w http.ResponseWriter, r *http.Request) error {
	if err := s.access.DeleteAssignment(r.Context(), caller(r.Context()).ObjectID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func eligibleOf(e access.Eligibility) client.EligibleAssignment {
	return client.EligibleAssignment{
		ID: e.ID, PrincipalID: e.PrincipalID, RoleDefinitionID: e.RoleID, RoleDefinitionName: e.RoleName, Scope: e.Scope,
		MaxDurationMinutes: int(e.MaxDuration / time.Minute), RequireJustification: e.RequireJustification,
		CreatedBy: e.CreatedBy, Created: e.Created,
	}
}

// eligibles lists eligible assignments: a caller may always list its own; to
// list others' it needs RoleEligibilityRead at the scope.
func (s *Server) eligibles(w http.ResponseWriter, r *http.Request) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	me := caller(r.Context()).ObjectID
	f := store.AssignmentFilter{Scope: r.URL.Query().Get("scope")}
	if a := r.URL.Query().Get("assignee"); a != "" {
		if f.PrincipalID, err = s.resolveAssignee(r, a); err != nil {
			return err
		}
	}
	if f.PrincipalID != me {
		if err := s.access.Authorize(r.Context(), me, access.RoleEligibilityRead, queryScope(r)); err != nil {
			return err
		}
	}
	es, next, err := s.access.Eligibles(r.Context(), f, p)
	if err != nil {
		return err
	}
	return listItems(w, r, es, p, next, eligibleOf)
}

func (s *Server) createEligible(w http.ResponseWriter, r *http.Request) error {
	var req client.CreateEligibleRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	id, err := s.resolveAssignee(r, req.Assignee)
	if err != nil {
		return err
	}
	justify := req.RequireJustification == nil || *req.RequireJustification
	e, err := s.access.CreateEligible(r.Context(), caller(r.Context()).ObjectID, id, req.Role, req.Scope,
		time.Duration(req.MaxDurationMinutes)*time.Minute, justify)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, eligibleOf(e))
}

func (s *Server) deleteEligible(w http.ResponseWriter, r *http.Request) error {
	if err := s.access.DeleteEligible(r.Context(), caller(r.Context()).ObjectID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) activateEligible(w http.ResponseWriter, r *http.Request) error {
	var req client.ActivateRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	a, err := s.access.Activate(r.Context(), caller(r.Context()).ObjectID, r.PathValue("id"),
		time.Duration(req.DurationMinutes)*time.Minute, req.Justification)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, roleAssignmentOf(a))
}

func (s *Server) deactivateEligible(w http.ResponseWriter, r *http.Request) error {
	if err := s.access.Deactivate(r.Context(), caller(r.Context()).ObjectID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkAccess explains a decision: ?assignee=&action=&scope=.
func (s *Server) checkAccess(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id, err := s.resolveAssignee(r, q.Get("assignee"))
	if err != nil {
		return err
	}
	scope, err := access.ParseScope(q.Get("scope"))
	if err != nil {
		return err
	}
	if _, ok := access.Lookup(q.Get("action")); !ok {
		return errs.Invalidf("httpapi.checkAccess", "action", "%q is not a known action: see docs/access.md", q.Get("action"))
	}
	d := s.access.Decide(id, q.Get("action"), scope)
	return writeJSON(w, http.StatusOK, client.AccessDecision{
		PrincipalID: id, Action: q.Get("action"), Scope: scope, Allowed: d.Allowed, Reason: d.Reason,
		RoleAssignmentID: d.AssignmentID, RoleName: d.RoleName,
	})
}

// resolveAssignee finds a principal by object id, appId, user name or managed
// identity name, in that order, as az's --assignee does.
func (s *Server) resolveAssignee(r *http.Request, ref string) (string, error) {
	ctx := r.Context()
	if ref == "" {
		return "", errs.Invalidf("httpapi.assignee", "assignee", "name the assignee: an object id, appId, user name or managed identity name")
	}
	if p, err := s.identity.Principal(ctx, ref); err == nil {
		return p.ID, nil
	}
	if p, err := s.identity.PrincipalByAppID(ctx, ref); err == nil {
		return p.ID, nil
	}
	for _, k := range []store.PrincipalKind{store.User, store.ManagedIdentity} {
		if p, err := s.identity.PrincipalByName(ctx, k, ref); err == nil {
			return p.ID, nil
		}
	}
	return "", errs.E(errs.NotFound, "httpapi.assignee", "no principal has the object id, appId or name "+quoteShort(ref), nil)
}
