package vault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// backupFormat is the version of the backup blob's contents.
const backupFormat = 1

// maxBackupVersions bounds what one backup may hold.
const maxBackupVersions = 500

// backupDoc is what a backup blob holds, sealed under the master key with a
// binding to the tenant, so that it restores only into a vault of the same
// installation. Values are plaintext inside the seal and sealed again, bound to
// their new vault, on restore.
type backupDoc struct {
	Format   int             `json:"format"`
	Name     string          `json:"name"`
	Versions []backupVersion `json:"versions"` // oldest first; the last is current
}

type backupVersion struct {
	Version     string            `json:"version"`
	Value       []byte            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   time.Time         `json:"nbf"`
	Expires     time.Time         `json:"exp"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
}

func (s *Service) backupBinding() seal.Binding { return seal.Bind("secret-backup", s.tenant) }

// Backup returns an opaque blob holding every version of a secret, which
// Restore accepts in any vault of this installation. The blob is base64url
// without padding, as Key Vault's. Kinds: Forbidden, NotFound.
func (s *Service) Backup(ctx context.Context, principalID, vaultName, name string) (string, error) {
	const o = "vault.Backup"
	v, name, err := s.enter(ctx, o, principalID, access.SecretsBackup, vaultName, name)
	if err != nil {
		return "", err
	}
	sec, err := s.store.Secret(ctx, v.name, name)
	if err != nil || !sec.Deleted.IsZero() {
		return "", notFound(o, name, orNotFound(err))
	}
	doc := backupDoc{Format: backupFormat, Name: name}
	defer func() {
		for _, bv := range doc.Versions {
			clear(bv.Value)
		}
	}()
	var current backupVersion
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		vs, next, err := s.store.SecretVersions(ctx, v.name, name, p)
		if err != nil {
			return "", errs.E(errs.Unavailable, o, "", err)
		}
		if len(doc.Versions)+len(vs) > maxBackupVersions {
			return "", kvError(errs.Invalid, o, "BadParameter", "", fmt.Sprintf(
				"secret %s has more than %d versions, more than one backup holds: copy its current value into a new secret instead", name, maxBackupVersions))
		}
		for _, sv := range vs {
			plain, err := s.keys.Open(sv.Value, s.binding(v.name, name, sv.Version))
			if err != nil {
				return "", errs.E(errs.Internal, o, "", err)
			}
			bv := backupVersion{Version: sv.Version, Value: plain, ContentType: sv.ContentType, Tags: sv.Tags,
				Enabled: sv.Enabled, NotBefore: sv.NotBefore, Expires: sv.Expires, Created: sv.Created, Updated: sv.Updated}
			if sv.Version == sec.CurrentVersion {
				current = bv
				continue
			}
			doc.Versions = append(doc.Versions, bv)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	doc.Versions = append(doc.Versions, current) // the current version restores last
	b, err := json.Marshal(doc)
	if err != nil {
		return "", errs.E(errs.Internal, o, "", err)
	}
	sealed, err := s.keys.Seal(b, s.backupBinding())
	clear(b)
	if err != nil {
		return "", errs.E(errs.Internal, o, "", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Restore stores a secret from a Backup blob into vaultName, with all its
// versions. Kinds: Invalid (not a blob of this installation), Forbidden,
// Conflict (the name exists, deleted or not).
func (s *Service) Restore(ctx context.Context, principalID, vaultName, blob string) (Bundle, error) {
	const o = "vault.Restore"
	v, err := s.enterVault(ctx, principalID, access.SecretsRestore, vaultName)
	if err != nil {
		return Bundle{}, err
	}
	doc, err := s.openBackup(blob)
	if err != nil {
		return Bundle{}, err
	}
	defer func() {
		for _, bv := range doc.Versions {
			clear(bv.Value)
		}
	}()
	name, err := checkName(o, doc.Name)
	if err != nil || len(doc.Versions) == 0 || len(doc.Versions) > maxBackupVersions {
		return Bundle{}, kvError(errs.Invalid, o, "BadParameter", "", "the backup blob holds no valid secret")
	}
	svs := make([]store.SecretVersion, len(doc.Versions))
	for i, bv := range doc.Versions {
		if _, err := checkVersion(o, bv.Version); err != nil || bv.Version == "" {
			return Bundle{}, kvError(errs.Invalid, o, "BadParameter", "", "the backup blob holds an invalid version")
		}
		sealed, err := s.keys.Seal(bv.Value, s.binding(v.name, name, bv.Version))
		if err != nil {
			return Bundle{}, errs.E(errs.Internal, o, "", err)
		}
		svs[i] = store.SecretVersion{Vault: v.name, Name: name, Version: bv.Version, Value: sealed, ContentType: bv.ContentType,
			Tags: bv.Tags, Enabled: bv.Enabled, NotBefore: store.Time(bv.NotBefore), Expires: store.Time(bv.Expires),
			Created: store.Time(bv.Created), Updated: store.Time(bv.Updated)}
	}
	cur := svs[len(svs)-1]
	sec := store.Secret{Vault: v.name, Name: name, CurrentVersion: cur.Version, Created: svs[0].Created, Updated: store.Time(s.now())}
	err = s.store.RestoreSecret(ctx, sec, svs)
	s.written(ctx, v.name, name)
	switch {
	case errors.Is(err, store.ErrConflict):
		if old, serr := s.store.Secret(ctx, v.name, name); serr == nil && !old.Deleted.IsZero() {
			return Bundle{}, kvError(errs.Conflict, o, "Conflict", "ObjectIsDeletedButRecoverable",
				fmt.Sprintf("secret %s is deleted but recoverable: recover it, or purge it before restoring", name))
		}
		return Bundle{}, kvError(errs.Conflict, o, "Conflict", "", fmt.Sprintf("a secret named %s already exists in this vault: delete and purge it first", name))
	case err != nil:
		return Bundle{}, errs.E(errs.Unavailable, o, "", err)
	}
	return s.bundle(v, cur), nil
}

func (s *Service) openBackup(blob string) (backupDoc, error) {
	const o = "vault.Restore"
	var doc backupDoc
	sealed, err := base64.RawURLEncoding.DecodeString(blob)
	if err != nil {
		return doc, kvError(errs.Invalid, o, "BadParameter", "", "the backup blob is not base64url: pass the value Backup returned, unchanged")
	}
	plain, err := s.keys.Open(sealed, s.backupBinding())
	if err != nil {
		return doc, kvError(errs.Invalid, o, "BadParameter", "", "the backup blob was not made by this installation (or was altered): backups restore only into the tenant that made them")
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, &doc); err != nil || doc.Format != backupFormat {
		return doc, kvError(errs.Invalid, o, "BadParameter", "", "the backup blob's contents are of an unknown format")
	}
	return doc, nil
}
