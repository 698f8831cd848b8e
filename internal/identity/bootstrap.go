package identity

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// bootstrapAdminKey is the setting that names the bootstrap administrator.
const bootstrapAdminKey = "bootstrap_admin"

// bootstrapSecretLifetime is long: the bootstrap admin's secret lives in dev.json
// or an operator's safe, and is reset, not expired, when it leaks.
const bootstrapSecretLifetime = 10 * 365 * 24 * time.Hour

// BootstrapAdmin returns the installation's bootstrap administrator: a service
// principal named "latchkey-admin", created on the first call and the same on
// every later one. When known is not a current secret of it, a new secret
// replaces its old ones and is returned with rotated set; otherwise known is
// returned as is.
func (s *Service) BootstrapAdmin(ctx context.Context, settings store.Settings, known Secret) (store.Principal, Secret, bool, error) {
	const o = "identity.BootstrapAdmin"
	id, err := settings.Setting(ctx, bootstrapAdminKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		created, err := s.CreateServicePrincipal(ctx, "latchkey-admin", bootstrapSecretLifetime)
		if err != nil {
			return store.Principal{}, Secret{}, false, err
		}
		winner, err := settings.InitSetting(ctx, bootstrapAdminKey, []byte(created.Principal.ID))
		if err != nil {
			return store.Principal{}, Secret{}, false, errs.E(errs.Unavailable, o, "", err)
		}
		if string(winner) == created.Principal.ID {
			return created.Principal, created.Secret, true, nil
		}
		// Another replica won the race: drop ours and use its admin.
		_ = s.DeletePrincipal(ctx, created.Principal.ID)
		id = winner
	case err != nil:
		return store.Principal{}, Secret{}, false, errs.E(errs.Unavailable, o, "", err)
	}
	p, err := s.Principal(ctx, string(id))
	if err != nil {
		return store.Principal{}, Secret{}, false, err
	}
	if known.s != "" && matchSecret(s.dir.Load().creds[p.ID], known.s, s.now()) {
		return p, known, false, nil
	}
	reset, err := s.ResetSecret(ctx, p.AppID, bootstrapSecretLifetime)
	if err != nil {
		return store.Principal{}, Secret{}, false, err
	}
	return p, reset.Secret, true, nil
}

// BootstrapAdminID returns the object id of the bootstrap administrator, or ""
// when there is none yet.
func (s *Service) BootstrapAdminID(ctx context.Context, settings store.Settings) (string, error) {
	id, err := settings.Setting(ctx, bootstrapAdminKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", errs.E(errs.Unavailable, "identity.BootstrapAdminID", "", err)
	}
	return string(id), nil
}

// NewSecret wraps a secret's plaintext read from a trusted place (dev.json, a
// request body) so it prints redacted from here on.
func NewSecret(plain string) Secret { return Secret{s: plain} }

// IsBootstrapAdmin reports whether oid is the bootstrap administrator.
func (s *Service) IsBootstrapAdmin(ctx context.Context, settings store.Settings, oid string) (bool, error) {
	id, err := s.BootstrapAdminID(ctx, settings)
	return err == nil && id != "" && id == oid, err
}
