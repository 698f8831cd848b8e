package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testSecrets(t *testing.T, newStore func(t *testing.T) store.Store) {
	cases := []testCase{
		{"RoundTrip", testSecretRoundTrip},
		{"Conflict", testSecretConflict},
		{"NotFound", testSecretNotFound},
		{"NewestIsLastCreated", testSecretNewest},
		{"VaultsAreIndependent", testSecretVaults},
		{"ConcurrentWriters", testSecretConcurrentWriters},
		{"Pages", testSecretPages},
		{"DefaultPageLimit", testSecretDefaultPageLimit},
		{"NoVersions", testSecretNoVersions},
	}
	runCases(t, newStore, append(cases, secretStateCases...))
}

// newSecret returns a secret version with every field set.
func newSecret(vault, name, ver string) store.SecretVersion {
	return store.SecretVersion{
		Vault:       vault,
		Name:        name,
		Version:     ver,
		Value:       []byte("sealed:" + vault + "/" + name + "/" + ver),
		ContentType: "text/plain",
		Tags:        map[string]string{"env": "test", "owner": "team-a"},
		Enabled:     true,
		NotBefore:   baseTime(),
		Expires:     baseTime().Add(90 * 24 * time.Hour),
		Created:     baseTime(),
		Updated:     baseTime().Add(time.Second),
	}
}

// stored returns v as a store gives it back: times normalised by store.Time,
// and no tags and an empty value as nil, never as an empty map or slice.
func stored(v store.SecretVersion) store.SecretVersion {
	v.NotBefore, v.Expires = store.Time(v.NotBefore), store.Time(v.Expires)
	v.Created, v.Updated = store.Time(v.Created), store.Time(v.Updated)
	if len(v.Tags) == 0 {
		v.Tags = nil
	}
	if len(v.Value) == 0 {
		v.Value = nil
	}
	return v
}

// mustCreate stores v or fails the test.
func mustCreate(t *testing.T, s store.Store, v store.SecretVersion) {
	t.Helper()
	if err := s.CreateSecretVersion(t.Context(), v); err != nil {
		t.Fatalf("CreateSecretVersion(%s/%s/%s) = %v", v.Vault, v.Name, v.Version, err)
	}
}

// checkSecret reads one version and compares it with what was stored.
func checkSecret(t *testing.T, s store.Store, vault, name, ver string, want store.SecretVersion) {
	t.Helper()
	got, err := s.SecretVersion(t.Context(), vault, name, ver)
	if err != nil {
		t.Fatalf("SecretVersion(%q, %q, %q) = %v", vault, name, ver, err)
	}
	if diff := cmp.Diff(stored(want), got); diff != "" {
		t.Errorf("SecretVersion(%q, %q, %q) mismatch (-want +got):\n%s", vault, name, ver, diff)
	}
}

func testSecretRoundTrip(t *testing.T, s store.Store) {
	random := make([]byte, 25<<10)
	rand.NewChaCha8([32]byte{1, 2, 3}).Read(random)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	epoch, before1970 := time.Unix(0, 0), time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.UTC)
	cases := []struct {
		name   string
		modify func(v *store.SecretVersion)
	}{
		{"all fields", func(v *store.SecretVersion) {}},
		{"nil tags", func(v *store.SecretVersion) { v.Tags = nil }},
		{"empty tags", func(v *store.SecretVersion) { v.Tags = map[string]string{} }},
		{"odd tags", func(v *store.SecretVersion) { v.Tags = map[string]string{"": "", "ключ": "värde \"q\" \x00"} }},
		{"disabled without content type", func(v *store.SecretVersion) { v.Enabled, v.ContentType = false, "" }},
		{"zero not-before and expiry", func(v *store.SecretVersion) { v.NotBefore, v.Expires = time.Time{}, time.Time{} }},
		{"all times zero", func(v *store.SecretVersion) {
			v.NotBefore, v.Expires, v.Created, v.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		}},
		{"UTC microsecond times", func(v *store.SecretVersion) { v.Created = time.UnixMicro(1741064767123456).UTC() }},
		{"epoch and before 1970", func(v *store.SecretVersion) { v.NotBefore, v.Created = epoch, before1970 }},
		{"zero bytes in value", func(v *store.SecretVersion) { v.Value = []byte{0, 0, 'x', 0} }},
		{"every byte value", func(v *store.SecretVersion) { v.Value = allBytes }},
		{"25 KB value", func(v *store.SecretVersion) { v.Value = random }},
		{"empty value", func(v *store.SecretVersion) { v.Value = []byte{} }},
		{"nil value", func(v *store.SecretVersion) { v.Value = nil }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newSecret("vault", "secret-"+version(i), version(i))
			tc.modify(&v)
			mustCreate(t, s, v)
			checkSecret(t, s, v.Vault, v.Name, v.Version, v)
			checkSecret(t, s, v.Vault, v.Name, "", v)
			got, err := s.SecretVersion(t.Context(), v.Vault, v.Name, v.Version)
			if err != nil {
				t.Fatal(err)
			}
			for _, tm := range []time.Time{got.NotBefore, got.Expires, got.Created, got.Updated} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("SecretVersion(%q) time %v is in %v, want UTC", v.Version, tm, tm.Location())
				}
			}
		})
	}
}

