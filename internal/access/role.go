package access

import (
	"encoding/json"
	"strings"

	"github.com/latchkey/latchkey/internal/errs"
)

// Permission is one block of a role, in Azure's shape: effective control
// actions are Actions minus NotActions, effective data actions DataActions
// minus NotDataActions. NotActions subtract inside the role; they never deny
// what another role grants.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// Role is a role definition, built-in or custom.
type Role struct {
	ID               string       `json:"id"`
	Name             string       `json:"roleName"`
	Description      string       `json:"description"`
	BuiltIn          bool         `json:"-"`
	Permissions      []Permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

// compiledRole is a Role ready for decisions.
type compiledRole struct {
	role  *Role
	perms []compiledPermission
}

type compiledPermission struct {
	actions, notActions, dataActions, notDataActions []pattern
}

func compileRole(r *Role) *compiledRole {
	c := &compiledRole{role: r}
	for _, p := range r.Permissions {
		c.perms = append(c.perms, compiledPermission{
			actions: compileAll(p.Actions), notActions: compileAll(p.NotActions),
			dataActions: compileAll(p.DataActions), notDataActions: compileAll(p.NotDataActions),
		})
	}
	return c
}

func compileAll(ps []string) []pattern {
	out := make([]pattern, len(ps))
	for i, p := range ps {
		out[i] = compilePattern(p)
	}
	return out
}

// grants reports whether the role grants the lower-cased action a on plane pl.
func (c *compiledRole) grants(a string, pl Plane) bool {
	for _, p := range c.perms {
		yes, no := p.actions, p.notActions
		if pl == Data {
			yes, no = p.dataActions, p.notDataActions
		}
		if anyMatch(yes, a) && !anyMatch(no, a) {
			return true
		}
	}
	return false
}

// Grants reports whether r grants the known action named action (matched
// case-insensitively): a control action through its actions and notActions,
// a data action through its dataActions and notDataActions. It compiles the
// role's patterns on every call, so callers that ask often remember the
// answers. An unknown action is never granted.
func (r *Role) Grants(action string) bool {
	a, la, ok := lookupAction(action)
	if !ok {
		return false
	}
	return compileRole(r).grants(la, a.Plane)
}

func anyMatch(ps []pattern, a string) bool {
	for _, p := range ps {
		if p.match(a) {
			return true
		}
	}
	return false
}

// validate checks a custom role and returns it normalised. Errors are of Kind
// Invalid and name the field.
func (r Role) validate() (Role, error) {
	const o = "access.validateRole"
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || len(r.Name) > 128 {
		return r, errs.Invalidf(o, "roleName", "a role needs a name of 1 to 128 characters")
	}
	if _, ok := builtinByName[strings.ToLower(r.Name)]; ok {
		return r, errs.E(errs.Conflict, o, "a built-in role is named "+r.Name+": choose another name", nil)
	}
	if len(r.Permissions) == 0 {
		return r, errs.Invalidf(o, "permissions", "a role needs at least one permission block with actions or dataActions")
	}
	for i, p := range r.Permissions {
		for field, list := range map[string][]string{"actions": p.Actions, "notActions": p.NotActions, "dataActions": p.DataActions, "notDataActions": p.NotDataActions} {
			for _, a := range list {
				if !validPattern(a) {
					return r, errs.Invalidf(o, "permissions["+itoa(i)+"]."+field, "%q is not an action pattern like Latchkey.KeyVault/vaults/secrets/* or */read", clip(a))
				}
			}
		}
	}
	if len(r.AssignableScopes) == 0 {
		r.AssignableScopes = []string{"/"}
	}
	for i, s := range r.AssignableScopes {
		cs, err := ParseScope(s)
		if err != nil {
			return r, errs.Invalidf(o, "assignableScopes["+itoa(i)+"]", "%s", errs.Message(err))
		}
		r.AssignableScopes[i] = cs
	}
	return r, nil
}

func encodePermissions(ps []Permission) []byte {
	b, _ := json.Marshal(ps) // slices of strings always encode
	return b
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
