package identity

import (
	"context"
	"testing"
)

// BenchmarkIssue measures the token endpoint's work in process: throttle
// bypassed, secret check (SHA-256), claims, ES256 signature.
func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, nil)
	sp := e.newSP(b, "bench-issue")
	req := secretRequest(sp.Principal.AppID, sp.Secret, vaultAudience+"/.default openid offline_access profile")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.s.Token(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCold measures verifying a token not seen before: parse, ES256
// signature check, issuer check.
func BenchmarkVerifyCold(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, nil)
	sp := e.newSP(b, "bench-cold")
	tok := e.tokenFor(b, sp, vaultAudience+"/.default").AccessToken
	b.ReportAllocs()
	for b.Loop() {
		c, err := e.s.verifySignature(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.s.checkIssuer(c.Issuer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached measures Verify of a token already verified: a cache
// lookup, time and audience checks, and the principal lookup.
func BenchmarkVerifyCached(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, nil)
	sp := e.newSP(b, "bench-cached")
	tok := e.tokenFor(b, sp, vaultAudience+"/.default").AccessToken
	if _, err := e.s.Verify(ctx, tok, vaultAudience); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.s.Verify(ctx, tok, vaultAudience); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedParallel is BenchmarkVerifyCached from every core at
// once: the cache's read lock is shared by all requests.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, nil)
	sp := e.newSP(b, "bench-parallel")
	tok := e.tokenFor(b, sp, vaultAudience+"/.default").AccessToken
	if _, err := e.s.Verify(ctx, tok, vaultAudience); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.s.Verify(ctx, tok, vaultAudience); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
