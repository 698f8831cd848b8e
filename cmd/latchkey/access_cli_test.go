package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/devmode"
)

// The access commands, driven as a person would: the real CLI against a real
// dev server, as its admin and as a service principal that logged in.

const (
	getSecret    = "Latchkey.KeyVault/vaults/secrets/getSecret/action"
	readMetadata = "Latchkey.KeyVault/vaults/secrets/readMetadata/action"
)

// check runs role check and returns the decision; a denial exits 0 too.
func (d *devCLI) check(assignee, action, scope string) client.AccessDecision {
	d.t.Helper()
	return decodeOut[client.AccessDecision](d.t, d.ok("role", "check", "--assignee", assignee, "--action", action, "--scope", scope))
}

// newVaults creates the hub h with the vaults v and v2.
func (d *devCLI) newVaults() {
	d.t.Helper()
	d.ok("hub", "create", "--name", "h")
	d.ok("keyvault", "create", "--hub", "h", "--name", "v")
	d.ok("keyvault", "create", "--hub", "h", "--name", "v2")
}

func TestAccessCLIScopeTree(t *testing.T) {
	d := startDevCLI(t)
	hub := decodeOut[client.Resource](t, d.ok("hub", "create", "--name", "h"))
	if hub.ID != "/hubs/h" || hub.Kind != "Hub" || hub.Name != "h" {
		t.Errorf("hub create = %+v, want /hubs/h", hub)
	}
	if again := decodeOut[client.Resource](t, d.ok("hub", "create", "--name", "h")); again.ID != hub.ID || !again.Created.Equal(hub.Created) {
		t.Errorf("hub create of an existing hub = %+v, want the hub as it was: %+v", again, hub)
	}
	if p := decodeOut[client.Resource](t, d.ok("project", "create", "--hub", "h", "--name", "p")); p.ID != "/hubs/h/projects/p" || p.Hub != "h" {
		t.Errorf("project create = %+v", p)
	}
	if v := decodeOut[client.Resource](t, d.ok("keyvault", "create", "--hub", "h", "--name", "v")); v.ID != "/hubs/h/vaults/v" || v.Kind != "Vault" {
		t.Errorf("keyvault create = %+v", v)
	}
	if code, _, stderr := d.run("keyvault", "create", "--name", "w"); code != exitUsage || !strings.Contains(stderr, `"hub"`) {
		t.Errorf("keyvault create without --hub: exit %d, %q; want %d naming the flag", code, stderr, exitUsage)
	}
	d.fails("does not exist", "keyvault", "create", "--hub", "nohub", "--name", "w")

	if list := d.ok("hub", "list"); !strings.Contains(list, "Name") || !strings.Contains(list, "/hubs/h") {
		t.Errorf("hub list lacks the header or /hubs/h:\n%s", list)
	}
	if !hasResource(decodeOut[[]client.Resource](t, d.ok("hub", "list", "-o", "json")), "/hubs/h") {
		t.Error("hub list -o json lacks /hubs/h")
	}
	if got := decodeOut[client.Resource](t, d.ok("hub", "show", "--name", "h")); got.ID != "/hubs/h" {
		t.Errorf("hub show = %+v", got)
	}
	if ps := decodeOut[[]client.Resource](t, d.ok("project", "list", "--hub", "h", "-o", "json")); len(ps) != 1 || ps[0].ID != "/hubs/h/projects/p" {
		t.Errorf("project list --hub h = %+v, want p", ps)
	}
	if got := decodeOut[client.Resource](t, d.ok("project", "show", "--hub", "h", "--name", "p")); got.ID != "/hubs/h/projects/p" {
		t.Errorf("project show = %+v", got)
	}
	if vs := decodeOut[[]client.Resource](t, d.ok("keyvault", "list", "--hub", "h", "-o", "json")); len(vs) != 1 || vs[0].ID != "/hubs/h/vaults/v" {
		t.Errorf("keyvault list --hub h = %+v, want v", vs)
	}
	if !hasResource(decodeOut[[]client.Resource](t, d.ok("keyvault", "list", "-o", "json")), "/hubs/h/vaults/v") {
		t.Error("keyvault list (every hub) lacks /hubs/h/vaults/v")
	}
	if got := decodeOut[client.Resource](t, d.ok("keyvault", "show", "--name", "v")); got.ID != "/hubs/h/vaults/v" || got.Hub != "h" {
		t.Errorf("keyvault show --name v = %+v", got)
	}
	if show := d.ok("keyvault", "show", "--name", "v", "-o", "table"); !strings.Contains(show, "VaultUri") || !strings.Contains(show, "/hubs/h/vaults/v") {
		t.Errorf("keyvault show -o table:\n%s", show)
	}

	d.fails("/hubs/h/vaults/v", "hub", "delete", "--name", "h") // it still holds the vault
	d.ok("keyvault", "delete", "--name", "v")
	d.fails("was not found", "keyvault", "show", "--name", "v")
	d.ok("project", "delete", "--hub", "h", "--name", "p")
	d.fails("was not found", "project", "show", "--hub", "h", "--name", "p")
	d.ok("hub", "delete", "--name", "h")
	d.fails("was not found", "hub", "show", "--name", "h")
}

