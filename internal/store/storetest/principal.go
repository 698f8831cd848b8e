package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testPrincipals(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"RoundTrip", testPrincipalRoundTrip},
		{"Conflict", testPrincipalConflict},
		{"NotFound", testPrincipalNotFound},
		{"Pages", testPrincipalPages},
		{"Update", testPrincipalUpdate},
		{"UpdateConflict", testPrincipalUpdateConflict},
		{"Delete", testPrincipalDelete},
		{"ConcurrentCreate", testPrincipalConcurrentCreate},
	})
}

// guid returns the i-th object id; ids sort by i.
func guid(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
}

// newPrincipal returns a principal of kind k with every field its kind uses
// set; i makes its id and app id.
func newPrincipal(k store.PrincipalKind, i int, name string) store.Principal {
	p := store.Principal{
		ID:      guid(i),
		Kind:    k,
		Name:    name,
		Enabled: true,
		Created: baseTime(),
		Updated: baseTime().Add(time.Second),
	}
	switch k {
	case store.User:
		p.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
	case store.ServicePrincipal:
		p.AppID = guid(1_000_000 + i)
	case store.ManagedIdentity:
		p.AppID = guid(1_000_000 + i)
		p.Scope = "/identities/" + name
	}
	return p
}

// storedPrincipal returns p as a store gives it back, its times normalised.
func storedPrincipal(p store.Principal) store.Principal {
	p.Created, p.Updated = store.Time(p.Created), store.Time(p.Updated)
	return p
}

func mustCreatePrincipal(t *testing.T, s store.Store, p store.Principal) {
	t.Helper()
	if err := s.CreatePrincipal(t.Context(), p); err != nil {
		t.Fatalf("CreatePrincipal(%s %s %q) = %v", p.ID, p.Kind, p.Name, err)
	}
}

// checkPrincipal reads p back by id, by app id and by name, as far as its
// kind allows, and compares each with want.
func checkPrincipal(t *testing.T, s store.Store, want store.Principal) {
	t.Helper()
	ctx := t.Context()
	want = storedPrincipal(want)
	got, err := s.Principal(ctx, want.ID)
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("Principal(%q) = %v; mismatch (-want +got):\n%s", want.ID, err, diff)
	}
	if want.AppID != "" {
		got, err := s.PrincipalByAppID(ctx, want.AppID)
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("PrincipalByAppID(%q) = %v; mismatch (-want +got):\n%s", want.AppID, err, diff)
		}
	}
	if want.Kind != store.ServicePrincipal {
		got, err := s.PrincipalByName(ctx, want.Kind, want.Name)
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("PrincipalByName(%s, %q) = %v; mismatch (-want +got):\n%s", want.Kind, want.Name, err, diff)
		}
	}
}

func testPrincipalRoundTrip(t *testing.T, s store.Store) {
	cases := []struct {
		name string
		p    store.Principal
	}{
		{"user", newPrincipal(store.User, 1, "alice")},
		{"service principal", newPrincipal(store.ServicePrincipal, 2, "billing app")},
		{"managed identity", newPrincipal(store.ManagedIdentity, 3, "builder")},
		{"system-assigned identity", func() store.Principal {
			p := newPrincipal(store.ManagedIdentity, 4, "vm-1")
			p.Scope = "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/vm-1"
			return p
		}()},
		{"disabled user without password", func() store.Principal {
			p := newPrincipal(store.User, 5, "bob")
			p.Enabled, p.PasswordHash = false, ""
			return p
		}()},
		{"zero times", func() store.Principal {
			p := newPrincipal(store.User, 6, "carol")
			p.Created, p.Updated = time.Time{}, time.Time{}
			return p
		}()},
		{"odd name", newPrincipal(store.User, 7, "dörte \"d\" o'brien@example.com")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustCreatePrincipal(t, s, tc.p)
			checkPrincipal(t, s, tc.p)
		})
	}
}

