package identity

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// kidOf returns the kid in a token's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Headers[0].KeyID
}

// publishedKIDs returns the key ids in the published JWKS.
func publishedKIDs(t *testing.T, s *Service) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatalf("JWKS %s: %v", s.JWKS(), err)
	}
	var ids []string
	for _, k := range set.Keys {
		if k.Algorithm != string(jose.ES256) || k.Use != "sig" || !k.Valid() || !k.IsPublic() {
			t.Errorf("JWKS key %s: alg %s use %s public %v, want a public ES256 signing key", k.KeyID, k.Algorithm, k.Use, k.IsPublic())
		}
		ids = append(ids, k.KeyID)
	}
	return ids
}

// TestKeyRotation walks one signing key's life with small durations: the next
// key is published before it signs, takes over when the old one stops signing,
// and the old key verifies its tokens until RetireAt and nothing after.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	const (
		lifetime = 10 * time.Minute
		rotation = time.Hour
		prepub   = 10 * time.Minute
	)
	e := newTestEnv(t, func(o *Options) {
		o.TokenLifetime, o.KeyRotation, o.KeyPrepublish = lifetime, rotation, prepub
	})
	sp := e.newSP(t, "rotation-app")
	scope := vaultAudience + "/.default"
	rotate := func() {
		t.Helper()
		if err := e.s.rotateKeys(ctx); err != nil {
			t.Fatalf("rotateKeys: %v", err)
		}
	}
	t0 := e.clock.Now()
	replica := e.replica(t)
	first := e.s.keys.Load().active
	if first == nil {
		t.Fatal("a new installation has no active signing key")
	}
	if got := publishedKIDs(t, e.s); !slices.Equal(got, []string{first.id}) {
		t.Fatalf("JWKS at start = %v, want [%s]", got, first.id)
	}
	if got := kidOf(t, e.tokenFor(t, sp, scope).AccessToken); got != first.id {
		t.Fatalf("token at start signed by %s, want %s", got, first.id)
	}

	// Inside the prepublication window of the first key's end: the next key
	// exists and is published, but the first one still signs.
	e.clock.Advance(rotation + time.Minute)
	rotate()
	published := publishedKIDs(t, e.s)
	if len(published) != 2 || !slices.Contains(published, first.id) {
		t.Fatalf("JWKS after %v = %v, want the first key and the next one", rotation+time.Minute, published)
	}
	next := published[0]
	if next == first.id {
		next = published[1]
	}
	if got := e.s.keys.Load().active.id; got != first.id {
		t.Fatalf("active key during prepublication = %s, want the first key %s", got, first.id)
	}
	// Rotating again in the window must not pile up keys.
	rotate()
	if got := publishedKIDs(t, e.s); len(got) != 2 {
		t.Fatalf("JWKS after a second rotation in the window = %v, want 2 keys", got)
	}

	e.clock.Advance(4 * time.Minute) // t0 + 65m
	old := e.tokenFor(t, sp, scope)
	if got := kidOf(t, old.AccessToken); got != first.id {
		t.Fatalf("token before the switch signed by %s, want %s", got, first.id)
	}

	// The first key's ActiveUntil (t0 + rotation + prepub) has passed.
	e.clock.Advance(6 * time.Minute) // t0 + 71m
	rotate()
	if got := e.s.keys.Load().active.id; got != next {
		t.Fatalf("active key after the switch = %s, want the next key %s", got, next)
	}
	fresh := e.tokenFor(t, sp, scope)
	if got := kidOf(t, fresh.AccessToken); got != next {
		t.Fatalf("token after the switch signed by %s, want %s", got, next)
	}
	if _, err := e.s.Verify(ctx, old.AccessToken, vaultAudience); err != nil {
		t.Errorf("a token of the old key before its exp: Verify = %v, want success", err)
	}
	if got := publishedKIDs(t, e.s); !slices.Contains(got, first.id) {
		t.Errorf("JWKS after the switch = %v, want the old key still published", got)
	}

	// The replica loaded its keys at t0: it learns the new key from the store
	// when it meets a token naming it.
	if _, err := replica.Verify(ctx, fresh.AccessToken, vaultAudience); err != nil {
		t.Errorf("replica Verify of a token from the new key = %v, want success", err)
	}

	// At RetireAt the old key still verifies; one second later it does not.
	retireAt := first.retireAt
	if want := t0.Add(rotation + prepub + lifetime + clockSkew); !retireAt.Equal(want) {
		t.Errorf("first key retires at %v, want %v", retireAt, want)
	}
	e.clock.Advance(retireAt.Sub(e.clock.Now()))
	if _, err := e.s.verifySignature(ctx, old.AccessToken); err != nil {
		t.Errorf("verifySignature at RetireAt = %v, want success", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.s.verifySignature(ctx, old.AccessToken); err == nil || !strings.Contains(err.Error(), "retired") {
		t.Errorf("verifySignature after RetireAt = %v, want a retired key error", err)
	}
	rotate()
	if _, err := e.s.verifySignature(ctx, old.AccessToken); err == nil || !strings.Contains(err.Error(), "not signed by a current") {
		t.Errorf("verifySignature after the old key is forgotten = %v, want an unknown key error", err)
	}
	if got := publishedKIDs(t, e.s); !slices.Equal(got, []string{next}) {
		t.Errorf("JWKS after RetireAt = %v, want only [%s]", got, next)
	}
	stored, err := e.opts.Store.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].ID != next {
		t.Errorf("stored keys after RetireAt = %d keys, want only %s", len(stored), next)
	}
	if _, err := e.s.Verify(ctx, e.tokenFor(t, sp, scope).AccessToken, vaultAudience); err != nil {
		t.Errorf("a token issued after the old key retired: Verify = %v", err)
	}
}

// TestSigningKeySealed: the store holds the private key only as sealed
// ciphertext bound to the tenant and key id.
func TestSigningKeySealed(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	stored, err := e.opts.Store.SigningKeys(ctx)
	if err != nil || len(stored) != 1 {
		t.Fatalf("SigningKeys = %d keys, %v; want 1", len(stored), err)
	}
	k := stored[0]
	if _, err := e.opts.Keys.Open(k.Private, keyBinding(e.tenant, k.ID)); err != nil {
		t.Errorf("open the stored key with its binding: %v", err)
	}
	if _, err := e.opts.Keys.Open(k.Private, keyBinding("other-tenant", k.ID)); err == nil {
		t.Error("the stored key opened under another tenant's binding")
	}
}
