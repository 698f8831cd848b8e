// Package storetest is the conformance suite of the storage contract: the
// behaviour every backend of package store must show, written once and run by
// each backend's tests (store/sqlite, store/postgres). It also holds Crash, the
// kill -9 test of a backend's commit protocol, and Migrations, the checks of a
// backend's schema migrations.
//
// storetest imports store, seal (to write real envelopes in Crash) and test
// libraries; it must not import a backend or a domain package.
package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Run runs the conformance suite. newStore must return a fresh, migrated,
// empty store and register its cleanup with t; cases run in parallel, each on
// its own store.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Settings", func(t *testing.T) { testSettings(t, newStore) })
	t.Run("Secrets", func(t *testing.T) { testSecrets(t, newStore) })
	t.Run("Principals", func(t *testing.T) { testPrincipals(t, newStore) })
	t.Run("Credentials", func(t *testing.T) { testCredentials(t, newStore) })
	t.Run("SigningKeys", func(t *testing.T) { testSigningKeys(t, newStore) })
	t.Run("Resources", func(t *testing.T) { testResources(t, newStore) })
	t.Run("RoleDefinitions", func(t *testing.T) { testRoleDefinitions(t, newStore) })
	t.Run("Assignments", func(t *testing.T) { testAssignments(t, newStore) })
	t.Run("Changes", func(t *testing.T) { testChanges(t, newStore) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, newStore) })
	t.Run("AccountKeys", func(t *testing.T) { testAccountKeys(t, newStore) })
}

// testCase is one named case of a suite; each gets a store of its own.
type testCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// runCases runs cases in parallel, each on a fresh store.
func runCases(t *testing.T, newStore func(t *testing.T) store.Store, cases []testCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

// baseTime is a fixed instant with nanoseconds and a non-UTC zone, so that
// every case also exercises the store's time normalisation.
func baseTime() time.Time {
	return time.Date(2025, time.March, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 60*60))
}

// version returns the i-th 32-hex-digit version; versions sort by i.
func version(i int) string {
	return fmt.Sprintf("%032x", i)
}

// listAll follows a listing's cursors to the end, asking for pages of limit,
// and returns every item. Every page but the last must come with a cursor,
// and none may be empty after a cursor or longer than the limit allows.
func listAll[T any](t *testing.T, what string, limit int, list func(p store.Page) ([]T, string, error)) []T {
	t.Helper()
	most := limit
	if limit <= 0 {
		most = store.DefaultPageLimit
	}
	var all []T
	after := ""
	for range 1000 {
		items, next, err := list(store.Page{Limit: limit, After: after})
		if err != nil {
			t.Fatalf("%s, limit %d, after %q = %v", what, limit, after, err)
		}
		if len(items) > most || len(items) == 0 && after != "" {
			t.Fatalf("%s, limit %d, after %q gave a page of %d", what, limit, after, len(items))
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		after = next
	}
	t.Fatalf("%s, limit %d never ended", what, limit)
	return nil
}

// checkNoLeak fails the test when err's text holds one of the planted
// secrets (a password hash, credential data, a private key): errors end up in
// logs.
func checkNoLeak(t *testing.T, err error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	for _, secret := range secrets {
		if len(secret) > 0 && bytes.Contains([]byte(err.Error()), secret) {
			t.Errorf("error %q contains the secret %q", err, secret)
		}
	}
}
