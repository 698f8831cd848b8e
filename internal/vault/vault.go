// Package vault owns the secrets of Latchkey's vaults: versions, attributes
// (enabled, validity, content type, tags), soft delete with the vault's
// retention, purge protection, backup and restore, and each vault's settings.
// Every operation is authorized by the access service with its Key Vault data
// action on the secret's scope, before anything is looked up.
//
// Values are sealed (internal/seal) with a binding to tenant, vault, name and
// version; the store sees only ciphertext. A secret read at steady state costs
// no database round trip: sealed versions are cached and the cache follows the
// store's change feed, so one AES-GCM open and one decision remain.
//
// vault imports internal/errs, internal/seal, internal/store and
// internal/access; never net/http, database/sql or an adapter.
package vault

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// Store is what vault needs of the storage contract.
type Store interface {
	store.Secrets
	store.Resources
	store.Changes
}

// Authorizer is the decision point: nil when principalID may perform action on
// scope, an error of Kind Forbidden otherwise. *access.Service is one.
type Authorizer interface {
	Authorize(ctx context.Context, principalID, action, scope string) error
}

// Options configure a Service. Store, Keys, Access and TenantID are required.
type Options struct {
	Store    Store
	Keys     *seal.Keyring
	Access   Authorizer
	TenantID string
	// Feed is the process's change-feed follower, shared with the other
	// services; nil gives the Service one of its own (tests), which Run runs.
	Feed *store.Follower
	// Sync is called after every write: it waits until the other replicas
	// have applied it (store.Barrier). Nil: no wait.
	Sync func(ctx context.Context) error
	// Audit receives what the vault does by itself, without a request (a
	// secret purged at its scheduled date), once it is done; nil discards.
	Audit  func(ctx context.Context, e Event)
	Logger *slog.Logger
	Now    func() time.Time
}

// Event is something the vault did by itself, for the audit trail: no
// caller asked for it, so it names none.
type Event struct {
	Operation string // the action, e.g. access.SecretsPurge
	Scope     string // the secret's scope; "" when its vault is gone
	Reason    string // what was done and why, for people
}

// Service is the vault service. It is safe for concurrent use; Run keeps its
// cache in step with the store and purges deleted secrets when due.
type Service struct {
	store   Store
	keys    *seal.Keyring
	access  Authorizer
	tenant  string
	log     *slog.Logger
	now     func() time.Time
	audit   func(ctx context.Context, e Event)
	cache   *cache
	feed    *store.Follower
	ownFeed bool
	sync    func(ctx context.Context) error
}

// New builds a Service.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Keys == nil || opts.Access == nil || opts.TenantID == "" {
		return nil, errors.New("vault.New: Store, Keys, Access and TenantID are required")
	}
	s := &Service{store: opts.Store, keys: opts.Keys, access: opts.Access, tenant: opts.TenantID, log: opts.Logger, now: opts.Now, audit: opts.Audit}
	if s.audit == nil {
		s.audit = func(context.Context, Event) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.cache, s.sync = newCache(), opts.Sync
	if s.sync == nil {
		s.sync = func(context.Context) error { return nil }
	}
	if s.feed = opts.Feed; s.feed == nil {
		seq, err := s.store.LatestChange(ctx)
		if err != nil {
			return nil, err
		}
		s.feed, s.ownFeed = store.NewFollower(s.store, seq), true
	}
	s.feed.Subscribe(s.applyChanges)
	return s, nil
}

// Run follows the change feed (dropping cached secrets and vaults others
// changed) and purges soft-deleted secrets past their scheduled purge date,
// until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	if s.ownFeed {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.feed.Run(ctx, 5*time.Second, func(err error) {
				s.log.Warn("vault cache could not follow the change feed; it was cleared", "err", err)
				s.cache.clear()
			})
		}()
		defer func() { <-done }()
	}
	purge := time.NewTicker(time.Minute)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-purge.C:
			if err := s.purgeDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("purging deleted secrets past their date failed; retrying later", "err", err)
			}
		}
	}
}

// enter begins every operation on one secret: it finds the vault, checks and
// canonicalises the name, and authorizes action on the secret's scope before
// anything about the secret is read.
func (s *Service) enter(ctx context.Context, op, principalID, action, vaultName, name string) (*vaultInfo, string, error) {
	v, err := s.vault(ctx, vaultName)
	if err != nil {
		return nil, "", err
	}
	if name, err = checkName(op, name); err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, principalID, action, v, name); err != nil {
		return nil, "", err
	}
	return v, name, nil
}

// enterVault begins an operation on the whole vault (listing, restoring):
// it finds the vault and authorizes action on its scope.
func (s *Service) enterVault(ctx context.Context, principalID, action, vaultName string) (*vaultInfo, error) {
	v, err := s.vault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	return v, s.authorize(ctx, principalID, action, v, "")
}

// Scope returns the access scope of a secret of the vault named vaultName
// (name "" for the vault itself), for audit records: from the cache at steady
// state; "" when the vault or name is unknown or invalid.
func (s *Service) Scope(ctx context.Context, vaultName, name string) string {
	v, err := s.vault(ctx, vaultName)
	if err != nil {
		return ""
	}
	if name != "" {
		if name, err = checkName("vault.Scope", name); err != nil {
			return v.scope
		}
	}
	return scopeOf(v, name)
}

// scopeOf returns the access scope of a secret in vault v.
func scopeOf(v *vaultInfo, name string) string {
	if name == "" {
		return v.scope
	}
	return v.scope + "/secrets/" + name
}

// authorize checks the caller before anything about the secret is read.
func (s *Service) authorize(ctx context.Context, principalID, action string, v *vaultInfo, name string) error {
	return s.access.Authorize(ctx, principalID, action, scopeOf(v, name))
}

var _ Authorizer = (*access.Service)(nil)

// written makes a write visible everywhere before the caller answers: the
// local cache entry is dropped, then the other replicas apply the change.
func (s *Service) written(ctx context.Context, vault, name string) {
	s.cache.drop(vault, name)
	if err := s.sync(ctx); err != nil {
		s.log.WarnContext(ctx, "other replicas may not have seen a vault write yet", "vault", vault, "err", err)
	}
}
