package store

import (
	"context"
	"time"
)

// ResourceKind says what a resource is.
type ResourceKind string

// The kinds of resource on the scope tree.
const (
	Hub     ResourceKind = "Hub"     // /hubs/{hub}
	Project ResourceKind = "Project" // /hubs/{hub}/projects/{project}
	Vault   ResourceKind = "Vault"   // /hubs/{hub}/vaults/{vault}
	Account ResourceKind = "Account" // /hubs/{hub}/accounts/{account}
	// Connection is a connection shared by a hub or owned by a project:
	// /hubs/{hub}/connections/{name}, /hubs/{hub}/projects/{p}/connections/{name}.
	Connection ResourceKind = "Connection"
	// KeyVaultConnection is the one connection of a hub that names the vault
	// holding its connections' secrets, at /hubs/{hub}/connections/{name}.
	KeyVaultConnection ResourceKind = "KeyVaultConnection"
)

// Resource is a node of the scope tree below the tenant: a hub, a project, a
// vault, an AI services account or a connection. Its behaviour belongs to its own domain;
// the store keeps the record and the domain's Properties (JSON).
type Resource struct {
	Scope      string // the resource's scope path, such as /hubs/h/vaults/v
	Kind       ResourceKind
	Name       string // the last segment of Scope
	Parent     string // the parent's scope: "/" for hubs
	Properties []byte // owned by the kind's domain; nil when none
	Created    time.Time
	Updated    time.Time
}

// Resources holds the scope tree's resources.
type Resources interface {
	// CreateResource stores r. It returns an error wrapping ErrConflict when
	// r.Scope exists, or when r is a vault or account whose Name another vault
	// or account already has (their names are unique in the tenant, as DNS
	// names are in Azure), or when r is a KeyVaultConnection and r.Parent has
	// one already (a hub has at most one); and ErrNotFound when r.Parent is not
	// "/" and names no resource. The names of other kinds, connections
	// included, are unique only within their parent, through their scope.
	CreateResource(ctx context.Context, r Resource) error
	// Resource returns the resource at scope, or an error wrapping ErrNotFound.
	Resource(ctx context.Context, scope string) (Resource, error)
	// ResourceByName returns the vault or account of kind k named name, or an
	// error wrapping ErrNotFound.
	ResourceByName(ctx context.Context, k ResourceKind, name string) (Resource, error)
	// Resources lists resources of kind k ("" for all) under parent ("" for
	// anywhere) ordered by Scope, one page at a time.
	Resources(ctx context.Context, k ResourceKind, parent string, p Page) (rs []Resource, next string, err error)
	// UpdateResource replaces the Properties and Updated of the resource at
	// r.Scope. It returns an error wrapping ErrNotFound when there is none.
	UpdateResource(ctx context.Context, r Resource) error
	// UpdateResourceIf is UpdateResource on condition that the stored
	// Properties are exactly prev (nil and empty are the same): a write
	// that only applies to the state it was computed from. It returns an
	// error wrapping ErrConflict when they are not, and ErrNotFound when
	// there is no resource at r.Scope.
	UpdateResourceIf(ctx context.Context, r Resource, prev []byte) error
	// DeleteResource deletes the resource at scope. It returns an error
	// wrapping ErrNotFound when there is none, and ErrConflict when another
	// resource has it as Parent or, for a vault, while it holds secrets
	// (deleted ones included), so that a vault created later under the same
	// name never inherits them.
	DeleteResource(ctx context.Context, scope string) error
}
