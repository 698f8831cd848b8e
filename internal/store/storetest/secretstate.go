package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey/internal/store"
)

// The cases of a secret as a whole: updates of versions, soft delete,
// recovery, purge, restore, the purge job's listing, the changes each write
// records, and races (secretrace.go). secret.go holds the cases of versions
// alone.
var secretStateCases = []testCase{
	{"Update", testSecretUpdate},
	{"UpdateNotFound", testSecretUpdateNotFound},
	{"Secret", testSecretState},
	{"List", testSecretList},
	{"Delete", testSecretDelete},
	{"Recover", testSecretRecover},
	{"Purge", testSecretPurge},
	{"Restore", testSecretRestore},
	{"RestoreConflict", testSecretRestoreConflict},
	{"Due", testSecretsDue},
	{"Changes", testSecretChanges},
	{"CreateRacesDelete", testSecretCreateRacesDelete},
	{"CreateRacesPurge", testSecretCreateRacesPurge},
}

// ignoreUpdated leaves Secret.Updated out of comparisons: the contract does
// not say which writes change it.
var ignoreUpdated = cmpopts.IgnoreFields(store.Secret{}, "Updated")

// mustSecret reads a secret or fails the test.
func mustSecret(t *testing.T, s store.Store, vault, name string) store.Secret {
	t.Helper()
	sec, err := s.Secret(t.Context(), vault, name)
	if err != nil {
		t.Fatalf("Secret(%q, %q) = %v", vault, name, err)
	}
	return sec
}

// checkState compares a secret with want, but for Updated.
func checkState(t *testing.T, s store.Store, want store.Secret) {
	t.Helper()
	got := mustSecret(t, s, want.Vault, want.Name)
	if diff := cmp.Diff(want, got, ignoreUpdated); diff != "" {
		t.Errorf("Secret(%q, %q) mismatch (-want +got):\n%s", want.Vault, want.Name, diff)
	}
}

// checkGone checks that a secret and every version named are not found.
func checkGone(t *testing.T, s store.Store, vault, name string, versions ...string) {
	t.Helper()
	if got, err := s.Secret(t.Context(), vault, name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Secret(%q, %q) = %+v, %v, want ErrNotFound", vault, name, got, err)
	}
	for _, ver := range append(versions, "") {
		if got, err := s.SecretVersion(t.Context(), vault, name, ver); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SecretVersion(%q, %q, %q) = %s, %v, want ErrNotFound", vault, name, ver, got.Version, err)
		}
	}
	if got, _, err := s.SecretVersions(t.Context(), vault, name, store.Page{}); len(got) != 0 || err != nil {
		t.Errorf("SecretVersions(%q, %q) = %d versions, %v; want none", vault, name, len(got), err)
	}
}

// versionsOf returns the versions of a secret, in order.
func versionsOf(t *testing.T, s store.Store, vault, name string) []string {
	t.Helper()
	vs := listAll(t, "SecretVersions", 0, func(p store.Page) ([]store.SecretVersion, string, error) {
		return s.SecretVersions(t.Context(), vault, name, p)
	})
	var out []string
	for _, v := range vs {
		out = append(out, v.Version)
	}
	return out
}

// deleteAt is the time of the i-th deletion, and purgeAt its scheduled purge.
func deleteAt(i int) time.Time { return baseTime().Add(time.Duration(i) * time.Hour) }
func purgeAt(i int) time.Time  { return deleteAt(i).Add(90 * 24 * time.Hour) }

// mustDelete soft-deletes a secret at deleteAt(i) or fails the test.
func mustDelete(t *testing.T, s store.Store, vault, name string, i int) {
	t.Helper()
	if err := s.DeleteSecret(t.Context(), vault, name, deleteAt(i), purgeAt(i)); err != nil {
		t.Fatalf("DeleteSecret(%q, %q) = %v", vault, name, err)
	}
}

