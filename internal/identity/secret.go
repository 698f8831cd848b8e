package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Secret is a client secret's plaintext. It prints as [REDACTED]; Reveal it only
// where it leaves the process, once, to the person who asked for it.
type Secret struct{ s string }

func (Secret) String() string       { return "[REDACTED]" }
func (Secret) GoString() string     { return "[REDACTED]" }
func (Secret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Format prints [REDACTED] for every verb, so %d or %x cannot show it either.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[REDACTED]")) }

// Reveal returns the plaintext.
func (s Secret) Reveal() string { return s.s }

// secretData is what the store keeps of a client secret: its SHA-256 and the
// first characters as a hint. Client secrets are 256-bit random values, so a
// fast hash is safe: no dictionary or brute force reaches them.
type secretData struct {
	Hash []byte `json:"hash"`
	Hint string `json:"hint"`
}

// DefaultSecretLifetime is how long a client secret lives unless asked otherwise.
const DefaultSecretLifetime = 365 * 24 * time.Hour

// newSecret generates a 256-bit client secret and its stored credential.
func newSecret(principalID, name string, now time.Time, lifetime time.Duration) (Secret, store.Credential, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Secret{}, store.Credential{}, errs.E(errs.Internal, op("newSecret"), "", err)
	}
	plain := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(plain))
	data, err := json.Marshal(secretData{Hash: sum[:], Hint: plain[:3]})
	if err != nil {
		return Secret{}, store.Credential{}, errs.E(errs.Internal, op("newSecret"), "", err)
	}
	if lifetime <= 0 {
		lifetime = DefaultSecretLifetime
	}
	c := store.Credential{
		ID: uuid.NewString(), PrincipalID: principalID, Kind: store.SecretCredential, Name: name,
		Data: data, Created: store.Time(now), Expires: store.Time(now.Add(lifetime)),
	}
	return Secret{s: plain}, c, nil
}

// matchSecret reports whether plain is one of creds' unexpired secrets. It
// compares in constant time and looks at every candidate, so its timing says
// nothing about which one matched.
func matchSecret(creds []credential, plain string, now time.Time) bool {
	sum := sha256.Sum256([]byte(plain))
	match := 0
	for _, c := range creds {
		if c.secret == nil || (!c.Expires.IsZero() && now.After(c.Expires)) {
			continue
		}
		match |= subtle.ConstantTimeCompare(sum[:], c.secret.Hash)
	}
	return match == 1
}
