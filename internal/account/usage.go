package account

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Ways a key is used.
const (
	ViaKey   = "key"   // the key itself, in Ocp-Apim-Subscription-Key or api-key
	ViaToken = "token" // an STS token minted from it
)

// useKey names what one counted use is about.
type useKey struct {
	account, key, version, caller, via string
}

// usage counts, in memory, the latest use of each key value by each caller
// since the last flush.
type usage struct {
	mu      sync.Mutex // guards pending
	pending map[useKey]time.Time
}

func newUsage() *usage { return &usage{pending: map[useKey]time.Time{}} }

// record notes a use at at.
func (u *usage) record(k useKey, at time.Time) {
	u.mu.Lock()
	if at.After(u.pending[k]) {
		u.pending[k] = at
	}
	u.mu.Unlock()
}

// take removes and returns the pending uses of account ("" for all).
func (u *usage) take(account string) []store.KeyUse {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []store.KeyUse
	for k, at := range u.pending {
		if account != "" && k.account != account {
			continue
		}
		out = append(out, store.KeyUse{Account: k.account, Key: k.key, Version: k.version, Caller: k.caller, Via: k.via, LastUsed: store.Time(at)})
		delete(u.pending, k)
	}
	return out
}

// putBack returns uses that could not be written, keeping newer ones.
func (u *usage) putBack(us []store.KeyUse) {
	for _, x := range us {
		u.record(useKey{x.Account, x.Key, x.Version, x.Caller, x.Via}, x.LastUsed)
	}
}

// forget drops the pending uses of account.
func (u *usage) forget(account string) { u.take(account) }

// flushUses writes the uses counted of account ("" for all) to the store.
func (s *Service) flushUses(ctx context.Context, account string) error {
	us := s.uses.take(account)
	if len(us) == 0 {
		return nil
	}
	if err := s.store.RecordKeyUses(ctx, us); err != nil {
		s.uses.putBack(us)
		return errs.E(errs.Unavailable, "account.flushUses", "", err)
	}
	return nil
}

// KeyUse is the latest use of a key's current value by one caller.
type KeyUse struct {
	Key      string // key1 or key2
	Caller   string // the caller's address
	Via      string // ViaKey or ViaToken
	LastUsed time.Time
}

// KeyUses returns the latest use of each of the account's current key values
// by each caller, as recorded by every replica (each writes what it counted
// every FlushInterval; this one's own uses are included at once). The caller
// needs AccountsRead there. Kinds: NotFound, Forbidden.
func (s *Service) KeyUses(ctx context.Context, callerID, name string) ([]KeyUse, error) {
	a, err := s.enter(ctx, callerID, access.AccountsRead, name)
	if err != nil {
		return nil, err
	}
	return s.keyUses(ctx, a.Name)
}

// keyUses writes this replica's counted uses of account, then reads every
// use recorded of its current key values, newest first within each key.
func (s *Service) keyUses(ctx context.Context, account string) ([]KeyUse, error) {
	const o = "account.KeyUses"
	if err := s.flushUses(ctx, account); err != nil {
		return nil, err
	}
	ks, err := s.store.AccountKeys(ctx, account)
	if err != nil {
		return nil, errs.E(errs.Unavailable, o, "", err)
	}
	current := map[string]string{}
	for _, k := range ks {
		current[k.Name] = k.Version
	}
	recorded, err := s.store.KeyUses(ctx, account)
	if err != nil {
		return nil, errs.E(errs.Unavailable, o, "", err)
	}
	out := []KeyUse{}
	for _, u := range recorded {
		if current[u.Key] == u.Version {
			out = append(out, KeyUse{Key: u.Key, Caller: u.Caller, Via: u.Via, LastUsed: u.LastUsed})
		}
	}
	slices.SortFunc(out, func(a, b KeyUse) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), b.LastUsed.Compare(a.LastUsed), cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.Via, b.Via))
	})
	return out, nil
}
