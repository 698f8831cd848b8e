package access_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

func TestResources(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	create := func(scope string) store.Resource {
		t.Helper()
		r, err := e.svc.CreateResource(ctx, e.admin, scope)
		if err != nil {
			t.Fatalf("CreateResource(%s) = %v", scope, err)
		}
		return r
	}
	hub := create("/hubs/H1")
	if hub.Scope != "/hubs/h1" || hub.Kind != store.Hub || hub.Name != "h1" || hub.Parent != "/" {
		t.Errorf("CreateResource(hub) = %+v", hub)
	}
	create("/hubs/h2")
	if p := create("/hubs/h1/projects/p1"); p.Kind != store.Project || p.Parent != "/hubs/h1" {
		t.Errorf("CreateResource(project) = %+v", p)
	}
	if v := create(vault); v.Kind != store.Vault || v.Name != "v1" {
		t.Errorf("CreateResource(vault) = %+v", v)
	}

	tests := []struct {
		name, scope string
		kind        errs.Kind
		msg         string
	}{
		{"vault name taken in another hub", "/hubs/h2/vaults/v1", errs.Conflict, "a vault named v1 already exists in this tenant"},
		{"same scope twice", "/hubs/h1", errs.Conflict, "already exists"},
		{"missing parent", "/hubs/h9/vaults/v9", errs.NotFound, "/hubs/h9 does not exist: create it first"},
		{"not a resource", secret, errs.Invalid, "is not a hub, project, vault or account"},
		{"bad scope", "/vaults/v1", errs.Invalid, "cannot appear here"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateResource(ctx, e.admin, tc.scope)
			wantKind(t, "CreateResource("+tc.scope+")", err, tc.kind, tc.msg)
		})
	}

	if v, err := e.svc.ResourceByName(ctx, store.Vault, "V1"); err != nil || v.Scope != vault {
		t.Errorf("ResourceByName(vault, V1) = %+v, %v", v, err)
	}
	rs, _, err := e.svc.Resources(ctx, "", "/hubs/h1", store.Page{})
	if err != nil || len(rs) != 2 || rs[0].Scope != "/hubs/h1/projects/p1" || rs[1].Scope != vault {
		t.Errorf("Resources(under /hubs/h1) = %+v, %v; want the project and the vault", rs, err)
	}

	err = e.svc.DeleteResource(ctx, e.admin, "/hubs/h1")
	wantKind(t, "DeleteResource(hub with children)", err, errs.Conflict, "/hubs/h1 still holds", "/hubs/h1/projects/p1", vault, "delete them first")
	if _, err := e.svc.Resource(ctx, "/hubs/h1"); err != nil {
		t.Errorf("the refused delete removed the hub: %v", err)
	}
}

// TestDeleteVaultDropsAssignments: assignments at and below a deleted vault
// go with it, so a vault created later under the same name inherits nothing.
func TestDeleteVaultDropsAssignments(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, s := range []string{"/hubs/h1", vault, "/hubs/h1/vaults/v2"} {
		if _, err := e.svc.CreateResource(ctx, e.admin, s); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob := e.principal("alice"), e.principal("bob")
	e.assign(alice, "Key Vault Secrets User", vault)
	e.assign(alice, "Key Vault Secrets Officer", secret)
	e.assign(alice, "Key Vault Secrets User", "/hubs/h1/vaults/v2")
	e.assign(bob, "Reader", "/hubs/h1")

	if err := e.svc.DeleteResource(ctx, e.admin, vault); err != nil {
		t.Fatalf("DeleteResource(vault) = %v", err)
	}
	_, err := e.svc.Resource(ctx, vault)
	wantKind(t, "Resource after delete", err, errs.NotFound)
	if e.allowed(alice, access.SecretsGet, secret) {
		t.Error("after deleting the vault: alice still reads its secrets")
	}
	if !e.allowed(alice, access.SecretsGet, "/hubs/h1/vaults/v2/secrets/s1") {
		t.Error("deleting v1 dropped alice's assignment at v2")
	}
	if !e.allowed(bob, access.VaultsRead, "/hubs/h1") {
		t.Error("deleting v1 dropped bob's assignment at the hub above it")
	}
	as, _, err := e.svc.Assignments(ctx, store.AssignmentFilter{PrincipalID: alice}, store.Page{})
	if err != nil || len(as) != 1 || as[0].Scope != "/hubs/h1/vaults/v2" {
		t.Errorf("alice's assignments = %+v, %v; want only the one at v2", as, err)
	}

	if _, err := e.svc.CreateResource(ctx, e.admin, vault); err != nil {
		t.Fatal(err)
	}
	if e.allowed(alice, access.SecretsGet, secret) {
		t.Error("a vault re-created under the same name inherited the old assignments")
	}
	if err := e.svc.DeleteResource(ctx, e.admin, "/hubs/h1/vaults/v9"); !errs.Is(err, errs.NotFound) {
		t.Errorf("DeleteResource(missing) = %v, want NotFound", err)
	}
}