func hasResource(rs []client.Resource, id string) bool {
	for _, r := range rs {
		if r.ID == id {
			return true
		}
	}
	return false
}

func TestAccessCLIRoleAssignments(t *testing.T) {
	d := startDevCLI(t)
	d.newVaults()
	sp := decodeOut[client.CreatedServicePrincipal](t, d.ok("sp", "create", "reader-bot"))

	a := decodeOut[client.RoleAssignment](t, d.ok("role", "assignment", "create",
		"--assignee", sp.AppID, "--role", "Key Vault Secrets User", "--scope", "/hubs/h/vaults/v"))
	if a.ID == "" || a.PrincipalID != sp.ID || a.RoleDefinitionName != "Key Vault Secrets User" || a.Scope != "/hubs/h/vaults/v" {
		t.Errorf("role assignment create = %+v", a)
	}
	if as := decodeOut[[]client.RoleAssignment](t, d.ok("role", "assignment", "list", "--assignee", sp.AppID, "-o", "json")); len(as) != 1 || as[0].ID != a.ID {
		t.Errorf("role assignment list --assignee = %+v, want only %s", as, a.ID)
	}
	if list := d.ok("role", "assignment", "list", "--scope", "/hubs/h/vaults/v"); !strings.Contains(list, a.ID) || !strings.Contains(list, "Key Vault Secrets User") {
		t.Errorf("role assignment list --scope lacks the assignment:\n%s", list)
	}

	if dec := d.check(sp.AppID, getSecret, "/hubs/h/vaults/v"); !dec.Allowed || dec.RoleName != "Key Vault Secrets User" || dec.RoleAssignmentID != a.ID {
		t.Errorf("check at the vault = %+v, want allowed by %s", dec, a.ID)
	}
	if dec := d.check(sp.AppID, getSecret, "/hubs/h/vaults/v2"); dec.Allowed || dec.Reason == "" {
		t.Errorf("check at the sibling vault = %+v, want denied with a reason", dec)
	}
	if out := d.ok("role", "check", "--assignee", sp.AppID, "--action", getSecret, "--scope", "/hubs/h/vaults/v", "-o", "table"); !strings.Contains(out, "ALLOWED") {
		t.Errorf("role check -o table, allowed:\n%s", out)
	}
	if out := d.ok("role", "check", "--assignee", sp.AppID, "--action", getSecret, "--scope", "/hubs/h/vaults/v2", "-o", "table"); !strings.Contains(out, "DENIED") || !strings.Contains(out, "no role assignment") {
		t.Errorf("role check -o table, denied:\n%s", out)
	}
	d.fails("not a known action", "role", "check", "--assignee", sp.AppID, "--action", "Latchkey.Nope/read", "--scope", "/")

	d.ok("role", "assignment", "delete", "--ids", a.ID)
	if dec := d.check(sp.AppID, getSecret, "/hubs/h/vaults/v"); dec.Allowed {
		t.Errorf("check after the assignment's deletion = %+v, want denied", dec)
	}
	d.fails("was not found", "role", "assignment", "delete", "--ids", a.ID)
	d.fails("give --ids", "role", "assignment", "delete")

	// az's other way: delete whatever matches the filters.
	d.ok("role", "assignment", "create", "--assignee", sp.AppID, "--role", "Key Vault Reader", "--scope", "/hubs/h/vaults/v")
	d.ok("role", "assignment", "create", "--assignee", sp.AppID, "--role", "Key Vault Reader", "--scope", "/hubs/h/vaults/v2")
	d.ok("role", "assignment", "delete", "--assignee", sp.AppID, "--role", "Key Vault Reader")
	if as := decodeOut[[]client.RoleAssignment](t, d.ok("role", "assignment", "list", "--assignee", sp.AppID, "-o", "json")); len(as) != 0 {
		t.Errorf("assignments left after delete --assignee --role: %+v", as)
	}
	d.fails("no role assignment matches", "role", "assignment", "delete", "--assignee", sp.AppID)

	d.customRole(sp)
}

