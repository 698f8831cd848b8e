package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/errs"
)

func TestMatchSubject(t *testing.T) {
	tests := []struct {
		pattern, sub string
		want         bool
	}{
		{"system:serviceaccount:team-a:app", "system:serviceaccount:team-a:app", true},
		{"system:serviceaccount:team-a:app", "system:serviceaccount:team-a:app2", false},
		{"system:serviceaccount:team-a:app", "system:serviceaccount:team-a:ap", false},
		{"system:serviceaccount:team-a:app", "", false},
		{"", "", true},
		{"", "x", false},
		{"system:serviceaccount:team-a:*", "system:serviceaccount:team-a:app", true},
		{"system:serviceaccount:team-a:*", "system:serviceaccount:team-a:", true}, // * matches the empty run
		{"system:serviceaccount:team-a:*", "system:serviceaccount:team-b:app", false},
		{"system:serviceaccount:team-a:*", "system:serviceaccount:team-a:app:extra", false}, // * does not cross ':'
		{"system:serviceaccount:*:app", "system:serviceaccount:team-a:app", true},
		{"system:serviceaccount:*:app", "system:serviceaccount:team-a:team-b:app", false},
		{"system:serviceaccount:**", "system:serviceaccount:team-a:app", true}, // ** crosses ':'
		{"system:serviceaccount:**:app", "system:serviceaccount:a:b:c:app", true},
		{"system:serviceaccount:**:app", "system:serviceaccount:a:b:c:app2", false},
		{"repo:latchkey/latchkey:ref:refs/heads/*", "repo:latchkey/latchkey:ref:refs/heads/main", true},
		{"repo:latchkey/latchkey:ref:refs/heads/*", "repo:latchkey/latchkey:ref:refs/heads/feature/x", false}, // * does not cross '/'
		{"repo:latchkey/latchkey:ref:refs/heads/**", "repo:latchkey/latchkey:ref:refs/heads/feature/x", true},
		{"repo:*/latchkey:*", "repo:evil/x/latchkey:pull_request", false},
		{"repo:*/latchkey:*", "repo:latchkey/latchkey:pull_request", true},
		{"*", "", true},
		{"*", "a:b", false},
		{"**", "a:b/c", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY:c", false},
		{"a**c", "abc", true},
		{"a***c", "a:b:c", true}, // *** is ** then *
		{"x*", "X", false},       // case matters
		{"system:serviceaccount:team-a:app", "SYSTEM:serviceaccount:team-a:app", false},
	}
	for _, tc := range tests {
		if got := matchSubject(tc.pattern, tc.sub); got != tc.want {
			t.Errorf("matchSubject(%q, %q) = %v, want %v", tc.pattern, tc.sub, got, tc.want)
		}
	}
}

// TestMatchSubjectIsLinear: many wildcards against a long subject answer
// quickly (a backtracking matcher takes exponential time here).
func TestMatchSubjectIsLinear(t *testing.T) {
	pattern := strings.Repeat("**a", 12) + strings.Repeat("*a", 12) + "b"
	sub := strings.Repeat("a", 4096)
	done := make(chan bool, 1)
	go func() { done <- matchSubject(pattern, sub) }()
	select {
	case got := <-done:
		if got {
			t.Errorf("matchSubject(%q, a*4096) = true, want false", pattern)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("matchSubject took more than 10 s: wildcard matching backtracks exponentially")
	}
}

// externalIssuer stands in for a Kubernetes cluster's service account issuer.
type externalIssuer struct {
	url  string
	key  *rsa.PrivateKey
	kid  string
	jwks []byte
}

func newExternalIssuer(t testing.TB, url string) *externalIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &externalIssuer{url: url, key: key, kid: "k8s-" + randomID()[:8]}
	i.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: i.kid, Algorithm: string(jose.RS256), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// token signs a service account token for sub.
func (i *externalIssuer) token(t testing.TB, now time.Time, edit func(*jwt.Claims)) string {
	t.Helper()
	c := jwt.Claims{
		Issuer: i.url, Subject: "system:serviceaccount:team-a:app", Audience: jwt.Audience{DefaultFederatedAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}
	if edit != nil {
		edit(&c)
	}
	return signJWT(t, jose.RS256, i.key, map[jose.HeaderKey]any{"kid": i.kid}, c)
}

// mapFetcher serves key sets from memory and counts fetches.
type mapFetcher struct {
	mu      sync.Mutex // guards sets, fetches, fail
	sets    map[string][]byte
	fetches int
	fail    bool
}

func (f *mapFetcher) FetchJWKS(_ context.Context, url string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	if b, ok := f.sets[url]; ok && !f.fail {
		return b, nil
	}
	return nil, errors.New("connection refused")
}

func (f *mapFetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches
}

// TestFederatedAssertion exchanges external tokens against federated
// credentials with an inline key set.
func TestFederatedAssertion(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "workload")
	appID := sp.Principal.AppID
	iss := newExternalIssuer(t, "https://oidc.cluster.test/id/1234")
	// Two credentials of the same issuer: the first does not fit team-a, the
	// second does, and must still be found.
	for _, f := range []FederatedCredential{
		{Name: "team-b", Issuer: iss.url, Subject: "system:serviceaccount:team-b:*", JWKS: iss.jwks},
		{Name: "team-a", Issuer: iss.url, Subject: "system:serviceaccount:team-a:*", JWKS: iss.jwks},
	} {
		if _, err := e.s.AddFederatedCredential(ctx, appID, f); err != nil {
			t.Fatal(err)
		}
	}
	impostor := newExternalIssuer(t, iss.url)
	impostor.kid = iss.kid
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	tests := []struct {
		name     string
		token    string
		wantCode string
		wantAAD  int
	}{
		{"team-a service account", iss.token(t, now, nil), "", 0},
		{"team-b service account (second credential)", iss.token(t, now, func(c *jwt.Claims) { c.Subject = "system:serviceaccount:team-b:app" }), "", 0},
		{"exp passed within clock skew", iss.token(t, now, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) }), "", 0},
		{"audience list including ours", iss.token(t, now, func(c *jwt.Claims) { c.Audience = jwt.Audience{"other", DefaultFederatedAudience} }), "", 0},
		{"team-c subject", iss.token(t, now, func(c *jwt.Claims) { c.Subject = "system:serviceaccount:team-c:app" }), CodeInvalidClient, 7000215},
		{"subject one level deeper", iss.token(t, now, func(c *jwt.Claims) { c.Subject = "system:serviceaccount:team-a:app:x" }), CodeInvalidClient, 7000215},
		{"another audience", iss.token(t, now, func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://kubernetes.default.svc"} }), CodeInvalidClient, 7000215},
		{"another issuer", iss.token(t, now, func(c *jwt.Claims) { c.Issuer = "https://oidc.other.test" }), CodeInvalidClient, 7000215},
		{"issuer with trailing slash", iss.token(t, now, func(c *jwt.Claims) { c.Issuer = iss.url + "/" }), CodeInvalidClient, 7000215},
		{"signed by an impostor with the issuer's kid", impostor.token(t, now, nil), CodeInvalidClient, 7000215},
		{"signed by an EC key without kid", signJWT(t, jose.ES256, ecKey, nil, jwt.Claims{Issuer: iss.url, Subject: "system:serviceaccount:team-a:app",
			Audience: jwt.Audience{DefaultFederatedAudience}, Expiry: jwt.NewNumericDate(now.Add(time.Hour))}), CodeInvalidClient, 7000215},
		{"expired beyond skew", iss.token(t, now, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-10 * time.Minute)) }), CodeInvalidClient, 7000215},
		{"no exp", iss.token(t, now, func(c *jwt.Claims) { c.Expiry = nil }), CodeInvalidClient, 7000215},
		{"not valid yet", iss.token(t, now, func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), CodeInvalidClient, 7000215},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.s.Token(ctx, assertionRequest(appID, tc.token))
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("Token = %v, want a token", err)
				}
				if resp.Claims.ObjectID != sp.Principal.ID || resp.Claims.AuthMethod != authCertificate {
					t.Errorf("Token claims oid %s azpacr %s, want %s %s", resp.Claims.ObjectID, resp.Claims.AuthMethod, sp.Principal.ID, authCertificate)
				}
				return
			}
			if err == nil {
				t.Fatalf("Token issued, want %s", tc.wantCode)
			}
			if oe := OAuthErrorOf(err); oe.Code != tc.wantCode || oe.AADSTS != tc.wantAAD {
				t.Errorf("Token = %s %d (%v), want %s %d", oe.Code, oe.AADSTS, err, tc.wantCode, tc.wantAAD)
			}
		})
	}
}

