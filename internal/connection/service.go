package connection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

// Store is what connection needs of the storage contract.
type Store interface {
	store.Resources
	store.Changes
}

// Access is the decision point (*access.Service is one).
type Access interface {
	// Authorize returns nil when principalID may perform action on scope,
	// an error of Kind Forbidden otherwise.
	Authorize(ctx context.Context, principalID, action, scope string) error
	// Decide answers the same question without I/O.
	Decide(principalID, action, scope string) access.Decision
	// DropAssignmentsUnder deletes the role assignments at or below scope.
	DropAssignmentsUnder(ctx context.Context, scope string) error
}

// Vault writes, reads and deletes the secrets that hold credentials
// (*vault.Service is one). Every call names the principal it acts as: the
// hub's Key Vault connection's identity, whose role assignments decide.
type Vault interface {
	Set(ctx context.Context, principalID, vaultName, name string, p vault.SetParams) (vault.Bundle, error)
	Get(ctx context.Context, principalID, vaultName, name, version string) (vault.Bundle, error)
	Delete(ctx context.Context, principalID, vaultName, name string) (vault.DeletedBundle, error)
}

// Directory finds managed identities by name (*identity.Service is one).
type Directory interface {
	PrincipalByName(ctx context.Context, k store.PrincipalKind, name string) (store.Principal, error)
}

// Auditor takes the records of the secret reads the service makes for a
// caller (*audit.Writer is one): Record stores one before its value is
// revealed; Enqueue queues one on the proxy's path, as the data plane does.
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
	Enqueue(e audit.Event) bool
}

// Accounts gives an AIServices connection its account's key: the one the
// account's rotation says consumers should use now (*account.Service).
type Accounts interface {
	ActiveKeyOf(ctx context.Context, name string) (keyName string, key account.Key, err error)
}

// Options configure a Service. Store, Access, Vault, Directory and Audit are
// required.
type Options struct {
	Store     Store
	Access    Access
	Vault     Vault
	Directory Directory
	Audit     Auditor
	// Accounts, when set, lets an AIServices connection with ApiKey
	// authentication and no key of its own hand out its account's active key.
	Accounts Accounts
	// Feed is the process's change-feed follower, shared with the other
	// services; nil gives the Service its own (tests), which Run runs.
	Feed *store.Follower
	// Sync is called after every write: it waits until the other replicas
	// have applied it (store.Barrier). Nil: no wait.
	Sync   func(ctx context.Context) error
	Logger *slog.Logger
	Now    func() time.Time
}

// Service is the connection service. It is safe for concurrent use. Run keeps
// its cache of records in step with the store.
type Service struct {
	store   Store
	access  Access
	vault   Vault
	dir     Directory
	audit   Auditor
	accts   Accounts
	log     *slog.Logger
	now     func() time.Time
	sync    func(ctx context.Context) error
	feed    *store.Follower
	ownFeed bool
	cache   *cache
}

// New builds a Service.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Access == nil || opts.Vault == nil || opts.Directory == nil || opts.Audit == nil {
		return nil, errors.New("connection.New: Store, Access, Vault, Directory and Audit are required")
	}
	s := &Service{store: opts.Store, access: opts.Access, vault: opts.Vault, dir: opts.Directory, audit: opts.Audit,
		accts: opts.Accounts, log: opts.Logger, now: opts.Now, sync: opts.Sync, cache: newCache()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
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

// Run follows the change feed, when the Service has a follower of its own,
// until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	if s.ownFeed {
		s.feed.Run(ctx, 5*time.Second, func(err error) {
			s.log.Warn("connection cache could not follow the change feed; it was cleared", "err", err)
			s.cache.clear()
		})
	}
	<-ctx.Done()
	return nil
}

// applyChanges drops the cache when a resource changed: connections, the
// projects they belong to and the hubs' Key Vault connections change rarely,
// so one rule keeps them all in step.
func (s *Service) applyChanges(_ context.Context, cs []store.Change) error {
	for _, c := range cs {
		if c.Topic == store.TopicResource {
			s.cache.clear()
			return nil
		}
	}
	return nil
}