func testPrincipalConflict(t *testing.T, s store.Store) {
	alice := newPrincipal(store.User, 1, "alice")
	app := newPrincipal(store.ServicePrincipal, 2, "app")
	builder := newPrincipal(store.ManagedIdentity, 3, "builder")
	for _, p := range []store.Principal{alice, app, builder} {
		mustCreatePrincipal(t, s, p)
	}
	with := func(p store.Principal, modify func(p *store.Principal)) store.Principal {
		modify(&p)
		return p
	}
	cases := []struct {
		name     string
		p        store.Principal
		conflict bool
	}{
		{"same id", with(newPrincipal(store.ServicePrincipal, 10, "other"), func(p *store.Principal) { p.ID = alice.ID }), true},
		{"same app id as a service principal", with(newPrincipal(store.ManagedIdentity, 11, "other"), func(p *store.Principal) { p.AppID = app.AppID }), true},
		{"same app id as a managed identity", with(newPrincipal(store.ServicePrincipal, 12, "other"), func(p *store.Principal) { p.AppID = builder.AppID }), true},
		{"same user name", newPrincipal(store.User, 13, "alice"), true},
		{"same managed identity name", newPrincipal(store.ManagedIdentity, 14, "builder"), true},
		{"same service principal name", newPrincipal(store.ServicePrincipal, 15, "app"), false},
		{"managed identity named as a user", newPrincipal(store.ManagedIdentity, 16, "alice"), false},
		{"user named as a managed identity", newPrincipal(store.User, 17, "builder"), false},
		{"service principal named as a user", newPrincipal(store.ServicePrincipal, 18, "alice"), false},
		{"another user without app id", newPrincipal(store.User, 19, "dave"), false},
		{"user name differing in case", newPrincipal(store.User, 20, "Alice"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.PasswordHash = "$argon2id$planted-" + tc.p.ID
			err := s.CreatePrincipal(t.Context(), tc.p)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Errorf("CreatePrincipal(%s %s %q) = %v, want conflict %v", tc.p.ID, tc.p.Kind, tc.p.Name, err, tc.conflict)
			}
			checkNoLeak(t, err, []byte(tc.p.PasswordHash))
		})
	}
	for _, p := range []store.Principal{alice, app, builder} {
		checkPrincipal(t, s, p)
	}
}

func testPrincipalNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, app := newPrincipal(store.User, 1, "alice"), newPrincipal(store.ServicePrincipal, 2, "app")
	mustCreatePrincipal(t, s, alice)
	mustCreatePrincipal(t, s, app)
	missing := newPrincipal(store.User, 9, "nobody")
	cases := []struct {
		name string
		call func() error
	}{
		{"Principal", func() error { _, err := s.Principal(ctx, missing.ID); return err }},
		{"PrincipalByAppID", func() error { _, err := s.PrincipalByAppID(ctx, guid(9)); return err }},
		{"PrincipalByAppID of a user's empty app id", func() error { _, err := s.PrincipalByAppID(ctx, ""); return err }},
		{"PrincipalByAppID with an object id", func() error { _, err := s.PrincipalByAppID(ctx, app.ID); return err }},
		{"PrincipalByName", func() error { _, err := s.PrincipalByName(ctx, store.User, "nobody"); return err }},
		{"PrincipalByName of another kind", func() error { _, err := s.PrincipalByName(ctx, store.ManagedIdentity, "alice"); return err }},
		{"PrincipalByName of a service principal", func() error {
			_, err := s.PrincipalByName(ctx, store.ServicePrincipal, "app")
			return err
		}},
		{"UpdatePrincipal", func() error { return s.UpdatePrincipal(ctx, missing) }},
		{"DeletePrincipal", func() error { return s.DeletePrincipal(ctx, missing.ID) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want ErrNotFound", tc.name, err)
			}
		})
	}
	if _, err := s.Principal(ctx, missing.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Principal(%q) after UpdatePrincipal of it = %v, want ErrNotFound", missing.ID, err)
	}
}

