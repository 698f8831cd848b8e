package connection_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/connection"
)

// BenchmarkProxy measures what the connection proxy asks of the service for
// each call at steady state: find the connection (cached), decide from where
// the caller stands, read the credential (one AES-GCM open of a cached
// sealed secret) and enqueue the read's audit record.
func BenchmarkProxy(b *testing.B) {
	e := newEnv(b)
	e.keyVault()
	e.put(connection.Ref{Hub: "h", Name: "llm"}, connection.Definition{Category: connection.CategoryAPIKey, Target: "https://api.example/v1",
		Credentials: creds("key", "sk-bench")})
	user := caller(e.principal("user", grant{e.secretsReaderRole(), "/hubs/h/projects/p1"}))
	ref := connection.Ref{Hub: "h", Project: "p1", Name: "llm"}
	if _, err := e.conns.Proxy(b.Context(), user, ref); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.conns.Proxy(b.Context(), user, ref); err != nil {
			b.Fatal(err)
		}
	}
}