// cache holds the resource records requests read: connections, projects and
// each hub's Key Vault connection, present or absent. It is cleared by any
// resource change; a read that began before a clear does not refill it.
type cache struct {
	mu  sync.RWMutex // guards the fields below
	gen uint64
	// resources maps a scope to its record, nil when there is none.
	resources map[string]*store.Resource
	// keyVaults maps a hub's scope to its Key Vault connection, nil when
	// it has none.
	keyVaults map[string]*Connection
}

func newCache() *cache {
	return &cache{resources: map[string]*store.Resource{}, keyVaults: map[string]*Connection{}}
}

func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.resources)
	clear(c.keyVaults)
}

func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// fresh catches up with the change feed before a read from the cache: a
// change another replica announced must not be answered from it.
func (s *Service) fresh(ctx context.Context) {
	if err := s.feed.Fresh(ctx); err != nil {
		s.cache.clear()
	}
}

// resource returns the record at scope, nil when there is none, from the
// cache or the store.
func (s *Service) resource(ctx context.Context, scope string) (*store.Resource, error) {
	s.cache.mu.RLock()
	r, ok := s.cache.resources[scope]
	s.cache.mu.RUnlock()
	if ok {
		return r, nil
	}
	gen := s.cache.generation()
	rec, err := s.store.Resource(ctx, scope)
	switch {
	case errors.Is(err, store.ErrNotFound):
		r = nil
	case err != nil:
		return nil, errs.E(errs.Unavailable, "connection.read", "", err)
	default:
		r = &rec
	}
	s.cache.mu.Lock()
	if s.cache.gen == gen {
		s.cache.resources[scope] = r
	}
	s.cache.mu.Unlock()
	return r, nil
}

// connection returns the connection at ref, nil when there is none.
func (s *Service) connection(ctx context.Context, ref Ref) (*Connection, error) {
	r, err := s.resource(ctx, ref.Scope())
	if err != nil || r == nil || (r.Kind != store.Connection && r.Kind != store.KeyVaultConnection) {
		return nil, err
	}
	return decode(ref, *r)
}

// keyVault returns the Key Vault connection of hub (lower-case), nil when it
// has none.
func (s *Service) keyVault(ctx context.Context, hub string) (*Connection, error) {
	scope := access.HubScope(hub)
	s.cache.mu.RLock()
	kv, ok := s.cache.keyVaults[scope]
	s.cache.mu.RUnlock()
	if ok {
		return kv, nil
	}
	gen := s.cache.generation()
	rs, _, err := s.store.Resources(ctx, store.KeyVaultConnection, scope, store.Page{Limit: 2})
	if err != nil {
		return nil, errs.E(errs.Unavailable, "connection.keyVault", "", err)
	}
	kv = nil
	if len(rs) > 0 {
		if kv, err = decode(Ref{Hub: hub, Name: rs[0].Name}, rs[0]); err != nil {
			return nil, err
		}
	}
	s.cache.mu.Lock()
	if s.cache.gen == gen {
		s.cache.keyVaults[scope] = kv
	}
	s.cache.mu.Unlock()
	return kv, nil
}

// written makes a write visible everywhere before the caller answers.
func (s *Service) written(ctx context.Context, scope string) {
	s.cache.clear()
	if err := s.sync(ctx); err != nil {
		s.log.WarnContext(ctx, "other replicas may not have seen a connection write yet", "scope", scope, "err", err)
	}
}

// record is a connection's Properties in the store: its definition without
// credentials, and where those are.
type record struct {
	Category                        Category          `json:"category"`
	AuthType                        AuthType          `json:"authType"`
	Target                          string            `json:"target,omitempty"`
	Description                     string            `json:"description,omitempty"`
	Metadata                        map[string]string `json:"metadata,omitempty"`
	Tags                            map[string]string `json:"tags,omitempty"`
	Proxy                           *proxyRecord      `json:"proxy,omitempty"`
	Account                         string            `json:"account,omitempty"`
	Vault                           string            `json:"vault,omitempty"`
	Identity                        string            `json:"identity,omitempty"`
	IdentityID                      string            `json:"identityId,omitempty"`
	ReadersReadDatastoreCredentials *bool             `json:"readersReadDatastoreCredentials,omitempty"`
	Secrets                         []SecretRef       `json:"secrets,omitempty"`
	UID                             string            `json:"uid"`
	CreatedBy                       string            `json:"createdBy,omitempty"`
}

