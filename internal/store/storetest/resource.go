package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testResources(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"RoundTrip", testResourceRoundTrip},
		{"Conflict", testResourceConflict},
		{"NotFound", testResourceNotFound},
		{"Update", testResourceUpdate},
		{"UpdateIf", testResourceUpdateIf},
		{"Delete", testResourceDelete},
		{"DeleteVaultWithSecrets", testResourceDeleteVaultWithSecrets},
		{"Pages", testResourcePages},
		{"Connections", testResourceConnections},
		{"OneKeyVaultConnectionPerHub", testResourceKeyVaultConnection},
	})
}

// hub returns a hub with every field set.
func hub(name string) store.Resource {
	return store.Resource{
		Scope:      "/hubs/" + name,
		Kind:       store.Hub,
		Name:       name,
		Parent:     "/",
		Properties: []byte(`{"location":"westeurope"}`),
		Created:    baseTime(),
		Updated:    baseTime().Add(time.Second),
	}
}

// below returns a resource of kind k named name in parent, with every field
// set.
func below(parent store.Resource, k store.ResourceKind, name string) store.Resource {
	segment := map[store.ResourceKind]string{store.Project: "projects", store.Vault: "vaults", store.Account: "accounts",
		store.Connection: "connections", store.KeyVaultConnection: "connections"}[k]
	r := hub(name)
	r.Scope, r.Kind, r.Parent = parent.Scope+"/"+segment+"/"+name, k, parent.Scope
	r.Properties = []byte(fmt.Sprintf(`{"sku":"standard","kind":%q}`, k))
	return r
}

// storedResources returns rs as a store gives them back: times normalised,
// empty Properties as nil.
func storedResources(rs ...store.Resource) []store.Resource {
	var out []store.Resource
	for _, r := range rs {
		r.Created, r.Updated = store.Time(r.Created), store.Time(r.Updated)
		if len(r.Properties) == 0 {
			r.Properties = nil
		}
		out = append(out, r)
	}
	return out
}

func mustCreateResource(t *testing.T, s store.Store, rs ...store.Resource) {
	t.Helper()
	for _, r := range rs {
		if err := s.CreateResource(t.Context(), r); err != nil {
			t.Fatalf("CreateResource(%s) = %v", r.Scope, err)
		}
	}
}

// checkResource reads want back by scope and, for vaults and accounts, by
// name, and compares each with want.
func checkResource(t *testing.T, s store.Store, want store.Resource) {
	t.Helper()
	want = storedResources(want)[0]
	got, err := s.Resource(t.Context(), want.Scope)
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("Resource(%q) = %v; mismatch (-want +got):\n%s", want.Scope, err, diff)
	}
	if want.Kind == store.Vault || want.Kind == store.Account {
		got, err := s.ResourceByName(t.Context(), want.Kind, want.Name)
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("ResourceByName(%s, %q) = %v; mismatch (-want +got):\n%s", want.Kind, want.Name, err, diff)
		}
	}
}

func testResourceRoundTrip(t *testing.T, s store.Store) {
	h := hub("h")
	mustCreateResource(t, s, h)
	checkResource(t, s, h)
	cases := []struct {
		name string
		r    store.Resource
	}{
		{"project", below(h, store.Project, "p")},
		{"vault", below(h, store.Vault, "v")},
		{"account", below(h, store.Account, "a")},
		{"no properties", func() store.Resource {
			r := below(h, store.Vault, "nil-props")
			r.Properties = nil
			return r
		}()},
		{"empty properties", func() store.Resource {
			r := below(h, store.Vault, "empty-props")
			r.Properties = []byte{}
			return r
		}()},
		{"zero times", func() store.Resource {
			r := below(h, store.Account, "zero")
			r.Created, r.Updated = time.Time{}, time.Time{}
			return r
		}()},
		{"odd name", below(h, store.Vault, "kv-dörte_\"1\"")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustCreateResource(t, s, tc.r)
			checkResource(t, s, tc.r)
		})
	}
	// A vault inside a project is a resource like any other.
	p := cases[0].r
	nested := below(p, store.Vault, "nested")
	mustCreateResource(t, s, nested)
	checkResource(t, s, nested)
}

