package store

import (
	"context"
	"time"
)

// SecretVersion is one version of a vault secret. Its value never changes; its
// attributes (content type, tags, enabled, validity) may be updated. Value is
// sealed ciphertext; the store never sees plaintext.
type SecretVersion struct {
	Vault       string // vault name, unique in the tenant
	Name        string // secret name, lower-cased by the vault domain
	Version     string // 32 lower-case hex characters
	Value       []byte // sealed envelope (internal/seal)
	ContentType string
	Tags        map[string]string
	Enabled     bool
	NotBefore   time.Time // zero: no start
	Expires     time.Time // zero: no expiry
	Created     time.Time
	Updated     time.Time
}

// Secret is a secret as a whole: its newest version and whether it is
// soft-deleted (then it keeps every version until recovered or purged).
type Secret struct {
	Vault          string
	Name           string
	CurrentVersion string    // the newest version
	Deleted        time.Time // zero: not deleted
	ScheduledPurge time.Time // when a deleted secret is purged by itself
	Created        time.Time // when its first version was created
	Updated        time.Time
}

// SecretVersions holds the versions of vault secrets.
type SecretVersions interface {
	// CreateSecretVersion stores v as the newest version of its secret,
	// creating the secret on its first version. It returns an error wrapping
	// ErrConflict when that version exists or the secret is soft-deleted.
	CreateSecretVersion(ctx context.Context, v SecretVersion) error
	// SecretVersion returns one version of a secret, or its newest version when
	// version is "", whether or not the secret is deleted. It returns an error
	// wrapping ErrNotFound when there is none.
	SecretVersion(ctx context.Context, vault, name, version string) (SecretVersion, error)
	// SecretVersions lists the versions of a secret ordered by Version, one page
	// at a time, and returns the cursor of the next page ("" after the last). A
	// secret with no versions gives an empty list, not an error.
	SecretVersions(ctx context.Context, vault, name string, p Page) (vs []SecretVersion, next string, err error)
}

// Secrets holds vault secrets and their versions. Every write appends a Change
// of topic TopicSecret with key "{vault}/{name}".
type Secrets interface {
	SecretVersions
	// UpdateSecretVersion replaces the ContentType, Tags, Enabled, NotBefore,
	// Expires and Updated of the version v names. It returns an error wrapping
	// ErrNotFound when there is none.
	UpdateSecretVersion(ctx context.Context, v SecretVersion) error
	// Secret returns the secret named name, deleted or not, or an error
	// wrapping ErrNotFound.
	Secret(ctx context.Context, vault, name string) (Secret, error)
	// Secrets lists a vault's secrets ordered by Name, one page at a time: the
	// soft-deleted ones when deleted is true, the others when false.
	Secrets(ctx context.Context, vault string, deleted bool, p Page) (ss []Secret, next string, err error)
	// DeleteSecret soft-deletes a secret: it keeps its versions, records
	// deleted and scheduledPurge, and refuses new versions until recovered or
	// purged. It returns an error wrapping ErrNotFound when there is no such
	// secret that is not deleted.
	DeleteSecret(ctx context.Context, vault, name string, deleted, scheduledPurge time.Time) error
	// RecoverSecret undoes DeleteSecret. It returns an error wrapping
	// ErrNotFound when there is no such deleted secret.
	RecoverSecret(ctx context.Context, vault, name string) error
	// PurgeSecret deletes a soft-deleted secret and every version of it for
	// good. It returns an error wrapping ErrNotFound when there is no such
	// deleted secret.
	PurgeSecret(ctx context.Context, vault, name string) error
	// RestoreSecret stores a secret and its versions (oldest first, the last
	// becoming current) in one transaction. It returns an error wrapping
	// ErrConflict when a secret of that name exists, deleted or not.
	RestoreSecret(ctx context.Context, s Secret, versions []SecretVersion) error
	// SecretsDue lists up to limit soft-deleted secrets, of every vault, whose
	// ScheduledPurge is before before, oldest first.
	SecretsDue(ctx context.Context, before time.Time, limit int) ([]Secret, error)
}
