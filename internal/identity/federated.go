package identity

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// DefaultFederatedAudience is the audience external tokens carry for workload
// identity federation, as in Entra.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

// FederatedCredential trusts tokens from an external OIDC issuer (a Kubernetes
// cluster, a CI system) whose subject matches Subject, so that the workload
// holding them can exchange them for Latchkey tokens without any secret.
type FederatedCredential struct {
	Name   string `json:"name"`
	Issuer string `json:"issuer"`
	// Subject is the expected sub claim. It may hold glob patterns: * matches
	// any run of characters other than ':' and '/', ** matches any run.
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences"`
	// JWKSURI is where the issuer's keys are fetched; JWKS holds them inline
	// instead (air-gapped issuers, tests). One of the two is required.
	JWKSURI     string          `json:"jwksUri,omitempty"`
	JWKS        json.RawMessage `json:"jwks,omitempty"`
	Description string          `json:"description,omitempty"`
}

// federatedData is a FederatedCredential as stored, with the inline key set
// parsed when loaded.
type federatedData struct {
	FederatedCredential
	keys *jose.JSONWebKeySet
}

// JWKSFetcher fetches a JSON Web Key Set from a URL. The HTTP adapter provides it.
type JWKSFetcher interface {
	FetchJWKS(ctx context.Context, url string) ([]byte, error)
}

// validate checks a federated credential and returns it normalised.
func (f FederatedCredential) validate() (FederatedCredential, error) {
	o := op("AddFederatedCredential")
	switch {
	case f.Name == "":
		return f, errs.Invalidf(o, "name", "a federated credential needs a name")
	case !strings.HasPrefix(f.Issuer, "https://"):
		return f, errs.Invalidf(o, "issuer", "issuer %s must be an https URL, as the external token's iss claim says", quote(f.Issuer))
	case f.Subject == "":
		return f, errs.Invalidf(o, "subject", "a federated credential needs the subject (sub claim) it trusts, such as system:serviceaccount:team-a:app")
	case f.JWKSURI == "" && len(f.JWKS) == 0:
		return f, errs.Invalidf(o, "jwksUri", "give the issuer's key set: jwksUri (https URL) or jwks (inline)")
	case f.JWKSURI != "" && !strings.HasPrefix(f.JWKSURI, "https://"):
		return f, errs.Invalidf(o, "jwksUri", "jwksUri %s must be an https URL", quote(f.JWKSURI))
	}
	if len(f.JWKS) > 0 {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(f.JWKS, &set); err != nil || len(set.Keys) == 0 {
			return f, errs.Invalidf(o, "jwks", "jwks is not a JSON Web Key Set with at least one key")
		}
	}
	if len(f.Audiences) == 0 {
		f.Audiences = []string{DefaultFederatedAudience}
	}
	return f, nil
}

func newFederatedCredential(principalID string, f FederatedCredential, now time.Time) (store.Credential, error) {
	f, err := f.validate()
	if err != nil {
		return store.Credential{}, err
	}
	data, err := json.Marshal(federatedData{FederatedCredential: f})
	if err != nil {
		return store.Credential{}, errs.E(errs.Internal, op("AddFederatedCredential"), "", err)
	}
	return store.Credential{
		ID: uuid.NewString(), PrincipalID: principalID, Kind: store.FederatedCredential, Name: f.Name,
		Data: data, Created: store.Time(now),
	}, nil
}

// verifyFederatedAssertion checks an external token against the principal's
// federated credentials for its issuer: signature by the issuer's keys, time
// window, audience, and subject pattern.
func (s *Service) verifyFederatedAssertion(ctx context.Context, parsed *jwt.JSONWebToken, unverified assertionClaims, creds []credential) error {
	const o = "identity.federatedAssertion"
	now := s.now()
	kid := parsed.Headers[0].KeyID
	for _, c := range creds {
		f := c.federated
		if f == nil || f.Issuer != unverified.Issuer {
			continue
		}
		keys, err := s.issuerKeys(ctx, f, kid)
		if err != nil {
			return err
		}
		var claims assertionClaims
		verified := false
		for _, k := range keys {
			if err := parsed.Claims(k.Key, &claims); err == nil {
				verified = true
				break
			}
		}
		if !verified {
			return errs.E(errs.Unauthenticated, o, "the external token's signature does not verify with its issuer's keys", nil)
		}
		if err := s.checkExternalWindow(claims.Claims, now); err != nil {
			return err
		}
		if !matchSubject(f.Subject, claims.Subject) || !audienceOverlap(f.Audiences, claims.Audience) {
			continue // another federated credential of the same issuer may match
		}
		return nil
	}
	return errNoMatchingCredential
}

