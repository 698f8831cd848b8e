package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testAssignments(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"RoundTrip", testAssignmentRoundTrip},
		{"Conflict", testAssignmentConflict},
		{"NotFound", testAssignmentNotFound},
		{"Filters", testAssignmentFilters},
		{"DeleteEligible", testAssignmentDeleteEligible},
		{"DeletedWithPrincipal", testAssignmentDeletedWithPrincipal},
	})
}

// assignmentID returns the i-th assignment id; ids sort by i.
func assignmentID(i int) string {
	return fmt.Sprintf("30000000-0000-4000-8000-%012d", i)
}

// newAssignment returns the i-th direct role assignment with every field a
// direct assignment has set.
func newAssignment(i int, principalID, roleID, scope string) store.RoleAssignment {
	return store.RoleAssignment{
		ID:          assignmentID(i),
		PrincipalID: principalID,
		RoleID:      roleID,
		Scope:       scope,
		CreatedBy:   guid(999),
		Created:     baseTime(),
	}
}

// activated returns the i-th assignment made by activating e.
func activated(i int, e store.EligibleAssignment) store.RoleAssignment {
	a := newAssignment(i, e.PrincipalID, e.RoleID, e.Scope)
	a.EligibilityID, a.Justification = e.ID, fmt.Sprintf("ticket %d", i)
	a.Expires, a.CreatedBy = baseTime().Add(e.MaxDuration), e.PrincipalID
	return a
}

// newEligible returns the i-th eligible assignment with every field set.
func newEligible(i int, principalID, roleID, scope string) store.EligibleAssignment {
	return store.EligibleAssignment{
		ID:                   assignmentID(1000 + i),
		PrincipalID:          principalID,
		RoleID:               roleID,
		Scope:                scope,
		MaxDuration:          8 * time.Hour,
		RequireJustification: true,
		CreatedBy:            guid(999),
		Created:              baseTime(),
	}
}

func storedAssignments(as ...store.RoleAssignment) []store.RoleAssignment {
	var out []store.RoleAssignment
	for _, a := range as {
		a.Expires, a.Created = store.Time(a.Expires), store.Time(a.Created)
		out = append(out, a)
	}
	return out
}

func storedEligibles(es ...store.EligibleAssignment) []store.EligibleAssignment {
	var out []store.EligibleAssignment
	for _, e := range es {
		e.Created = store.Time(e.Created)
		out = append(out, e)
	}
	return out
}

func mustCreateAssignment(t *testing.T, s store.Store, as ...store.RoleAssignment) {
	t.Helper()
	for _, a := range as {
		if err := s.CreateRoleAssignment(t.Context(), a); err != nil {
			t.Fatalf("CreateRoleAssignment(%s) = %v", a.ID, err)
		}
	}
}

func mustCreateEligible(t *testing.T, s store.Store, es ...store.EligibleAssignment) {
	t.Helper()
	for _, e := range es {
		if err := s.CreateEligibleAssignment(t.Context(), e); err != nil {
			t.Fatalf("CreateEligibleAssignment(%s) = %v", e.ID, err)
		}
	}
}

// listAssignments lists every assignment that matches f in pages of limit.
func listAssignments(t *testing.T, s store.Store, f store.AssignmentFilter, limit int) []store.RoleAssignment {
	t.Helper()
	return listAll(t, fmt.Sprintf("RoleAssignments(%+v)", f), limit,
		func(p store.Page) ([]store.RoleAssignment, string, error) {
			return s.RoleAssignments(t.Context(), f, p)
		})
}

// listEligibles lists every eligible assignment that matches f in pages of
// limit.
func listEligibles(t *testing.T, s store.Store, f store.AssignmentFilter, limit int) []store.EligibleAssignment {
	t.Helper()
	return listAll(t, fmt.Sprintf("EligibleAssignments(%+v)", f), limit,
		func(p store.Page) ([]store.EligibleAssignment, string, error) {
			return s.EligibleAssignments(t.Context(), f, p)
		})
}

