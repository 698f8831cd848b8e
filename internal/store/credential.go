package store

import (
	"context"
	"time"
)

// CredentialKind says how a credential proves a principal's identity.
type CredentialKind string

// The kinds of credential.
const (
	SecretCredential      CredentialKind = "Secret"      // a client secret, stored as a hash
	CertificateCredential CredentialKind = "Certificate" // a certificate for signed client assertions
	FederatedCredential   CredentialKind = "Federated"   // trust in an external OIDC issuer and subject
)

// Credential is one credential of a principal. Data holds the kind's own fields,
// encoded by internal/identity; it never holds a secret in the clear (client
// secrets are stored as hashes).
type Credential struct {
	ID          string // a GUID (Entra's keyId)
	PrincipalID string
	Kind        CredentialKind
	Name        string // display name; unique per principal when not ""
	Data        []byte
	Created     time.Time
	Expires     time.Time // zero: never
}

// Credentials holds principals' credentials.
type Credentials interface {
	// CreateCredential stores c. It returns an error wrapping ErrNotFound when
	// c.PrincipalID names no principal, and ErrConflict when c.ID exists or the
	// principal already has a credential named c.Name.
	CreateCredential(ctx context.Context, c Credential) error
	// Credentials returns every credential of a principal ordered by Created,
	// then ID; an empty list when it has none.
	Credentials(ctx context.Context, principalID string) ([]Credential, error)
	// AllCredentials lists the credentials of every principal ordered by ID, one
	// page at a time, and returns the cursor of the next page. It lets a cache
	// load all credentials in a few queries instead of one per principal.
	AllCredentials(ctx context.Context, p Page) (cs []Credential, next string, err error)
	// ReplaceCredentials deletes every credential of kind k of the principal and
	// stores c (of kind k) in its place, in one transaction. It returns an error
	// wrapping ErrNotFound when the principal does not exist.
	ReplaceCredentials(ctx context.Context, principalID string, k CredentialKind, c Credential) error
	// DeleteCredential deletes one credential of a principal. It returns an error
	// wrapping ErrNotFound when there is no such credential.
	DeleteCredential(ctx context.Context, principalID, id string) error
}
