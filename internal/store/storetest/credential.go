package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testCredentials(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"RoundTrip", testCredentialRoundTrip},
		{"Conflict", testCredentialConflict},
		{"MissingPrincipal", testCredentialMissingPrincipal},
		{"Order", testCredentialOrder},
		{"Replace", testCredentialReplace},
		{"ReplaceFails", testCredentialReplaceFails},
		{"Delete", testCredentialDelete},
		{"DeletedWithPrincipal", testCredentialDeletedWithPrincipal},
		{"ConcurrentDeletePrincipal", testCredentialConcurrentDeletePrincipal},
		{"AllPaged", testCredentialAllPaged},
	})
}

// credentialID returns the i-th credential id; ids sort by i.
func credentialID(i int) string {
	return fmt.Sprintf("10000000-0000-4000-8000-%012d", i)
}

// newCredential returns a credential of kind k with every field set.
func newCredential(principalID string, k store.CredentialKind, i int, name string) store.Credential {
	return store.Credential{
		ID:          credentialID(i),
		PrincipalID: principalID,
		Kind:        k,
		Name:        name,
		Data:        []byte(fmt.Sprintf(`{"hash":"h-%d"}`, i)),
		Created:     baseTime(),
		Expires:     baseTime().Add(365 * 24 * time.Hour),
	}
}

// storedCredentials returns cs as a store gives them back: times normalised,
// empty Data as nil.
func storedCredentials(cs ...store.Credential) []store.Credential {
	var out []store.Credential
	for _, c := range cs {
		c.Created, c.Expires = store.Time(c.Created), store.Time(c.Expires)
		if len(c.Data) == 0 {
			c.Data = nil
		}
		out = append(out, c)
	}
	return out
}

func mustCreateCredential(t *testing.T, s store.Store, c store.Credential) {
	t.Helper()
	if err := s.CreateCredential(t.Context(), c); err != nil {
		t.Fatalf("CreateCredential(%s of %s) = %v", c.ID, c.PrincipalID, err)
	}
}

// checkCredentials compares the credentials of a principal with want, in order.
func checkCredentials(t *testing.T, s store.Store, principalID string, want ...store.Credential) {
	t.Helper()
	got, err := s.Credentials(t.Context(), principalID)
	if diff := cmp.Diff(storedCredentials(want...), got); err != nil || diff != "" {
		t.Errorf("Credentials(%s) = %v; mismatch (-want +got):\n%s", principalID, err, diff)
	}
}

// newPrincipals creates n service principals, numbered from 1, and returns
// their ids.
func newPrincipals(t *testing.T, s store.Store, n int) []string {
	t.Helper()
	var ids []string
	for i := 1; i <= n; i++ {
		p := newPrincipal(store.ServicePrincipal, i, fmt.Sprintf("app-%d", i))
		mustCreatePrincipal(t, s, p)
		ids = append(ids, p.ID)
	}
	return ids
}

func testCredentialRoundTrip(t *testing.T, s store.Store) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	cases := []struct {
		name   string
		modify func(c *store.Credential)
	}{
		{"all fields", func(c *store.Credential) {}},
		{"certificate", func(c *store.Credential) { c.Kind = store.CertificateCredential }},
		{"federated", func(c *store.Credential) { c.Kind = store.FederatedCredential }},
		{"no name", func(c *store.Credential) { c.Name = "" }},
		{"never expires", func(c *store.Credential) { c.Expires = time.Time{} }},
		{"zero times", func(c *store.Credential) { c.Created, c.Expires = time.Time{}, time.Time{} }},
		{"every byte value", func(c *store.Credential) { c.Data = allBytes }},
		{"empty data", func(c *store.Credential) { c.Data = []byte{} }},
		{"nil data", func(c *store.Credential) { c.Data = nil }},
	}
	ids := newPrincipals(t, s, len(cases))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCredential(ids[i], store.SecretCredential, i, "key "+tc.name)
			tc.modify(&c)
			mustCreateCredential(t, s, c)
			checkCredentials(t, s, ids[i], c)
		})
	}
}

