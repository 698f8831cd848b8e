// Package identity owns who is who in Latchkey: principals (users, service
// principals, managed identities), their credentials (client secrets, certificates,
// federated trust in external OIDC issuers), the signing keys of access tokens,
// and the token service that Entra-compatible clients (MSAL, azidentity) talk to.
//
// It issues and verifies ES256 JWTs, keeps an in-memory directory of principals
// and credentials so the token and verification paths need no database round
// trip, and rotates its signing keys with overlap.
//
// identity imports internal/errs, internal/seal, internal/store and
// internal/install; never net/http, database/sql or an adapter. Fetching a
// federated issuer's JWKS over the network is an adapter's job (JWKSFetcher).
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// Store is what identity needs of the storage contract.
type Store interface {
	store.Settings
	store.Changes
	store.Principals
	store.Credentials
	store.SigningKeys
}

// Options configure a Service. Store, Keys and TenantID are required.
type Options struct {
	Store    Store
	Keys     *seal.Keyring
	TenantID string
	// TokenLifetime is how long issued access tokens live; default 60 minutes.
	TokenLifetime time.Duration
	// KeyRotation is how long a signing key signs new tokens; default 30 days.
	KeyRotation time.Duration
	// KeyPrepublish is how long a new signing key is published before it signs,
	// so relying parties that cache the JWKS know it in time; default 24 hours.
	KeyPrepublish time.Duration
	// DirectoryRefresh is how often the directory polls the change feed even
	// without a signal (a safety net: the feed signals every write, on every
	// replica); default 5 seconds. Changes made through this Service are
	// visible at once.
	DirectoryRefresh time.Duration
	// JWKS fetches federated issuers' key sets; nil disables jwksUri federation
	// (inline key sets still work).
	JWKS JWKSFetcher
	// Throttle limits token requests; the zero value uses DefaultThrottle.
	Throttle ThrottleOptions
	// Feed is the process's change-feed follower, shared with the other
	// services; nil gives the Service a follower of its own (tests), which Run
	// then runs.
	Feed *store.Follower
	// Sync is called after every write, once this replica applied it: it
	// waits until the other replicas did too (store.Barrier). Nil: no wait.
	Sync func(ctx context.Context) error
	// Logger reports background failures (key rotation, directory reloads);
	// nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the identity service. It is safe for concurrent use. Run keeps its
// signing keys and directory fresh; Close stops it.
type Service struct {
	store    Store
	seal     *seal.Keyring
	tenant   string
	lifetime time.Duration
	rotation time.Duration
	prepub   time.Duration
	refresh  time.Duration
	now      func() time.Time
	fetcher  JWKSFetcher
	log      *slog.Logger

	keys      atomic.Pointer[keySet]
	dir       atomic.Pointer[directory]
	feed      *store.Follower
	ownFeed   bool
	sync      func(ctx context.Context) error
	verified  *tokenCache
	tokens    tokenCounters // tokens issued and refused (stats.go)
	throttle  *throttle
	assertion *replayCache
	issuers   *issuerCache

	reloadMu   sync.Mutex // serialises key reloads and rotations
	lastReload time.Time  // guarded by reloadMu
}

// New builds a Service and loads its keys and directory, creating the first
// signing key on a new installation.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Keys == nil || opts.TenantID == "" {
		return nil, errors.New("identity.New: Store, Keys and TenantID are required")
	}
	s := &Service{
		store:    opts.Store,
		seal:     opts.Keys,
		tenant:   opts.TenantID,
		lifetime: orDefault(opts.TokenLifetime, 60*time.Minute),
		rotation: orDefault(opts.KeyRotation, 30*24*time.Hour),
		prepub:   orDefault(opts.KeyPrepublish, 24*time.Hour),
		refresh:  orDefault(opts.DirectoryRefresh, 5*time.Second),
		now:      opts.Now,
		fetcher:  opts.JWKS,
		log:      opts.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.verified = newTokenCache(100_000)
	s.assertion = newReplayCache(100_000)
	s.throttle = newThrottle(opts.Throttle, s.now)
	s.issuers = newIssuerCache(s.fetcher, s.now)
	s.sync = opts.Sync
	if s.sync == nil {
		s.sync = func(context.Context) error { return nil }
	}
	if s.feed = opts.Feed; s.feed == nil {
		seq, err := s.store.LatestChange(ctx)
		if err != nil {
			return nil, errs.E(errs.Unavailable, op("New"), "cannot read the change feed", err)
		}
		s.feed, s.ownFeed = store.NewFollower(s.store, seq), true
	}
	s.feed.Subscribe(s.applyChanges)
	if err := s.rotateKeys(ctx); err != nil {
		return nil, err
	}
	if err := s.reloadDirectory(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// TenantID returns the tenant this service issues tokens for.
func (s *Service) TenantID() string { return s.tenant }

// TokenLifetime returns the lifetime of issued access tokens.
func (s *Service) TokenLifetime() time.Duration { return s.lifetime }

// Run keeps signing keys rotated and the directory in step with the change
// feed until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	if s.ownFeed {
		done := make(chan struct{})
		go func() {
			defer close(done)
			// A failed reload keeps the last good directory; the next signal retries.
			s.feed.Run(ctx, s.refresh, func(err error) {
				s.log.Warn("identity directory reload failed; serving the last one", "err", err)
			})
		}()
		defer func() { <-done }()
	}
	keyTick := time.NewTicker(time.Minute)
	defer keyTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-keyTick.C:
			if err := s.rotateKeys(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("signing key rotation failed", "err", err)
			}
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// op names an operation for errors.
func op(name string) string { return fmt.Sprintf("identity.%s", name) }

// applyChanges reloads what the change feed says changed: the directory for
// principals and credentials, the key set for signing keys.
func (s *Service) applyChanges(ctx context.Context, cs []store.Change) error {
	var principals, keys bool
	for _, c := range cs {
		principals = principals || c.Topic == store.TopicPrincipal
		keys = keys || c.Topic == store.TopicSigningKey
	}
	if keys {
		if err := s.reloadKeys(ctx); err != nil {
			return err
		}
	}
	if principals {
		return s.reloadDirectory(ctx)
	}
	return nil
}

// applied makes a write of this Service visible: this replica applies it at
// once, then every other replica has applied it before the caller answers.
func (s *Service) applied(ctx context.Context) error {
	if err := s.feed.CatchUp(ctx); err != nil {
		return err
	}
	return s.sync(ctx)
}