func testSecretUpdate(t *testing.T, s store.Store) {
	v1, v2 := newSecret("vault", "s", version(1)), newSecret("vault", "s", version(2))
	mustCreate(t, s, v1)
	mustCreate(t, s, v2)
	updates := []func(u *store.SecretVersion){
		func(u *store.SecretVersion) {
			u.ContentType, u.Tags, u.Enabled = "application/json", map[string]string{"rotated": "yes"}, false
			u.NotBefore, u.Expires = time.Time{}, baseTime().Add(48*time.Hour)
		},
		func(u *store.SecretVersion) { u.Tags, u.Enabled, u.Expires = nil, true, time.Time{} },
	}
	want := v1
	for i, update := range updates {
		update(&want)
		want.Updated = baseTime().Add(time.Duration(i+1) * time.Hour)
		u := want
		u.Value, u.Created = []byte("not written"), baseTime().Add(time.Minute) // neither changes
		if err := s.UpdateSecretVersion(t.Context(), u); err != nil {
			t.Fatalf("UpdateSecretVersion(%d) = %v", i, err)
		}
		checkSecret(t, s, "vault", "s", version(1), want)
		checkSecret(t, s, "vault", "s", version(2), v2)
		checkSecret(t, s, "vault", "s", "", v2) // still current
	}
}

func testSecretUpdateNotFound(t *testing.T, s store.Store) {
	v := newSecret("vault", "s", version(1))
	mustCreate(t, s, v)
	for _, u := range []store.SecretVersion{
		newSecret("vault", "s", version(2)),
		newSecret("vault", "other", version(1)),
		newSecret("other", "s", version(1)),
		newSecret("vault", "s", ""),
	} {
		u.Enabled = false
		if err := s.UpdateSecretVersion(t.Context(), u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateSecretVersion(%s/%s/%s) = %v, want ErrNotFound", u.Vault, u.Name, u.Version, err)
		}
	}
	checkSecret(t, s, "vault", "s", version(1), v)
}

