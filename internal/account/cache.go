package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// keyEntry is what the index holds of one key: who it is and its sealed
// value (opened only when the key is listed). Immutable.
type keyEntry struct {
	account, name, version, lookup string
	sealed                         []byte
}

func entryOf(k store.AccountKey) *keyEntry {
	return &keyEntry{account: k.Account, name: k.Name, version: k.Version, lookup: k.Lookup, sealed: k.Value}
}

// keyIndex holds every key of every account, by lookup hash and by account,
// so that a key a caller presents is found with a map lookup. It follows the
// change feed; when it could not (stale), callers read the store instead.
type keyIndex struct {
	mu        sync.RWMutex // guards everything below
	byLookup  map[string]*keyEntry
	byAccount map[string][]*keyEntry
	// gen counts replacements of one account's keys, so that a full reload
	// that raced one does not put older keys back.
	gen   uint64
	stale bool
}

func newKeyIndex() *keyIndex {
	return &keyIndex{byLookup: map[string]*keyEntry{}, byAccount: map[string][]*keyEntry{}}
}

// find returns the key whose lookup hash is lookup; ok is false when there
// is none, and trusted when the index follows the feed.
func (x *keyIndex) find(lookup string) (e *keyEntry, ok, trusted bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok = x.byLookup[lookup]
	return e, ok, !x.stale
}

// key returns key name of account, and whether the index is trusted.
func (x *keyIndex) key(account, name string) (e *keyEntry, trusted bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, k := range x.byAccount[account] {
		if k.name == name {
			return k, !x.stale
		}
	}
	return nil, !x.stale
}

// setAccount replaces account's keys with ks.
func (x *keyIndex) setAccount(account string, ks []store.AccountKey) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	for _, old := range x.byAccount[account] {
		delete(x.byLookup, old.lookup)
	}
	delete(x.byAccount, account)
	for _, k := range ks {
		e := entryOf(k)
		x.byLookup[e.lookup] = e
		x.byAccount[account] = append(x.byAccount[account], e)
	}
}

// generation returns the replacement count, to pass to replaceAll.
func (x *keyIndex) generation() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.gen
}

// replaceAll installs every key read since generation gen, unless an
// account's keys were replaced meanwhile (then it reports false and the index
// stays as it was).
func (x *keyIndex) replaceAll(gen uint64, ks []store.AccountKey) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gen != gen {
		return false
	}
	x.byLookup, x.byAccount = make(map[string]*keyEntry, len(ks)), make(map[string][]*keyEntry, len(ks)/2+1)
	for _, k := range ks {
		e := entryOf(k)
		x.byLookup[e.lookup] = e
		x.byAccount[e.account] = append(x.byAccount[e.account], e)
	}
	x.stale = false
	return true
}

func (x *keyIndex) markStale() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stale = true
}

func (x *keyIndex) isStale() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.stale
}

// reloadKeys reads every key of every account into the index.
func (s *Service) reloadKeys(ctx context.Context) error {
	for range 3 {
		gen := s.keys.generation()
		var all []store.AccountKey
		p := store.Page{Limit: store.MaxPageLimit}
		for {
			ks, next, err := s.store.AllAccountKeys(ctx, p)
			if err != nil {
				return errs.E(errs.Unavailable, "account.reloadKeys", "cannot read account keys", err)
			}
			all = append(all, ks...)
			if next == "" {
				break
			}
			p.After = next
		}
		if s.keys.replaceAll(gen, all) {
			return nil
		}
	}
	return errs.E(errs.Unavailable, "account.reloadKeys", "account keys changed during every reload; retrying later", nil)
}

// findKey returns the key whose lookup hash is lookup: from the index, or,
// when the index does not follow the feed, from the store. ok is false when
// no key has that hash.
func (s *Service) findKey(ctx context.Context, lookup string) (*keyEntry, bool, error) {
	e, ok, trusted := s.keys.find(lookup)
	if trusted {
		return e, ok, nil
	}
	k, err := s.store.AccountKeyByLookup(ctx, lookup)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, errs.E(errs.Unavailable, "account.findKey", "", err)
	}
	return entryOf(k), true, nil
}

// currentKey returns key name of account: from the index, or, when the index
// does not follow the feed, from the store. Nil when there is none.
func (s *Service) currentKey(ctx context.Context, account, name string) (*keyEntry, error) {
	e, trusted := s.keys.key(account, name)
	if trusted {
		return e, nil
	}
	ks, err := s.store.AccountKeys(ctx, account)
	if err != nil {
		return nil, errs.E(errs.Unavailable, "account.currentKey", "", err)
	}
	for _, k := range ks {
		if k.Name == name {
			return entryOf(k), nil
		}
	}
	return nil, nil
}

// accountCache holds accounts read from the store, dropped when the change
// feed says their record changed.
type accountCache struct {
	mu sync.RWMutex // guards everything below
	m  map[string]*Account
	// gen counts invalidations, so that a read that raced one does not put a
	// stale entry back.
	gen uint64
}

func newAccountCache() *accountCache { return &accountCache{m: map[string]*Account{}} }

func (c *accountCache) get(name string) (*Account, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.m[name]
	return a, ok, c.gen
}

func (c *accountCache) put(gen uint64, a *Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.m[a.Name] = a
	}
}

func (c *accountCache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, name)
}

func (c *accountCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// applyChanges applies what the change feed says changed: an account's keys
// are read again; an account's record is dropped from the cache and this
// replica writes the uses it counted of its keys, so that a rotation that
// touched the record (and waits until every replica applied it) then reads
// every replica's uses.
func (s *Service) applyChanges(ctx context.Context, cs []store.Change) error {
	keys, records := map[string]bool{}, map[string]bool{}
	for _, ch := range cs {
		switch ch.Topic {
		case store.TopicAccountKey:
			keys[ch.Key] = true
		case store.TopicResource:
			if i := strings.Index(ch.Key, "/accounts/"); i >= 0 {
				records[ch.Key[i+len("/accounts/"):]] = true
			}
		}
	}
	for account := range keys {
		ks, err := s.store.AccountKeys(ctx, account)
		if err != nil {
			return fmt.Errorf("reload the keys of account %s: %w", account, err)
		}
		s.keys.setAccount(account, ks)
	}
	for name := range records {
		s.accounts.drop(name)
		s.tokens.drop(name)
		if err := s.flushUses(ctx, name); err != nil {
			s.log.WarnContext(ctx, "key uses could not be written for a rotation; they will be at the next flush", "account", name, "err", err)
		}
	}
	return nil
}
