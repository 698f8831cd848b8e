package access_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

const (
	vault  = "/hubs/h1/vaults/v1"
	secret = "/hubs/h1/vaults/v1/secrets/s1"
)

// TestEscalationGuard: nobody may grant a role whose permissions they do not
// hold at that scope.
func TestEscalationGuard(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	uaa := e.principal("uaa")
	e.assign(uaa, "User Access Administrator", "/")
	owner := e.principal("owner")
	e.assign(owner, "Owner", "/")
	officer := e.principal("officer")
	e.assign(officer, "Key Vault Secrets Officer", vault)
	alice := e.principal("alice")

	tests := []struct {
		name   string
		caller string
		role   string
		kind   errs.Kind // 0 (Internal) stands for success
		msg    []string
	}{
		{"admin grants a data role", e.admin, "Key Vault Secrets User", 0, nil},
		{"user access administrator grants a read role", uaa, "Reader", 0, nil},
		{"user access administrator lacks the data actions", uaa, "Key Vault Secrets User", errs.Forbidden,
			[]string{`cannot grant role "Key Vault Secrets User" at /hubs/h1/vaults/v1`, access.SecretsGet, access.SecretsReadMetadata}},
		{"user access administrator lacks Owner's actions", uaa, "Owner", errs.Forbidden,
			[]string{`cannot grant role "Owner"`, "more"}},
		{"Owner alone cannot grant a data role", owner, "Key Vault Secrets User", errs.Forbidden,
			[]string{access.SecretsGet}},
		{"without roleAssignments/write", officer, "Key Vault Secrets User", errs.Forbidden,
			[]string{access.RoleAssignmentsWrite, "latchkey role assignment create"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := e.svc.CreateAssignment(ctx, tc.caller, alice, tc.role, vault)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("CreateAssignment = %v, want success", err)
				}
				if a.RoleName != tc.role || a.Scope != vault || a.PrincipalID != alice || a.CreatedBy != tc.caller {
					t.Errorf("CreateAssignment = %+v", a)
				}
				// Clean up so that the next case starts from the same place.
				if err := e.svc.DeleteAssignment(ctx, e.admin, a.ID); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, "CreateAssignment", err, tc.kind, tc.msg...)
		})
	}
	as, _, err := e.svc.Assignments(ctx, store.AssignmentFilter{PrincipalID: alice}, store.Page{})
	if err != nil || len(as) != 0 {
		t.Errorf("alice's assignments = %+v, %v; want none left", as, err)
	}
}

func TestCreateAssignmentErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice := e.principal("alice")
	tests := []struct {
		name, principal, role, scope string
		kind                         errs.Kind
		msg                          string
	}{
		{"bad scope", alice, "Reader", "/hubs/h1/keys/k1", errs.Invalid, `"keys" cannot appear here`},
		{"unknown role", alice, "Vault Wizard", vault, errs.NotFound, "latchkey role definition list"},
		{"unknown principal", "00000000-0000-0000-0000-000000000000", "Reader", vault, errs.NotFound, "was not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateAssignment(ctx, e.admin, tc.principal, tc.role, tc.scope)
			wantKind(t, "CreateAssignment", err, tc.kind, tc.msg)
		})
	}
	e.assign(alice, "reader", "/HUBS/H1/") // role names and scopes fold case
	_, err := e.svc.CreateAssignment(ctx, e.admin, alice, "Reader", "/hubs/h1")
	wantKind(t, "CreateAssignment, twice", err, errs.Conflict, "already exists")
}

// TestAssignmentTakesEffectAtOnce: a new assignment is honoured on the very
// next Decide, and a deleted one refused on the next, with no Run loop.
func TestAssignmentTakesEffectAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice := e.principal("alice")
	if e.allowed(alice, access.SecretsGet, secret) {
		t.Fatal("alice reads a secret before any assignment")
	}
	a := e.assign(alice, access.KeyVaultSecretsUserID, vault) // by id this time
	d := e.svc.Decide(alice, access.SecretsGet, secret)
	if !d.Allowed || d.AssignmentID != a.ID || d.GrantScope != vault || d.RoleName != "Key Vault Secrets User" {
		t.Fatalf("Decide after assignment = %+v, want allowed by %s", d, a.ID)
	}
	if err := e.svc.Authorize(ctx, alice, access.SecretsGet, secret); err != nil {
		t.Errorf("Authorize = %v, want nil", err)
	}
	if err := e.svc.DeleteAssignment(ctx, e.admin, a.ID); err != nil {
		t.Fatalf("DeleteAssignment = %v", err)
	}
	if d := e.svc.Decide(alice, access.SecretsGet, secret); d.Allowed {
		t.Fatalf("Decide after DeleteAssignment = %+v, want denied", d)
	}
	err := e.svc.Authorize(ctx, alice, access.SecretsGet, secret)
	wantKind(t, "Authorize after delete", err, errs.Forbidden, access.SecretsGet, "a data action")
	_, err = e.svc.Assignment(ctx, a.ID)
	wantKind(t, "Assignment after delete", err, errs.NotFound)
	if got := len(e.eventsOf("roleAssignment.delete")); got != 1 {
		t.Errorf("%d roleAssignment.delete audit events, want 1", got)
	}
}

func TestDeleteAssignmentNeedsPermission(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.principal("alice"), e.principal("bob")
	a := e.assign(alice, "Key Vault Secrets User", vault)
	e.assign(bob, "Contributor", "/")
	err := e.svc.DeleteAssignment(t.Context(), bob, a.ID)
	wantKind(t, "DeleteAssignment by a Contributor", err, errs.Forbidden, access.RoleAssignmentsDelete)
	if !e.allowed(alice, access.SecretsGet, secret) {
		t.Error("the refused delete removed the assignment")
	}
}

func TestAssignmentsListing(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice := e.principal("alice")
	e.assign(alice, "Reader", "/hubs/h1")
	e.assign(alice, "Key Vault Secrets User", vault)
	as, _, err := e.svc.Assignments(ctx, store.AssignmentFilter{Scope: "/HUBS/h1/vaults/V1", RoleID: "key vault secrets user"}, store.Page{})
	if err != nil || len(as) != 1 || as[0].RoleName != "Key Vault Secrets User" || as[0].PrincipalID != alice {
		t.Errorf("Assignments(scope, role by name) = %+v, %v; want alice's Key Vault Secrets User", as, err)
	}
	_, _, err = e.svc.Assignments(ctx, store.AssignmentFilter{Scope: "vaults"}, store.Page{})
	wantKind(t, "Assignments(bad scope)", err, errs.Invalid)
}
