package vault

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// UpdateParams change a version's attributes; nil fields stay as they are. The
// value of a version never changes.
type UpdateParams struct {
	ContentType *string
	Tags        *map[string]string
	Enabled     *bool
	NotBefore   *time.Time // a zero time removes the limit
	Expires     *time.Time // a zero time removes the limit
}

// Update changes the attributes of a version (the current one for "") and
// returns it without its value. Kinds: Invalid, Forbidden, NotFound.
func (s *Service) Update(ctx context.Context, principalID, vaultName, name, version string, p UpdateParams) (Bundle, error) {
	const o = "vault.Update"
	v, sv, err := s.enterVersion(ctx, o, principalID, access.SecretsUpdate, vaultName, name, version)
	if err != nil {
		return Bundle{}, err
	}
	if p.ContentType != nil {
		sv.ContentType = *p.ContentType
	}
	if p.Tags != nil {
		sv.Tags = *p.Tags
	}
	if p.Enabled != nil {
		sv.Enabled = *p.Enabled
	}
	if p.NotBefore != nil {
		sv.NotBefore = store.Time(*p.NotBefore)
	}
	if p.Expires != nil {
		sv.Expires = store.Time(*p.Expires)
	}
	if err := checkAttributes(o, sv.ContentType, sv.Tags); err != nil {
		return Bundle{}, err
	}
	sv.Updated = store.Time(s.now())
	err = s.store.UpdateSecretVersion(ctx, sv)
	s.written(ctx, v.name, sv.Name)
	if err != nil {
		return Bundle{}, notFound(o, sv.Name, err)
	}
	return s.bundle(v, sv), nil
}

// List lists a vault's secrets that are not deleted, as their current
// versions without values, a page at a time. Kinds: Forbidden, NotFound.
func (s *Service) List(ctx context.Context, principalID, vaultName string, p store.Page) ([]Bundle, string, error) {
	const o = "vault.List"
	v, err := s.enterVault(ctx, principalID, access.SecretsReadMetadata, vaultName)
	if err != nil {
		return nil, "", err
	}
	secs, next, err := s.store.Secrets(ctx, v.name, false, p)
	if err != nil {
		return nil, "", listError(o, err)
	}
	out := make([]Bundle, 0, len(secs))
	for _, sec := range secs {
		sv, err := s.store.SecretVersion(ctx, v.name, sec.Name, sec.CurrentVersion)
		if err != nil {
			continue // purged or changed since the listing: skip it
		}
		out = append(out, s.bundle(v, sv))
	}
	return out, next, nil
}

// Versions lists the versions of a secret without values, a page at a time.
// Kinds: Forbidden, NotFound.
func (s *Service) Versions(ctx context.Context, principalID, vaultName, name string, p store.Page) ([]Bundle, string, error) {
	const o = "vault.Versions"
	v, name, err := s.enter(ctx, o, principalID, access.SecretsReadMetadata, vaultName, name)
	if err != nil {
		return nil, "", err
	}
	sec, err := s.store.Secret(ctx, v.name, name)
	if err != nil || !sec.Deleted.IsZero() {
		return nil, "", notFound(o, name, orNotFound(err))
	}
	vs, next, err := s.store.SecretVersions(ctx, v.name, name, p)
	if err != nil {
		return nil, "", listError(o, err)
	}
	out := make([]Bundle, len(vs))
	for i, sv := range vs {
		out[i] = s.bundle(v, sv)
	}
	return out, next, nil
}

// listError maps a listing's store error: a page token the store did not issue
// is the caller's mistake, anything else is the store's.
func listError(op string, err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return kvError(errs.Invalid, op, "BadParameter", "", "the $skiptoken is not one this vault issued: follow nextLink unchanged")
	}
	return errs.E(errs.Unavailable, op, "", err)
}

// orNotFound turns a nil error (a record that exists but does not count, such
// as a deleted secret) into store.ErrNotFound.
func orNotFound(err error) error {
	if err == nil {
		return store.ErrNotFound
	}
	return err
}