// testPrincipalPages lists 7 principals of all kinds, created out of order,
// by kind and all together, with several limits.
func testPrincipalPages(t *testing.T, s store.Store) {
	kinds := []store.PrincipalKind{store.User, store.ServicePrincipal, store.ManagedIdentity}
	var all []store.Principal
	for i := range 7 {
		all = append(all, newPrincipal(kinds[i%3], i, fmt.Sprintf("p%d", i)))
	}
	for _, i := range []int{4, 0, 6, 2, 5, 1, 3} {
		mustCreatePrincipal(t, s, all[i])
	}
	ofKind := func(k store.PrincipalKind) []store.Principal {
		var ps []store.Principal
		for _, p := range all {
			if k == "" || p.Kind == k {
				ps = append(ps, storedPrincipal(p))
			}
		}
		return ps
	}
	cases := []struct {
		kind  store.PrincipalKind
		limit int
		sizes []int
	}{
		{"", 3, []int{3, 3, 1}},
		{"", 1, []int{1, 1, 1, 1, 1, 1, 1}},
		{"", 7, []int{7}},
		{"", 0, []int{7}},
		{store.User, 3, []int{3}},
		{store.User, 2, []int{2, 1}},
		{store.ServicePrincipal, 1, []int{1, 1}},
		{store.ManagedIdentity, 3, []int{2}},
		{"Group", 3, []int{0}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("kind %q limit %d", tc.kind, tc.limit), func(t *testing.T) {
			var sizes []int
			var got []store.Principal
			for _, p := range allPrincipalPages(t, s, tc.kind, tc.limit) {
				sizes = append(sizes, len(p))
				got = append(got, p...)
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("Principals(%q, limit %d) page sizes = %v, want %v", tc.kind, tc.limit, sizes, tc.sizes)
			}
			if diff := cmp.Diff(ofKind(tc.kind), got); diff != "" {
				t.Errorf("Principals(%q, limit %d) mismatch (-want +got):\n%s", tc.kind, tc.limit, diff)
			}
		})
	}
}

// allPrincipalPages follows Principals' cursors to the end and returns the
// pages. Every page but the last must come with a cursor, and none may be
// empty.
func allPrincipalPages(t *testing.T, s store.Store, k store.PrincipalKind, limit int) [][]store.Principal {
	t.Helper()
	var pages [][]store.Principal
	after := ""
	for range 1000 {
		ps, next, err := s.Principals(t.Context(), k, store.Page{Limit: limit, After: after})
		if err != nil {
			t.Fatalf("Principals(%q, limit %d, after %q) = %v", k, limit, after, err)
		}
		if len(ps) == 0 && after != "" {
			t.Fatalf("Principals(%q, limit %d, after %q) gave an empty page after a cursor", k, limit, after)
		}
		pages = append(pages, ps)
		if next == "" {
			return pages
		}
		after = next
	}
	t.Fatalf("Principals(%q, limit %d) never ended", k, limit)
	return nil
}

// testPrincipalUpdate changes every field of a principal: only Name, Enabled,
// PasswordHash and Updated may change.
func testPrincipalUpdate(t *testing.T, s store.Store) {
	for i, k := range []store.PrincipalKind{store.User, store.ServicePrincipal, store.ManagedIdentity} {
		t.Run(string(k), func(t *testing.T) {
			old := newPrincipal(k, 10*i, "old-"+string(k))
			mustCreatePrincipal(t, s, old)
			update := newPrincipal(store.User, 10*i+1, "new-"+string(k))
			update.ID = old.ID
			update.AppID, update.Scope = guid(10*i+2), "/elsewhere"
			update.Enabled, update.PasswordHash = false, "$argon2id$new"
			update.Created, update.Updated = baseTime().Add(-time.Hour), baseTime().Add(time.Hour)
			if err := s.UpdatePrincipal(t.Context(), update); err != nil {
				t.Fatalf("UpdatePrincipal(%s) = %v", update.ID, err)
			}
			want := old
			want.Name, want.Enabled, want.PasswordHash, want.Updated = update.Name, false, update.PasswordHash, update.Updated
			checkPrincipal(t, s, want)
			if _, err := s.PrincipalByName(t.Context(), k, old.Name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("PrincipalByName(%s, %q) after the rename = %v, want ErrNotFound", k, old.Name, err)
			}
		})
	}
}

