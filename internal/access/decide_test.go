package access

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// assigned returns a stored assignment of role at scope that never expires.
func assigned(id, scope, roleID string) store.RoleAssignment {
	return store.RoleAssignment{ID: id, Scope: scope, RoleID: roleID}
}

func TestKeyOf(t *testing.T) {
	const id = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	if k := keyOf(id); k.isText || k.guid[0] != 0x8e || k.guid[15] != 0x35 {
		t.Errorf("keyOf(%q) = %+v, want the GUID's bytes", id, k)
	}
	// Distinct ids never share a key, whatever their shape.
	distinct := []string{
		id,
		strings.ToUpper(id), // the same GUID in other case is another id
		"00000000-0000-0000-0000-000000000000",
		"", // must not meet the zero GUID
		"admin",
		"8e3af657a8ff443ca75c2fe8c4bcb635",
		"8e3af657-a8ff-443c-a75c-2fe8c4bcb63g",
		"8e3af657-a8ff-443c-a75c_2fe8c4bcb635",
	}
	seen := map[principalKey]string{}
	for _, s := range distinct {
		k := keyOf(s)
		if other, ok := seen[k]; ok {
			t.Errorf("keyOf(%q) == keyOf(%q)", s, other)
		}
		seen[k] = s
	}
}

// TestAncestorHashes: the hash prefilter of evaluate never rules out a grant
// whose scope Within accepts, and rules out the ones it rejects but for hash
// collisions (none among these).
func TestAncestorHashes(t *testing.T) {
	scopes := []string{
		"/", "/hubs/h1", "/hubs/h10", "/hubs/h1/vaults/v1", "/hubs/h1/vaults/v10", "/hubs/h1/vaults/v2",
		"/hubs/h1/vaults/v1/secrets/s1", "/hubs/h1/projects/p1", "/hubs/h1/projects/p1/connections/c1",
		"/hubs/h2/vaults/v1", "/identities/bot", "/hubs/h1/accounts/a1",
	}
	for _, s := range scopes {
		hs, n, ok := ancestorHashes(s)
		if !ok {
			t.Fatalf("ancestorHashes(%q) not ok", s)
		}
		for _, a := range scopes {
			if got, want := slices.Contains(hs[:n], scopeHashOf(a)), Within(s, a); got != want {
				t.Errorf("ancestorHashes(%q) holds %q's hash = %v, want Within = %v", s, a, got, want)
			}
		}
	}
	if _, _, ok := ancestorHashes("/a/b/c/d/e/f/g/h/i"); ok {
		t.Error("ancestorHashes of a scope deeper than maxAncestors is ok")
	}
}

// TestIndexDeepScope: a scope too deep for the prefilter is still decided, on
// the text alone.
func TestIndexDeepScope(t *testing.T) {
	x := &index{}
	x.setGrants("p", grantsOf(assigned("a", "/", ReaderID)), x.ticket())
	if d := x.decide("p", VaultsRead, "/a/b/c/d/e/f/g/h/i", time.Now()); !d.Allowed {
		t.Errorf("Decide on a deep scope = %+v, want allowed by the grant at /", d)
	}
}

// TestSetGrantsTickets: grants read under an older ticket never replace grants
// read under a newer one, also when the newer ones are empty.
func TestSetGrantsTickets(t *testing.T) {
	x := &index{}
	old, newer := x.ticket(), x.ticket()
	g := grantsOf(assigned("a", "/hubs/h1", ReaderID))
	x.setGrants("p", grantsOf(), newer) // the newer read: no grants
	x.setGrants("p", g, old)            // the older read arrives late
	if d := x.decide("p", VaultsRead, "/hubs/h1", time.Now()); d.Allowed {
		t.Errorf("after a late older read: %+v, want denied", d)
	}
	x.setGrants("p", g, x.ticket())
	if d := x.decide("p", VaultsRead, "/hubs/h1", time.Now()); !d.Allowed {
		t.Errorf("after a newer read: %+v, want allowed", d)
	}
}

// TestIndexConcurrent: many writers and readers at once, each principal's
// final grants from its newest read. Run it with -race.
func TestIndexConcurrent(t *testing.T) {
	x := &index{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range 200 {
				p := "p" + string(rune('a'+w))
				x.setGrants(p, grantsOf(assigned("a", "/hubs/h1", ReaderID)), x.ticket())
				x.decide(p, VaultsRead, "/hubs/h1/vaults/v1", time.Now())
				x.setRoles(map[string]*compiledRole{}, x.ticket())
			}
		})
	}
	wg.Wait()
	for w := range 8 {
		if d := x.decide("p"+string(rune('a'+w)), VaultsRead, "/hubs/h1", time.Now()); !d.Allowed {
			t.Errorf("principal %d: %+v, want allowed", w, d)
		}
	}
}

// TestDecideAllocations: the allowed path of Authorize allocates nothing.
func TestDecideAllocations(t *testing.T) {
	x := &index{}
	const p = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	x.setGrants(p, grantsOf(
		assigned("a1", "/hubs/h2", ReaderID),
		assigned("a2", "/hubs/h1/vaults/v1", KeyVaultSecretsUserID),
	), x.ticket())
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		if !x.evaluate(p, SecretsGet, "/hubs/h1/vaults/v1/secrets/s1", now).allowed {
			t.Fatal("denied")
		}
	})
	if allocs != 0 {
		t.Errorf("evaluate allocates %v times per call, want 0", allocs)
	}
}

func TestDecideReasons(t *testing.T) {
	x := &index{}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	expired := assigned("a2", "/hubs/h1/vaults/v1", KeyVaultSecretsUserID)
	expired.Expires = now.Add(-time.Minute)
	x.setGrants("p", grantsOf(assigned("a1", "/hubs/h1", OwnerID), expired), x.ticket())
	tests := []struct {
		action, scope string
		want          Decision
	}{
		{"latchkey.keyvault/VAULTS/read", "/hubs/h1", Decision{Allowed: true, AssignmentID: "a1", RoleName: "Owner", GrantScope: "/hubs/h1",
			Reason: `role "Owner" assigned at /hubs/h1 (assignment a1) grants Latchkey.KeyVault/vaults/read`}},
		{SecretsGet, "/hubs/h1/vaults/v1", Decision{Reason: "no role assignment of p at /hubs/h1/vaults/v1 or above grants " + SecretsGet +
			" (a data action: control-plane roles such as Owner or Contributor never grant it); an activated eligible assignment here has expired"}},
		{"Latchkey.KeyVault/vaults/fly", "/hubs/h1", Decision{Reason: "Latchkey.KeyVault/vaults/fly is not a known action"}},
	}
	for _, tc := range tests {
		if got := x.decide("p", tc.action, tc.scope, now); got != tc.want {
			t.Errorf("decide(%s, %s) =\n%+v, want\n%+v", tc.action, tc.scope, got, tc.want)
		}
	}
}
