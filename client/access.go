package client

import "time"

// Resource is a hub, project, vault or AI services account on the scope tree.
type Resource struct {
	ID       string    `json:"id"`   // its scope, such as /hubs/default/vaults/default
	Kind     string    `json:"kind"` // Hub, Project, Vault or Account
	Name     string    `json:"name"`
	Hub      string    `json:"hub,omitempty"`
	VaultURI string    `json:"vaultUri,omitempty"` // vaults: the Key Vault data-plane URL
	Created  time.Time `json:"created"`
}

// CreateResourceRequest names a new hub, project or vault.
type CreateResourceRequest struct {
	Name string `json:"name"`
}

// Permission is one block of a role definition, in Azure's shape.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a role, in the flattened shape `az role definition list`
// prints.
type RoleDefinition struct {
	ID               string       `json:"id"`
	RoleName         string       `json:"roleName"`
	RoleType         string       `json:"roleType"` // BuiltInRole or CustomRole
	Description      string       `json:"description"`
	Permissions      []Permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

// RoleAssignment grants a role to a principal at a scope and below.
type RoleAssignment struct {
	ID                 string     `json:"id"`
	PrincipalID        string     `json:"principalId"`
	RoleDefinitionID   string     `json:"roleDefinitionId"`
	RoleDefinitionName string     `json:"roleDefinitionName"`
	Scope              string     `json:"scope"`
	Expires            *time.Time `json:"expires,omitempty"`       // activated eligible assignments
	EligibilityID      string     `json:"eligibilityId,omitempty"` // activated eligible assignments
	Justification      string     `json:"justification,omitempty"`
	CreatedBy          string     `json:"createdBy"`
	Created            time.Time  `json:"created"`
}

// CreateRoleAssignmentRequest assigns Role (name or id) to Assignee (an object
// id, an appId, a user name or a managed identity name) at Scope.
type CreateRoleAssignmentRequest struct {
	Assignee string `json:"assignee"`
	Role     string `json:"role"`
	Scope    string `json:"scope"`
}

// EligibleAssignment lets a principal activate a role at a scope for a while.
type EligibleAssignment struct {
	ID                   string    `json:"id"`
	PrincipalID          string    `json:"principalId"`
	RoleDefinitionID     string    `json:"roleDefinitionId"`
	RoleDefinitionName   string    `json:"roleDefinitionName"`
	Scope                string    `json:"scope"`
	MaxDurationMinutes   int       `json:"maxDurationMinutes"`
	RequireJustification bool      `json:"requireJustification"`
	CreatedBy            string    `json:"createdBy"`
	Created              time.Time `json:"created"`
}

// CreateEligibleRequest makes Assignee eligible for Role at Scope.
type CreateEligibleRequest struct {
	Assignee             string `json:"assignee"`
	Role                 string `json:"role"`
	Scope                string `json:"scope"`
	MaxDurationMinutes   int    `json:"maxDurationMinutes,omitempty"`   // default 480
	RequireJustification *bool  `json:"requireJustification,omitempty"` // default true
}

// ActivateRequest activates an eligible assignment.
type ActivateRequest struct {
	Justification   string `json:"justification"`
	DurationMinutes int    `json:"durationMinutes,omitempty"` // default: the maximum
}

// AccessDecision explains whether a principal may perform an action at a scope.
type AccessDecision struct {
	PrincipalID      string `json:"principalId"`
	Action           string `json:"action"`
	Scope            string `json:"scope"`
	Allowed          bool   `json:"allowed"`
	Reason           string `json:"reason"`
	RoleAssignmentID string `json:"roleAssignmentId,omitempty"`
	RoleName         string `json:"roleName,omitempty"`
}