func testCredentialConflict(t *testing.T, s store.Store) {
	ids := newPrincipals(t, s, 2)
	a, b := ids[0], ids[1]
	primary, unnamed := newCredential(a, store.SecretCredential, 1, "primary"), newCredential(a, store.SecretCredential, 2, "")
	mustCreateCredential(t, s, primary)
	mustCreateCredential(t, s, unnamed)
	cases := []struct {
		name     string
		c        store.Credential
		conflict bool
	}{
		{"same id", newCredential(a, store.SecretCredential, 1, "other"), true},
		{"same id on another principal", newCredential(b, store.SecretCredential, 1, "other"), true},
		{"same name", newCredential(a, store.SecretCredential, 3, "primary"), true},
		{"same name of another kind", newCredential(a, store.CertificateCredential, 4, "primary"), true},
		{"same name on another principal", newCredential(b, store.SecretCredential, 5, "primary"), false},
		{"another without a name", newCredential(a, store.SecretCredential, 6, ""), false},
		{"name differing in case", newCredential(a, store.SecretCredential, 7, "Primary"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateCredential(t.Context(), tc.c)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Errorf("CreateCredential(%s %q of %s) = %v, want conflict %v", tc.c.ID, tc.c.Name, tc.c.PrincipalID, err, tc.conflict)
			}
			checkNoLeak(t, err, tc.c.Data)
		})
	}
	checkCredentials(t, s, a, primary, unnamed, cases[5].c, cases[6].c)
	checkCredentials(t, s, b, cases[4].c)
}

