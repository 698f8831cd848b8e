package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
)

// This file is what the data plane asks of an account: who a key belongs to,
// and the credential its upstream expects.

// Endpoint returns the account named name, for its data plane: no caller is
// authorized here; the key or token is what proves the right. Kinds:
// NotFound.
func (s *Service) Endpoint(ctx context.Context, name string) (Account, error) {
	a, err := s.find(ctx, name)
	if err != nil {
		return Account{}, err
	}
	return *a, nil
}

// invalidKey is the answer to a wrong key, in Azure's words.
const invalidKey = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct API endpoint for your resource."

// maxKeyLength bounds a presented key: Latchkey's are 64 characters.
const maxKeyLength = 256

// AuthenticateKey checks a subscription key presented to account name and
// records its use by the caller at address. At steady state it costs one
// HMAC and map lookups, no database round trip. Kinds: NotFound (no such
// account), Unauthenticated (never echoing the key).
func (s *Service) AuthenticateKey(ctx context.Context, name, key, address string) (Caller, error) {
	const o = "account.AuthenticateKey"
	a, err := s.find(ctx, name)
	if err != nil {
		return Caller{}, err
	}
	if err := localAuth(o, a); err != nil {
		return Caller{}, err
	}
	if key == "" {
		return Caller{}, errs.E(errs.Unauthenticated, o, "no subscription key: send one of the account's keys in Ocp-Apim-Subscription-Key or api-key", nil)
	}
	if len(key) > maxKeyLength { // no key is this long: spare the hash
		return Caller{}, errs.E(errs.Unauthenticated, o, invalidKey, nil)
	}
	lookup := s.secrets.lookup(key)
	e, ok, err := s.findKey(ctx, lookup)
	if err != nil {
		return Caller{}, err
	}
	// The hash names one key; comparing the hashes again in constant time
	// keeps the account check from telling keys apart by timing.
	if !ok || e.account != a.Name || subtle.ConstantTimeCompare([]byte(e.lookup), []byte(lookup)) != 1 {
		return Caller{}, errs.E(errs.Unauthenticated, o, invalidKey, nil)
	}
	now := s.now()
	s.uses.record(useKey{a.Name, e.name, e.version, address, ViaKey}, now)
	return Caller{Account: a.Name, Scope: a.Scope, Key: e.name, Version: e.version, Via: ViaKey, Address: address}, nil
}

// ErrLocalAuthDisabled is the cause of the Forbidden error that a key or an
// STS token gets from an account with DisableLocalAuth set.
var ErrLocalAuthDisabled = errors.New("local authentication is disabled")

// localAuth refuses a key or an STS token when account a takes neither.
// It is checked before the credential, which is then not looked at.
func localAuth(o string, a *Account) error {
	if !a.DisableLocalAuth {
		return nil
	}
	return errs.E(errs.Forbidden, o, fmt.Sprintf(
		"key based authentication is disabled for account %s (disableLocalAuth): call with a Microsoft Entra token for https://cognitiveservices.azure.com instead, or have the account's owner turn keys back on (latchkey cognitiveservices account update --name %s --disable-local-auth=false)",
		a.Name, a.Name), ErrLocalAuthDisabled)
}

// UpstreamCredential is the credential an account sends its upstream: a
// header and its value. Header "" means none.
type UpstreamCredential struct {
	Header string // "Authorization" or "api-key"
	Value  Key    // the header's whole value, such as "Bearer sk-..."
}

// upstreamTokenMargin is how long before its expiry an identity token is
// replaced.
const upstreamTokenMargin = 5 * time.Minute

// Credential returns what account a sends its upstream: nothing, the key
// kept in its vault (read as the account's identity, which needs Key Vault
// Secrets User on it), or a token of its identity. host names the issuer of
// such tokens: the host the caller reached. Kinds: Unavailable (the
// credential cannot be had: the message says why, never what it is).
func (s *Service) Credential(ctx context.Context, a Account, host string) (UpstreamCredential, error) {
	const o = "account.Credential"
	switch a.Upstream.Auth {
	case AuthKey:
		b, err := s.vault.Get(ctx, a.Identity.PrincipalID, a.Upstream.Vault, a.Upstream.Secret, "")
		if err != nil {
			return UpstreamCredential{}, errs.E(errs.Unavailable, o, "the account's upstream key cannot be read from vault "+a.Upstream.Vault+
				" (secret "+a.Upstream.Secret+"): "+errs.Message(err)+": set it again (latchkey cognitiveservices account update --upstream-key-file)", err)
		}
		v := string(b.Value.Reveal())
		if a.Upstream.KeyHeader == HeaderAPIKey {
			return UpstreamCredential{Header: "api-key", Value: Key{s: v}}, nil
		}
		return UpstreamCredential{Header: "Authorization", Value: Key{s: "Bearer " + v}}, nil
	case AuthIdentity:
		tok, err := s.identityToken(ctx, a, host)
		if err != nil {
			return UpstreamCredential{}, errs.E(errs.Unavailable, o, "no token of the account's identity: "+errs.Message(err), err)
		}
		return UpstreamCredential{Header: "Authorization", Value: Key{s: "Bearer " + tok}}, nil
	}
	return UpstreamCredential{}, nil
}

// identityToken returns a token of a's identity for its upstream's audience,
// from the cache until shortly before it expires.
func (s *Service) identityToken(ctx context.Context, a Account, host string) (string, error) {
	now := s.now()
	if t, ok := s.tokens.get(a.Name, a.Upstream.Audience, now); ok {
		return t, nil
	}
	p, err := s.identity.Principal(ctx, a.Identity.PrincipalID)
	if err != nil {
		return "", err
	}
	resp, err := s.identity.IssueFor(ctx, p, a.Upstream.Audience, host)
	if err != nil {
		return "", err
	}
	s.tokens.put(a.Name, a.Upstream.Audience, resp.AccessToken, resp.Claims.ExpiresAt().Add(-upstreamTokenMargin))
	return resp.AccessToken, nil
}

// tokenCache holds each account's identity token for its upstream.
type tokenCache struct {
	mu sync.Mutex // guards m
	m  map[string]cachedToken
}

type cachedToken struct {
	audience, token string
	until           time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{m: map[string]cachedToken{}} }

func (c *tokenCache) get(account, audience string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[account]
	if !ok || t.audience != audience || !now.Before(t.until) {
		return "", false
	}
	return t.token, true
}

func (c *tokenCache) put(account, audience, token string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[account] = cachedToken{audience: audience, token: token, until: until}
}

func (c *tokenCache) drop(account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, account)
}