type proxyRecord struct {
	Header            string `json:"header"`
	Prefix            string `json:"prefix"`
	Key               string `json:"key,omitempty"`
	RequestsPerMinute *int   `json:"requestsPerMinute,omitempty"`
	TokensPerMinute   *int   `json:"tokensPerMinute,omitempty"`
}

// encode returns c's record as stored Properties.
func encode(c *Connection) []byte {
	rec := record{
		Category: c.Category, AuthType: c.AuthType, Target: c.Target, Description: c.Description,
		Metadata: c.Metadata, Tags: c.Tags, Account: c.Account, Vault: c.Vault, Identity: c.Identity,
		IdentityID: c.identityID, ReadersReadDatastoreCredentials: c.ReadersReadDatastoreCredentials,
		Secrets: c.Secrets, UID: c.uid, CreatedBy: c.CreatedBy,
	}
	if c.Proxy != nil {
		rec.Proxy = &proxyRecord{Header: c.Proxy.Header, Prefix: *c.Proxy.Prefix, Key: c.Proxy.Key,
			RequestsPerMinute: c.Proxy.RequestsPerMinute, TokensPerMinute: c.Proxy.TokensPerMinute}
	}
	b, _ := json.Marshal(rec) // a struct of strings, maps of strings and bools always encodes
	return b
}

// decode reads a stored record of the connection at ref.
func decode(ref Ref, r store.Resource) (*Connection, error) {
	var rec record
	if err := json.Unmarshal(r.Properties, &rec); err != nil {
		return nil, errs.E(errs.Internal, "connection.decode", "", fmt.Errorf("properties of connection %s: %w", r.Scope, err))
	}
	c := &Connection{
		Ref: ref, Scope: r.Scope, Kind: string(r.Kind),
		Definition: Definition{
			Category: rec.Category, AuthType: rec.AuthType, Target: rec.Target, Description: rec.Description,
			Metadata: rec.Metadata, Tags: rec.Tags, Account: rec.Account, Vault: rec.Vault, Identity: rec.Identity,
			ReadersReadDatastoreCredentials: rec.ReadersReadDatastoreCredentials,
		},
		Secrets: rec.Secrets, CreatedBy: rec.CreatedBy, Created: r.Created, Updated: r.Updated,
		uid: rec.UID, identityID: rec.IdentityID,
	}
	c.Name = r.Name
	if rec.Proxy != nil {
		prefix := rec.Proxy.Prefix
		c.Proxy = &ProxyHeader{Header: rec.Proxy.Header, Prefix: &prefix, Key: rec.Proxy.Key,
			RequestsPerMinute: rec.Proxy.RequestsPerMinute, TokensPerMinute: rec.Proxy.TokensPerMinute}
	}
	return c, nil
}

// listUnder returns every connection stored directly under parent (a hub or
// a project scope), the Key Vault connection included, ordered by scope.
func (s *Service) listUnder(ctx context.Context, hub, project, parent string) ([]*Connection, error) {
	var out []*Connection
	for _, k := range []store.ResourceKind{store.KeyVaultConnection, store.Connection} {
		p := store.Page{Limit: store.MaxPageLimit}
		for {
			rs, next, err := s.store.Resources(ctx, k, parent, p)
			if err != nil {
				return nil, errs.E(errs.Unavailable, "connection.list", "", err)
			}
			for _, r := range rs {
				c, err := decode(Ref{Hub: hub, Project: project, Name: r.Name}, r)
				if err != nil {
					return nil, err
				}
				out = append(out, c)
			}
			if next == "" {
				break
			}
			p.After = next
		}
	}
	sortByScope(out)
	return out, nil
}

func sortByScope(cs []*Connection) {
	slices.SortFunc(cs, func(a, b *Connection) int { return strings.Compare(a.Scope, b.Scope) })
}