func testCredentialMissingPrincipal(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids := newPrincipals(t, s, 2)
	if err := s.DeletePrincipal(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{guid(99), ids[1]} {
		c := newCredential(id, store.SecretCredential, 1, "key")
		if err := s.CreateCredential(ctx, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateCredential(for missing principal %s) = %v, want ErrNotFound", id, err)
		}
		if err := s.ReplaceCredentials(ctx, id, c.Kind, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReplaceCredentials(of missing principal %s) = %v, want ErrNotFound", id, err)
		}
		if got, err := s.Credentials(ctx, id); len(got) != 0 || err != nil {
			t.Errorf("Credentials(missing principal %s) = %d credentials, %v; want none", id, len(got), err)
		}
	}
	// The failed attempts left nothing behind: the id is free.
	mustCreateCredential(t, s, newCredential(ids[0], store.SecretCredential, 1, "key"))
}

// testCredentialOrder creates credentials out of order, with ties in Created
// that only normalisation reveals and a zero Created, which sorts first.
func testCredentialOrder(t *testing.T, s store.Store) {
	p := newPrincipals(t, s, 1)[0]
	at := func(i int, created time.Time) store.Credential {
		c := newCredential(p, store.SecretCredential, i, fmt.Sprintf("key-%d", i))
		c.Created = created
		return c
	}
	t0 := baseTime()
	c1 := at(1, t0.Add(3*time.Second))
	c2 := at(2, t0.Add(time.Second+100*time.Nanosecond).UTC()) // equals c3's and c4's once truncated
	c3 := at(3, t0.Add(time.Second))
	c4 := at(4, t0.Add(time.Second).In(time.FixedZone("PST", -8*60*60)))
	c5 := at(5, t0.Add(2*time.Second))
	c9 := at(9, time.Time{})
	c0 := at(0, t0.Add(-time.Hour).Add(-time.Hour*24*365*60)) // before 1970
	for _, c := range []store.Credential{c5, c3, c9, c1, c4, c2, c0} {
		mustCreateCredential(t, s, c)
	}
	checkCredentials(t, s, p, c9, c0, c2, c3, c4, c5, c1)
}

// testCredentialReplace replaces one kind of a principal's credentials after
// another: the other kinds, and other principals' credentials, stay.
func testCredentialReplace(t *testing.T, s store.Store) {
	ids := newPrincipals(t, s, 2)
	p, q := ids[0], ids[1]
	s1, s2 := newCredential(p, store.SecretCredential, 1, "s1"), newCredential(p, store.SecretCredential, 2, "")
	cert := newCredential(p, store.CertificateCredential, 3, "cert")
	fed := newCredential(p, store.FederatedCredential, 4, "fed")
	other := newCredential(q, store.SecretCredential, 5, "s1")
	for _, c := range []store.Credential{s1, s2, cert, fed, other} {
		mustCreateCredential(t, s, c)
	}
	// Each replacement is created later than the last, so it sorts last.
	replace := func(owner string, c store.Credential, minutes int) store.Credential {
		t.Helper()
		c.Created = baseTime().Add(time.Duration(minutes) * time.Minute)
		if err := s.ReplaceCredentials(t.Context(), owner, c.Kind, c); err != nil {
			t.Fatalf("ReplaceCredentials(%s, %s, %s) = %v", owner, c.Kind, c.ID, err)
		}
		return c
	}
	secret := replace(p, newCredential(p, store.SecretCredential, 6, "s1"), 1) // a replaced name is free
	checkCredentials(t, s, p, cert, fed, secret)
	newCert := replace(p, newCredential(p, store.CertificateCredential, 3, "new cert"), 2) // so is a replaced id
	checkCredentials(t, s, p, fed, secret, newCert)
	newFed := replace(p, newCredential(p, store.FederatedCredential, 7, ""), 3)
	checkCredentials(t, s, p, secret, newCert, newFed)
	checkCredentials(t, s, q, other)
	// A kind the principal has none of is simply added.
	added := replace(q, newCredential(q, store.FederatedCredential, 8, "fed"), 4)
	checkCredentials(t, s, q, other, added)
}

// testCredentialReplaceFails checks that a replacement that cannot be stored
// leaves the old credentials in place: the delete and the insert are one
// transaction.
func testCredentialReplaceFails(t *testing.T, s store.Store) {
	ids := newPrincipals(t, s, 2)
	p, q := ids[0], ids[1]
	s1, s2 := newCredential(p, store.SecretCredential, 1, "s1"), newCredential(p, store.SecretCredential, 2, "")
	cert := newCredential(p, store.CertificateCredential, 3, "shared")
	other := newCredential(q, store.SecretCredential, 4, "")
	for _, c := range []store.Credential{s1, s2, cert, other} {
		mustCreateCredential(t, s, c)
	}
	cases := []struct {
		name     string
		c        store.Credential
		conflict bool // else any error
	}{
		{"name of another kind", newCredential(p, store.SecretCredential, 5, "shared"), true},
		{"id of another kind", newCredential(p, store.SecretCredential, 3, "new"), true},
		{"id of another principal's", newCredential(p, store.SecretCredential, 4, "new"), true},
		{"credential of another kind", newCredential(p, store.CertificateCredential, 6, "new"), false},
		{"credential of another principal", newCredential(q, store.SecretCredential, 7, "new"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.ReplaceCredentials(t.Context(), p, store.SecretCredential, tc.c)
			if err == nil || tc.conflict && !errors.Is(err, store.ErrConflict) {
				t.Errorf("ReplaceCredentials(%s, Secret, %s %s %q of %s) = %v, want an error (conflict %v)",
					p, tc.c.Kind, tc.c.ID, tc.c.Name, tc.c.PrincipalID, err, tc.conflict)
			}
			checkNoLeak(t, err, tc.c.Data)
			checkCredentials(t, s, p, s1, s2, cert)
			checkCredentials(t, s, q, other)
		})
	}
}

func testCredentialDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids := newPrincipals(t, s, 2)
	p, q := ids[0], ids[1]
	c1, c2 := newCredential(p, store.SecretCredential, 1, "a"), newCredential(p, store.SecretCredential, 2, "b")
	mustCreateCredential(t, s, c1)
	mustCreateCredential(t, s, c2)
	if err := s.DeleteCredential(ctx, p, c1.ID); err != nil {
		t.Fatalf("DeleteCredential(%s, %s) = %v", p, c1.ID, err)
	}
	checkCredentials(t, s, p, c2)
	cases := []struct {
		name                string
		principalID, credID string
	}{
		{"deleted", p, c1.ID},
		{"of another principal", q, c2.ID},
		{"of a missing principal", guid(99), c2.ID},
		{"missing", p, credentialID(99)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.DeleteCredential(ctx, tc.principalID, tc.credID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("DeleteCredential(%s, %s) = %v, want ErrNotFound", tc.principalID, tc.credID, err)
			}
		})
	}
	checkCredentials(t, s, p, c2)
	// The name of the deleted credential is free again.
	again := newCredential(p, store.SecretCredential, 3, "a")
	mustCreateCredential(t, s, again)
	checkCredentials(t, s, p, c2, again)
}

