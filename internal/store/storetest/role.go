package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testRoleDefinitions(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"RoundTrip", testRoleRoundTrip},
		{"Conflict", testRoleConflict},
		{"NotFound", testRoleNotFound},
		{"Order", testRoleOrder},
		{"Update", testRoleUpdate},
		{"UpdateConflict", testRoleUpdateConflict},
		{"DeleteInUse", testRoleDeleteInUse},
	})
}

// roleID returns the i-th role definition id; ids sort by i.
func roleID(i int) string {
	return fmt.Sprintf("20000000-0000-4000-8000-%012d", i)
}

// newRole returns the i-th custom role with every field set.
func newRole(i int, name string) store.RoleDefinition {
	return store.RoleDefinition{
		ID:               roleID(i),
		Name:             name,
		Description:      "Can read the secrets of " + name,
		Permissions:      []byte(`[{"actions":["Latchkey.Vault/vaults/secrets/read"],"notActions":[]}]`),
		AssignableScopes: []string{"/hubs/h1", "/hubs/h2/projects/p"},
		Created:          baseTime(),
		Updated:          baseTime().Add(time.Second),
	}
}

// storedRoles returns rs as a store gives them back: times normalised, empty
// Permissions and AssignableScopes as nil.
func storedRoles(rs ...store.RoleDefinition) []store.RoleDefinition {
	var out []store.RoleDefinition
	for _, r := range rs {
		r.Created, r.Updated = store.Time(r.Created), store.Time(r.Updated)
		if len(r.Permissions) == 0 {
			r.Permissions = nil
		}
		if len(r.AssignableScopes) == 0 {
			r.AssignableScopes = nil
		}
		out = append(out, r)
	}
	return out
}

func mustCreateRole(t *testing.T, s store.Store, rs ...store.RoleDefinition) {
	t.Helper()
	for _, r := range rs {
		if err := s.CreateRoleDefinition(t.Context(), r); err != nil {
			t.Fatalf("CreateRoleDefinition(%s %q) = %v", r.ID, r.Name, err)
		}
	}
}

// checkRole reads want back by id and compares it.
func checkRole(t *testing.T, s store.Store, want store.RoleDefinition) {
	t.Helper()
	got, err := s.RoleDefinition(t.Context(), want.ID)
	if diff := cmp.Diff(storedRoles(want)[0], got); err != nil || diff != "" {
		t.Errorf("RoleDefinition(%s) = %v; mismatch (-want +got):\n%s", want.ID, err, diff)
	}
}

// checkRoles compares every custom role with want, in order.
func checkRoles(t *testing.T, s store.Store, want ...store.RoleDefinition) {
	t.Helper()
	got, err := s.RoleDefinitions(t.Context())
	if diff := cmp.Diff(storedRoles(want...), got); err != nil || diff != "" {
		t.Errorf("RoleDefinitions() = %v; mismatch (-want +got):\n%s", err, diff)
	}
}

func testRoleRoundTrip(t *testing.T, s store.Store) {
	cases := []struct {
		name   string
		modify func(r *store.RoleDefinition)
	}{
		{"all fields", func(r *store.RoleDefinition) {}},
		{"no description", func(r *store.RoleDefinition) { r.Description = "" }},
		{"nil permissions", func(r *store.RoleDefinition) { r.Permissions = nil }},
		{"empty permissions", func(r *store.RoleDefinition) { r.Permissions = []byte{} }},
		{"nil scopes", func(r *store.RoleDefinition) { r.AssignableScopes = nil }},
		{"empty scopes", func(r *store.RoleDefinition) { r.AssignableScopes = []string{} }},
		{"root scope", func(r *store.RoleDefinition) { r.AssignableScopes = []string{"/"} }},
		{"odd scopes", func(r *store.RoleDefinition) { r.AssignableScopes = []string{`/hubs/"q"`, "/hubs/ü\\x", ""} }},
		{"zero times", func(r *store.RoleDefinition) { r.Created, r.Updated = time.Time{}, time.Time{} }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRole(i, "Role "+tc.name)
			tc.modify(&r)
			mustCreateRole(t, s, r)
			checkRole(t, s, r)
		})
	}
}

func testRoleConflict(t *testing.T, s store.Store) {
	reader := newRole(1, "Secret Reader")
	mustCreateRole(t, s, reader)
	cases := []struct {
		name     string
		r        store.RoleDefinition
		conflict bool
	}{
		{"same id", func() store.RoleDefinition { r := newRole(2, "Other"); r.ID = reader.ID; return r }(), true},
		{"same name", newRole(3, "Secret Reader"), true},
		{"name differing in case", newRole(4, "secret READER"), true},
		{"name with a non-ASCII letter differing in case", newRole(5, "Ärger"), false},
		{"that name differing in case", newRole(6, "äRGER"), true},
		{"another name", newRole(7, "Secret Reader 2"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateRoleDefinition(t.Context(), tc.r)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Errorf("CreateRoleDefinition(%s %q) = %v, want conflict %v", tc.r.ID, tc.r.Name, err, tc.conflict)
			}
		})
	}
	checkRole(t, s, reader)
	checkRoles(t, s, reader, cases[5].r, cases[3].r)
}

func testRoleNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateRole(t, s, newRole(1, "Reader"))
	missing := newRole(9, "Missing")
	cases := []struct {
		name string
		call func() error
	}{
		{"RoleDefinition", func() error { _, err := s.RoleDefinition(ctx, missing.ID); return err }},
		{"UpdateRoleDefinition", func() error { return s.UpdateRoleDefinition(ctx, missing) }},
		{"UpdateRoleDefinition to a taken name", func() error {
			r := missing
			r.Name = "Reader"
			return s.UpdateRoleDefinition(ctx, r)
		}},
		{"DeleteRoleDefinition", func() error { return s.DeleteRoleDefinition(ctx, missing.ID) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want ErrNotFound", tc.name, err)
			}
		})
	}
	checkRoles(t, s, newRole(1, "Reader"))
}

// testRoleOrder lists roles created out of order: by Name, bytewise, and an
// empty store has none.
func testRoleOrder(t *testing.T, s store.Store) {
	checkRoles(t, s)
	b, a, lower, c := newRole(1, "B role"), newRole(2, "A role"), newRole(3, "a role 2"), newRole(4, "C role")
	mustCreateRole(t, s, b, lower, c, a)
	checkRoles(t, s, a, b, c, lower)
}

// testRoleUpdate changes every field of a role: all but ID and Created may
// change, and the old name is free again.
func testRoleUpdate(t *testing.T, s store.Store) {
	old := newRole(1, "Reader")
	mustCreateRole(t, s, old)
	update := store.RoleDefinition{
		ID:               old.ID,
		Name:             "Writer",
		Description:      "Can write",
		Permissions:      []byte(`[{"actions":["*"]}]`),
		AssignableScopes: []string{"/"},
		Created:          baseTime().Add(-time.Hour),
		Updated:          baseTime().Add(time.Hour),
	}
	if err := s.UpdateRoleDefinition(t.Context(), update); err != nil {
		t.Fatalf("UpdateRoleDefinition(%s) = %v", update.ID, err)
	}
	want := update
	want.Created = old.Created
	checkRole(t, s, want)
	cleared := want
	cleared.Name, cleared.Description, cleared.Permissions, cleared.AssignableScopes = "WRITER", "", nil, nil
	if err := s.UpdateRoleDefinition(t.Context(), cleared); err != nil {
		t.Fatalf("UpdateRoleDefinition(%s, its own name in another case) = %v", cleared.ID, err)
	}
	checkRole(t, s, cleared)
	again := newRole(2, "reader")
	mustCreateRole(t, s, again)
	checkRoles(t, s, cleared, again)
}

func testRoleUpdateConflict(t *testing.T, s store.Store) {
	reader, writer := newRole(1, "Reader"), newRole(2, "Writer")
	mustCreateRole(t, s, reader, writer)
	for _, name := range []string{"Reader", "reader", "READER"} {
		r := writer
		r.Name, r.Description = name, "changed"
		if err := s.UpdateRoleDefinition(t.Context(), r); !errors.Is(err, store.ErrConflict) {
			t.Errorf("UpdateRoleDefinition(%s to %q) = %v, want ErrConflict", r.ID, name, err)
		}
	}
	checkRoles(t, s, reader, writer)
}

// testRoleDeleteInUse deletes a role that an assignment, then an eligible
// assignment, uses: refused until neither does.
func testRoleDeleteInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	role, unused := newRole(1, "Reader"), newRole(2, "Unused")
	mustCreateRole(t, s, role, unused)
	a := newAssignment(1, guid(1), role.ID, "/hubs/h")
	e := newEligible(2, guid(2), role.ID, "/hubs/h")
	mustCreateAssignment(t, s, a)
	mustCreateEligible(t, s, e)
	steps := []struct {
		name     string
		before   func() error
		conflict bool
	}{
		{"with both", func() error { return nil }, true},
		{"with the eligible assignment", func() error { return s.DeleteRoleAssignment(ctx, a.ID) }, true},
		{"with neither", func() error { return s.DeleteEligibleAssignment(ctx, e.ID) }, false},
	}
	for _, st := range steps {
		if err := st.before(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		err := s.DeleteRoleDefinition(ctx, role.ID)
		if st.conflict && !errors.Is(err, store.ErrConflict) || !st.conflict && err != nil {
			t.Fatalf("%s: DeleteRoleDefinition(%s) = %v, want conflict %v", st.name, role.ID, err, st.conflict)
		}
		if st.conflict {
			checkRole(t, s, role)
		}
	}
	if _, err := s.RoleDefinition(ctx, role.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RoleDefinition(%s) after DeleteRoleDefinition = %v, want ErrNotFound", role.ID, err)
	}
	if err := s.DeleteRoleDefinition(ctx, unused.ID); err != nil {
		t.Errorf("DeleteRoleDefinition(%s, unused) = %v", unused.ID, err)
	}
	checkRoles(t, s)
}