// checkAssignments compares every stored assignment and eligible assignment
// with want, in ID order.
func checkAssignments(t *testing.T, s store.Store, as []store.RoleAssignment, es []store.EligibleAssignment) {
	t.Helper()
	if diff := cmp.Diff(storedAssignments(as...), listAssignments(t, s, store.AssignmentFilter{}, 0)); diff != "" {
		t.Errorf("RoleAssignments mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(storedEligibles(es...), listEligibles(t, s, store.AssignmentFilter{}, 0)); diff != "" {
		t.Errorf("EligibleAssignments mismatch (-want +got):\n%s", diff)
	}
}

func testAssignmentRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := newEligible(1, guid(1), roleID(1), "/hubs/h")
	short := newEligible(2, guid(2), roleID(1), "/")
	short.MaxDuration, short.RequireJustification, short.Created = 90*time.Second, false, time.Time{}
	as := []store.RoleAssignment{
		newAssignment(1, guid(1), roleID(1), "/hubs/h/vaults/v"),
		activated(2, e),
		func() store.RoleAssignment {
			a := newAssignment(3, guid(3), roleID(2), "/")
			a.Created = time.Time{}
			return a
		}(),
		func() store.RoleAssignment {
			a := newAssignment(4, "other-directory:user-1", "built-in-role", "/hubs/ü")
			a.Expires = baseTime().Add(-time.Hour) // expired assignments are kept until deleted
			return a
		}(),
	}
	mustCreateEligible(t, s, e, short)
	mustCreateAssignment(t, s, as...)
	for _, want := range storedAssignments(as...) {
		got, err := s.RoleAssignment(ctx, want.ID)
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("RoleAssignment(%s) = %v; mismatch (-want +got):\n%s", want.ID, err, diff)
		}
	}
	for _, want := range storedEligibles(e, short) {
		got, err := s.EligibleAssignment(ctx, want.ID)
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("EligibleAssignment(%s) = %v; mismatch (-want +got):\n%s", want.ID, err, diff)
		}
	}
	checkAssignments(t, s, as, []store.EligibleAssignment{e, short})
}

func testAssignmentConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := newEligible(1, guid(1), roleID(1), "/hubs/h")
	direct, active := newAssignment(1, guid(1), roleID(1), "/hubs/h"), activated(2, e)
	mustCreateEligible(t, s, e)
	mustCreateAssignment(t, s, direct, active)
	withID := func(a store.RoleAssignment, i int) store.RoleAssignment { a.ID = assignmentID(i); return a }
	assignments := []struct {
		name     string
		a        store.RoleAssignment
		conflict bool
	}{
		{"same id", newAssignment(1, guid(2), roleID(2), "/"), true},
		{"same direct assignment", withID(direct, 10), true},
		{"same activation", withID(active, 11), true},
		{"same assignment from another eligibility", func() store.RoleAssignment {
			a := withID(active, 12)
			a.EligibilityID = assignmentID(1099)
			return a
		}(), false},
		{"another scope", newAssignment(13, guid(1), roleID(1), "/hubs/h/vaults/v"), false},
		{"another principal", newAssignment(14, guid(2), roleID(1), "/hubs/h"), false},
		{"another role", newAssignment(15, guid(1), roleID(2), "/hubs/h"), false},
	}
	for _, tc := range assignments {
		t.Run("assignment "+tc.name, func(t *testing.T) {
			err := s.CreateRoleAssignment(ctx, tc.a)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Errorf("CreateRoleAssignment(%s) = %v, want conflict %v", tc.a.ID, err, tc.conflict)
			}
		})
	}
	eligibles := []struct {
		name     string
		e        store.EligibleAssignment
		conflict bool
	}{
		{"same id", newEligible(1, guid(2), roleID(2), "/"), true},
		{"same principal, role and scope", func() store.EligibleAssignment {
			o := newEligible(2, guid(1), roleID(1), "/hubs/h")
			o.MaxDuration, o.RequireJustification = time.Hour, false
			return o
		}(), true},
		{"another scope", newEligible(3, guid(1), roleID(1), "/"), false},
		{"a direct assignment's id", func() store.EligibleAssignment {
			o := newEligible(4, guid(1), roleID(3), "/")
			o.ID = direct.ID
			return o
		}(), false},
	}
	for _, tc := range eligibles {
		t.Run("eligible "+tc.name, func(t *testing.T) {
			err := s.CreateEligibleAssignment(ctx, tc.e)
			if tc.conflict && !errors.Is(err, store.ErrConflict) || !tc.conflict && err != nil {
				t.Errorf("CreateEligibleAssignment(%s) = %v, want conflict %v", tc.e.ID, err, tc.conflict)
			}
		})
	}
	checkAssignments(t, s,
		[]store.RoleAssignment{direct, active, assignments[3].a, assignments[4].a, assignments[5].a, assignments[6].a},
		[]store.EligibleAssignment{eligibles[3].e, e, eligibles[2].e})
}

func testAssignmentNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := newEligible(1, guid(1), roleID(1), "/")
	a := newAssignment(1, guid(1), roleID(1), "/")
	mustCreateEligible(t, s, e)
	mustCreateAssignment(t, s, a)
	cases := []struct {
		name string
		call func() error
	}{
		{"RoleAssignment", func() error { _, err := s.RoleAssignment(ctx, assignmentID(9)); return err }},
		{"RoleAssignment of an eligible assignment's id", func() error { _, err := s.RoleAssignment(ctx, e.ID); return err }},
		{"EligibleAssignment", func() error { _, err := s.EligibleAssignment(ctx, assignmentID(9)); return err }},
		{"EligibleAssignment of an assignment's id", func() error { _, err := s.EligibleAssignment(ctx, a.ID); return err }},
		{"DeleteRoleAssignment", func() error { return s.DeleteRoleAssignment(ctx, e.ID) }},
		{"DeleteEligibleAssignment", func() error { return s.DeleteEligibleAssignment(ctx, a.ID) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want ErrNotFound", tc.name, err)
			}
		})
	}
	if err := s.DeleteRoleAssignment(ctx, a.ID); err != nil {
		t.Fatalf("DeleteRoleAssignment(%s) = %v", a.ID, err)
	}
	if err := s.DeleteRoleAssignment(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRoleAssignment(%s) again = %v, want ErrNotFound", a.ID, err)
	}
	checkAssignments(t, s, nil, []store.EligibleAssignment{e})
}

// testAssignmentFilters lists assignments and eligible assignments of two
// principals, two roles and two scopes by every combination of filters, in
// pages of several sizes.
func testAssignmentFilters(t *testing.T, s store.Store) {
	principals, roles, scopes := []string{guid(1), guid(2)}, []string{roleID(1), roleID(2)}, []string{"/", "/hubs/h"}
	var as []store.RoleAssignment
	var es []store.EligibleAssignment
	for i := range 8 {
		p, r, sc := principals[i%2], roles[i/2%2], scopes[i/4]
		as = append(as, newAssignment(i, p, r, sc))
		es = append(es, newEligible(i, p, r, sc))
	}
	extra := newAssignment(8, guid(1), roleID(1), "/hubs/h/vaults/v") // a scope below is not the scope
	as = append(as, extra)
	for _, i := range []int{5, 0, 8, 3, 6, 1, 7, 2, 4} {
		mustCreateAssignment(t, s, as[i])
		if i < 8 {
			mustCreateEligible(t, s, es[i])
		}
	}
	var filters []store.AssignmentFilter
	for _, p := range append(principals, "", guid(3)) {
		for _, r := range append(roles, "") {
			for _, sc := range append(scopes, "") {
				filters = append(filters, store.AssignmentFilter{PrincipalID: p, RoleID: r, Scope: sc})
			}
		}
	}
	matches := func(f store.AssignmentFilter, principalID, roleID, scope string) bool {
		return (f.PrincipalID == "" || f.PrincipalID == principalID) && (f.RoleID == "" || f.RoleID == roleID) &&
			(f.Scope == "" || f.Scope == scope)
	}
	for _, f := range filters {
		for _, limit := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%+v limit %d", f, limit), func(t *testing.T) {
				var wantAs []store.RoleAssignment
				for _, a := range as {
					if matches(f, a.PrincipalID, a.RoleID, a.Scope) {
						wantAs = append(wantAs, a)
					}
				}
				var wantEs []store.EligibleAssignment
				for _, e := range es {
					if matches(f, e.PrincipalID, e.RoleID, e.Scope) {
						wantEs = append(wantEs, e)
					}
				}
				if diff := cmp.Diff(storedAssignments(wantAs...), listAssignments(t, s, f, limit)); diff != "" {
					t.Errorf("RoleAssignments(%+v) mismatch (-want +got):\n%s", f, diff)
				}
				if diff := cmp.Diff(storedEligibles(wantEs...), listEligibles(t, s, f, limit)); diff != "" {
					t.Errorf("EligibleAssignments(%+v) mismatch (-want +got):\n%s", f, diff)
				}
			})
		}
	}
}

