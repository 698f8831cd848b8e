package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Claims are the claims of a Latchkey access token, named as Entra's v2 access
// tokens name them.
type Claims struct {
	Issuer    string `json:"iss"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
	Subject   string `json:"sub"`
	ObjectID  string `json:"oid"`
	TenantID  string `json:"tid"`
	// AppID (v1 name) and AuthorizedParty (v2 name) both carry the client id.
	AppID           string `json:"appid,omitempty"`
	AuthorizedParty string `json:"azp,omitempty"`
	// AuthMethod is azpacr: "0" public client, "1" client secret, "2"
	// certificate or federated assertion.
	AuthMethod        string `json:"azpacr"`
	IDType            string `json:"idtyp"` // "app" or "user"
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	// ManagedIdentity is xms_mirid: the scope of a managed identity.
	ManagedIdentity string `json:"xms_mirid,omitempty"`
	TokenID         string `json:"uti"`
	Version         string `json:"ver"`
}

// ExpiresAt returns the token's expiry.
func (c *Claims) ExpiresAt() time.Time { return time.Unix(c.Expiry, 0) }

// Authentication methods (azpacr).
const (
	authPublic      = "0"
	authSecret      = "1"
	authCertificate = "2"
)

// issue signs an access token for p with audience aud. issuer is the issuer URL
// the client used (the authority it discovered).
func (s *Service) issue(ctx context.Context, p store.Principal, clientID, authMethod, aud, issuer string) (string, Claims, error) {
	now := s.now()
	set := s.keys.Load()
	if set.active == nil || !now.Before(set.active.activeUntil) {
		// Run's rotation is late (or failing): rotate now rather than sign
		// with a key whose tokens would outlive its retirement.
		if err := s.rotateKeys(ctx); err != nil {
			return "", Claims{}, err
		}
		if set = s.keys.Load(); set.active == nil || !now.Before(set.active.activeUntil) {
			return "", Claims{}, errs.E(errs.Unavailable, op("issue"), "no signing key is active: retry shortly", nil)
		}
	}
	c := Claims{
		Issuer: issuer, Audience: aud, Subject: p.ID, ObjectID: p.ID, TenantID: s.tenant,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(s.lifetime).Unix(),
		AuthMethod: authMethod, IDType: "app", TokenID: randomID(), Version: "2.0",
	}
	switch p.Kind {
	case store.User:
		c.IDType, c.Name, c.PreferredUsername = "user", p.Name, p.Name
		c.AppID, c.AuthorizedParty = clientID, clientID
	case store.ManagedIdentity:
		c.AppID, c.AuthorizedParty, c.ManagedIdentity = p.AppID, p.AppID, p.Scope
	default:
		c.AppID, c.AuthorizedParty = p.AppID, p.AppID
	}
	// Sign the claims' JSON directly: go-jose's JWT builder would round-trip
	// it through a map, a quarter of the cost of a token.
	payload, err := json.Marshal(c)
	if err != nil {
		return "", Claims{}, errs.E(errs.Internal, op("issue"), "", err)
	}
	jws, err := set.active.signer.Sign(payload)
	if err != nil {
		return "", Claims{}, errs.E(errs.Internal, op("issue"), "", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", Claims{}, errs.E(errs.Internal, op("issue"), "", err)
	}
	return tok, c, nil
}

// Verify checks an access token: signature by a current signing key, issuer of
// this tenant, time window, and audience (one of audiences), then that its
// principal still exists and is enabled. A verified token is cached until it
// expires, so repeated verification costs a map lookup. The returned Claims
// are shared with the cache: callers must not modify them. Errors are of Kind
// Unauthenticated and say what is wrong, never echoing the token.
func (s *Service) Verify(ctx context.Context, token string, audiences ...string) (*Claims, error) {
	const o = "identity.Verify"
	if err := s.feed.Fresh(ctx); err != nil {
		return nil, errs.E(errs.Unavailable, o, "", err)
	}
	now := s.now()
	c, ok := s.verified.get(token)
	if !ok {
		var err error
		if c, err = s.verifySignature(ctx, token); err != nil {
			return nil, err
		}
		if err := s.checkIssuer(c.Issuer); err != nil {
			return nil, err
		}
	}
	if now.Unix() >= c.Expiry {
		return nil, errs.E(errs.Unauthenticated, o, "the token has expired: get a new one", nil)
	}
	if now.Add(clockSkew).Unix() < c.NotBefore {
		return nil, errs.E(errs.Unauthenticated, o, "the token is not valid yet", nil)
	}
	if len(audiences) > 0 && !containsFold(audiences, c.Audience) {
		return nil, errs.E(errs.Unauthenticated, o, "the token's audience "+quote(c.Audience)+" is not this service's: ask for a token with scope "+audiences[0]+"/.default", nil)
	}
	if !ok {
		s.verified.put(token, c, now.Unix())
	}
	p, found := s.dir.Load().byID[c.ObjectID]
	if !found || !p.Enabled {
		return nil, errs.E(errs.Unauthenticated, o, "the token's principal is deleted or disabled", nil)
	}
	return c, nil
}

func (s *Service) verifySignature(ctx context.Context, token string) (*Claims, error) {
	const o = "identity.Verify"
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, errs.E(errs.Unauthenticated, o, "the token is not a well-formed ES256 JWT", err)
	}
	kid := parsed.Headers[0].KeyID
	key, ok := s.keys.Load().byID[kid]
	if !ok {
		s.reloadKeysIfStale(ctx)
		if key, ok = s.keys.Load().byID[kid]; !ok {
			return nil, errs.E(errs.Unauthenticated, o, "the token was not signed by a current Latchkey signing key", nil)
		}
	}
	if s.now().After(key.retireAt) {
		return nil, errs.E(errs.Unauthenticated, o, "the token was signed by a retired signing key", nil)
	}
	var c Claims
	if err := parsed.Claims(key.pub, &c); err != nil {
		return nil, errs.E(errs.Unauthenticated, o, "the token's signature does not verify", err)
	}
	return &c, nil
}

// checkIssuer accepts https://{any host}/{tenant}/v2.0: the host is whichever
// name the client reached us by (see IssuerFor), and only our keys sign.
func (s *Service) checkIssuer(iss string) error {
	rest, ok := strings.CutPrefix(iss, "https://")
	if ok {
		_, path, found := strings.Cut(rest, "/")
		if found && path == s.tenant+"/v2.0" {
			return nil
		}
	}
	return errs.E(errs.Unauthenticated, "identity.Verify", "the token's issuer "+quote(iss)+" is not this tenant's", nil)
}

// IssuerFor returns the issuer URL for a client that reached the server at host.
func (s *Service) IssuerFor(host string) string {
	return "https://" + host + "/" + s.tenant + "/v2.0"
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSuffix(x, "/"), strings.TrimSuffix(v, "/")) {
			return true
		}
	}
	return false
}

func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return `"` + s + `"`
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tokenCache remembers verified tokens until they expire. It is bounded: when
// full it drops expired entries, and if none, all of them (a burst of distinct
// tokens costs re-verification, never memory without bound).
type tokenCache struct {
	max int
	mu  sync.RWMutex // guards m
	m   map[string]*Claims
	// hits and misses count get's answers, for Stats.
	hits, misses paddedCounter
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[string]*Claims)}
}

func (c *tokenCache) get(token string) (*Claims, bool) {
	c.mu.RLock()
	v, ok := c.m[token]
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

// stats returns the counts of hits and misses and the number of entries.
func (c *tokenCache) stats() (hits, misses uint64, entries int) {
	c.mu.RLock()
	entries = len(c.m)
	c.mu.RUnlock()
	return c.hits.Load(), c.misses.Load(), entries
}

func (c *tokenCache) put(token string, claims *Claims, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if v.Expiry <= now {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[token] = claims
}

// cutScheme strips https:// from u.
func cutScheme(u string) (string, bool) { return strings.CutPrefix(u, "https://") }

// cutHost splits host/path.
func cutHost(s string) (host, path string, found bool) { return strings.Cut(s, "/") }