func testResourceConflict(t *testing.T, s store.Store) {
	h1, h2 := hub("h1"), hub("h2")
	vault, account := below(h1, store.Vault, "shared"), below(h1, store.Account, "acct")
	project := below(h1, store.Project, "proj")
	mustCreateResource(t, s, h1, h2, vault, account, project)
	cases := []struct {
		name     string
		r        store.Resource
		conflict bool
	}{
		{"same hub", hub("h1"), true},
		{"same scope of another kind", func() store.Resource { r := vault; r.Kind = store.Account; return r }(), true},
		{"vault named as a vault in another hub", below(h2, store.Vault, "shared"), true},
		{"account named as an account in another hub", below(h2, store.Account, "acct"), true},
		{"vault named as a vault in a project", below(project, store.Vault, "shared"), true},
		{"hub named as a vault", hub("shared"), false},
		{"project named as a vault", below(h2, store.Project, "shared"), false},
		{"project named as a project in another hub", below(h2, store.Project, "proj"), false},
		{"account named as a vault", below(h2, store.Account, "shared"), false},
		{"vault named as an account", below(h2, store.Vault, "acct"), false},
		{"vault name differing in case", below(h2, store.Vault, "Shared"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateResource(t.Context(), tc.r)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Errorf("CreateResource(%s %s) = %v, want conflict %v", tc.r.Kind, tc.r.Scope, err, tc.conflict)
			}
		})
	}
	for _, r := range []store.Resource{h1, vault, account, project} {
		checkResource(t, s, r)
	}
}

func testResourceNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	h := hub("h")
	v := below(h, store.Vault, "v")
	mustCreateResource(t, s, h, v)
	missingHub := hub("missing")
	orphan := below(missingHub, store.Vault, "orphan")
	noParent := below(h, store.Vault, "no-parent")
	noParent.Parent = ""
	cases := []struct {
		name string
		call func() error
	}{
		{"Resource", func() error { _, err := s.Resource(ctx, missingHub.Scope); return err }},
		{"Resource of the root", func() error { _, err := s.Resource(ctx, "/"); return err }},
		{"ResourceByName", func() error { _, err := s.ResourceByName(ctx, store.Vault, "missing"); return err }},
		{"ResourceByName of another kind", func() error { _, err := s.ResourceByName(ctx, store.Account, "v"); return err }},
		{"ResourceByName of a hub", func() error { _, err := s.ResourceByName(ctx, store.Hub, "h"); return err }},
		{"CreateResource in a missing parent", func() error { return s.CreateResource(ctx, orphan) }},
		{"CreateResource with an empty parent", func() error { return s.CreateResource(ctx, noParent) }},
		{"UpdateResource", func() error { return s.UpdateResource(ctx, missingHub) }},
		{"DeleteResource", func() error { return s.DeleteResource(ctx, missingHub.Scope) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want ErrNotFound", tc.name, err)
			}
		})
	}
	for _, scope := range []string{missingHub.Scope, orphan.Scope, noParent.Scope} {
		if _, err := s.Resource(ctx, scope); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Resource(%q) after the failed writes = %v, want ErrNotFound", scope, err)
		}
	}
}

// testResourceUpdate changes every field of a resource: only Properties and
// Updated may change.
func testResourceUpdate(t *testing.T, s store.Store) {
	h := hub("h")
	old := below(h, store.Vault, "v")
	mustCreateResource(t, s, h, old)
	update := below(hub("elsewhere"), store.Account, "renamed")
	update.Scope = old.Scope
	update.Properties = []byte(`{"sku":"premium"}`)
	update.Created, update.Updated = baseTime().Add(-time.Hour), baseTime().Add(time.Hour)
	if err := s.UpdateResource(t.Context(), update); err != nil {
		t.Fatalf("UpdateResource(%s) = %v", update.Scope, err)
	}
	want := old
	want.Properties, want.Updated = update.Properties, update.Updated
	checkResource(t, s, want)
	cleared := want
	cleared.Properties = nil
	if err := s.UpdateResource(t.Context(), cleared); err != nil {
		t.Fatalf("UpdateResource(%s, no properties) = %v", cleared.Scope, err)
	}
	checkResource(t, s, cleared)
	checkResource(t, s, h)
}

// testResourceUpdateIf: a conditional update applies only to the
// properties it was computed from; a stale one is refused and changes
// nothing; empty and missing properties are the same.
func testResourceUpdateIf(t *testing.T, s store.Store) {
	ctx := t.Context()
	h := hub("h")
	r := below(h, store.Account, "a")
	mustCreateResource(t, s, h, r)
	first := r
	first.Properties, first.Updated = []byte(`{"step":2}`), baseTime().Add(time.Minute)
	if err := s.UpdateResourceIf(ctx, first, r.Properties); err != nil {
		t.Fatalf("UpdateResourceIf from the stored properties = %v", err)
	}
	checkResource(t, s, first)
	stale := r
	stale.Properties, stale.Updated = []byte(`{"step":3}`), baseTime().Add(2*time.Minute)
	if err := s.UpdateResourceIf(ctx, stale, r.Properties); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateResourceIf from properties since replaced = %v, want ErrConflict", err)
	}
	checkResource(t, s, first)
	missing := below(h, store.Account, "missing")
	if err := s.UpdateResourceIf(ctx, missing, missing.Properties); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateResourceIf of no resource = %v, want ErrNotFound", err)
	}
	cleared := first
	cleared.Properties = nil
	if err := s.UpdateResourceIf(ctx, cleared, first.Properties); err != nil {
		t.Fatalf("UpdateResourceIf to no properties = %v", err)
	}
	again := first
	if err := s.UpdateResourceIf(ctx, again, []byte{}); err != nil {
		t.Errorf("UpdateResourceIf from empty properties, stored as none = %v", err)
	}
	checkResource(t, s, again)
}

