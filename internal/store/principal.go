package store

import (
	"context"
	"time"
)

// PrincipalKind says what a principal is.
type PrincipalKind string

// The kinds of principal, named as Entra's principalType values.
const (
	User             PrincipalKind = "User"
	ServicePrincipal PrincipalKind = "ServicePrincipal"
	ManagedIdentity  PrincipalKind = "ManagedIdentity"
)

// Principal is an identity that can get tokens: a user, a service principal or a
// managed identity.
type Principal struct {
	ID   string // object id (the token's oid), a GUID
	Kind PrincipalKind
	// Name is the user name of a user, the display name of a service principal,
	// and the name of a managed identity. Users and managed identities have
	// unique names within their kind; service principals' names need not be.
	Name string
	// AppID is the client id of a service principal or managed identity, a GUID,
	// unique among principals; "" for users.
	AppID string
	// Scope is where a managed identity lives: /identities/{name} for a
	// user-assigned one, the owning resource's scope for a system-assigned one.
	// "" for users and service principals.
	Scope        string
	Enabled      bool
	PasswordHash string // users only: an argon2id PHC string; never a password
	Created      time.Time
	Updated      time.Time
}

// Principals holds principals.
type Principals interface {
	// CreatePrincipal stores p. It returns an error wrapping ErrConflict when a
	// principal with the same ID or AppID exists, or a user or managed identity
	// with the same Name exists.
	CreatePrincipal(ctx context.Context, p Principal) error
	// Principal returns the principal with object id id, or an error wrapping
	// ErrNotFound.
	Principal(ctx context.Context, id string) (Principal, error)
	// PrincipalByAppID returns the service principal or managed identity whose
	// client id is appID, or an error wrapping ErrNotFound.
	PrincipalByAppID(ctx context.Context, appID string) (Principal, error)
	// PrincipalByName returns the user or managed identity of kind k named name,
	// or an error wrapping ErrNotFound (also for k == ServicePrincipal, whose
	// names are not unique).
	PrincipalByName(ctx context.Context, k PrincipalKind, name string) (Principal, error)
	// Principals lists principals of kind k (all kinds when k is "") ordered by
	// ID, one page at a time, and returns the cursor of the next page.
	Principals(ctx context.Context, k PrincipalKind, p Page) (ps []Principal, next string, err error)
	// UpdatePrincipal replaces the Name, Enabled, PasswordHash and Updated of the
	// principal with p.ID. It returns an error wrapping ErrNotFound when there is
	// none, and ErrConflict when the new Name is taken.
	UpdatePrincipal(ctx context.Context, p Principal) error
	// DeletePrincipal deletes the principal and all its credentials, in one
	// transaction. It returns an error wrapping ErrNotFound when there is none.
	DeletePrincipal(ctx context.Context, id string) error
}
