package vault_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/vault"
)

// TestStatsCountCacheLookups: the first read of a secret misses the secrets
// cache and fills it, the reads after it hit; a missing secret misses; the vault's
// record is read from the store once and then from the cache.
func TestStatsCountCacheLookups(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	b := e.set("s", "one", vault.SetParams{})
	// A Service that starts after the write: its change feed has nothing
	// left to apply that could empty its cache between the reads.
	svc := e.newVault(e.db)
	get := func(name, version string) error {
		_, err := svc.Get(ctx, e.admin, "default", name, version)
		return err
	}
	if s := svc.Stats(); s != (vault.Stats{}) {
		t.Fatalf("a new Service has Stats %+v, want zero", s)
	}

	tests := []struct {
		name    string
		read    func() error
		wantErr bool
		want    vault.Stats // the counts' increase, and the entries after
	}{
		{"first read", func() error { return get("s", "") }, false,
			vault.Stats{SecretCacheMisses: 1, VaultCacheMisses: 1, CachedSecrets: 1, CachedVaults: 1}},
		{"second read", func() error { return get("s", "") }, false,
			vault.Stats{SecretCacheHits: 1, VaultCacheHits: 1, CachedSecrets: 1, CachedVaults: 1}},
		{"the same version by its id", func() error { return get("s", b.Version) }, false,
			vault.Stats{SecretCacheHits: 1, VaultCacheHits: 1, CachedSecrets: 1, CachedVaults: 1}},
		{"a missing secret", func() error { return get("missing", "") }, true,
			vault.Stats{SecretCacheMisses: 1, VaultCacheHits: 1, CachedSecrets: 1, CachedVaults: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := svc.Stats()
			if err := tc.read(); (err != nil) != tc.wantErr {
				t.Fatalf("Get = %v, want error %v", err, tc.wantErr)
			}
			after := svc.Stats()
			got := vault.Stats{
				SecretCacheHits: after.SecretCacheHits - before.SecretCacheHits, SecretCacheMisses: after.SecretCacheMisses - before.SecretCacheMisses,
				VaultCacheHits: after.VaultCacheHits - before.VaultCacheHits, VaultCacheMisses: after.VaultCacheMisses - before.VaultCacheMisses,
				CachedSecrets: after.CachedSecrets, CachedVaults: after.CachedVaults,
			}
			if got != tc.want {
				t.Errorf("Stats went from %+v to %+v: changed by %+v, want %+v", before, after, got, tc.want)
			}
		})
	}
}
