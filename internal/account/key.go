package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// Key is a subscription key or an upstream credential in plaintext. It prints
// as [REDACTED]; Reveal it only where it leaves the process.
type Key struct{ s string }

// NewKey wraps a key's plaintext.
func NewKey(s string) Key { return Key{s: s} }

func (Key) String() string       { return "[REDACTED]" }
func (Key) GoString() string     { return "[REDACTED]" }
func (Key) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Format prints [REDACTED] for every verb.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[REDACTED]") }

// Reveal returns the plaintext.
func (k Key) Reveal() string { return k.s }

// IsZero reports whether k holds nothing.
func (k Key) IsZero() bool { return k.s == "" }

// Keys are an account's two keys, as listKeys shows them.
type Keys struct {
	Key1, Key2 Key
}

// keyBytes is the size of a subscription key's randomness: 256 bits, shown
// as 64 hexadecimal characters.
const keyBytes = 32

// newKeyValue returns a fresh random subscription key.
func newKeyValue() Key {
	var b [keyBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return Key{s: hex.EncodeToString(b[:])}
}

// newVersion returns a fresh key version: 32 lower-case hex characters.
func newVersion() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validKeyName reports whether name is key1 or key2.
func validKeyName(name string) bool { return name == store.Key1 || name == store.Key2 }

// otherKey returns the other key's name.
func otherKey(name string) string {
	if name == store.Key1 {
		return store.Key2
	}
	return store.Key1
}

// Setting keys owned by this package: the installation's HMAC keys, made once
// and kept sealed under the master key. Neither is the master key.
const (
	indexKeySetting = "account_key_index" // keys the lookup hash of subscription keys
	tokenKeySetting = "account_token_key" // signs STS tokens
)

// installSecrets are the installation's HMAC keys. Immutable after New.
type installSecrets struct {
	index []byte
	token []byte
}

// loadInstallSecrets reads the installation's HMAC keys, making them on its
// first start; replicas that start together agree on the first one stored.
func loadInstallSecrets(ctx context.Context, st store.Settings, keys *seal.Keyring, tenant string) (installSecrets, error) {
	var (
		s   installSecrets
		err error
	)
	if s.index, err = loadSetting(ctx, st, keys, tenant, indexKeySetting); err != nil {
		return s, err
	}
	s.token, err = loadSetting(ctx, st, keys, tenant, tokenKeySetting)
	return s, err
}

func loadSetting(ctx context.Context, st store.Settings, keys *seal.Keyring, tenant, name string) ([]byte, error) {
	const o = "account.New"
	b := seal.Bind("account-setting", tenant, name)
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	sealed, err := keys.Seal(fresh, b)
	if err != nil {
		return nil, errs.E(errs.Internal, o, "", err)
	}
	stored, err := st.InitSetting(ctx, name, sealed)
	if err != nil {
		return nil, errs.E(errs.Unavailable, o, "cannot read or create the account keys' "+name, err)
	}
	plain, err := keys.Open(stored, b)
	if err != nil {
		return nil, errs.E(errs.Internal, o, "", fmt.Errorf("open setting %s: %w", name, err))
	}
	return plain, nil
}

// lookup returns the keyed hash under which a key value is found.
func (s installSecrets) lookup(key string) string {
	m := hmac.New(sha256.New, s.index)
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

// keyBinding binds a sealed key to its installation, account, name and
// version.
func (s *Service) keyBinding(account, name, version string) seal.Binding {
	return seal.Bind("account-key", s.tenant, account, name, version)
}

// sealKey returns the record of a new value of key name of account.
func (s *Service) sealKey(account, name string, v Key) (store.AccountKey, error) {
	k := store.AccountKey{Account: account, Name: name, Version: newVersion(), Lookup: s.secrets.lookup(v.s), Created: store.Time(s.now())}
	var err error
	if k.Value, err = s.seal.Seal([]byte(v.s), s.keyBinding(account, name, k.Version)); err != nil {
		return k, errs.E(errs.Internal, "account.sealKey", "", err)
	}
	return k, nil
}

// openKey returns the plaintext of a stored key.
func (s *Service) openKey(k store.AccountKey) (Key, error) {
	plain, err := s.seal.Open(k.Value, s.keyBinding(k.Account, k.Name, k.Version))
	if err != nil {
		return Key{}, errs.E(errs.Internal, "account.openKey", "", fmt.Errorf("open key %s of account %s: %w", k.Name, k.Account, err))
	}
	return Key{s: string(plain)}, nil
}
