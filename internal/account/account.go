// Package account owns Latchkey's AI services accounts (Azure's Cognitive
// Services accounts): the upstream each forwards to and the credential it
// uses there, the two subscription keys (key1 and key2), their regeneration
// and rotation, the 10-minute tokens the STS exchange mints from a key, and
// the account's system-assigned managed identity.
//
// The account's record is a resource of the scope tree
// (/hubs/{hub}/accounts/{account}) whose properties hold its non-secret
// settings. The keys are sealed (internal/seal) and found by a keyed hash
// (HMAC-SHA256 under an index key made once per installation), so that a key
// a caller presents is matched without the store ever seeing it. The upstream
// credential is a secret in one of the hub's vaults, read through
// internal/vault as the account's managed identity.
//
// Authenticating a data-plane call costs no database round trip at steady
// state: every key of every account is held in memory, following the store's
// change feed, and a regeneration waits until every replica has applied it
// (the write barrier), so the old key and every token minted from it stop
// working everywhere before the regeneration answers. Uses of each key by each
// caller are counted in memory and written to the store every few seconds, so
// that a rotation on any replica can tell whether an old key is still in use.
//
// account imports internal/errs, internal/seal, internal/store and the
// domains before it (identity, access, vault); never net/http, database/sql
// or an adapter.
package account

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

// Store is what account needs of the storage contract.
type Store interface {
	store.Settings
	store.Resources
	store.AccountKeys
	store.Changes
}

// Access is what account needs of the access service: decisions, and the
// scope tree's records. *access.Service is one.
type Access interface {
	Authorize(ctx context.Context, principalID, action, scope string) error
	Decide(principalID, action, scope string) access.Decision
	CreateResource(ctx context.Context, callerID, scope string) (store.Resource, error)
	DeleteResource(ctx context.Context, callerID, scope string) error
	Resources(ctx context.Context, k store.ResourceKind, parent string, p store.Page) ([]store.Resource, string, error)
	CreateAssignment(ctx context.Context, callerID, principalID, ref, scope string) (access.Assignment, error)
	Assignments(ctx context.Context, f store.AssignmentFilter, p store.Page) ([]access.Assignment, string, error)
	DeleteAssignment(ctx context.Context, callerID, id string) error
}

// Secrets is what account needs of the vault service, which holds upstream
// credentials. *vault.Service is one.
type Secrets interface {
	Set(ctx context.Context, principalID, vaultName, name string, p vault.SetParams) (vault.Bundle, error)
	Get(ctx context.Context, principalID, vaultName, name, version string) (vault.Bundle, error)
	Delete(ctx context.Context, principalID, vaultName, name string) (vault.DeletedBundle, error)
	GetDeleted(ctx context.Context, principalID, vaultName, name string) (vault.DeletedBundle, error)
	Recover(ctx context.Context, principalID, vaultName, name string) (vault.Bundle, error)
}

// Identities is what account needs of the identity service: the accounts'
// system-assigned managed identities and their tokens. *identity.Service is
// one.
type Identities interface {
	CreateSystemIdentity(ctx context.Context, scope string) (store.Principal, error)
	DeletePrincipal(ctx context.Context, id string) error
	Principal(ctx context.Context, id string) (store.Principal, error)
	IssueFor(ctx context.Context, p store.Principal, resource, host string) (identity.TokenResponse, error)
}

var (
	_ Access     = (*access.Service)(nil)
	_ Secrets    = (*vault.Service)(nil)
	_ Identities = (*identity.Service)(nil)
)

// Defaults.
const (
	// DefaultFlushInterval is how often key uses go to the store.
	DefaultFlushInterval = 10 * time.Second
	// DefaultQuietPeriod is how long an old key must have gone unused before
	// a rotation regenerates it.
	DefaultQuietPeriod = 15 * time.Minute
	// TokenLifetime is the lifetime of STS tokens, as Azure's.
	TokenLifetime = 10 * time.Minute
)

