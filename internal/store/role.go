package store

import (
	"context"
	"time"
)

// RoleDefinition is a custom role. Built-in roles live in code (internal/access)
// and are never stored. Permissions is JSON owned by internal/access.
type RoleDefinition struct {
	ID               string // a GUID
	Name             string // unique, case-insensitively, among custom roles
	Description      string
	Permissions      []byte
	AssignableScopes []string
	Created          time.Time
	Updated          time.Time
}

// RoleAssignment grants a role to a principal at a scope and everything below
// it. An assignment made by activating an eligible assignment (PIM) carries its
// EligibilityID, Justification and Expires.
type RoleAssignment struct {
	ID            string // a GUID
	PrincipalID   string
	RoleID        string // a built-in or custom role definition id
	Scope         string
	Expires       time.Time // zero: never
	EligibilityID string    // "" for a direct assignment
	Justification string
	CreatedBy     string // object id of the principal who made it
	Created       time.Time
}

// AssignmentFilter narrows a listing; empty fields match everything.
type AssignmentFilter struct {
	PrincipalID string
	RoleID      string
	Scope       string // exactly this scope
}

// EligibleAssignment lets a principal activate a role at a scope for a while,
// with a justification (privileged identity management).
type EligibleAssignment struct {
	ID                   string
	PrincipalID          string
	RoleID               string
	Scope                string
	MaxDuration          time.Duration
	RequireJustification bool
	CreatedBy            string
	Created              time.Time
}

// RoleDefinitions holds custom roles.
type RoleDefinitions interface {
	// CreateRoleDefinition stores d. It returns an error wrapping ErrConflict
	// when d.ID exists or another custom role has d.Name (compared
	// case-insensitively).
	CreateRoleDefinition(ctx context.Context, d RoleDefinition) error
	// RoleDefinition returns the custom role with id, or an error wrapping
	// ErrNotFound.
	RoleDefinition(ctx context.Context, id string) (RoleDefinition, error)
	// RoleDefinitions returns every custom role ordered by Name.
	RoleDefinitions(ctx context.Context) ([]RoleDefinition, error)
	// UpdateRoleDefinition replaces the Name, Description, Permissions,
	// AssignableScopes and Updated of the role with d.ID. It returns an error
	// wrapping ErrNotFound when there is none and ErrConflict when the new Name
	// is taken.
	UpdateRoleDefinition(ctx context.Context, d RoleDefinition) error
	// DeleteRoleDefinition deletes a custom role. It returns an error wrapping
	// ErrNotFound when there is none and ErrConflict while an assignment or
	// eligible assignment uses it.
	DeleteRoleDefinition(ctx context.Context, id string) error
}

// RoleAssignments holds role assignments.
type RoleAssignments interface {
	// CreateRoleAssignment stores a. It returns an error wrapping ErrConflict
	// when a.ID exists or an assignment of the same principal, role, scope and
	// EligibilityID exists.
	CreateRoleAssignment(ctx context.Context, a RoleAssignment) error
	// RoleAssignment returns the assignment with id, or an error wrapping
	// ErrNotFound.
	RoleAssignment(ctx context.Context, id string) (RoleAssignment, error)
	// RoleAssignments lists assignments matching f ordered by ID, one page at a
	// time.
	RoleAssignments(ctx context.Context, f AssignmentFilter, p Page) (as []RoleAssignment, next string, err error)
	// DeleteRoleAssignment deletes an assignment. It returns an error wrapping
	// ErrNotFound when there is none.
	DeleteRoleAssignment(ctx context.Context, id string) error
}

// EligibleAssignments holds eligible assignments.
type EligibleAssignments interface {
	// CreateEligibleAssignment stores e. It returns an error wrapping
	// ErrConflict when e.ID exists or an eligible assignment of the same
	// principal, role and scope exists.
	CreateEligibleAssignment(ctx context.Context, e EligibleAssignment) error
	// EligibleAssignment returns the eligible assignment with id, or an error
	// wrapping ErrNotFound.
	EligibleAssignment(ctx context.Context, id string) (EligibleAssignment, error)
	// EligibleAssignments lists eligible assignments matching f ordered by ID,
	// one page at a time.
	EligibleAssignments(ctx context.Context, f AssignmentFilter, p Page) (es []EligibleAssignment, next string, err error)
	// DeleteEligibleAssignment deletes an eligible assignment and every active
	// assignment made from it, in one transaction. It returns an error wrapping
	// ErrNotFound when there is none.
	DeleteEligibleAssignment(ctx context.Context, id string) error
}
