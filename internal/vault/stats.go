package vault

import "sync/atomic"

// Stats is a snapshot of the cache's counters, for metrics: the HTTP layer
// exports them (vault knows nothing of Prometheus). Counts start at zero when
// the Service is built and only grow.
type Stats struct {
	// SecretCacheHits and SecretCacheMisses count lookups of a secret's
	// version (Get, Update and the other reads of one version): a miss costs
	// a database read.
	SecretCacheHits, SecretCacheMisses uint64
	// VaultCacheHits and VaultCacheMisses count lookups of a vault's record
	// and settings, which every operation and the network check make.
	VaultCacheHits, VaultCacheMisses uint64
	// CachedSecrets and CachedVaults are how many secrets (each with the
	// versions read so far) and vaults the cache holds now.
	CachedSecrets, CachedVaults int
}

// paddedCounter is a counter alone on its cache lines, so that the counters
// every request bumps do not slow each other down.
type paddedCounter struct {
	atomic.Uint64
	_ [120]byte
}

// Stats returns a snapshot of the cache's counters. They are read one at a
// time while requests are served, so they may disagree by one.
func (s *Service) Stats() Stats {
	c := s.cache
	c.mu.RLock()
	secrets, vaults := len(c.secrets), len(c.vaults)
	c.mu.RUnlock()
	return Stats{
		SecretCacheHits: c.secretHits.Load(), SecretCacheMisses: c.secretMisses.Load(),
		VaultCacheHits: c.vaultHits.Load(), VaultCacheMisses: c.vaultMisses.Load(),
		CachedSecrets: secrets, CachedVaults: vaults,
	}
}
