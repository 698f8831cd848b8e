package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/store"
)

// maxCachedSecrets bounds the cache; past it, entries are dropped at random
// (a miss costs one database read, never a wrong answer).
const maxCachedSecrets = 100_000

// nameEntry is what the cache holds of one secret: its state and the sealed
// versions read so far. Guarded by cache.mu.
type nameEntry struct {
	secret   store.Secret
	versions map[string]store.SecretVersion
}

// cache holds vaults and secrets read from the store. Entries are dropped when
// the change feed says they changed, whichever replica changed them, and at
// once for writes made through this Service.
type cache struct {
	mu      sync.RWMutex // guards everything below
	vaults  map[string]*vaultInfo
	secrets map[string]*nameEntry // by "{vault}/{name}"
	// gen counts invalidations, so that a read that raced one does not put a
	// stale entry back.
	gen uint64

	// The answers of lookups, for Stats (stats.go); they need no lock.
	secretHits, secretMisses, vaultHits, vaultMisses paddedCounter
}

func newCache() *cache {
	return &cache{vaults: map[string]*vaultInfo{}, secrets: map[string]*nameEntry{}}
}

func key(vault, name string) string { return vault + "/" + name }

// version returns a cached version ("" for the current one) and the secret.
func (c *cache) version(vault, name, version string) (store.Secret, store.SecretVersion, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.secrets[key(vault, name)]
	if !ok {
		c.secretMisses.Add(1)
		return store.Secret{}, store.SecretVersion{}, false
	}
	if version == "" {
		version = e.secret.CurrentVersion
	}
	v, ok := e.versions[version]
	if ok {
		c.secretHits.Add(1)
	} else {
		c.secretMisses.Add(1)
	}
	return e.secret, v, ok
}

// vault returns the cached record of the vault named name.
func (c *cache) vault(name string) (*vaultInfo, bool) {
	c.mu.RLock()
	v, ok := c.vaults[name]
	c.mu.RUnlock()
	if ok {
		c.vaultHits.Add(1)
	} else {
		c.vaultMisses.Add(1)
	}
	return v, ok
}

// generation returns the invalidation count, to pass to put.
func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches a secret's state and one of its versions, unless an invalidation
// happened since gen was read.
func (c *cache) put(gen uint64, sec store.Secret, v store.SecretVersion) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	k := key(sec.Vault, sec.Name)
	e, ok := c.secrets[k]
	if !ok {
		if len(c.secrets) >= maxCachedSecrets {
			for drop := range c.secrets {
				delete(c.secrets, drop)
				break
			}
		}
		e = &nameEntry{secret: sec, versions: map[string]store.SecretVersion{}}
		c.secrets[k] = e
	}
	e.secret = sec
	e.versions[v.Version] = v
}

// drop forgets a secret.
func (c *cache) drop(vault, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.secrets, key(vault, name))
}

// dropVault forgets a vault's record and settings.
func (c *cache) dropVault(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.vaults, name)
}

func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.vaults)
	clear(c.secrets)
}

// applyChanges drops what the change feed says changed.
func (s *Service) applyChanges(_ context.Context, cs []store.Change) error {
	for _, ch := range cs {
		switch ch.Topic {
		case store.TopicSecret:
			vault, name, _ := strings.Cut(ch.Key, "/")
			s.cache.drop(vault, name)
		case store.TopicResource:
			if i := strings.Index(ch.Key, "/vaults/"); i >= 0 {
				s.cache.dropVault(ch.Key[i+len("/vaults/"):])
			}
		}
	}
	return nil
}

// purgeDue purges soft-deleted secrets whose scheduled purge date has passed,
// and records each purge in the audit trail. A secret another replica purged
// first is its to record.
func (s *Service) purgeDue(ctx context.Context) error {
	due, err := s.store.SecretsDue(ctx, s.now(), 100)
	if err != nil {
		return err
	}
	for _, sec := range due {
		err := s.store.PurgeSecret(ctx, sec.Vault, sec.Name)
		s.cache.drop(sec.Vault, sec.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return err
		}
		s.log.InfoContext(ctx, "purged a deleted secret at its scheduled date", "vault", sec.Vault, "secret", sec.Name)
		s.audit(ctx, Event{
			Operation: access.SecretsPurge,
			Scope:     s.Scope(ctx, sec.Vault, sec.Name),
			Reason: fmt.Sprintf("secret %s of vault %s purged at its scheduled date %s (deleted %s)", sec.Name, sec.Vault,
				sec.ScheduledPurge.UTC().Format(time.RFC3339), sec.Deleted.UTC().Format(time.RFC3339)),
		})
	}
	return nil
}