// customRole creates a custom role from a file, assigns it, widens it with
// az's flattened shape, and deletes it once nothing holds it.
func (d *devCLI) customRole(sp client.CreatedServicePrincipal) {
	t := d.t
	file := filepath.Join(t.TempDir(), "role.json")
	def := `{"roleName": "Vault Metadata Reader", "description": "Reads secret metadata",
	  "permissions": [{"actions": [], "dataActions": ["` + readMetadata + `"]}], "assignableScopes": ["/hubs/h"]}`
	if err := os.WriteFile(file, []byte(def), 0o600); err != nil {
		t.Fatal(err)
	}
	role := decodeOut[client.RoleDefinition](t, d.ok("role", "definition", "create", "--role-definition", file))
	if role.ID == "" || role.RoleType != "CustomRole" || role.RoleName != "Vault Metadata Reader" || len(role.AssignableScopes) != 1 {
		t.Errorf("role definition create = %+v", role)
	}
	if custom := decodeOut[[]client.RoleDefinition](t, d.ok("role", "definition", "list", "--custom-role-only", "-o", "json")); len(custom) != 1 || custom[0].ID != role.ID {
		t.Errorf("role definition list --custom-role-only = %+v, want only %s", custom, role.ID)
	}
	if list := d.ok("role", "definition", "list"); !strings.Contains(list, "Key Vault Secrets User") || !strings.Contains(list, "Vault Metadata Reader") {
		t.Errorf("role definition list lacks a built-in or the custom role:\n%s", list)
	}
	if got := decodeOut[client.RoleDefinition](t, d.ok("role", "definition", "show", "--name", "vault metadata reader")); got.ID != role.ID {
		t.Errorf("role definition show by name = %+v", got)
	}
	d.fails("unknown field", "role", "definition", "create", "--role-definition", `{"roleName": "x", "permisions": []}`)
	d.fails("no such file", "role", "definition", "create", "--role-definition", filepath.Join(t.TempDir(), "missing.json"))
	d.fails("built-in", "role", "definition", "delete", "--name", "Reader")

	a := decodeOut[client.RoleAssignment](t, d.ok("role", "assignment", "create", "--assignee", sp.AppID, "--role", role.RoleName, "--scope", "/hubs/h/vaults/v"))
	if dec := d.check(sp.AppID, readMetadata, "/hubs/h/vaults/v"); !dec.Allowed {
		t.Errorf("check of the custom role's action = %+v, want allowed", dec)
	}
	if dec := d.check(sp.ID, getSecret, "/hubs/h/vaults/v"); dec.Allowed {
		t.Errorf("check of an action outside the custom role = %+v, want denied", dec)
	}

	flat := `{"Name": "Vault Metadata Reader", "Description": "Reads secrets", "IsCustom": true,
	  "Actions": [], "DataActions": ["` + readMetadata + `", "` + getSecret + `"], "AssignableScopes": ["/hubs/h"]}`
	if up := decodeOut[client.RoleDefinition](t, d.ok("role", "definition", "update", "--role-definition", flat)); up.ID != role.ID || up.Description != "Reads secrets" {
		t.Errorf("role definition update = %+v", up)
	}
	if dec := d.check(sp.AppID, getSecret, "/hubs/h/vaults/v"); !dec.Allowed {
		t.Errorf("check after widening the role = %+v, want allowed at once", dec)
	}
	d.fails("still assigned", "role", "definition", "delete", "--name", role.ID)
	d.ok("role", "assignment", "delete", "--ids", a.ID)
	d.ok("role", "definition", "delete", "--name", role.ID)
	d.fails("no role has", "role", "definition", "show", "--name", role.ID)
}

