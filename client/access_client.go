package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// The management API's collections of the scope tree and access control.
const (
	hubsPath              = "/api/v1/hubs"
	vaultsPath            = "/api/v1/vaults"
	roleDefinitionsPath   = "/api/v1/roleDefinitions"
	roleAssignmentsPath   = "/api/v1/roleAssignments"
	roleEligibilitiesPath = "/api/v1/roleEligibilities"
	checkAccessPath       = "/api/v1/checkAccess"
)

func hubPath(hub string) string              { return hubsPath + "/" + seg(hub) }
func projectPath(hub, project string) string { return hubPath(hub) + "/projects/" + seg(project) }

// withQuery appends the non-empty values of q to path. Pairs are key, value.
func withQuery(path string, pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// putResource creates the resource at path, or returns it when it exists
// already: the server answers PUT with 201 for a new resource and 200 for an
// existing one, and both are success.
func (c *Client) putResource(ctx context.Context, path, name string) (Resource, error) {
	var out Resource
	err := c.do(ctx, http.MethodPut, path, CreateResourceRequest{Name: name}, &out, http.StatusCreated)
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusOK {
		// do expects one status; the resource was there already, so read it.
		err = c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	}
	return out, err
}

// PutHub creates the hub /hubs/{name}, or returns it when it exists.
func (c *Client) PutHub(ctx context.Context, name string) (Resource, error) {
	return c.putResource(ctx, hubPath(name), name)
}

// Hubs lists the hubs the caller may read, following all pages.
func (c *Client) Hubs(ctx context.Context) ([]Resource, error) {
	return listAll[Resource](ctx, c, hubsPath)
}

// Hub returns the hub named name.
func (c *Client) Hub(ctx context.Context, name string) (Resource, error) {
	var out Resource
	err := c.do(ctx, http.MethodGet, hubPath(name), nil, &out, http.StatusOK)
	return out, err
}

// DeleteHub deletes an empty hub and every role assignment at or below it.
func (c *Client) DeleteHub(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, hubPath(name), nil, nil, http.StatusNoContent)
}

// PutProject creates the project /hubs/{hub}/projects/{name}, or returns it
// when it exists.
func (c *Client) PutProject(ctx context.Context, hub, name string) (Resource, error) {
	return c.putResource(ctx, projectPath(hub, name), name)
}

// Projects lists the projects of hub the caller may read, following all pages.
func (c *Client) Projects(ctx context.Context, hub string) ([]Resource, error) {
	return listAll[Resource](ctx, c, hubPath(hub)+"/projects")
}

// Project returns a project of hub.
func (c *Client) Project(ctx context.Context, hub, name string) (Resource, error) {
	var out Resource
	err := c.do(ctx, http.MethodGet, projectPath(hub, name), nil, &out, http.StatusOK)
	return out, err
}

// DeleteProject deletes a project and every role assignment at or below it.
func (c *Client) DeleteProject(ctx context.Context, hub, name string) error {
	return c.do(ctx, http.MethodDelete, projectPath(hub, name), nil, nil, http.StatusNoContent)
}

// PutVault creates the vault /hubs/{hub}/vaults/{name}, or returns it when it
// exists. Vault names are unique in the tenant.
func (c *Client) PutVault(ctx context.Context, hub, name string) (Resource, error) {
	return c.putResource(ctx, hubPath(hub)+"/vaults/"+seg(name), name)
}

// Vaults lists the vaults of hub ("" for every hub) that the caller may read,
// following all pages.
func (c *Client) Vaults(ctx context.Context, hub string) ([]Resource, error) {
	if hub == "" {
		return listAll[Resource](ctx, c, vaultsPath)
	}
	return listAll[Resource](ctx, c, hubPath(hub)+"/vaults")
}

// Vault returns the vault named name, in whichever hub it is.
func (c *Client) Vault(ctx context.Context, name string) (Resource, error) {
	var out Resource
	err := c.do(ctx, http.MethodGet, vaultsPath+"/"+seg(name), nil, &out, http.StatusOK)
	return out, err
}

// DeleteVault deletes the vault named name and every role assignment on it.
func (c *Client) DeleteVault(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, vaultsPath+"/"+seg(name), nil, nil, http.StatusNoContent)
}

// RoleDefinitions lists every role, built-in and custom, following all pages.
func (c *Client) RoleDefinitions(ctx context.Context) ([]RoleDefinition, error) {
	return listAll[RoleDefinition](ctx, c, roleDefinitionsPath)
}

// RoleDefinition returns the role whose id or name (case-insensitive) is ref.
func (c *Client) RoleDefinition(ctx context.Context, ref string) (RoleDefinition, error) {
	var out RoleDefinition
	err := c.do(ctx, http.MethodGet, roleDefinitionsPath+"/"+seg(ref), nil, &out, http.StatusOK)
	return out, err
}

// CreateRoleDefinition creates a custom role; the server chooses its id.
func (c *Client) CreateRoleDefinition(ctx context.Context, def RoleDefinition) (RoleDefinition, error) {
	var out RoleDefinition
	err := c.do(ctx, http.MethodPost, roleDefinitionsPath, def, &out, http.StatusCreated)
	return out, err
}