func testSecretConflict(t *testing.T, s store.Store) {
	first := newSecret("vault", "db-password", version(1))
	mustCreate(t, s, first)
	again := first
	again.Value = []byte("another value")
	again.Enabled = false
	err := s.CreateSecretVersion(t.Context(), again)
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSecretVersion(duplicate %s) = %v, want ErrConflict", again.Version, err)
	}
	checkSecret(t, s, first.Vault, first.Name, first.Version, first)
}

func testSecretNotFound(t *testing.T, s store.Store) {
	mustCreate(t, s, newSecret("vault", "secret", version(1)))
	cases := []struct {
		name                string
		vault, secret, vers string
	}{
		{"unknown vault", "other", "secret", version(1)},
		{"unknown name", "vault", "other", version(1)},
		{"unknown version", "vault", "secret", version(2)},
		{"newest of unknown name", "vault", "other", ""},
		{"newest in unknown vault", "other", "secret", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SecretVersion(t.Context(), tc.vault, tc.secret, tc.vers)
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("SecretVersion(%q, %q, %q) = %v, %v, want ErrNotFound", tc.vault, tc.secret, tc.vers, got.Version, err)
			}
		})
	}
}

// testSecretNewest creates versions whose order by Version differs from the
// order of creation, all with the same timestamps: "" must mean the last created.
func testSecretNewest(t *testing.T, s store.Store) {
	for _, i := range []int{5, 2, 9, 1, 7} {
		v := newSecret("vault", "api-key", version(i))
		mustCreate(t, s, v)
		checkSecret(t, s, "vault", "api-key", "", v)
	}
}

