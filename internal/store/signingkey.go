package store

import (
	"context"
	"time"
)

// SigningKey is a key that signs access tokens. Private is sealed ciphertext.
type SigningKey struct {
	ID          string // the JWT kid
	Algorithm   string // "ES256"
	Private     []byte // sealed PKCS #8 private key
	Public      []byte // PKIX public key, DER
	Created     time.Time
	ActiveUntil time.Time // signs new tokens until then
	RetireAt    time.Time // published, and accepted, until then
}

// SigningKeys holds token signing keys.
type SigningKeys interface {
	// CreateSigningKey stores k. It returns an error wrapping ErrConflict when
	// k.ID exists.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// SigningKeys returns every stored signing key ordered by Created, then ID.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// DeleteSigningKey deletes a key. It returns an error wrapping ErrNotFound
	// when there is none.
	DeleteSigningKey(ctx context.Context, id string) error
}
