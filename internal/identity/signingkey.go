package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// clockSkew is the tolerance for clocks of issuers and relying parties.
const clockSkew = 5 * time.Minute

// signingKey is a loaded signing key: public always, private for signing.
type signingKey struct {
	id          string
	pub         *ecdsa.PublicKey
	signer      jose.Signer // nil when the key no longer signs
	created     time.Time
	activeUntil time.Time
	retireAt    time.Time
}

// keySet is an immutable snapshot of the signing keys, swapped atomically.
type keySet struct {
	active *signingKey            // signs new tokens; nil only before the first key exists
	byID   map[string]*signingKey // every key still accepted
	jwks   []byte                 // the published JSON Web Key Set
}

func keyBinding(tenant, kid string) seal.Binding {
	return seal.Bind("signing-key", tenant, kid)
}

// rotateKeys makes sure a signing key is active beyond the prepublication
// window (creating the next one ahead of time), forgets retired keys, and loads
// the result.
func (s *Service) rotateKeys(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	now := s.now()
	stored, err := s.store.SigningKeys(ctx)
	if err != nil {
		return errs.E(errs.Unavailable, op("rotateKeys"), "cannot read signing keys", err)
	}
	covered := false
	for _, k := range stored {
		if k.ActiveUntil.After(now.Add(s.prepub)) {
			covered = true
		}
	}
	if !covered {
		k, err := s.newSigningKey(now)
		if err != nil {
			return err
		}
		if err := s.store.CreateSigningKey(ctx, k); err != nil {
			return errs.E(errs.Unavailable, op("rotateKeys"), "cannot store a new signing key", err)
		}
		stored = append(stored, k)
	}
	var keep []store.SigningKey
	for _, k := range stored {
		if now.After(k.RetireAt) {
			// Every token it signed has expired: forget it. Another replica may
			// have done so already.
			_ = s.store.DeleteSigningKey(ctx, k.ID)
			continue
		}
		keep = append(keep, k)
	}
	return s.loadKeys(keep, now)
}

// newSigningKey makes an ES256 key, published from now and signing from
// now+KeyPrepublish (see loadKeys for the first key of an installation).
func (s *Service) newSigningKey(now time.Time) (store.SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.SigningKey{}, errs.E(errs.Internal, op("newSigningKey"), "", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, errs.E(errs.Internal, op("newSigningKey"), "", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return store.SigningKey{}, errs.E(errs.Internal, op("newSigningKey"), "", err)
	}
	sum := sha256.Sum256(pub)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	sealed, err := s.seal.Seal(pkcs8, keyBinding(s.tenant, kid))
	clear(pkcs8)
	if err != nil {
		return store.SigningKey{}, errs.E(errs.Internal, op("newSigningKey"), "", err)
	}
	activeUntil := now.Add(s.rotation + s.prepub)
	return store.SigningKey{
		ID: kid, Algorithm: string(jose.ES256), Private: sealed, Public: pub,
		Created: store.Time(now), ActiveUntil: store.Time(activeUntil),
		RetireAt: store.Time(activeUntil.Add(s.lifetime + clockSkew)),
	}, nil
}

// loadKeys builds and installs a keySet from stored keys. The active key is the
// newest whose prepublication has passed; on a new installation (no such key)
// the newest key signs at once.
func (s *Service) loadKeys(stored []store.SigningKey, now time.Time) error {
	sort.Slice(stored, func(i, j int) bool { return stored[i].Created.Before(stored[j].Created) })
	set := &keySet{byID: make(map[string]*signingKey, len(stored))}
	var jwks jose.JSONWebKeySet
	var newestUsable, newestReady *signingKey
	for _, k := range stored {
		pubAny, err := x509.ParsePKIXPublicKey(k.Public)
		pub, ok := pubAny.(*ecdsa.PublicKey)
		if err != nil || !ok {
			return errs.E(errs.Internal, op("loadKeys"), "", fmt.Errorf("signing key %s: public key is not ECDSA: %v", k.ID, err))
		}
		sk := &signingKey{id: k.ID, pub: pub, created: k.Created, activeUntil: k.ActiveUntil, retireAt: k.RetireAt}
		set.byID[k.ID] = sk
		jwks.Keys = append(jwks.Keys, jose.JSONWebKey{Key: pub, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
		if now.Before(k.ActiveUntil) {
			if err := s.openSigner(sk, k); err != nil {
				return err
			}
			newestUsable = sk
			if !now.Before(k.Created.Add(s.prepub)) {
				newestReady = sk
			}
		}
	}
	set.active = newestReady
	if set.active == nil {
		set.active = newestUsable
	}
	b, err := json.Marshal(jwks)
	if err != nil {
		return errs.E(errs.Internal, op("loadKeys"), "", err)
	}
	set.jwks = b
	s.keys.Store(set)
	s.lastReload = now
	return nil
}

func (s *Service) openSigner(sk *signingKey, k store.SigningKey) error {
	pkcs8, err := s.seal.Open(k.Private, keyBinding(s.tenant, k.ID))
	if err != nil {
		return errs.E(errs.Internal, op("loadKeys"), "", fmt.Errorf("open signing key %s: %w", k.ID, err))
	}
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	clear(pkcs8)
	if err != nil {
		return errs.E(errs.Internal, op("loadKeys"), "", fmt.Errorf("signing key %s: %w", k.ID, err))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID))
	if err != nil {
		return errs.E(errs.Internal, op("loadKeys"), "", err)
	}
	sk.signer = signer
	return nil
}

// reloadKeys loads the stored signing keys without rotating.
func (s *Service) reloadKeys(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	stored, err := s.store.SigningKeys(ctx)
	if err != nil {
		return errs.E(errs.Unavailable, op("reloadKeys"), "cannot read signing keys", err)
	}
	return s.loadKeys(stored, s.now())
}

// JWKS returns the published JSON Web Key Set: every key whose tokens may still
// be in use, and the next key before it signs.
func (s *Service) JWKS() []byte { return s.keys.Load().jwks }

// reloadKeysIfStale reloads keys from the store when a token names an unknown
// kid (another replica may have rotated), at most once a second.
func (s *Service) reloadKeysIfStale(ctx context.Context) {
	s.reloadMu.Lock()
	stale := s.now().Sub(s.lastReload) > time.Second
	s.reloadMu.Unlock()
	if stale {
		_ = s.rotateKeys(ctx)
	}
}