// testAssignmentDeleteEligible deletes an eligible assignment with
// activations: they go with it; direct assignments and other eligible
// assignments' activations stay.
func testAssignmentDeleteEligible(t *testing.T, s store.Store) {
	ctx := t.Context()
	e1, e2 := newEligible(1, guid(1), roleID(1), "/hubs/h"), newEligible(2, guid(1), roleID(1), "/")
	direct := newAssignment(1, guid(1), roleID(1), "/hubs/h")
	a1, a2, b1 := activated(2, e1), activated(3, e1), activated(4, e2)
	a2.Scope = "/hubs/h/vaults/v" // an activation is found by its eligibility, not its scope
	mustCreateEligible(t, s, e1, e2)
	mustCreateAssignment(t, s, direct, a1, a2, b1)
	if err := s.DeleteEligibleAssignment(ctx, e1.ID); err != nil {
		t.Fatalf("DeleteEligibleAssignment(%s) = %v", e1.ID, err)
	}
	checkAssignments(t, s, []store.RoleAssignment{direct, b1}, []store.EligibleAssignment{e2})
	if err := s.DeleteEligibleAssignment(ctx, e1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteEligibleAssignment(%s) again = %v, want ErrNotFound", e1.ID, err)
	}
	// Without activations it goes alone; the same eligibility may come back.
	if err := s.DeleteRoleAssignment(ctx, b1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEligibleAssignment(ctx, e2.ID); err != nil {
		t.Fatalf("DeleteEligibleAssignment(%s) = %v", e2.ID, err)
	}
	mustCreateEligible(t, s, e1)
	checkAssignments(t, s, []store.RoleAssignment{direct}, []store.EligibleAssignment{e1})
}

// testAssignmentDeletedWithPrincipal deletes a principal with assignments and
// eligible assignments: they go too; another principal's stay.
func testAssignmentDeletedWithPrincipal(t *testing.T, s store.Store) {
	ids := newPrincipals(t, s, 2)
	p, q := ids[0], ids[1]
	ep, eq := newEligible(1, p, roleID(1), "/"), newEligible(2, q, roleID(1), "/")
	as := []store.RoleAssignment{
		newAssignment(1, p, roleID(1), "/hubs/h"), activated(2, ep),
		newAssignment(3, q, roleID(1), "/hubs/h"), activated(4, eq),
	}
	mustCreateEligible(t, s, ep, eq)
	mustCreateAssignment(t, s, as...)
	if err := s.DeletePrincipal(t.Context(), p); err != nil {
		t.Fatalf("DeletePrincipal(%s) = %v", p, err)
	}
	kept := slices.DeleteFunc(as, func(a store.RoleAssignment) bool { return a.PrincipalID == p })
	checkAssignments(t, s, kept, []store.EligibleAssignment{eq})
	// The other principal's go with it in turn.
	if err := s.DeletePrincipal(t.Context(), q); err != nil {
		t.Fatalf("DeletePrincipal(%s) = %v", q, err)
	}
	checkAssignments(t, s, nil, nil)
}
