package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
)

// staticToken is a TokenSource that always gives one token.
type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

// managementClient is the Go client of /api/v1 acting as p.
func (e *kvEnv) managementClient(p kvPrincipal) *client.Client {
	base := strings.TrimSuffix(e.authorityHost(), "/")
	return client.New(base, e.hc, staticToken(e.token(p, client.ManagementAudience)))
}

// getSecret reads a secret's value through the Key Vault data plane as p.
func (e *kvEnv) getSecret(p kvPrincipal, vault, name string) int {
	e.t.Helper()
	return e.do("GET", e.vaultURL(vault)+"/secrets/"+name+"?api-version=2025-07-01", e.token(p, e.resource()), "").status
}

func (e *kvEnv) setSecret(p kvPrincipal, vault, name, value string) {
	e.t.Helper()
	a := e.do("PUT", e.vaultURL(vault)+"/secrets/"+name+"?api-version=2025-07-01", e.token(p, e.resource()), `{"value":"`+value+`"}`)
	if a.status != http.StatusOK {
		e.t.Fatalf("set %s/%s = %d %s", vault, name, a.status, a.body)
	}
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != status {
		t.Errorf("%s = %v, want HTTP %d", what, err, status)
	}
}

// TestAccessEndToEnd drives access control over HTTPS with the Go client and
// the Key Vault data plane, as the Done-when lists it.
func TestAccessEndToEnd(t *testing.T) {
	clk := newFakeClock()
	e := newKVEnv(t, clk)
	ctx := context.Background()
	admin := e.managementClient(e.admin)
	e.setSecret(e.admin, "default", "db", "hunter2")
	e.setSecret(e.admin, "other", "db", "hunter3")

	t.Run("Contributor on a hub manages vaults but reads no values", func(t *testing.T) {
		contributor := e.principal("contributor", grant{"Contributor", "/hubs/default"})
		cc := e.managementClient(contributor)
		if _, err := cc.PutVault(ctx, "default", "team"); err != nil {
			t.Fatalf("Contributor creating a vault in its hub: %v", err)
		}
		if err := cc.DeleteVault(ctx, "team"); err != nil {
			t.Fatalf("Contributor deleting that vault: %v", err)
		}
		if got := e.getSecret(contributor, "default", "db"); got != http.StatusForbidden {
			t.Errorf("Contributor reading a secret value = %d, want 403 (control plane roles never grant data actions)", got)
		}
		_, err := cc.PutHub(ctx, "elsewhere")
		wantStatus(t, "Contributor at a hub creating another hub", err, http.StatusForbidden)
	})

	t.Run("Secrets User on one vault reads there and not in its sibling", func(t *testing.T) {
		app := e.principal("app")
		if _, err := admin.CreateRoleAssignment(ctx, client.CreateRoleAssignmentRequest{
			Assignee: app.AppID, Role: "Key Vault Secrets User", Scope: "/hubs/default/vaults/default",
		}); err != nil {
			t.Fatal(err)
		}
		if got := e.getSecret(app, "default", "db"); got != http.StatusOK {
			t.Errorf("Secrets User reading in its vault = %d, want 200", got)
		}
		if got := e.getSecret(app, "other", "db"); got != http.StatusForbidden {
			t.Errorf("Secrets User reading in the sibling vault = %d, want 403", got)
		}
	})

	t.Run("an assignment by someone without the right is refused", func(t *testing.T) {
		reader := e.principal("reader", grant{"Reader", "/"})
		_, err := e.managementClient(reader).CreateRoleAssignment(ctx, client.CreateRoleAssignmentRequest{
			Assignee: reader.AppID, Role: "Owner", Scope: "/",
		})
		wantStatus(t, "a Reader assigning itself Owner", err, http.StatusForbidden)

		uaa := e.principal("uaa", grant{"User Access Administrator", "/"})
		_, err = e.managementClient(uaa).CreateRoleAssignment(ctx, client.CreateRoleAssignmentRequest{
			Assignee: uaa.AppID, Role: "Key Vault Secrets User", Scope: "/hubs/default/vaults/other",
		})
		wantStatus(t, "a User Access Administrator granting data actions it does not hold", err, http.StatusForbidden)
		if got := e.getSecret(uaa, "other", "db"); got != http.StatusForbidden {
			t.Errorf("after the refused assignment the UAA reads = %d, want 403", got)
		}
	})

	t.Run("an activated eligible assignment works until it expires and not after", func(t *testing.T) {
		oncall := e.principal("oncall")
		justify := true
		el, err := admin.CreateEligible(ctx, client.CreateEligibleRequest{
			Assignee: oncall.AppID, Role: "Key Vault Secrets User", Scope: "/hubs/default/vaults/other",
			MaxDurationMinutes: 60, RequireJustification: &justify,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.getSecret(oncall, "other", "db"); got != http.StatusForbidden {
			t.Fatalf("eligible but not active: read = %d, want 403", got)
		}
		self := e.managementClient(oncall)
		_, err = self.Activate(ctx, el.ID, client.ActivateRequest{DurationMinutes: 30})
		wantStatus(t, "activation without a justification", err, http.StatusBadRequest)
		_, err = admin.Activate(ctx, el.ID, client.ActivateRequest{Justification: "not mine", DurationMinutes: 30})
		wantStatus(t, "activation by another principal", err, http.StatusForbidden)
		if _, err := self.Activate(ctx, el.ID, client.ActivateRequest{Justification: "incident 42", DurationMinutes: 30}); err != nil {
			t.Fatal(err)
		}
		if got := e.getSecret(oncall, "other", "db"); got != http.StatusOK {
			t.Errorf("right after activation: read = %d, want 200", got)
		}
		clk.Advance(29 * time.Minute)
		if got := e.getSecret(oncall, "other", "db"); got != http.StatusOK {
			t.Errorf("29 minutes into a 30-minute activation: read = %d, want 200", got)
		}
		clk.Advance(2 * time.Minute)
		if got := e.getSecret(oncall, "other", "db"); got != http.StatusForbidden {
			t.Errorf("31 minutes into a 30-minute activation: read = %d, want 403", got)
		}
	})
}

// TestAccountRecords: AI services accounts' records are created, listed,
// shown and deleted like the other resources, their names unique in the
// tenant.
func TestAccountRecords(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	ctx := context.Background()
	admin := e.managementClient(e.admin)
	if _, err := admin.PutAccount(ctx, "default", "aoai"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutHub(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	_, err := admin.PutAccount(ctx, "second", "aoai")
	wantStatus(t, "a second account named aoai in another hub", err, http.StatusConflict)
	list, err := admin.Accounts(ctx, "default")
	if err != nil || len(list) != 1 || list[0].ID != "/hubs/default/accounts/aoai" || list[0].Kind != "Account" {
		t.Errorf("Accounts(default) = %+v, %v", list, err)
	}
	if a, err := admin.Account(ctx, "default", "aoai"); err != nil || a.Name != "aoai" {
		t.Errorf("Account = %+v, %v", a, err)
	}
	stranger := e.managementClient(e.principal("stranger"))
	_, err = stranger.Account(ctx, "default", "aoai")
	wantStatus(t, "a stranger reading the account", err, http.StatusForbidden)
	if err := admin.DeleteAccount(ctx, "default", "aoai"); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Account(ctx, "default", "aoai")
	wantStatus(t, "the deleted account", err, http.StatusNotFound)
}