func testSecretVaults(t *testing.T, s store.Store) {
	a1, a2 := newSecret("a", "shared", version(1)), newSecret("a", "shared", version(2))
	b2, b3 := newSecret("b", "shared", version(2)), newSecret("b", "shared", version(3))
	for _, v := range []store.SecretVersion{a1, a2, b2, b3} {
		mustCreate(t, s, v)
	}
	checkSecret(t, s, "a", "shared", "", a2)
	checkSecret(t, s, "b", "shared", "", b3)
	checkSecret(t, s, "a", "shared", version(2), a2)
	checkSecret(t, s, "b", "shared", version(2), b2)
	if _, err := s.SecretVersion(t.Context(), "b", "shared", version(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SecretVersion(%q, %q, %q) = %v, want ErrNotFound", "b", "shared", version(1), err)
	}
	for vault, want := range map[string][]store.SecretVersion{"a": {a1, a2}, "b": {b2, b3}} {
		got, next, err := s.SecretVersions(t.Context(), vault, "shared", store.Page{})
		if diff := cmp.Diff(storedAll(want), got); err != nil || next != "" || diff != "" {
			t.Errorf("SecretVersions(%q) = next %q, %v; mismatch (-want +got):\n%s", vault, next, err, diff)
		}
	}
}

func testSecretConcurrentWriters(t *testing.T, s store.Store) {
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	want := make([]store.SecretVersion, 0, writers*each)
	for w := range writers {
		for i := range each {
			want = append(want, newSecret("vault", "busy", version(w*1000+i)))
		}
		wg.Go(func() {
			for i := range each {
				if err := s.CreateSecretVersion(t.Context(), newSecret("vault", "busy", version(w*1000+i))); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent CreateSecretVersion: %v", err)
	}
	got, next, err := s.SecretVersions(t.Context(), "vault", "busy", store.Page{Limit: store.MaxPageLimit})
	if diff := cmp.Diff(storedAll(want), got); err != nil || next != "" || diff != "" {
		t.Errorf("SecretVersions after concurrent writes = next %q, %v; mismatch (-want +got):\n%s", next, err, diff)
	}
}

// storedAll applies stored to each version.
func storedAll(vs []store.SecretVersion) []store.SecretVersion {
	out := make([]store.SecretVersion, len(vs))
	for i, v := range vs {
		out[i] = stored(v)
	}
	return out
}

// testSecretPages lists 7 versions, created out of order, with several limits.
func testSecretPages(t *testing.T, s store.Store) {
	var want []store.SecretVersion
	for i := range 7 {
		want = append(want, newSecret("vault", "paged", version(i)))
	}
	for _, i := range []int{4, 0, 6, 2, 5, 1, 3} {
		mustCreate(t, s, want[i])
	}
	mustCreate(t, s, newSecret("vault", "paged-other", version(3))) // must not show
	cases := []struct {
		limit int
		sizes []int
	}{
		{1, []int{1, 1, 1, 1, 1, 1, 1}},
		{3, []int{3, 3, 1}},
		{6, []int{6, 1}},
		{7, []int{7}},
		{8, []int{7}},
		{0, []int{7}},
		{-1, []int{7}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			pages := allPages(t, s, "vault", "paged", tc.limit)
			var sizes []int
			var got []store.SecretVersion
			for _, p := range pages {
				sizes = append(sizes, len(p))
				got = append(got, p...)
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("SecretVersions(limit %d) page sizes = %v, want %v", tc.limit, sizes, tc.sizes)
			}
			if diff := cmp.Diff(storedAll(want), got); diff != "" {
				t.Errorf("SecretVersions(limit %d) mismatch (-want +got):\n%s", tc.limit, diff)
			}
		})
	}
}

func testSecretDefaultPageLimit(t *testing.T, s store.Store) {
	for i := range store.DefaultPageLimit + 1 {
		mustCreate(t, s, newSecret("vault", "many", version(i)))
	}
	var sizes []int
	for _, p := range allPages(t, s, "vault", "many", 0) {
		sizes = append(sizes, len(p))
	}
	if want := []int{store.DefaultPageLimit, 1}; !slices.Equal(sizes, want) {
		t.Errorf("SecretVersions(limit 0) page sizes = %v, want %v", sizes, want)
	}
}

func testSecretNoVersions(t *testing.T, s store.Store) {
	mustCreate(t, s, newSecret("vault", "exists", version(1)))
	for _, name := range []string{"missing", "exist", "exists-not"} {
		got, next, err := s.SecretVersions(t.Context(), "vault", name, store.Page{})
		if len(got) != 0 || next != "" || err != nil {
			t.Errorf("SecretVersions(%q) = %d versions, next %q, %v; want none, \"\", nil", name, len(got), next, err)
		}
	}
	got, _, err := s.SecretVersions(t.Context(), "other-vault", "exists", store.Page{})
	if len(got) != 0 || err != nil {
		t.Errorf("SecretVersions(%q, %q) = %d versions, %v; want none", "other-vault", "exists", len(got), err)
	}
}

// allPages follows SecretVersions' cursors to the end and returns the pages.
// Every page but the last must come with a cursor, and none may be empty.
func allPages(t *testing.T, s store.Store, vault, name string, limit int) [][]store.SecretVersion {
	t.Helper()
	var pages [][]store.SecretVersion
	after := ""
	for range 1000 {
		vs, next, err := s.SecretVersions(t.Context(), vault, name, store.Page{Limit: limit, After: after})
		if err != nil {
			t.Fatalf("SecretVersions(%q, %q, limit %d, after %q) = %v", vault, name, limit, after, err)
		}
		if len(vs) == 0 && after != "" {
			t.Fatalf("SecretVersions(%q, %q, limit %d, after %q) gave an empty page after a cursor", vault, name, limit, after)
		}
		pages = append(pages, vs)
		if next == "" {
			return pages
		}
		after = next
	}
	t.Fatalf("SecretVersions(%q, %q, limit %d) never ended", vault, name, limit)
	return nil
}