// testResourceDelete deletes resources bottom up: a parent cannot go before
// its children, and a deleted vault's name is free again.
func testResourceDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, other := hub("h"), hub("other")
	p := below(h, store.Project, "p")
	v, nested := below(h, store.Vault, "v"), below(p, store.Vault, "nested")
	mustCreateResource(t, s, h, other, p, v, nested)
	steps := []struct {
		scope    string
		conflict bool
	}{
		{h.Scope, true},
		{p.Scope, true},
		{nested.Scope, false},
		{p.Scope, false},
		{h.Scope, true},
		{v.Scope, false},
		{h.Scope, false},
	}
	for _, st := range steps {
		err := s.DeleteResource(ctx, st.scope)
		if st.conflict && !errors.Is(err, store.ErrConflict) || !st.conflict && err != nil {
			t.Fatalf("DeleteResource(%s) = %v, want conflict %v", st.scope, err, st.conflict)
		}
		if st.conflict {
			if _, err := s.Resource(ctx, st.scope); err != nil {
				t.Errorf("Resource(%s) after the refused delete = %v", st.scope, err)
			}
		} else if _, err := s.Resource(ctx, st.scope); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Resource(%s) after DeleteResource = %v, want ErrNotFound", st.scope, err)
		}
	}
	if err := s.DeleteResource(ctx, v.Scope); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteResource(%s) again = %v, want ErrNotFound", v.Scope, err)
	}
	checkResource(t, s, other)
	again := below(other, store.Vault, "v")
	mustCreateResource(t, s, again)
	checkResource(t, s, again)
}

// testResourceDeleteVaultWithSecrets: a vault that holds secrets, deleted
// ones included, cannot be deleted; once they are purged it can.
func testResourceDeleteVaultWithSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	h := hub("h")
	v := below(h, store.Vault, "kv")
	mustCreateResource(t, s, h, v)
	sv := store.SecretVersion{Vault: "kv", Name: "db", Version: "00000000000000000000000000000001", Value: []byte("sealed"),
		Enabled: true, Created: baseTime(), Updated: baseTime()}
	if err := s.CreateSecretVersion(ctx, sv); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteResource(ctx, v.Scope); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteResource(vault with a secret) = %v, want ErrConflict", err)
	}
	if err := s.DeleteSecret(ctx, "kv", "db", baseTime(), baseTime().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteResource(ctx, v.Scope); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteResource(vault with a deleted secret) = %v, want ErrConflict", err)
	}
	if err := s.PurgeSecret(ctx, "kv", "db"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteResource(ctx, v.Scope); err != nil {
		t.Fatalf("DeleteResource(empty vault) = %v", err)
	}
}