// TestFederatedJWKSFetch: a jwksUri key set is fetched once, refetched when a
// token names an unknown kid (at most every 10 s) or after its TTL, and kept
// when the issuer is unreachable.
func TestFederatedJWKSFetch(t *testing.T) {
	ctx := context.Background()
	fetcher := &mapFetcher{sets: map[string][]byte{}}
	e := newTestEnv(t, func(o *Options) { o.JWKS = fetcher })
	sp := e.newSP(t, "fetched")
	iss := newExternalIssuer(t, "https://issuer.test")
	jwksURL := iss.url + "/openid/v1/jwks"
	fetcher.sets[jwksURL] = iss.jwks
	if _, err := e.s.AddFederatedCredential(ctx, sp.Principal.AppID, FederatedCredential{
		Name: "fetched", Issuer: iss.url, Subject: "system:serviceaccount:team-a:*", JWKSURI: jwksURL,
	}); err != nil {
		t.Fatal(err)
	}
	exchange := func(tok string) error {
		_, err := e.s.Token(ctx, assertionRequest(sp.Principal.AppID, tok))
		return err
	}
	for range 3 {
		if err := exchange(iss.token(t, e.clock.Now(), nil)); err != nil {
			t.Fatalf("Token = %v", err)
		}
	}
	if got := fetcher.count(); got != 1 {
		t.Errorf("fetches after three exchanges = %d, want 1", got)
	}

	// The issuer rotates its key: the new kid triggers a refetch, but not
	// twice within 10 seconds.
	rotated := newExternalIssuer(t, iss.url)
	fetcher.mu.Lock()
	fetcher.sets[jwksURL] = rotated.jwks
	fetcher.mu.Unlock()
	e.clock.Advance(2 * time.Second)
	if err := exchange(rotated.token(t, e.clock.Now(), nil)); err == nil {
		t.Error("a new kid within 10 s of the last fetch was accepted without a refetch")
	}
	e.clock.Advance(10 * time.Second)
	if err := exchange(rotated.token(t, e.clock.Now(), nil)); err != nil {
		t.Errorf("a new kid after 10 s: Token = %v, want a refetch and a token", err)
	}
	if got := fetcher.count(); got != 2 {
		t.Errorf("fetches after the issuer's rotation = %d, want 2", got)
	}

	// Past the TTL with the issuer down, the last good set keeps serving.
	fetcher.mu.Lock()
	fetcher.fail = true
	fetcher.mu.Unlock()
	e.clock.Advance(issuerKeysTTL + time.Second)
	if err := exchange(rotated.token(t, e.clock.Now(), nil)); err != nil {
		t.Errorf("issuer unreachable after the TTL: Token = %v, want the cached set to serve", err)
	}
}