// testSecretState checks Secret: its current version is the last created,
// its Created the first version's.
func testSecretState(t *testing.T, s store.Store) {
	first, last := newSecret("vault", "s", version(2)), newSecret("vault", "s", version(1))
	last.Created = first.Created.Add(time.Hour)
	mustCreate(t, s, first)
	mustCreate(t, s, last)
	mustCreate(t, s, newSecret("vault", "s-2", version(3)))
	checkState(t, s, store.Secret{Vault: "vault", Name: "s", CurrentVersion: last.Version, Created: store.Time(first.Created)})
	for _, key := range [][2]string{{"vault", "x"}, {"vault", "s-"}, {"vault", "S"}, {"other", "s"}, {"", ""}} {
		if got, err := s.Secret(t.Context(), key[0], key[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Secret(%q, %q) = %+v, %v, want ErrNotFound", key[0], key[1], got, err)
		}
	}
}

// testSecretList lists 7 secrets, 2 of them deleted, in pages.
func testSecretList(t *testing.T, s store.Store) {
	name := func(i int) string { return fmt.Sprintf("secret-%d", i) }
	want := make([]store.Secret, 7)
	for _, i := range []int{4, 0, 6, 2, 5, 1, 3} {
		v := newSecret("vault", name(i), version(i))
		mustCreate(t, s, v)
		want[i] = store.Secret{Vault: "vault", Name: name(i), CurrentVersion: version(i), Created: store.Time(v.Created)}
	}
	mustCreate(t, s, newSecret("other", name(9), version(9))) // must not show
	for _, i := range []int{5, 2} {
		mustDelete(t, s, "vault", name(i), i)
		want[i].Deleted, want[i].ScheduledPurge = store.Time(deleteAt(i)), store.Time(purgeAt(i))
	}
	active := []store.Secret{want[0], want[1], want[3], want[4], want[6]}
	deleted := []store.Secret{want[2], want[5]}
	cases := []struct {
		vault   string
		deleted bool
		limit   int
		sizes   []int
		want    []store.Secret
	}{
		{"vault", false, 3, []int{3, 2}, active},
		{"vault", false, 1, []int{1, 1, 1, 1, 1}, active},
		{"vault", false, 5, []int{5}, active},
		{"vault", false, 0, []int{5}, active},
		{"vault", true, 3, []int{2}, deleted},
		{"vault", true, 1, []int{1, 1}, deleted},
		{"other", true, 3, []int{0}, nil},
		{"missing", false, 3, []int{0}, nil},
	}
	for _, tc := range cases {
		var sizes []int
		var got []store.Secret
		after := ""
		for range 100 {
			page, next, err := s.Secrets(t.Context(), tc.vault, tc.deleted, store.Page{Limit: tc.limit, After: after})
			if err != nil {
				t.Fatalf("Secrets(%q, %t, limit %d, after %q) = %v", tc.vault, tc.deleted, tc.limit, after, err)
			}
			sizes, got = append(sizes, len(page)), append(got, page...)
			if after = next; next == "" {
				break
			}
		}
		if !slices.Equal(sizes, tc.sizes) {
			t.Errorf("Secrets(%q, %t, limit %d) page sizes = %v, want %v", tc.vault, tc.deleted, tc.limit, sizes, tc.sizes)
		}
		if diff := cmp.Diff(tc.want, got, ignoreUpdated); diff != "" {
			t.Errorf("Secrets(%q, %t, limit %d) mismatch (-want +got):\n%s", tc.vault, tc.deleted, tc.limit, diff)
		}
	}
}

func testSecretDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1, v2, v3 := newSecret("vault", "s", version(1)), newSecret("vault", "s", version(2)), newSecret("vault", "s", version(3))
	mustCreate(t, s, v1)
	mustCreate(t, s, v2)
	mustDelete(t, s, "vault", "s", 1)
	checkSecret(t, s, "vault", "s", version(1), v1)
	checkSecret(t, s, "vault", "s", "", v2)
	if got := versionsOf(t, s, "vault", "s"); !slices.Equal(got, []string{version(1), version(2)}) {
		t.Errorf("SecretVersions of a deleted secret = %q, want both versions", got)
	}
	for _, v := range []store.SecretVersion{v3, v1} {
		err := s.CreateSecretVersion(ctx, v)
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateSecretVersion(%s) of a deleted secret = %v, want ErrConflict", v.Version, err)
		}
		checkNoLeak(t, err, v.Value)
	}
	if _, err := s.SecretVersion(ctx, "vault", "s", version(3)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SecretVersion(%s) refused = %v, want ErrNotFound", version(3), err)
	}
	checkState(t, s, store.Secret{Vault: "vault", Name: "s", CurrentVersion: version(2), Created: store.Time(v1.Created),
		Deleted: store.Time(deleteAt(1)), ScheduledPurge: store.Time(purgeAt(1))})
	for _, key := range [][2]string{{"vault", "s"}, {"vault", "missing"}, {"other", "s"}} {
		if err := s.DeleteSecret(ctx, key[0], key[1], deleteAt(2), purgeAt(2)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSecret(%q, %q) = %v, want ErrNotFound", key[0], key[1], err)
		}
	}
	if got := mustSecret(t, s, "vault", "s"); !got.Deleted.Equal(store.Time(deleteAt(1))) {
		t.Errorf("Secret deleted twice: Deleted = %v, want the first deletion's %v", got.Deleted, deleteAt(1))
	}
}