// testResourcePages lists a tree of resources, created out of order, by kind
// and by parent, with several limits.
func testResourcePages(t *testing.T, s store.Store) {
	h1, h2 := hub("h1"), hub("h2")
	p := below(h1, store.Project, "p")
	all := []store.Resource{
		h1, h2, p,
		below(h1, store.Vault, "v1"), below(h1, store.Vault, "v2"), below(h2, store.Vault, "v3"),
		below(h1, store.Account, "a1"), below(p, store.Vault, "v4"), below(p, store.Account, "a2"),
	}
	mustCreateResource(t, s, h2, h1, all[5], p, all[8], all[4], all[6], all[3], all[7])
	slices.SortFunc(all, func(a, b store.Resource) int { return strings.Compare(a.Scope, b.Scope) })
	matching := func(k store.ResourceKind, parent string) []store.Resource {
		var rs []store.Resource
		for _, r := range all {
			if (k == "" || r.Kind == k) && (parent == "" || r.Parent == parent) {
				rs = append(rs, r)
			}
		}
		return storedResources(rs...)
	}
	cases := []struct {
		kind   store.ResourceKind
		parent string
		limit  int
		sizes  []int
	}{
		{"", "", 4, []int{4, 4, 1}},
		{"", "", 0, []int{9}},
		{"", "/", 1, []int{1, 1}},
		{"", h1.Scope, 2, []int{2, 2}},
		{store.Vault, "", 3, []int{3, 1}},
		{store.Vault, h1.Scope, 1, []int{1, 1}},
		{store.Account, p.Scope, 5, []int{1}},
		{store.Hub, "", 2, []int{2}},
		{store.Project, h2.Scope, 2, []int{0}},
		{"", "/hubs/missing", 2, []int{0}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("kind %q parent %q limit %d", tc.kind, tc.parent, tc.limit), func(t *testing.T) {
			var sizes []int
			var got []store.Resource
			after := ""
			for range 100 {
				rs, next, err := s.Resources(t.Context(), tc.kind, tc.parent, store.Page{Limit: tc.limit, After: after})
				if err != nil {
					t.Fatalf("Resources(after %q) = %v", after, err)
				}
				sizes, got = append(sizes, len(rs)), append(got, rs...)
				if next == "" {
					break
				}
				after = next
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("Resources page sizes = %v, want %v", sizes, tc.sizes)
			}
			if diff := cmp.Diff(matching(tc.kind, tc.parent), got); diff != "" {
				t.Errorf("Resources mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// testResourceConnections: connection names are unique within their parent
// only (a hub's shared connection and a project's may share a name, and so
// may connections of two hubs), their parent must exist, and a project that
// holds a connection cannot be deleted before it.
func testResourceConnections(t *testing.T, s store.Store) {
	ctx := t.Context()
	h1, h2 := hub("h1"), hub("h2")
	p := below(h1, store.Project, "p")
	shared := below(h1, store.Connection, "openai")
	mustCreateResource(t, s, h1, h2, p, shared)
	checkResource(t, s, shared)
	cases := []struct {
		name     string
		r        store.Resource
		conflict bool
	}{
		{"same scope", below(h1, store.Connection, "openai"), true},
		{"same name in a project", below(p, store.Connection, "openai"), false},
		{"same name in another hub", below(h2, store.Connection, "openai"), false},
		{"named as a vault", below(h1, store.Connection, "v"), false},
		{"another name", below(h1, store.Connection, "blob"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateResource(ctx, tc.r)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Fatalf("CreateResource(%s) = %v, want conflict %v", tc.r.Scope, err, tc.conflict)
			}
			if !tc.conflict {
				checkResource(t, s, tc.r)
			}
		})
	}
	if err := s.CreateResource(ctx, below(below(h1, store.Project, "missing"), store.Connection, "c")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateResource(connection of a missing project) = %v, want ErrNotFound", err)
	}
	conns := listAll(t, "connections of p", 0, func(pg store.Page) ([]store.Resource, string, error) {
		return s.Resources(ctx, store.Connection, p.Scope, pg)
	})
	if diff := cmp.Diff(storedResources(below(p, store.Connection, "openai")), conns); diff != "" {
		t.Errorf("Resources(Connection, %s) mismatch (-want +got):\n%s", p.Scope, diff)
	}
	if err := s.DeleteResource(ctx, p.Scope); !errors.Is(err, store.ErrConflict) {
		t.Errorf("DeleteResource(project with a connection) = %v, want ErrConflict", err)
	}
	if err := s.DeleteResource(ctx, p.Scope+"/connections/openai"); err != nil {
		t.Fatalf("DeleteResource(connection) = %v", err)
	}
	if err := s.DeleteResource(ctx, p.Scope); err != nil {
		t.Errorf("DeleteResource(empty project) = %v", err)
	}
}

// testResourceKeyVaultConnection: a hub has at most one Key Vault connection,
// whatever its name, also when several writers race to create it; deleting it
// frees the place; hubs do not share the limit.
func testResourceKeyVaultConnection(t *testing.T, s store.Store) {
	ctx := t.Context()
	h1, h2 := hub("h1"), hub("h2")
	mustCreateResource(t, s, h1, h2)
	const writers = 8
	errc := make(chan error, writers)
	for i := range writers {
		go func() { errc <- s.CreateResource(ctx, below(h1, store.KeyVaultConnection, fmt.Sprintf("kv%d", i))) }()
	}
	created := 0
	for range writers {
		switch err := <-errc; {
		case err == nil:
			created++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("CreateResource(a Key Vault connection) = %v, want success or ErrConflict", err)
		}
	}
	kvs := listAll(t, "Key Vault connections of h1", 0, func(pg store.Page) ([]store.Resource, string, error) {
		return s.Resources(ctx, store.KeyVaultConnection, h1.Scope, pg)
	})
	if created != 1 || len(kvs) != 1 {
		t.Fatalf("%d concurrent creates of a hub's Key Vault connection: %d succeeded and %d are stored, want 1 and 1", writers, created, len(kvs))
	}
	// Other connections of the hub, and another hub's Key Vault connection, are not held back.
	mustCreateResource(t, s, below(h1, store.Connection, "blob"), below(h2, store.KeyVaultConnection, "kv"))
	if err := s.DeleteResource(ctx, kvs[0].Scope); err != nil {
		t.Fatalf("DeleteResource(%s) = %v", kvs[0].Scope, err)
	}
	again := below(h1, store.KeyVaultConnection, "vault")
	mustCreateResource(t, s, again)
	checkResource(t, s, again)
}