// UpdateRoleDefinition replaces the custom role whose id or name is ref by def;
// the change reaches its assignments at once.
func (c *Client) UpdateRoleDefinition(ctx context.Context, ref string, def RoleDefinition) (RoleDefinition, error) {
	var out RoleDefinition
	err := c.do(ctx, http.MethodPut, roleDefinitionsPath+"/"+seg(ref), def, &out, http.StatusOK)
	return out, err
}

// DeleteRoleDefinition deletes a custom role that nothing is assigned.
func (c *Client) DeleteRoleDefinition(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, roleDefinitionsPath+"/"+seg(ref), nil, nil, http.StatusNoContent)
}

// RoleAssignments lists role assignments, following all pages. Each filter
// left "" matches everything: assignee is an object id, appId or name, role a
// role's id or name, scope the exact scope of the assignments.
func (c *Client) RoleAssignments(ctx context.Context, assignee, role, scope string) ([]RoleAssignment, error) {
	return listAll[RoleAssignment](ctx, c, withQuery(roleAssignmentsPath, "assignee", assignee, "role", role, "scope", scope))
}

// CreateRoleAssignment assigns a role to a principal at a scope.
func (c *Client) CreateRoleAssignment(ctx context.Context, req CreateRoleAssignmentRequest) (RoleAssignment, error) {
	var out RoleAssignment
	err := c.do(ctx, http.MethodPost, roleAssignmentsPath, req, &out, http.StatusCreated)
	return out, err
}

// DeleteRoleAssignment removes a role assignment; it applies from the next
// request on.
func (c *Client) DeleteRoleAssignment(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, roleAssignmentsPath+"/"+seg(id), nil, nil, http.StatusNoContent)
}

// Eligibles lists eligible assignments, following all pages; "" filters match
// everything. Any caller may list its own (assignee: its object id).
func (c *Client) Eligibles(ctx context.Context, assignee, scope string) ([]EligibleAssignment, error) {
	return listAll[EligibleAssignment](ctx, c, withQuery(roleEligibilitiesPath, "assignee", assignee, "scope", scope))
}

// CreateEligible makes a principal eligible to activate a role at a scope.
func (c *Client) CreateEligible(ctx context.Context, req CreateEligibleRequest) (EligibleAssignment, error) {
	var out EligibleAssignment
	err := c.do(ctx, http.MethodPost, roleEligibilitiesPath, req, &out, http.StatusCreated)
	return out, err
}

// DeleteEligible removes an eligible assignment and its activations.
func (c *Client) DeleteEligible(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, roleEligibilitiesPath+"/"+seg(id), nil, nil, http.StatusNoContent)
}

// Activate turns the caller's eligible assignment id into a role assignment
// that expires by itself, and returns that assignment.
func (c *Client) Activate(ctx context.Context, id string, req ActivateRequest) (RoleAssignment, error) {
	var out RoleAssignment
	err := c.do(ctx, http.MethodPost, roleEligibilitiesPath+"/"+seg(id)+"/activate", req, &out, http.StatusCreated)
	return out, err
}

// Deactivate ends the activations of eligible assignment id early.
func (c *Client) Deactivate(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, roleEligibilitiesPath+"/"+seg(id)+"/deactivate", nil, nil, http.StatusNoContent)
}

// CheckAccess asks whether assignee (object id, appId or name) may perform
// action at scope, and why. A denial is an answer, not an error.
func (c *Client) CheckAccess(ctx context.Context, assignee, action, scope string) (AccessDecision, error) {
	var out AccessDecision
	err := c.do(ctx, http.MethodGet, withQuery(checkAccessPath, "assignee", assignee, "action", action, "scope", scope), nil, &out, http.StatusOK)
	return out, err
}

// accountPath is the management path of an AI services account's record.
func accountPath(hub, name string) string { return hubPath(hub) + "/accounts/" + seg(name) }

// PutAccount creates the record of the AI services account
// /hubs/{hub}/accounts/{name}, or returns it when it exists. (Keys, upstream
// and the data plane of accounts come with their own API.)
func (c *Client) PutAccount(ctx context.Context, hub, name string) (Resource, error) {
	return c.putResource(ctx, accountPath(hub, name), name)
}

// Accounts lists the accounts of hub the caller may read, following all pages.
func (c *Client) Accounts(ctx context.Context, hub string) ([]Resource, error) {
	return listAll[Resource](ctx, c, hubPath(hub)+"/accounts")
}

// Account returns the record of an AI services account.
func (c *Client) Account(ctx context.Context, hub, name string) (Resource, error) {
	var out Resource
	err := c.do(ctx, http.MethodGet, accountPath(hub, name), nil, &out, http.StatusOK)
	return out, err
}

// DeleteAccount deletes an AI services account's record.
func (c *Client) DeleteAccount(ctx context.Context, hub, name string) error {
	return c.do(ctx, http.MethodDelete, accountPath(hub, name), nil, nil, http.StatusNoContent)
}