// Options configure a Service. Store, Keys, TenantID, Access, Vault and
// Identity are required.
type Options struct {
	Store    Store
	Keys     *seal.Keyring
	TenantID string
	Access   Access
	Vault    Secrets
	Identity Identities
	// Feed is the process's change-feed follower, shared with the other
	// services; nil gives the Service one of its own (tests), which Run runs.
	Feed *store.Follower
	// Sync is called after every write: it waits until the other replicas
	// have applied it (store.Barrier). Nil: no wait.
	Sync func(ctx context.Context) error
	// FlushInterval is how often key uses are written to the store; zero
	// means DefaultFlushInterval.
	FlushInterval time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// Service is the account service. It is safe for concurrent use; Run keeps
// its keys in step with the store and writes key uses.
type Service struct {
	store    Store
	seal     *seal.Keyring
	tenant   string
	access   Access
	vault    Secrets
	identity Identities
	log      *slog.Logger
	now      func() time.Time
	feed     *store.Follower
	ownFeed  bool
	sync     func(ctx context.Context) error
	flush    time.Duration

	secrets  installSecrets
	keys     *keyIndex
	accounts *accountCache
	uses     *usage
	tokens   *tokenCache     // upstream tokens of identity-based upstreams
	verified *verifiedTokens // STS tokens whose signature verified

	rotationsMu sync.Mutex             // guards rotations
	rotations   map[string]*sync.Mutex // by account: serialises its rotation steps
}

// New builds a Service: it loads (or, on a new installation, makes) the
// index and token keys and every account key.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Keys == nil || opts.TenantID == "" || opts.Access == nil || opts.Vault == nil || opts.Identity == nil {
		return nil, errors.New("account.New: Store, Keys, TenantID, Access, Vault and Identity are required")
	}
	s := &Service{
		store: opts.Store, seal: opts.Keys, tenant: opts.TenantID, access: opts.Access, vault: opts.Vault,
		identity: opts.Identity, log: opts.Logger, now: opts.Now, sync: opts.Sync, flush: opts.FlushInterval,
		keys: newKeyIndex(), accounts: newAccountCache(), uses: newUsage(), tokens: newTokenCache(), verified: newVerifiedTokens(100_000),
		rotations: map[string]*sync.Mutex{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sync == nil {
		s.sync = func(context.Context) error { return nil }
	}
	if s.flush <= 0 {
		s.flush = DefaultFlushInterval
	}
	var err error
	if s.secrets, err = loadInstallSecrets(ctx, s.store, s.seal, s.tenant); err != nil {
		return nil, err
	}
	seq, err := s.store.LatestChange(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.reloadKeys(ctx); err != nil {
		return nil, err
	}
	if s.feed = opts.Feed; s.feed == nil {
		s.feed, s.ownFeed = store.NewFollower(s.store, seq), true
	}
	s.feed.Subscribe(s.applyChanges)
	return s, nil
}

// Run follows the change feed (with its own follower), writes key uses to
// the store every FlushInterval, and rebuilds the key index if it fell out of
// step with the feed, until ctx is done; then it writes the uses left.
func (s *Service) Run(ctx context.Context) error {
	if s.ownFeed {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.feed.Run(ctx, 5*time.Second, func(err error) {
				s.log.Warn("account keys could not follow the change feed; keys are read from the store until they do", "err", err)
				s.keys.markStale()
				s.accounts.clear()
			})
		}()
		defer func() { <-done }()
	}
	tick := time.NewTicker(s.flush)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.flushUses(context.WithoutCancel(ctx), ""); err != nil {
				s.log.Warn("key uses could not be written at shutdown", "err", err)
			}
			return nil
		case <-tick.C:
		}
		if err := s.flushUses(ctx, ""); err != nil && ctx.Err() == nil {
			s.log.Warn("key uses could not be written; retrying at the next flush", "err", err)
		}
		if s.keys.isStale() {
			if err := s.reloadKeys(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("account keys could not be reloaded; retrying", "err", err)
			}
		}
	}
}

// written makes a write visible everywhere before the caller answers: this
// replica applies the change feed at once, then every other live replica has
// applied it too.
func (s *Service) written(ctx context.Context) {
	if err := s.feed.CatchUp(ctx); err != nil {
		s.log.WarnContext(ctx, "this replica could not apply an account write from the feed; it drops its caches", "err", err)
		s.keys.markStale()
		s.accounts.clear()
	}
	if err := s.sync(ctx); err != nil {
		s.log.WarnContext(ctx, "other replicas may not have seen an account write yet", "err", err)
	}
}

// fresh catches up with the change feed when a change was announced; at
// steady state one atomic load. When the feed cannot be followed, the caches
// are not trusted: keys are then read from the store.
func (s *Service) fresh(ctx context.Context) {
	if err := s.feed.Fresh(ctx); err != nil {
		s.keys.markStale()
		s.accounts.clear()
	}
}