func TestAccessCLIEligible(t *testing.T) {
	d := startDevCLI(t)
	d.newVaults()
	info, err := devmode.ReadInfo(d.data)
	if err != nil {
		t.Fatal(err)
	}
	sp := decodeOut[client.CreatedServicePrincipal](t, d.ok("sp", "create", "oncall-bot"))
	const vault = "/hubs/h/vaults/v"

	el := decodeOut[client.EligibleAssignment](t, d.ok("role", "eligible", "create",
		"--assignee", sp.AppID, "--role", "Key Vault Secrets Officer", "--scope", vault, "--max-duration", "2h"))
	if el.ID == "" || el.PrincipalID != sp.ID || el.MaxDurationMinutes != 120 || !el.RequireJustification || el.RoleDefinitionName != "Key Vault Secrets Officer" {
		t.Errorf("role eligible create = %+v", el)
	}
	lax := decodeOut[client.EligibleAssignment](t, d.ok("role", "eligible", "create",
		"--assignee", sp.AppID, "--role", "Key Vault Reader", "--scope", "/hubs/h/vaults/v2", "--no-justification"))
	if lax.RequireJustification || lax.MaxDurationMinutes != 480 {
		t.Errorf("role eligible create --no-justification = %+v, want no justification and the default 8h", lax)
	}
	d.fails("whole minutes", "role", "eligible", "create", "--assignee", sp.AppID, "--role", "Reader", "--scope", vault, "--max-duration", "90s")
	if list := d.ok("role", "eligible", "list", "--assignee", sp.AppID); !strings.Contains(list, el.ID) || !strings.Contains(list, "2h0m0s") {
		t.Errorf("role eligible list --assignee:\n%s", list)
	}
	if dec := d.check(sp.AppID, getSecret, vault); dec.Allowed {
		t.Errorf("check before activation = %+v, want denied", dec)
	}

	d.ok("login", "--service-principal", "-u", sp.AppID, "-p", sp.Password, "--tenant", info.TenantID)
	if mine := decodeOut[[]client.EligibleAssignment](t, d.ok("role", "eligible", "list", "--assignee", "me", "-o", "json")); len(mine) != 2 {
		t.Errorf("role eligible list --assignee me = %+v, want its two", mine)
	}
	d.fails("Forbidden", "role", "eligible", "list") // everyone's needs a role
	d.fails("justification", "role", "eligible", "activate", "--id", el.ID)
	act := decodeOut[client.RoleAssignment](t, d.ok("role", "eligible", "activate", "--id", el.ID, "--justification", "incident 42", "--duration", "30m"))
	if act.EligibilityID != el.ID || act.Justification != "incident 42" || act.Expires == nil ||
		time.Until(*act.Expires) > 31*time.Minute || time.Until(*act.Expires) < 25*time.Minute {
		t.Errorf("role eligible activate = %+v, want a 30-minute activation of %s", act, el.ID)
	}
	d.fails("already active", "role", "eligible", "activate", "--id", el.ID, "--justification", "again")
	d.logout()
	// The activation's audit event says what was activated, why, and until when.
	acts := d.events("--operation", "Latchkey.Authorization/roleAssignmentScheduleRequests/write", "--result", "allowed", "--all")
	if !slices.ContainsFunc(acts, func(ev client.AuditEvent) bool {
		return ev.PrincipalID == sp.ID && ev.Scope == vault && strings.Contains(ev.Reason, `justification "incident 42"`) &&
			strings.Contains(ev.Reason, "eligible.activate: principal "+sp.ID) && strings.Contains(ev.Reason, "until "+act.Expires.UTC().Format(time.RFC3339))
	}) {
		t.Errorf("no audit event of the activation with its justification: %+v", acts)
	}

	if dec := d.check(sp.AppID, getSecret, vault); !dec.Allowed || dec.RoleAssignmentID != act.ID {
		t.Errorf("check while active = %+v, want allowed by %s", dec, act.ID)
	}
	if list := d.ok("role", "assignment", "list", "--assignee", sp.AppID); !strings.Contains(list, act.ID) {
		t.Errorf("role assignment list lacks the activation:\n%s", list)
	}

	d.ok("login", "--service-principal", "-u", sp.AppID, "-p", sp.Password, "--tenant", info.TenantID)
	d.ok("role", "eligible", "deactivate", "--id", el.ID)
	d.fails("Forbidden", "role", "eligible", "delete", "--id", el.ID) // only an administrator removes eligibility
	d.logout()
	if dec := d.check(sp.AppID, getSecret, vault); dec.Allowed {
		t.Errorf("check after deactivation = %+v, want denied", dec)
	}
	d.ok("role", "eligible", "delete", "--id", el.ID)
	d.ok("role", "eligible", "delete", "--id", lax.ID)
	if left := decodeOut[[]client.EligibleAssignment](t, d.ok("role", "eligible", "list", "--assignee", sp.AppID, "-o", "json")); len(left) != 0 {
		t.Errorf("eligible assignments left after delete: %+v", left)
	}
	d.fails("was not found", "role", "eligible", "activate", "--id", el.ID, "--justification", "gone")
}
