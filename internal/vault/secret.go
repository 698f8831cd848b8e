package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// Limits, as Key Vault's.
const (
	MaxValueBytes       = 25 * 1024
	MaxTags             = 15
	MaxTagLength        = 256
	MaxContentTypeBytes = 255
	MaxNameLength       = 127
)

// Value is a secret's plaintext. It prints as [REDACTED]; Reveal it only where
// it leaves the process.
type Value struct{ b []byte }

// NewValue wraps plaintext.
func NewValue(b []byte) Value { return Value{b: b} }

func (Value) String() string       { return "[REDACTED]" }
func (Value) GoString() string     { return "[REDACTED]" }
func (Value) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Format prints [REDACTED] for every verb: without it, verbs that fmt does not
// route to String (%d, %o, %b) print the plaintext's bytes.
func (Value) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[REDACTED]") }

// Reveal returns the plaintext.
func (v Value) Reveal() []byte { return v.b }

// Bundle is a secret version as the data plane shows it. Value is set only by
// the operations that return values (Get, Set).
type Bundle struct {
	Vault, Name, Version string
	Value                *Value
	ContentType          string
	Tags                 map[string]string
	Enabled              bool
	NotBefore, Expires   time.Time
	Created, Updated     time.Time
	RecoverableDays      int
	RecoveryLevel        string
}

// Code carries Key Vault's error code and inner code for an error; the data
// plane's error writer shows them.
type Code struct {
	Code, Inner string
}

func (c *Code) Error() string { return c.Code + "/" + c.Inner }

// kvError builds an error of kind k with Key Vault's codes.
func kvError(k errs.Kind, op, code, inner, msg string) error {
	return &errs.Error{Kind: k, Op: op, Msg: msg, Err: &Code{Code: code, Inner: inner}}
}

// checkName validates and canonicalises a secret name (Key Vault names are
// case-insensitive; Latchkey stores them lower-cased).
func checkName(op, name string) (string, error) {
	if name == "" || len(name) > MaxNameLength {
		return "", kvError(errs.Invalid, op, "BadParameter", "InvalidSecretName", fmt.Sprintf("the secret name must be 1 to %d characters of letters, digits and '-'", MaxNameLength))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", kvError(errs.Invalid, op, "BadParameter", "InvalidSecretName", fmt.Sprintf("the secret name %q may hold only letters, digits and '-'", clip(name)))
		}
	}
	return strings.ToLower(name), nil
}

// checkVersion validates a version: "" or 32 hex characters.
func checkVersion(op, version string) (string, error) {
	if version == "" {
		return "", nil
	}
	if len(version) != 32 {
		return "", kvError(errs.NotFound, op, "SecretNotFound", "", "a secret version is 32 hexadecimal characters")
	}
	if _, err := hex.DecodeString(version); err != nil {
		return "", kvError(errs.NotFound, op, "SecretNotFound", "", "a secret version is 32 hexadecimal characters")
	}
	return strings.ToLower(version), nil
}

func checkAttributes(op, contentType string, tags map[string]string) error {
	if len(contentType) > MaxContentTypeBytes {
		return errs.Invalidf(op, "contentType", "contentType is longer than %d bytes", MaxContentTypeBytes)
	}
	if len(tags) > MaxTags {
		return errs.Invalidf(op, "tags", "a secret has at most %d tags, not %d", MaxTags, len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > MaxTagLength || len(v) > MaxTagLength {
			return errs.Invalidf(op, "tags", "tag names must be 1 to %d characters and values at most %d", MaxTagLength, MaxTagLength)
		}
	}
	return nil
}

func newVersion() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Service) binding(vault, name, version string) seal.Binding {
	return seal.Bind("secret", s.tenant, vault, name, version)
}

func (s *Service) bundle(v *vaultInfo, sv store.SecretVersion) Bundle {
	return Bundle{
		Vault: v.name, Name: sv.Name, Version: sv.Version, ContentType: sv.ContentType, Tags: sv.Tags,
		Enabled: sv.Enabled, NotBefore: sv.NotBefore, Expires: sv.Expires, Created: sv.Created, Updated: sv.Updated,
		RecoverableDays: v.settings.RetentionDays, RecoveryLevel: v.settings.RecoveryLevel(),
	}
}

// SetParams are the fields of a new secret version.
type SetParams struct {
	Value       Value
	ContentType string
	Tags        map[string]string
	Enabled     *bool // nil: enabled
	NotBefore   time.Time
	Expires     time.Time
}