func testSecretRecover(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1, v2, v3 := newSecret("vault", "s", version(1)), newSecret("vault", "s", version(2)), newSecret("vault", "s", version(3))
	mustCreate(t, s, v1)
	mustCreate(t, s, v2)
	mustDelete(t, s, "vault", "s", 1)
	if err := s.RecoverSecret(ctx, "vault", "s"); err != nil {
		t.Fatalf("RecoverSecret = %v", err)
	}
	want := store.Secret{Vault: "vault", Name: "s", CurrentVersion: version(2), Created: store.Time(v1.Created)}
	checkState(t, s, want)
	for _, key := range [][2]string{{"vault", "s"}, {"vault", "missing"}, {"other", "s"}} {
		if err := s.RecoverSecret(ctx, key[0], key[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RecoverSecret(%q, %q) = %v, want ErrNotFound", key[0], key[1], err)
		}
	}
	mustCreate(t, s, v3)
	want.CurrentVersion = version(3)
	checkState(t, s, want)
	checkSecret(t, s, "vault", "s", "", v3)
	if got, _, err := s.Secrets(ctx, "vault", false, store.Page{}); err != nil || len(got) != 1 || got[0].Name != "s" {
		t.Errorf("Secrets(active) after recovery = %+v, %v; want s", got, err)
	}
}

func testSecretPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1, v2 := newSecret("vault", "s", version(1)), newSecret("vault", "s", version(2))
	neighbours := []store.SecretVersion{newSecret("vault", "s-2", version(1)), newSecret("other", "s", version(1))}
	for _, v := range append([]store.SecretVersion{v1, v2}, neighbours...) {
		mustCreate(t, s, v)
	}
	mustDelete(t, s, "other", "s", 1) // deleted, but not purged
	for _, key := range [][2]string{{"vault", "s"}, {"vault", "missing"}} {
		if err := s.PurgeSecret(ctx, key[0], key[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PurgeSecret(%q, %q), not deleted = %v, want ErrNotFound", key[0], key[1], err)
		}
	}
	checkSecret(t, s, "vault", "s", "", v2)
	mustDelete(t, s, "vault", "s", 2)
	if err := s.PurgeSecret(ctx, "vault", "s"); err != nil {
		t.Fatalf("PurgeSecret = %v", err)
	}
	checkGone(t, s, "vault", "s", version(1), version(2))
	if got, _, err := s.Secrets(ctx, "vault", true, store.Page{}); len(got) != 0 || err != nil {
		t.Errorf("Secrets(deleted) after purge = %+v, %v; want none", got, err)
	}
	if err := s.PurgeSecret(ctx, "vault", "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PurgeSecret twice = %v, want ErrNotFound", err)
	}
	for _, v := range neighbours {
		checkSecret(t, s, v.Vault, v.Name, "", v)
	}
	again := newSecret("vault", "s", version(1)) // the name is free, even for an old version
	again.Created = baseTime().Add(time.Hour)
	mustCreate(t, s, again)
	checkState(t, s, store.Secret{Vault: "vault", Name: "s", CurrentVersion: version(1), Created: store.Time(again.Created)})
	if got := versionsOf(t, s, "vault", "s"); !slices.Equal(got, []string{version(1)}) {
		t.Errorf("SecretVersions after purge and create = %q, want only %q", got, version(1))
	}
}

// restorable returns a secret's backup: versions oldest first, not in the
// order of Version, with varied fields.
func restorable(vault, name string) (store.Secret, []store.SecretVersion) {
	vs := []store.SecretVersion{newSecret(vault, name, version(3)), newSecret(vault, name, version(1)),
		newSecret(vault, name, version(2))}
	vs[1].Value, vs[1].Tags, vs[1].Enabled = nil, nil, false
	vs[2].Created, vs[2].NotBefore, vs[2].Expires = baseTime().Add(time.Hour), time.Time{}, time.Time{}
	sec := store.Secret{Vault: vault, Name: name, Created: baseTime(), Updated: baseTime().Add(2 * time.Hour)}
	return sec, vs
}

