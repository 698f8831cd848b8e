package store

import (
	"context"
	"time"
)

// The record of an AI services account itself is a Resource of kind Account;
// its non-secret settings are the resource's Properties. What is secret or
// written on the hot path lives here: the account's two keys, sealed, and the
// record of who used them when.

// Account key names, as Azure names them.
const (
	Key1 = "key1"
	Key2 = "key2"
)

// AccountKey is one of an account's two subscription keys. Its value is
// sealed: the store never sees it. Lookup, a keyed hash of the value, finds
// the key a caller presents in one indexed read.
type AccountKey struct {
	Account string // the account's name, unique in the tenant
	Name    string // Key1 or Key2
	// Version changes each time the key is regenerated (32 lower-case hex
	// characters, random), so that what was minted from an older value (an
	// STS token) can be told apart.
	Version string
	Value   []byte // sealed envelope (internal/seal)
	// Lookup is the keyed hash (HMAC-SHA256, hex) of the key's plaintext;
	// unique among all keys.
	Lookup  string
	Created time.Time // when this value was made
}

// KeyUse records that a caller used one value of an account key, by the key
// itself or by a token minted from it.
type KeyUse struct {
	Account string
	Key     string // Key1 or Key2
	Version string // the key's Version at the time of use
	Caller  string // the caller's address
	Via     string // how: "key" (the key itself) or "token" (an STS token)
	// LastUsed is the latest use recorded.
	LastUsed time.Time
}

// AccountKeys holds the keys of AI services accounts and the record of their
// use. Every write of keys appends a Change of topic TopicAccountKey with the
// account's name as key; recording uses appends none (nothing caches them).
type AccountKeys interface {
	// PutAccountKey stores k. With oldVersion "", k must be new: an error
	// wrapping ErrConflict says the account already has a key of that name.
	// Otherwise k replaces the key of that name whose Version is oldVersion,
	// and the uses recorded of oldVersion are forgotten; an error wrapping
	// ErrNotFound says the account has no key of that name, and one wrapping
	// ErrConflict that its Version is no longer oldVersion (another writer
	// replaced it first). ErrConflict also comes when k.Lookup is another
	// key's.
	PutAccountKey(ctx context.Context, k AccountKey, oldVersion string) error
	// AccountKeys returns the keys of account ordered by Name; none (and no
	// error) when it has none.
	AccountKeys(ctx context.Context, account string) ([]AccountKey, error)
	// AccountKeyByLookup returns the key whose Lookup is lookup, or an error
	// wrapping ErrNotFound.
	AccountKeyByLookup(ctx context.Context, lookup string) (AccountKey, error)
	// AllAccountKeys lists every account's keys ordered by account and name,
	// one page at a time, and returns the cursor of the next page.
	AllAccountKeys(ctx context.Context, p Page) (ks []AccountKey, next string, err error)
	// DeleteAccountKeys deletes the keys of account and every use recorded
	// of them. Deleting the keys of an account that has none is no error.
	DeleteAccountKeys(ctx context.Context, account string) error
	// RecordKeyUses records uses, keeping for each account, key, version,
	// caller and way the latest LastUsed of those recorded so far.
	RecordKeyUses(ctx context.Context, uses []KeyUse) error
	// KeyUses returns the uses recorded of account's keys, ordered by key,
	// version, caller and way.
	KeyUses(ctx context.Context, account string) ([]KeyUse, error)
}