// Set stores a new version of a secret, which becomes its current version.
// Kinds: Invalid, Forbidden, NotFound (vault), Conflict (the secret is deleted
// but recoverable).
func (s *Service) Set(ctx context.Context, principalID, vaultName, name string, p SetParams) (Bundle, error) {
	const o = "vault.Set"
	v, name, err := s.enter(ctx, o, principalID, access.SecretsSet, vaultName, name)
	if err != nil {
		return Bundle{}, err
	}
	if len(p.Value.b) > MaxValueBytes {
		return Bundle{}, kvError(errs.Invalid, o, "BadParameter", "", fmt.Sprintf("the value is %d bytes; a secret holds at most %d", len(p.Value.b), MaxValueBytes))
	}
	if err := checkAttributes(o, p.ContentType, p.Tags); err != nil {
		return Bundle{}, err
	}
	now := store.Time(s.now())
	sv := store.SecretVersion{
		Vault: v.name, Name: name, Version: newVersion(), ContentType: p.ContentType, Tags: p.Tags,
		Enabled: p.Enabled == nil || *p.Enabled, NotBefore: store.Time(p.NotBefore), Expires: store.Time(p.Expires),
		Created: now, Updated: now,
	}
	if sv.Value, err = s.keys.Seal(p.Value.b, s.binding(v.name, name, sv.Version)); err != nil {
		return Bundle{}, errs.E(errs.Internal, o, "", err)
	}
	err = s.store.CreateSecretVersion(ctx, sv)
	s.written(ctx, v.name, name)
	switch {
	case errors.Is(err, store.ErrConflict):
		return Bundle{}, kvError(errs.Conflict, o, "Conflict", "ObjectIsDeletedButRecoverable",
			fmt.Sprintf("secret %s is deleted but recoverable: recover it, or purge it before setting a new value", name))
	case err != nil:
		return Bundle{}, errs.E(errs.Unavailable, o, "", err)
	}
	b := s.bundle(v, sv)
	b.Value = &p.Value
	return b, nil
}

// Get returns a version of a secret with its value (version "" for the
// current one). A disabled, expired or not-yet-valid version is refused with
// Kind Forbidden, as Key Vault documents. Kinds: Forbidden, NotFound.
func (s *Service) Get(ctx context.Context, principalID, vaultName, name, version string) (Bundle, error) {
	const o = "vault.Get"
	v, sv, err := s.enterVersion(ctx, o, principalID, access.SecretsGet, vaultName, name, version)
	if err != nil {
		return Bundle{}, err
	}
	now := s.now()
	switch {
	case !sv.Enabled:
		return Bundle{}, kvError(errs.Forbidden, o, "Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret.")
	case !sv.Expires.IsZero() && !now.Before(sv.Expires):
		return Bundle{}, kvError(errs.Forbidden, o, "Forbidden", "SecretExpired", "Operation get is not allowed on an expired secret.")
	case !sv.NotBefore.IsZero() && now.Before(sv.NotBefore):
		return Bundle{}, kvError(errs.Forbidden, o, "Forbidden", "SecretNotYetValid", "Operation get is not allowed on a secret that is not yet valid.")
	}
	plain, err := s.keys.Open(sv.Value, s.binding(v.name, sv.Name, sv.Version))
	if err != nil {
		return Bundle{}, errs.E(errs.Internal, o, "", err)
	}
	b := s.bundle(v, sv)
	val := NewValue(plain)
	b.Value = &val
	return b, nil
}

// enterVersion begins an operation on one version of a secret: enter, then
// the version checked and read (the current one for "").
func (s *Service) enterVersion(ctx context.Context, op, principalID, action, vaultName, name, version string) (*vaultInfo, store.SecretVersion, error) {
	v, name, err := s.enter(ctx, op, principalID, action, vaultName, name)
	if err != nil {
		return nil, store.SecretVersion{}, err
	}
	if version, err = checkVersion(op, version); err != nil {
		return nil, store.SecretVersion{}, err
	}
	sv, err := s.readVersion(ctx, v, name, version)
	return v, sv, err
}

// readVersion returns a version of a secret that is not deleted, from the
// cache or the store.
func (s *Service) readVersion(ctx context.Context, v *vaultInfo, name, version string) (store.SecretVersion, error) {
	sec, sv, ok := s.cache.version(v.name, name, version)
	if !ok {
		gen := s.cache.generation()
		var err error
		if sec, err = s.store.Secret(ctx, v.name, name); err != nil {
			return sv, notFound("vault.read", name, err)
		}
		if version == "" {
			version = sec.CurrentVersion
		}
		if sv, err = s.store.SecretVersion(ctx, v.name, name, version); err != nil {
			return sv, notFound("vault.read", name, err)
		}
		s.cache.put(gen, sec, sv)
	}
	if !sec.Deleted.IsZero() {
		return sv, kvError(errs.NotFound, "vault.read", "SecretNotFound", "",
			fmt.Sprintf("secret %s is deleted (recoverable until %s)", name, sec.ScheduledPurge.UTC().Format(time.RFC3339)))
	}
	return sv, nil
}

func notFound(op, name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return kvError(errs.NotFound, op, "SecretNotFound", "", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", name))
	}
	return errs.E(errs.Unavailable, op, "", err)
}

func clip(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}