func TestFederatedJWKSFetchUnavailable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		fetcher JWKSFetcher
	}{
		{"no fetcher configured", nil},
		{"issuer unreachable", &mapFetcher{}},
		{"not a key set", &mapFetcher{sets: map[string][]byte{"https://issuer.test/jwks": []byte("<html>")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, func(o *Options) { o.JWKS = tc.fetcher })
			sp := e.newSP(t, "unfetchable")
			iss := newExternalIssuer(t, "https://issuer.test")
			if _, err := e.s.AddFederatedCredential(ctx, sp.Principal.AppID, FederatedCredential{
				Name: "f", Issuer: iss.url, Subject: "system:serviceaccount:team-a:app", JWKSURI: iss.url + "/jwks",
			}); err != nil {
				t.Fatal(err)
			}
			_, err := e.s.Token(ctx, assertionRequest(sp.Principal.AppID, iss.token(t, e.clock.Now(), nil)))
			if errs.KindOf(err) != errs.Unavailable {
				t.Errorf("Token = %v, want Unavailable", err)
			}
		})
	}
}

func TestAddFederatedCredentialValidates(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "fed-input")
	iss := newExternalIssuer(t, "https://issuer.test")
	ok := FederatedCredential{Name: "ok", Issuer: iss.url, Subject: "system:serviceaccount:a:b", JWKS: iss.jwks}
	tests := []struct {
		name  string
		edit  func(f *FederatedCredential)
		field string // "" means valid
	}{
		{"inline jwks", func(*FederatedCredential) {}, ""},
		{"jwksUri", func(f *FederatedCredential) { f.JWKS, f.JWKSURI, f.Name = nil, iss.url+"/jwks", "uri" }, ""},
		{"no name", func(f *FederatedCredential) { f.Name = "" }, "name"},
		{"http issuer", func(f *FederatedCredential) { f.Issuer = "http://issuer.test" }, "issuer"},
		{"no subject", func(f *FederatedCredential) { f.Subject = "" }, "subject"},
		{"no keys", func(f *FederatedCredential) { f.JWKS = nil }, "jwksUri"},
		{"http jwksUri", func(f *FederatedCredential) { f.JWKS, f.JWKSURI = nil, "http://issuer.test/jwks" }, "jwksUri"},
		{"empty key set", func(f *FederatedCredential) { f.JWKS = json.RawMessage(`{"keys":[]}`) }, "jwks"},
		{"not JSON", func(f *FederatedCredential) { f.JWKS = json.RawMessage(`{`) }, "jwks"},
	}
	for _, tc := range tests {
		f := ok
		tc.edit(&f)
		_, err := e.s.AddFederatedCredential(ctx, sp.Principal.AppID, f)
		if tc.field == "" {
			if err != nil {
				t.Errorf("AddFederatedCredential(%s) = %v, want success", tc.name, err)
			}
			continue
		}
		var ee *errs.Error
		if !errors.As(err, &ee) || ee.Kind != errs.Invalid || ee.Field != tc.field {
			t.Errorf("AddFederatedCredential(%s) = %v, want Invalid on field %s", tc.name, err, tc.field)
		}
	}
}
