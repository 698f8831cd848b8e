package access

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// grant is one role assignment as the decision index holds it.
type grant struct {
	assignmentID string
	scope        string
	roleID       string
	expires      time.Time // zero: never
}

// index is the in-memory decision index: each principal's grants, and the
// roles they name. Reads take no lock; a change to one principal replaces that
// principal's slice, and a change to custom roles swaps the role table.
type index struct {
	grants sync.Map                                 // principal id -> []grant, never modified in place
	roles  atomic.Pointer[map[string]*compiledRole] // custom roles by id
}

func (x *index) setGrants(principalID string, gs []grant) {
	if len(gs) == 0 {
		x.grants.Delete(principalID)
		return
	}
	x.grants.Store(principalID, gs)
}

func (x *index) role(id string) *compiledRole {
	if r, ok := builtinByID[id]; ok {
		return r
	}
	if m := x.roles.Load(); m != nil {
		return (*m)[id]
	}
	return nil
}

// Decision is the answer to "may this principal do this action here", with
// the reason: which assignment allowed it, or that none did.
type Decision struct {
	Allowed      bool
	AssignmentID string // the assignment that allowed it
	RoleName     string
	GrantScope   string // the scope of that assignment
	Reason       string
}

// decide evaluates action on scope for principalID at now. It does no I/O.
func (x *index) decide(principalID, action, scope string, now time.Time) Decision {
	a, ok := catalog[lower(action)]
	if !ok {
		return Decision{Reason: fmt.Sprintf("%s is not a known action", action)}
	}
	v, _ := x.grants.Load(principalID)
	gs, _ := v.([]grant)
	la := lower(a.Name)
	expired := false
	for i := range gs {
		g := &gs[i]
		if !Within(scope, g.scope) {
			continue
		}
		if !g.expires.IsZero() && !now.Before(g.expires) {
			expired = true
			continue
		}
		r := x.role(g.roleID)
		if r == nil || !r.grants(la, a.Plane) {
			continue
		}
		return Decision{
			Allowed: true, AssignmentID: g.assignmentID, RoleName: r.role.Name, GrantScope: g.scope,
			Reason: fmt.Sprintf("role %q assigned at %s (assignment %s) grants %s", r.role.Name, g.scope, g.assignmentID, a.Name),
		}
	}
	reason := fmt.Sprintf("no role assignment of %s at %s or above grants %s", principalID, scope, a.Name)
	if a.Plane == Data {
		reason += " (a data action: control-plane roles such as Owner or Contributor never grant it)"
	}
	if expired {
		reason += "; an activated eligible assignment here has expired"
	}
	return Decision{Reason: reason}
}

// grantsFromAssignments turns stored assignments into grants.
func grantsFromAssignments(as []store.RoleAssignment) []grant {
	gs := make([]grant, 0, len(as))
	for _, a := range as {
		gs = append(gs, grant{assignmentID: a.ID, scope: a.Scope, roleID: a.RoleID, expires: a.Expires})
	}
	return gs
}

// roleGrantsAll reports, for the escalation guard, the known actions that role
// r grants; a caller may assign r only if it holds all of them at the scope.
func (c *compiledRole) knownActions() []Action {
	var out []Action
	for _, a := range catalog {
		if c.grants(strings.ToLower(a.Name), a.Plane) {
			out = append(out, a)
		}
	}
	return out
}