func testSecretRestore(t *testing.T, s store.Store) {
	sec, vs := restorable("vault", "s")
	if err := s.RestoreSecret(t.Context(), sec, vs); err != nil {
		t.Fatalf("RestoreSecret = %v", err)
	}
	want := sec
	want.CurrentVersion, want.Created, want.Updated = version(2), store.Time(sec.Created), store.Time(sec.Updated)
	if diff := cmp.Diff(want, mustSecret(t, s, "vault", "s")); diff != "" {
		t.Errorf("Secret after restore mismatch (-want +got):\n%s", diff)
	}
	got, _, err := s.SecretVersions(t.Context(), "vault", "s", store.Page{})
	if diff := cmp.Diff(storedAll([]store.SecretVersion{vs[1], vs[2], vs[0]}), got); err != nil || diff != "" {
		t.Errorf("SecretVersions after restore = %v; mismatch (-want +got):\n%s", err, diff)
	}
	checkSecret(t, s, "vault", "s", "", vs[2])
	v4 := newSecret("vault", "s", version(4))
	mustCreate(t, s, v4)
	checkSecret(t, s, "vault", "s", "", v4)

	// A backup names its current version, or leaves it out.
	sec, vs = restorable("other", "s")
	sec.CurrentVersion = version(2)
	if err := s.RestoreSecret(t.Context(), sec, vs); err != nil {
		t.Fatalf("RestoreSecret(current version given) = %v", err)
	}
	checkSecret(t, s, "other", "s", "", vs[2])
}

func testSecretRestoreConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	active, deleted := newSecret("vault", "active", version(7)), newSecret("vault", "deleted", version(7))
	mustCreate(t, s, active)
	mustCreate(t, s, deleted)
	mustDelete(t, s, "vault", "deleted", 1)
	for _, name := range []string{"active", "deleted"} {
		before := mustSecret(t, s, "vault", name)
		sec, vs := restorable("vault", name)
		err := s.RestoreSecret(ctx, sec, vs)
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("RestoreSecret(%q) over an existing secret = %v, want ErrConflict", name, err)
		}
		checkNoLeak(t, err, vs[0].Value, vs[2].Value)
		if diff := cmp.Diff(before, mustSecret(t, s, "vault", name)); diff != "" {
			t.Errorf("Secret(%q) after a refused restore mismatch (-before +after):\n%s", name, diff)
		}
		if got := versionsOf(t, s, "vault", name); !slices.Equal(got, []string{version(7)}) {
			t.Errorf("SecretVersions(%q) after a refused restore = %q, want only %q", name, got, version(7))
		}
	}
	// A restore that fails half way stores nothing: it is one transaction.
	sec, vs := restorable("vault", "twice")
	if err := s.RestoreSecret(ctx, sec, append(vs, vs[0])); err == nil {
		t.Errorf("RestoreSecret(a version twice) succeeded, want an error")
	}
	checkGone(t, s, "vault", "twice", version(1), version(2), version(3))
}

func testSecretsDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	purges := []struct {
		vault, name string
		purge       time.Duration // after baseTime; -1: deleted without one
	}{
		{"a", "x", 3 * time.Hour}, {"b", "y", time.Hour}, {"a", "z", 2 * time.Hour}, {"b", "w", 5 * time.Hour},
		{"a", "forever", -1}, {"a", "recovered", 0}, {"a", "active", 0},
	}
	for i, p := range purges {
		mustCreate(t, s, newSecret(p.vault, p.name, version(i)))
		if p.name == "active" {
			continue
		}
		purge := baseTime().Add(p.purge)
		if p.purge < 0 {
			purge = time.Time{}
		}
		if err := s.DeleteSecret(ctx, p.vault, p.name, baseTime(), purge); err != nil {
			t.Fatalf("DeleteSecret(%q, %q) = %v", p.vault, p.name, err)
		}
	}
	if err := s.RecoverSecret(ctx, "a", "recovered"); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) time.Time { return store.Time(baseTime().Add(d)) }
	cases := []struct {
		before time.Time
		limit  int
		want   []string
	}{
		{at(4 * time.Hour), 10, []string{"b/y", "a/z", "a/x"}},
		{at(4 * time.Hour), 2, []string{"b/y", "a/z"}},
		{at(4 * time.Hour), 0, []string{"b/y", "a/z", "a/x"}}, // the default limit
		{at(time.Hour), 10, nil},                              // strictly before
		{at(time.Hour).Add(time.Nanosecond), 10, []string{"b/y"}},
		{at(24 * time.Hour), 10, []string{"b/y", "a/z", "a/x", "b/w"}},
		{time.Time{}, 10, nil},
	}
	for _, tc := range cases {
		got, err := s.SecretsDue(ctx, tc.before, tc.limit)
		if err != nil {
			t.Fatalf("SecretsDue(%v, %d) = %v", tc.before, tc.limit, err)
		}
		var names []string
		for _, sec := range got {
			names = append(names, sec.Vault+"/"+sec.Name)
			if sec.Deleted.IsZero() || !sec.ScheduledPurge.Before(tc.before) {
				t.Errorf("SecretsDue(%v) gave %s deleted %v, purge %v", tc.before, sec.Name, sec.Deleted, sec.ScheduledPurge)
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("SecretsDue(%v, %d) = %q, want %q", tc.before, tc.limit, names, tc.want)
		}
	}
}