// testCredentialDeletedWithPrincipal deletes a principal with credentials:
// they go too, even when a principal with the same id comes back.
func testCredentialDeletedWithPrincipal(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids := newPrincipals(t, s, 2)
	p, q := ids[0], ids[1]
	for i, k := range []store.CredentialKind{store.SecretCredential, store.CertificateCredential, store.FederatedCredential} {
		mustCreateCredential(t, s, newCredential(p, k, i, string(k)))
	}
	kept := newCredential(q, store.SecretCredential, 9, "kept")
	mustCreateCredential(t, s, kept)
	if err := s.DeletePrincipal(ctx, p); err != nil {
		t.Fatalf("DeletePrincipal(%s) = %v", p, err)
	}
	checkCredentials(t, s, p)
	checkCredentials(t, s, q, kept)
	mustCreatePrincipal(t, s, newPrincipal(store.ServicePrincipal, 1, "app-1"))
	checkCredentials(t, s, p)
	// The deleted credentials' ids and names are free again.
	again := newCredential(p, store.SecretCredential, 0, string(store.SecretCredential))
	mustCreateCredential(t, s, again)
	checkCredentials(t, s, p, again)
}

// testCredentialConcurrentDeletePrincipal adds credentials while the
// principal is deleted: each add either happens before the delete, and is
// deleted with the principal, or finds the principal gone; none is left.
func testCredentialConcurrentDeletePrincipal(t *testing.T, s store.Store) {
	const writers = 8
	p := newPrincipals(t, s, 1)[0]
	errs := make([]error, writers+1)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { errs[i] = s.CreateCredential(t.Context(), newCredential(p, store.SecretCredential, i, "")) })
	}
	wg.Go(func() { errs[writers] = s.DeletePrincipal(t.Context(), p) })
	wg.Wait()
	if errs[writers] != nil {
		t.Errorf("DeletePrincipal(%s) = %v", p, errs[writers])
	}
	for i, err := range errs[:writers] {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("writer %d: CreateCredential = %v, want nil or ErrNotFound", i, err)
		}
	}
	mustCreatePrincipal(t, s, newPrincipal(store.ServicePrincipal, 1, "app-1"))
	checkCredentials(t, s, p)
}

// testCredentialAllPaged lists every principal's credentials in pages by ID,
// with no duplicates and no gaps.
func testCredentialAllPaged(t *testing.T, s store.Store) {
	ids := newPrincipals(t, s, 3)
	var want []store.Credential
	for i := range 7 {
		c := newCredential(ids[i%3], store.SecretCredential, i, fmt.Sprintf("key %d", i))
		mustCreateCredential(t, s, c)
		want = append(want, c)
	}
	var got []store.Credential
	after, pages := "", 0
	for {
		cs, next, err := s.AllCredentials(t.Context(), store.Page{Limit: 3, After: after})
		if err != nil {
			t.Fatalf("AllCredentials(after %q) = %v", after, err)
		}
		got, pages = append(got, cs...), pages+1
		if next == "" {
			break
		}
		after = next
	}
	if pages != 3 {
		t.Errorf("AllCredentials took %d pages of 3 for 7 credentials, want 3", pages)
	}
	if diff := cmp.Diff(storedCredentials(want...), got); diff != "" {
		t.Errorf("AllCredentials mismatch (-want +got):\n%s", diff)
	}
}
