package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// DeletedBundle is a soft-deleted secret: its current version's attributes and
// when it was deleted and will be purged.
type DeletedBundle struct {
	Bundle
	Deleted, ScheduledPurge time.Time
}

// Delete soft-deletes a secret with all its versions; it stays recoverable for
// the vault's retention. Kinds: Forbidden, NotFound.
func (s *Service) Delete(ctx context.Context, principalID, vaultName, name string) (DeletedBundle, error) {
	const o = "vault.Delete"
	v, name, err := s.enter(ctx, o, principalID, access.SecretsDelete, vaultName, name)
	if err != nil {
		return DeletedBundle{}, err
	}
	sv, err := s.readVersion(ctx, v, name, "")
	if err != nil {
		return DeletedBundle{}, err
	}
	now := store.Time(s.now())
	purge := now.Add(time.Duration(v.settings.RetentionDays) * 24 * time.Hour)
	err = s.store.DeleteSecret(ctx, v.name, name, now, purge)
	s.written(ctx, v.name, name)
	if err != nil {
		return DeletedBundle{}, notFound(o, name, err)
	}
	return DeletedBundle{Bundle: s.bundle(v, sv), Deleted: now, ScheduledPurge: purge}, nil
}

// GetDeleted returns a soft-deleted secret. Kinds: Forbidden, NotFound.
func (s *Service) GetDeleted(ctx context.Context, principalID, vaultName, name string) (DeletedBundle, error) {
	const o = "vault.GetDeleted"
	v, name, err := s.enter(ctx, o, principalID, access.SecretsReadMetadata, vaultName, name)
	if err != nil {
		return DeletedBundle{}, err
	}
	return s.deleted(ctx, v, name)
}

func (s *Service) deleted(ctx context.Context, v *vaultInfo, name string) (DeletedBundle, error) {
	const o = "vault.deleted"
	sec, err := s.store.Secret(ctx, v.name, name)
	if err != nil || sec.Deleted.IsZero() {
		return DeletedBundle{}, kvError(errs.NotFound, o, "SecretNotFound", "",
			fmt.Sprintf("Deleted Secret not found: %s is not a deleted secret of this vault", name))
	}
	sv, err := s.store.SecretVersion(ctx, v.name, name, sec.CurrentVersion)
	if err != nil {
		return DeletedBundle{}, notFound(o, name, err)
	}
	return DeletedBundle{Bundle: s.bundle(v, sv), Deleted: sec.Deleted, ScheduledPurge: sec.ScheduledPurge}, nil
}

// ListDeleted lists a vault's soft-deleted secrets, a page at a time.
func (s *Service) ListDeleted(ctx context.Context, principalID, vaultName string, p store.Page) ([]DeletedBundle, string, error) {
	const o = "vault.ListDeleted"
	v, err := s.enterVault(ctx, principalID, access.SecretsReadMetadata, vaultName)
	if err != nil {
		return nil, "", err
	}
	secs, next, err := s.store.Secrets(ctx, v.name, true, p)
	if err != nil {
		return nil, "", listError(o, err)
	}
	out := make([]DeletedBundle, 0, len(secs))
	for _, sec := range secs {
		sv, err := s.store.SecretVersion(ctx, v.name, sec.Name, sec.CurrentVersion)
		if err != nil {
			continue
		}
		out = append(out, DeletedBundle{Bundle: s.bundle(v, sv), Deleted: sec.Deleted, ScheduledPurge: sec.ScheduledPurge})
	}
	return out, next, nil
}

// Recover restores a soft-deleted secret with all its versions; the current
// version stays current. Kinds: Forbidden, NotFound.
func (s *Service) Recover(ctx context.Context, principalID, vaultName, name string) (Bundle, error) {
	const o = "vault.Recover"
	v, name, err := s.enter(ctx, o, principalID, access.SecretsRecover, vaultName, name)
	if err != nil {
		return Bundle{}, err
	}
	d, err := s.deleted(ctx, v, name)
	if err != nil {
		return Bundle{}, err
	}
	err = s.store.RecoverSecret(ctx, v.name, name)
	s.written(ctx, v.name, name)
	if err != nil {
		return Bundle{}, notFound(o, name, err)
	}
	return d.Bundle, nil
}

// Purge deletes a soft-deleted secret for good. Under purge protection it is
// refused (Kind Forbidden) until the scheduled purge date. Kinds: Forbidden,
// NotFound.
func (s *Service) Purge(ctx context.Context, principalID, vaultName, name string) error {
	const o = "vault.Purge"
	v, name, err := s.enter(ctx, o, principalID, access.SecretsPurge, vaultName, name)
	if err != nil {
		return err
	}
	d, err := s.deleted(ctx, v, name)
	if err != nil {
		return err
	}
	if v.settings.PurgeProtection && s.now().Before(d.ScheduledPurge) {
		return kvError(errs.Forbidden, o, "Forbidden", "PurgeProtected", fmt.Sprintf(
			"Operation \"purge\" is not allowed because purge protection is enabled for this vault: %s is purged by itself on %s",
			name, d.ScheduledPurge.UTC().Format(time.RFC3339)))
	}
	err = s.store.PurgeSecret(ctx, v.name, name)
	s.written(ctx, v.name, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return errs.E(errs.Unavailable, o, "", err)
	}
	return nil
}