// testSecretChanges makes every write of secrets and checks that each records
// one change of the secret, and a failed one none.
func testSecretChanges(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1, v2 := newSecret("kv", "api-key", version(1)), newSecret("kv", "api-key", version(2))
	other := newSecret("kv", "other", version(1))
	sec, vs := restorable("kv", "restored")
	one := func(key string) []changeOf { return []changeOf{{store.TopicSecret, key}} }
	steps := []changeStep{
		{"CreateSecretVersion, first", func() error { return s.CreateSecretVersion(ctx, v1) }, one("kv/api-key")},
		{"CreateSecretVersion, second", func() error { return s.CreateSecretVersion(ctx, v2) }, one("kv/api-key")},
		{"CreateSecretVersion, taken", func() error { return mustFail(s.CreateSecretVersion(ctx, v2)) }, nil},
		{"CreateSecretVersion, other", func() error { return s.CreateSecretVersion(ctx, other) }, one("kv/other")},
		{"UpdateSecretVersion", func() error { return s.UpdateSecretVersion(ctx, v1) }, one("kv/api-key")},
		{"UpdateSecretVersion, missing", func() error {
			return mustFail(s.UpdateSecretVersion(ctx, newSecret("kv", "api-key", version(9))))
		}, nil},
		{"DeleteSecret", func() error { return s.DeleteSecret(ctx, "kv", "api-key", deleteAt(1), purgeAt(1)) }, one("kv/api-key")},
		{"DeleteSecret, deleted", func() error { return mustFail(s.DeleteSecret(ctx, "kv", "api-key", deleteAt(1), purgeAt(1))) }, nil},
		{"CreateSecretVersion, deleted", func() error {
			return mustFail(s.CreateSecretVersion(ctx, newSecret("kv", "api-key", version(3))))
		}, nil},
		{"PurgeSecret, active", func() error { return mustFail(s.PurgeSecret(ctx, "kv", "other")) }, nil},
		{"RecoverSecret", func() error { return s.RecoverSecret(ctx, "kv", "api-key") }, one("kv/api-key")},
		{"RecoverSecret, active", func() error { return mustFail(s.RecoverSecret(ctx, "kv", "api-key")) }, nil},
		{"DeleteSecret again", func() error { return s.DeleteSecret(ctx, "kv", "api-key", deleteAt(2), purgeAt(2)) }, one("kv/api-key")},
		{"PurgeSecret", func() error { return s.PurgeSecret(ctx, "kv", "api-key") }, one("kv/api-key")},
		{"PurgeSecret, purged", func() error { return mustFail(s.PurgeSecret(ctx, "kv", "api-key")) }, nil},
		{"RestoreSecret", func() error { return s.RestoreSecret(ctx, sec, vs) }, one("kv/restored")},
		{"RestoreSecret, taken", func() error { return mustFail(s.RestoreSecret(ctx, sec, vs)) }, nil},
	}
	last, err := s.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s = %v", st.name, err)
		}
		cs := readChanges(t, s, last)
		if diff := cmp.Diff(st.want, topicsOf(cs)); diff != "" {
			t.Errorf("%s: changes mismatch (-want +got):\n%s", st.name, diff)
		}
		if len(cs) > 0 {
			last = cs[len(cs)-1].Seq
		}
	}
}
