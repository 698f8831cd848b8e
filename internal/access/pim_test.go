package access_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// TestPIM walks an eligible assignment through its life on an injected clock.
func TestPIM(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice, mallory := e.principal("alice"), e.principal("mallory")

	el, err := e.svc.CreateEligible(ctx, e.admin, alice, "Key Vault Secrets Officer", vault, time.Hour, true)
	if err != nil {
		t.Fatalf("CreateEligible = %v", err)
	}
	if el.MaxDuration != time.Hour || !el.RequireJustification || el.RoleName != "Key Vault Secrets Officer" {
		t.Errorf("CreateEligible = %+v", el)
	}
	if e.allowed(alice, access.SecretsSet, secret) {
		t.Fatal("an eligible assignment grants before activation")
	}

	step := func(name string, err error, kind errs.Kind, msg string) {
		t.Helper()
		wantKind(t, name, err, kind, msg)
	}
	_, err = e.svc.Activate(ctx, alice, el.ID, 30*time.Minute, "  ")
	step("Activate without justification", err, errs.Invalid, "needs a justification")
	_, err = e.svc.Activate(ctx, mallory, el.ID, 30*time.Minute, "I want it")
	step("Activate by another principal", err, errs.Forbidden, "only the eligible principal")
	_, err = e.svc.Activate(ctx, alice, el.ID, 2*time.Hour, "incident 42")
	step("Activate beyond the maximum", err, errs.Invalid, "1h0m0s")
	_, err = e.svc.Activate(ctx, alice, "no-such-id", 30*time.Minute, "incident 42")
	step("Activate an unknown eligibility", err, errs.NotFound, "no-such-id")

	start := e.clock.Now()
	a, err := e.svc.Activate(ctx, alice, el.ID, 30*time.Minute, "incident 42")
	if err != nil {
		t.Fatalf("Activate = %v", err)
	}
	if !a.Expires.Equal(start.Add(30*time.Minute)) || a.EligibilityID != el.ID || a.Justification != "incident 42" {
		t.Errorf("Activate = %+v, want expiry at %v from %s", a, start.Add(30*time.Minute), el.ID)
	}
	at := func(d time.Duration) { e.clock.Advance(start.Add(d).Sub(e.clock.Now())) }

	at(time.Minute)
	_, err = e.svc.Activate(ctx, alice, el.ID, 30*time.Minute, "again")
	step("double activation", err, errs.Conflict, "already active")

	at(29 * time.Minute)
	if !e.allowed(alice, access.SecretsSet, secret) {
		t.Errorf("at +29m: SecretsSet denied, want allowed by the activation")
	}
	at(31 * time.Minute)
	d := e.svc.Decide(alice, access.SecretsSet, secret)
	if d.Allowed {
		t.Fatalf("at +31m: Decide = %+v, want denied: the activation expired at +30m", d)
	}
	if want := "has expired"; !strings.Contains(d.Reason, want) {
		t.Errorf("at +31m: reason %q does not say %q", d.Reason, want)
	}

	// Re-activation after expiry replaces the expired activation.
	a2, err := e.svc.Activate(ctx, alice, el.ID, 0, "incident 43") // 0: the maximum
	if err != nil {
		t.Fatalf("re-Activate after expiry = %v", err)
	}
	if !a2.Expires.Equal(start.Add(31*time.Minute + time.Hour)) {
		t.Errorf("re-Activate expires %v, want the maximum of 1h from now", a2.Expires)
	}
	if !e.allowed(alice, access.SecretsSet, secret) {
		t.Errorf("after re-activation: SecretsSet denied")
	}
	as, _, err := e.svc.Assignments(ctx, store.AssignmentFilter{PrincipalID: alice}, store.Page{})
	if err != nil || len(as) != 1 || as[0].ID != a2.ID {
		t.Errorf("alice's assignments = %+v, %v; want only the new activation", as, err)
	}

	// Another principal may not end it; the eligible principal may, at once.
	step("Deactivate by another principal", e.svc.Deactivate(ctx, mallory, el.ID), errs.Forbidden, access.RoleAssignmentsDelete)
	if err := e.svc.Deactivate(ctx, alice, el.ID); err != nil {
		t.Fatalf("Deactivate = %v", err)
	}
	if e.allowed(alice, access.SecretsSet, secret) {
		t.Errorf("after Deactivate: SecretsSet allowed, want denied at once")
	}

	acts := e.eventsOf("eligible.activate")
	var allowed, denied int
	for _, ev := range acts {
		switch ev.Result {
		case "allowed":
			allowed++
		case "denied":
			denied++
		}
	}
	if allowed != 2 || denied != 1 || acts[len(acts)-1].Reason != "incident 43" || !acts[len(acts)-1].Until.Equal(a2.Expires) {
		t.Errorf("activation audit events = %+v, want 2 allowed (with the justification and the end) and 1 denied", acts)
	}
}

func TestCreateEligibleErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice := e.principal("alice")
	uaa := e.principal("uaa")
	e.assign(uaa, "User Access Administrator", "/")
	tests := []struct {
		name, caller string
		max          time.Duration
		kind         errs.Kind
		msg          string
	}{
		{"too short", e.admin, 30 * time.Second, errs.Invalid, "between 1m0s and 24h0m0s"},
		{"too long", e.admin, 25 * time.Hour, errs.Invalid, "between 1m0s and 24h0m0s"},
		{"escalation", uaa, time.Hour, errs.Forbidden, access.SecretsGet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateEligible(ctx, tc.caller, alice, "Key Vault Secrets Officer", vault, tc.max, false)
			wantKind(t, "CreateEligible", err, tc.kind, tc.msg)
		})
	}
	el, err := e.svc.CreateEligible(ctx, e.admin, alice, "Key Vault Secrets Officer", vault, 0, false)
	if err != nil || el.MaxDuration != access.DefaultActivation {
		t.Fatalf("CreateEligible(max 0) = %+v, %v; want the default maximum", el, err)
	}
	// Without RequireJustification, activation needs none; deleting the
	// eligibility ends its activation.
	if _, err := e.svc.Activate(ctx, alice, el.ID, time.Hour, ""); err != nil {
		t.Fatalf("Activate without justification when none is required = %v", err)
	}
	if !e.allowed(alice, access.SecretsSet, secret) {
		t.Fatal("activation did not grant")
	}
	if err := e.svc.DeleteEligible(ctx, e.admin, el.ID); err != nil {
		t.Fatalf("DeleteEligible = %v", err)
	}
	if e.allowed(alice, access.SecretsSet, secret) {
		t.Error("after DeleteEligible: its activation still grants")
	}
}
