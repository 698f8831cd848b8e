package access_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
)

func secretReader() access.Role {
	return access.Role{
		Name:        "Secret Reader",
		Description: "reads secret values",
		Permissions: []access.Permission{{DataActions: []string{access.SecretsGet}}},
	}
}

// TestCustomRoleLifecycle: create, assign, update (which applies to the
// existing assignment at once), and delete (refused while assigned).
func TestCustomRoleLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice := e.principal("alice")

	r, err := e.svc.CreateRole(ctx, e.admin, secretReader())
	if err != nil {
		t.Fatalf("CreateRole = %v", err)
	}
	if r.ID == "" || r.BuiltIn || len(r.AssignableScopes) != 1 || r.AssignableScopes[0] != "/" {
		t.Errorf("CreateRole = %+v, want an id and assignable scopes [/]", r)
	}
	if got, err := e.svc.Role(ctx, "SECRET READER"); err != nil || got.ID != r.ID {
		t.Errorf("Role(by name) = %+v, %v; want %s", got, err, r.ID)
	}
	_, err = e.svc.CreateRole(ctx, e.admin, secretReader())
	wantKind(t, "CreateRole, same name", err, errs.Conflict, "already exists")

	a := e.assign(alice, "Secret Reader", vault)
	if a.RoleName != "Secret Reader" {
		t.Errorf("assignment RoleName = %q", a.RoleName)
	}
	if !e.allowed(alice, access.SecretsGet, secret) || e.allowed(alice, access.SecretsSet, secret) {
		t.Fatalf("with Secret Reader: get %v, set %v; want true, false",
			e.allowed(alice, access.SecretsGet, secret), e.allowed(alice, access.SecretsSet, secret))
	}

	r.Permissions = []access.Permission{{DataActions: []string{access.SecretsGet, access.SecretsSet}}}
	if _, err := e.svc.UpdateRole(ctx, e.admin, r); err != nil {
		t.Fatalf("UpdateRole = %v", err)
	}
	if !e.allowed(alice, access.SecretsSet, secret) {
		t.Errorf("after UpdateRole: set denied, want the existing assignment to grant it at once")
	}

	err = e.svc.DeleteRole(ctx, e.admin, r.ID)
	wantKind(t, "DeleteRole while assigned", err, errs.Conflict, "still assigned")
	if err := e.svc.DeleteAssignment(ctx, e.admin, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteRole(ctx, e.admin, "secret reader"); err != nil {
		t.Fatalf("DeleteRole = %v", err)
	}
	_, err = e.svc.Role(ctx, r.ID)
	wantKind(t, "Role after delete", err, errs.NotFound)
	roles, err := e.svc.Roles(ctx)
	if err != nil || len(roles) != len(access.BuiltinRoles()) {
		t.Errorf("Roles after delete = %d roles, %v; want only the built-in ones", len(roles), err)
	}
}

func TestCustomRoleRules(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	uaa, reader := e.principal("uaa"), e.principal("reader")
	e.assign(uaa, "User Access Administrator", "/")
	e.assign(reader, "Reader", "/")

	tests := []struct {
		name string
		err  error
		kind errs.Kind
		msg  string
	}{
		{"a built-in's name", func() error {
			_, err := e.svc.CreateRole(ctx, e.admin, access.Role{Name: "Owner", Permissions: secretReader().Permissions})
			return err
		}(), errs.Conflict, "built-in"},
		{"an invalid pattern", func() error {
			_, err := e.svc.CreateRole(ctx, e.admin, access.Role{Name: "x", Permissions: []access.Permission{{Actions: []string{"read"}}}})
			return err
		}(), errs.Invalid, "not an action pattern"},
		{"without roleDefinitions/write", func() error {
			_, err := e.svc.CreateRole(ctx, reader, secretReader())
			return err
		}(), errs.Forbidden, access.RoleDefinitionsWrite},
		{"update a built-in", func() error {
			_, err := e.svc.UpdateRole(ctx, e.admin, access.Role{ID: access.ReaderID, Name: "Reader", Permissions: secretReader().Permissions})
			return err
		}(), errs.Forbidden, "built-in roles cannot be changed"},
		{"delete a built-in", e.svc.DeleteRole(ctx, e.admin, "Reader"), errs.Forbidden, "built-in roles cannot be deleted"},
		{"delete an unknown role", e.svc.DeleteRole(ctx, e.admin, "no such role"), errs.NotFound, "no role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantKind(t, tc.name, tc.err, tc.kind, tc.msg) })
	}
}

// TestUpdateRoleEscalation: widening a role reaches its holders at once, so a
// caller may widen it only with actions it holds where the role is held.
// Otherwise a User Access Administrator could assign itself a harmless custom
// role and then add secret data actions to it.
func TestUpdateRoleEscalation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	uaa := e.principal("uaa")
	e.assign(uaa, "User Access Administrator", "/")

	r, err := e.svc.CreateRole(ctx, uaa, access.Role{Name: "Harmless", Permissions: []access.Permission{{Actions: []string{"*/read"}}}})
	if err != nil {
		t.Fatalf("CreateRole by a User Access Administrator = %v", err)
	}
	if _, err := e.svc.CreateAssignment(ctx, uaa, uaa, r.ID, vault); err != nil {
		t.Fatalf("assigning a role whose actions one holds = %v", err)
	}
	r.Permissions = append(r.Permissions, access.Permission{DataActions: []string{"Latchkey.KeyVault/vaults/*"}})
	_, err = e.svc.UpdateRole(ctx, uaa, r)
	wantKind(t, "UpdateRole adding data actions", err, errs.Forbidden, `cannot grant role "Harmless" at /hubs/h1/vaults/v1`)
	if e.allowed(uaa, access.SecretsGet, secret) {
		t.Fatal("the refused update granted secret values")
	}
	// The administrator holds them everywhere, so it may.
	if _, err := e.svc.UpdateRole(ctx, e.admin, r); err != nil {
		t.Fatalf("UpdateRole by the administrator = %v", err)
	}
	if !e.allowed(uaa, access.SecretsGet, secret) {
		t.Error("after the administrator's update: get denied")
	}
}
