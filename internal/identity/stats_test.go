package identity

import (
	"context"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestStatsCountTokens: each token request counts once, as issued or
// refused, under the method it used; IssueFor counts as managed_identity.
func TestStatsCountTokens(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "stats-app")
	appID := sp.Principal.AppID
	_, key, certPEM := selfSignedCert(t, e.clock.Now())
	if _, err := e.s.AddCertificate(ctx, appID, "ci", certPEM); err != nil {
		t.Fatal(err)
	}
	pw := NewSecret("correct horse battery staple")
	if _, err := e.s.CreateUser(ctx, "alice", pw); err != nil {
		t.Fatal(err)
	}
	mi, err := e.s.CreateManagedIdentity(ctx, "stats-mi")
	if err != nil {
		t.Fatal(err)
	}
	scope := vaultAudience + "/.default"
	password := func(p Secret) TokenRequest {
		return TokenRequest{GrantType: GrantPassword, Username: "alice", Password: p, Scope: scope, Host: testHost}
	}
	tests := []struct {
		name    string
		request func() error
		method  string
		issued  bool
	}{
		{"client secret", func() error { _, err := e.s.Token(ctx, secretRequest(appID, sp.Secret, scope)); return err }, MethodClientSecret, true},
		{"wrong client secret", func() error {
			_, err := e.s.Token(ctx, secretRequest(appID, NewSecret("not the secret"), scope))
			return err
		}, MethodClientSecret, false},
		{"scope without /.default", func() error {
			_, err := e.s.Token(ctx, secretRequest(appID, sp.Secret, vaultAudience))
			return err
		}, MethodClientSecret, false},
		{"certificate assertion", func() error {
			_, err := e.s.Token(ctx, assertionRequest(appID, signJWT(t, jose.PS256, key, nil, e.certAssertionClaims(appID))))
			return err
		}, MethodClientAssertion, true},
		{"malformed assertion", func() error { _, err := e.s.Token(ctx, assertionRequest(appID, "not.a.jwt")); return err }, MethodClientAssertion, false},
		{"password", func() error { _, err := e.s.Token(ctx, password(pw)); return err }, MethodPassword, true},
		{"wrong password", func() error { _, err := e.s.Token(ctx, password(NewSecret("wrong password!!"))); return err }, MethodPassword, false},
		{"managed identity", func() error { _, err := e.s.IssueFor(ctx, mi, vaultAudience, testHost); return err }, MethodManagedIdentity, true},
		{"IssueFor a service principal", func() error { _, err := e.s.IssueFor(ctx, sp.Principal, vaultAudience, testHost); return err }, MethodManagedIdentity, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.s.Stats()
			if err := tc.request(); (err == nil) != tc.issued {
				t.Fatalf("request = %v, want issued %v", err, tc.issued)
			}
			after := e.s.Stats()
			for i, ts := range after.Tokens {
				want := TokenStats{Method: ts.Method}
				if ts.Method == tc.method {
					if tc.issued {
						want.Issued = 1
					} else {
						want.Refused = 1
					}
				}
				got := TokenStats{Method: ts.Method, Issued: ts.Issued - before.Tokens[i].Issued, Refused: ts.Refused - before.Tokens[i].Refused}
				if got != want {
					t.Errorf("Stats.Tokens[%s] changed by %+v, want %+v", ts.Method, got, want)
				}
			}
		})
	}
	var methods []string
	for _, ts := range e.s.Stats().Tokens {
		methods = append(methods, ts.Method)
	}
	if len(methods) != 4 || methods[0] != MethodClientSecret || methods[1] != MethodClientAssertion || methods[2] != MethodPassword || methods[3] != MethodManagedIdentity {
		t.Errorf("Stats.Tokens methods = %v, want client_secret, client_assertion, password, managed_identity", methods)
	}
}

// TestStatsVerifyCache: the first Verify of a token misses the cache of
// verified tokens and fills it, the next ones hit; a bad token misses.
func TestStatsVerifyCache(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "stats-verify")
	tok := e.tokenFor(t, sp, vaultAudience+"/.default").AccessToken
	check := func(what string, before Stats, hits, misses uint64, entries int) {
		t.Helper()
		after := e.s.Stats()
		if got := after.VerifyCacheHits - before.VerifyCacheHits; got != hits {
			t.Errorf("%s: hits went up by %d, want %d", what, got, hits)
		}
		if got := after.VerifyCacheMisses - before.VerifyCacheMisses; got != misses {
			t.Errorf("%s: misses went up by %d, want %d", what, got, misses)
		}
		if after.VerifyCacheEntries != entries {
			t.Errorf("%s: %d entries, want %d", what, after.VerifyCacheEntries, entries)
		}
	}
	before := e.s.Stats()
	if _, err := e.s.Verify(ctx, tok, vaultAudience); err != nil {
		t.Fatal(err)
	}
	check("first Verify", before, 0, 1, 1)

	before = e.s.Stats()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := e.s.Verify(ctx, tok, vaultAudience); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	check("200 more Verify calls", before, 200, 0, 1)

	before = e.s.Stats()
	if _, err := e.s.Verify(ctx, tok[:len(tok)-4]+"AAAA", vaultAudience); err == nil {
		t.Fatal("Verify of a token with a bad signature succeeded")
	}
	check("a bad token", before, 0, 1, 1)
}
