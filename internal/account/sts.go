package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/errs"
)

// STS tokens are what Azure's token exchange (POST
// /sts/v1.0/issueToken with a subscription key) returns: a bearer token for
// the same account, valid 10 minutes. Latchkey's are compact JWS signed with
// HS256 under the installation's token key (made once, kept sealed), and
// name the account, the key and the key's version: a token is refused once
// that key was regenerated or the account deleted, and after 10 minutes.

// tokenKeyID marks Latchkey's STS tokens in their JWS header.
const tokenKeyID = "latchkey-sts"

// tokenIssuer and tokenAudience are the iss and aud of STS tokens.
const (
	tokenIssuer   = "latchkey-sts"
	tokenAudience = "urn:ms.cognitiveservices"
)

// stsClockSkew is how far in the future a token's iat may be (another
// replica's clock).
const stsClockSkew = 5 * time.Minute

// tokenClaims are the claims of an STS token.
type tokenClaims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Resource string `json:"azure-resource-id"` // the account's scope
	Account  string `json:"account"`
	Key      string `json:"key"` // key1 or key2
	Version  string `json:"kv"`  // the key's version
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	ID       string `json:"jti"`
}

// Caller is who called an account's data plane, once authenticated by a key
// or an STS token. It names the key; it never holds it.
type Caller struct {
	Account string // the account's name
	Scope   string // the account's scope
	Key     string // key1 or key2
	Version string // the key's version
	Via     string // ViaKey or ViaToken
	Address string // the caller's address
}

// IssueToken mints an STS token for a caller authenticated by a key
// (AuthenticateKey): valid TokenLifetime, for the same account, refused once
// the key is regenerated. Kinds: Invalid (a caller not authenticated by a
// key), Internal.
func (s *Service) IssueToken(c Caller) (token string, expires time.Time, err error) {
	const o = "account.IssueToken"
	if c.Via != ViaKey {
		return "", time.Time{}, errs.E(errs.Invalid, o, "an STS token is issued for a subscription key only: send the key in Ocp-Apim-Subscription-Key", nil)
	}
	now := s.now()
	expires = now.Add(TokenLifetime)
	var id [16]byte
	_, _ = rand.Read(id[:])
	payload, err := json.Marshal(tokenClaims{
		Issuer: tokenIssuer, Audience: tokenAudience, Resource: c.Scope, Account: c.Account, Key: c.Key, Version: c.Version,
		IssuedAt: now.Unix(), Expiry: expires.Unix(), ID: base64.RawURLEncoding.EncodeToString(id[:]),
	})
	if err != nil {
		return "", time.Time{}, errs.E(errs.Internal, o, "", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: s.secrets.token},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), tokenKeyID))
	if err != nil {
		return "", time.Time{}, errs.E(errs.Internal, o, "", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", time.Time{}, errs.E(errs.Internal, o, "", err)
	}
	token, err = jws.CompactSerialize()
	if err != nil {
		return "", time.Time{}, errs.E(errs.Internal, o, "", err)
	}
	return token, expires, nil
}

// IsToken reports whether token has the shape of Latchkey's STS tokens (a
// JWS signed with HS256 under the STS key id) rather than an Entra access
// token. It does not verify it.
func IsToken(token string) bool {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	return err == nil && len(jws.Signatures) == 1 && jws.Signatures[0].Header.KeyID == tokenKeyID
}

// AuthenticateToken checks an STS token presented to account name: signed
// by this installation, for this account, not expired (TokenLifetime), and
// minted from the current value of its key. It records the use of that key
// by the caller at address. Kinds: NotFound (no such account),
// Unauthenticated (saying what is wrong, never echoing the token).
func (s *Service) AuthenticateToken(ctx context.Context, name, token, address string) (Caller, error) {
	const o = "account.AuthenticateToken"
	a, err := s.find(ctx, name)
	if err != nil {
		return Caller{}, err
	}
	if err := localAuth(o, a); err != nil {
		return Caller{}, err
	}
	now := s.now()
	c, ok := s.verified.get(token)
	if !ok {
		if c, err = s.verifyToken(token); err != nil {
			return Caller{}, err
		}
		s.verified.put(token, c, now.Unix())
	}
	switch {
	case now.Unix() >= c.Expiry:
		return Caller{}, errs.E(errs.Unauthenticated, o, "the token has expired (STS tokens last 10 minutes): get a new one from /sts/v1.0/issueToken", nil)
	case time.Unix(c.IssuedAt, 0).After(now.Add(stsClockSkew)):
		return Caller{}, errs.E(errs.Unauthenticated, o, "the token is not valid yet", nil)
	case c.Account != a.Name:
		return Caller{}, errs.E(errs.Unauthenticated, o, "the token was issued for another account: get one from this account's /sts/v1.0/issueToken", nil)
	}
	e, err := s.currentKey(ctx, a.Name, c.Key)
	if err != nil {
		return Caller{}, err
	}
	if e == nil || e.version != c.Version {
		return Caller{}, errs.E(errs.Unauthenticated, o, fmt.Sprintf("the token was issued for a value of %s that has since been regenerated: get a new token with the current key", clip(c.Key)), nil)
	}
	caller := Caller{Account: a.Name, Scope: a.Scope, Key: e.name, Version: e.version, Via: ViaToken, Address: address}
	s.uses.record(useKey{a.Name, e.name, e.version, address, ViaToken}, now)
	return caller, nil
}

// verifiedTokens remembers the claims of STS tokens whose signature
// verified, until they expire: a token's later uses cost a map lookup. It is
// bounded: when full it drops expired entries, and if none, all of them.
type verifiedTokens struct {
	max int
	mu  sync.RWMutex // guards m
	m   map[string]*tokenClaims
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{max: max, m: map[string]*tokenClaims{}}
}

func (v *verifiedTokens) get(token string) (*tokenClaims, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c, ok := v.m[token]
	return c, ok
}

func (v *verifiedTokens) put(token string, c *tokenClaims, now int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= v.max {
		for k, old := range v.m {
			if old.Expiry <= now {
				delete(v.m, k)
			}
		}
		if len(v.m) >= v.max {
			clear(v.m)
		}
	}
	v.m[token] = c
}

// verifyToken checks an STS token's signature and returns its claims.
func (s *Service) verifyToken(token string) (*tokenClaims, error) {
	const o = "account.AuthenticateToken"
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, errs.E(errs.Unauthenticated, o, "the token is not an STS token of this server", err)
	}
	payload, err := jws.Verify(s.secrets.token)
	if err != nil {
		return nil, errs.E(errs.Unauthenticated, o, "the token's signature does not verify: it was not issued by this server", err)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != tokenIssuer || c.Audience != tokenAudience {
		return nil, errs.E(errs.Unauthenticated, o, "the token is not an STS token of this server", err)
	}
	return &c, nil
}