func (s *Service) checkExternalWindow(c jwt.Claims, now time.Time) error {
	const o = "identity.federatedAssertion"
	if c.Expiry == nil || now.After(c.Expiry.Time().Add(clockSkew)) {
		return errs.E(errs.Unauthenticated, o, "the external token has expired or has no exp", nil)
	}
	if c.NotBefore != nil && now.Add(clockSkew).Before(c.NotBefore.Time()) {
		return errs.E(errs.Unauthenticated, o, "the external token is not valid yet", nil)
	}
	return nil
}

// issuerKeys returns the keys that may have signed a token with key id kid.
func (s *Service) issuerKeys(ctx context.Context, f *federatedData, kid string) ([]jose.JSONWebKey, error) {
	set := f.keys // inline keys, parsed when the directory was loaded
	if set == nil {
		var err error
		if set, err = s.issuers.keys(ctx, f.JWKSURI, kid); err != nil {
			return nil, err
		}
	}
	if kid != "" {
		if ks := set.Key(kid); len(ks) > 0 {
			return ks, nil
		}
	}
	return set.Keys, nil
}

func audienceOverlap(want []string, got jwt.Audience) bool {
	for _, w := range want {
		if got.Contains(w) {
			return true
		}
	}
	return false
}

// matchSubject matches sub against pattern: * matches any run of characters
// other than ':' and '/', ** any run at all; everything else literally. It
// walks the pattern once, keeping for each prefix of sub whether the pattern
// so far matches it, so its cost is len(pattern)*len(sub) however many
// wildcards the pattern holds (backtracking would be exponential).
func matchSubject(pattern, sub string) bool {
	cur := make([]bool, len(sub)+1) // cur[j]: the pattern so far matches sub[:j]
	next := make([]bool, len(sub)+1)
	cur[0] = true
	for len(pattern) > 0 {
		switch {
		case strings.HasPrefix(pattern, "**"):
			reached := false
			for j := range next {
				reached = reached || cur[j]
				next[j] = reached
			}
			pattern = pattern[2:]
		case pattern[0] == '*':
			for j := range next {
				next[j] = cur[j] || (j > 0 && next[j-1] && sub[j-1] != ':' && sub[j-1] != '/')
			}
			pattern = pattern[1:]
		default:
			next[0] = false
			for j := 1; j < len(next); j++ {
				next[j] = cur[j-1] && sub[j-1] == pattern[0]
			}
			pattern = pattern[1:]
		}
		cur, next = next, cur
	}
	return cur[len(sub)]
}

// issuerCache caches issuers' key sets fetched by URL.
type issuerCache struct {
	fetch JWKSFetcher
	now   func() time.Time
	mu    sync.Mutex // guards sets
	sets  map[string]cachedSet
}

type cachedSet struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
}

// issuerKeysTTL is how long a fetched key set is trusted before it is fetched
// again; a token with an unknown kid refreshes it sooner (at most every 10 s).
const issuerKeysTTL = 10 * time.Minute

func newIssuerCache(f JWKSFetcher, now func() time.Time) *issuerCache {
	return &issuerCache{fetch: f, now: now, sets: map[string]cachedSet{}}
}

func (c *issuerCache) keys(ctx context.Context, url, kid string) (*jose.JSONWebKeySet, error) {
	const o = "identity.issuerKeys"
	now := c.now()
	c.mu.Lock()
	cached, ok := c.sets[url]
	c.mu.Unlock()
	fresh := ok && now.Sub(cached.fetched) < issuerKeysTTL
	known := ok && (kid == "" || len(cached.set.Key(kid)) > 0)
	if fresh && (known || now.Sub(cached.fetched) < 10*time.Second) {
		return cached.set, nil
	}
	if c.fetch == nil {
		return nil, errs.E(errs.Unavailable, o, "fetching issuer keys is not configured on this server: use an inline jwks", nil)
	}
	b, err := c.fetch.FetchJWKS(ctx, url)
	if err != nil {
		if ok {
			return cached.set, nil // keep serving with the last good set
		}
		return nil, errs.E(errs.Unavailable, o, "cannot fetch the issuer's keys from "+url, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, errs.E(errs.Unavailable, o, "the issuer's key set at "+url+" is not a JSON Web Key Set", err)
	}
	c.mu.Lock()
	c.sets[url] = cachedSet{set: &set, fetched: now}
	c.mu.Unlock()
	return &set, nil
}
