package access

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/errs"
)

func TestRoleValidate(t *testing.T) {
	ok := []Permission{{DataActions: []string{SecretsGet}}}
	tests := []struct {
		name  string
		role  Role
		kind  errs.Kind
		field string // "" for errors that name no field
		msg   string // a fragment of the message
	}{
		{"no name", Role{Permissions: ok}, errs.Invalid, "roleName", "1 to 128 characters"},
		{"blank name", Role{Name: "   ", Permissions: ok}, errs.Invalid, "roleName", "1 to 128 characters"},
		{"long name", Role{Name: strings.Repeat("n", 129), Permissions: ok}, errs.Invalid, "roleName", "1 to 128 characters"},
		{"a built-in's name", Role{Name: "key vault secrets USER", Permissions: ok}, errs.Conflict, "", "choose another name"},
		{"no permissions", Role{Name: "r"}, errs.Invalid, "permissions", "at least one permission block"},
		{"bad action", Role{Name: "r", Permissions: []Permission{{Actions: []string{"vaults read"}}}},
			errs.Invalid, "permissions[0].actions", "not an action pattern like Latchkey.KeyVault/vaults/secrets/* or */read"},
		{"bad notActions", Role{Name: "r", Permissions: []Permission{{Actions: []string{"*"}, NotActions: []string{"delete"}}}},
			errs.Invalid, "permissions[0].notActions", `"delete" is not an action pattern`},
		{"bad dataActions", Role{Name: "r", Permissions: []Permission{{DataActions: []string{""}}}},
			errs.Invalid, "permissions[0].dataActions", "not an action pattern"},
		{"bad notDataActions in the second block", Role{Name: "r", Permissions: []Permission{ok[0], {DataActions: []string{"*"}, NotDataActions: []string{"Latchkey.KeyVault/vaults/sec rets/*"}}}},
			errs.Invalid, "permissions[1].notDataActions", "not an action pattern"},
		{"bad assignable scope", Role{Name: "r", Permissions: ok, AssignableScopes: []string{"/", "/hubs/h1/keys/k"}},
			errs.Invalid, "assignableScopes[1]", `"keys" cannot appear here`},
		{"relative assignable scope", Role{Name: "r", Permissions: ok, AssignableScopes: []string{"hubs/h1"}},
			errs.Invalid, "assignableScopes[0]", "must start with '/'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.role.validate()
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != tc.kind || e.Field != tc.field {
				t.Fatalf("validate() = %v, want a %v error naming field %q", err, tc.kind, tc.field)
			}
			if !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("validate() message %q does not say %q", e.Msg, tc.msg)
			}
		})
	}
}

func TestRoleValidateNormalises(t *testing.T) {
	r, err := Role{Name: "  Secret Readers ", Permissions: []Permission{{DataActions: []string{SecretsGet}}}}.validate()
	if err != nil {
		t.Fatalf("validate() = %v", err)
	}
	if r.Name != "Secret Readers" || !slices.Equal(r.AssignableScopes, []string{"/"}) {
		t.Errorf("validate() = name %q, scopes %q; want the name trimmed and scopes [/]", r.Name, r.AssignableScopes)
	}
	r, err = Role{Name: "r", Permissions: []Permission{{Actions: []string{"*/read"}}}, AssignableScopes: []string{"/HUBS/Prod/"}}.validate()
	if err != nil || !slices.Equal(r.AssignableScopes, []string{"/hubs/prod"}) {
		t.Errorf("validate() = scopes %q, %v; want [/hubs/prod]", r.AssignableScopes, err)
	}
}

// TestRoleGrantsPlanes checks that a role's actions never grant data actions
// and its dataActions never grant control actions, even with a bare '*'.
func TestRoleGrantsPlanes(t *testing.T) {
	control := compileRole(&Role{Permissions: []Permission{{Actions: []string{"*"}}}})
	data := compileRole(&Role{Permissions: []Permission{{DataActions: []string{"*"}}}})
	for _, a := range Actions() {
		la := lower(a.Name)
		if got, want := control.grants(la, a.Plane), a.Plane == Control; got != want {
			t.Errorf("actions [*] grants %s = %v, want %v", a.Name, got, want)
		}
		if got, want := data.grants(la, a.Plane), a.Plane == Data; got != want {
			t.Errorf("dataActions [*] grants %s = %v, want %v", a.Name, got, want)
		}
	}
}

// TestNotActionsSubtractWithinOneRole: a NotActions entry removes an action
// from its own permission block only. Another block of the same role, or
// another role, still grants it: NotActions are not deny rules.
func TestNotActionsSubtractWithinOneRole(t *testing.T) {
	oneBlock := compileRole(&Role{Permissions: []Permission{
		{DataActions: []string{"Latchkey.KeyVault/vaults/secrets/*"}, NotDataActions: []string{SecretsPurge}},
	}})
	twoBlocks := compileRole(&Role{Permissions: []Permission{
		{DataActions: []string{"Latchkey.KeyVault/vaults/secrets/*"}, NotDataActions: []string{SecretsPurge}},
		{DataActions: []string{SecretsPurge}},
	}})
	tests := []struct {
		name   string
		role   *compiledRole
		action string
		want   bool
	}{
		{"granted by the wildcard", oneBlock, SecretsGet, true},
		{"subtracted", oneBlock, SecretsPurge, false},
		{"subtracted in a case it does not spell", oneBlock, strings.ToUpper(SecretsPurge), false},
		{"granted again by another block", twoBlocks, SecretsPurge, true},
	}
	for _, tc := range tests {
		if got := tc.role.grants(lower(tc.action), Data); got != tc.want {
			t.Errorf("%s: grants(%s) = %v, want %v", tc.name, tc.action, got, tc.want)
		}
	}
}

// TestRoleGrants: the exported check follows the planes, notActions and case
// rules of decisions, and never grants an action outside the catalog.
func TestRoleGrants(t *testing.T) {
	owner, secretsUser := *builtinByID[OwnerID].role, *builtinByID[KeyVaultSecretsUserID].role
	tests := []struct {
		name   string
		role   Role
		action string
		want   bool
	}{
		{"Owner writes assignments", owner, RoleAssignmentsWrite, true},
		{"Owner reads no secret value", owner, SecretsGet, false},
		{"Secrets User reads values", secretsUser, SecretsGet, true},
		{"in another case", secretsUser, strings.ToUpper(SecretsGet), true},
		{"Secrets User sets nothing", secretsUser, SecretsSet, false},
		{"Secrets User manages no vault", secretsUser, VaultsWrite, false},
		{"an unknown action", owner, "Latchkey.Identity/token/action", false},
	}
	for _, tc := range tests {
		if got := tc.role.Grants(tc.action); got != tc.want {
			t.Errorf("%s: %s.Grants(%s) = %v, want %v", tc.name, tc.role.Name, tc.action, got, tc.want)
		}
	}
}
