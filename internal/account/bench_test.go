package account_test

import (
	"context"
	"testing"
)

// BenchmarkAuthenticateKey measures the hot path of a data-plane call with a
// subscription key: account from the cache, one HMAC, an index lookup and
// the use counted; no database round trip.
func BenchmarkAuthenticateKey(b *testing.B) {
	e := newEnv(b)
	e.create("aoai", "")
	key := e.listKeys("aoai").Key1.Reveal()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.accounts.AuthenticateKey(ctx, "aoai", key, "10.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateToken measures a call with an STS token: JWS parse and
// HMAC verify, the key's current version from the index, the use counted.
func BenchmarkAuthenticateToken(b *testing.B) {
	e := newEnv(b)
	e.create("aoai", "")
	tok := e.token("aoai", e.listKeys("aoai").Key1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.accounts.AuthenticateToken(ctx, "aoai", tok, "10.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}