func testPrincipalUpdateConflict(t *testing.T, s store.Store) {
	alice, bob := newPrincipal(store.User, 1, "alice"), newPrincipal(store.User, 2, "bob")
	builder := newPrincipal(store.ManagedIdentity, 3, "builder")
	app1, app2 := newPrincipal(store.ServicePrincipal, 4, "app-1"), newPrincipal(store.ServicePrincipal, 5, "app-2")
	mi := newPrincipal(store.ManagedIdentity, 6, "mi")
	for _, p := range []store.Principal{alice, bob, builder, app1, app2, mi} {
		mustCreatePrincipal(t, s, p)
	}
	renamed := func(p store.Principal, name string) store.Principal {
		p.Name = name
		return p
	}
	cases := []struct {
		name     string
		p        store.Principal
		conflict bool
	}{
		{"user to another user's name", renamed(bob, "alice"), true},
		{"managed identity to a taken name", renamed(mi, "builder"), true},
		{"user to its own name", renamed(alice, "alice"), false},
		{"user to a managed identity's name", renamed(bob, "builder"), false},
		{"service principal to another's name", renamed(app2, "app-1"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.UpdatePrincipal(t.Context(), tc.p)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Errorf("UpdatePrincipal(%s to %q) = %v, want conflict %v", tc.p.ID, tc.p.Name, err, tc.conflict)
			}
			checkNoLeak(t, err, []byte(tc.p.PasswordHash))
		})
	}
	checkPrincipal(t, s, alice)
	checkPrincipal(t, s, builder)
	checkPrincipal(t, s, mi)
	checkPrincipal(t, s, renamed(bob, "builder"))
	checkPrincipal(t, s, renamed(app2, "app-1"))
}

func testPrincipalDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := newPrincipal(store.User, 1, "alice"), newPrincipal(store.User, 2, "bob")
	mustCreatePrincipal(t, s, alice)
	mustCreatePrincipal(t, s, bob)
	if err := s.DeletePrincipal(ctx, alice.ID); err != nil {
		t.Fatalf("DeletePrincipal(%s) = %v", alice.ID, err)
	}
	if _, err := s.Principal(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Principal(%s) after DeletePrincipal = %v, want ErrNotFound", alice.ID, err)
	}
	if err := s.DeletePrincipal(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePrincipal(%s) again = %v, want ErrNotFound", alice.ID, err)
	}
	checkPrincipal(t, s, bob)
	// The name and the id are free again.
	again := newPrincipal(store.User, 1, "alice")
	again.PasswordHash = "$argon2id$again"
	mustCreatePrincipal(t, s, again)
	checkPrincipal(t, s, again)
}

// testPrincipalConcurrentCreate races creators of users with the same name
// and different ids: exactly one may win.
func testPrincipalConcurrentCreate(t *testing.T, s store.Store) {
	const racers = 8
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { errs[i] = s.CreatePrincipal(t.Context(), newPrincipal(store.User, i, "alice")) })
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racer %d: CreatePrincipal = %v, want nil or ErrConflict", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d racers created user %q, want exactly 1", winners, "alice")
	}
	ps, _, err := s.Principals(t.Context(), store.User, store.Page{})
	if err != nil || len(ps) != 1 {
		t.Errorf("Principals(User) after the race = %d principals, %v, want 1", len(ps), err)
	}
}
