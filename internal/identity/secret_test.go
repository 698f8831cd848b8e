package identity

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestResetSecret: after a reset the old secret gets no new tokens, while the
// tokens it got before stay valid until they expire (clients cache them).
func TestResetSecret(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "reset-app")
	scope := vaultAudience + "/.default"
	before := e.tokenFor(t, sp, scope)

	e.clock.Advance(time.Minute)
	reset, err := e.s.ResetSecret(ctx, sp.Principal.AppID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if reset.Secret.Reveal() == sp.Secret.Reveal() || reset.Principal.ID != sp.Principal.ID {
		t.Fatalf("ResetSecret returned the old secret or another principal")
	}
	if _, err := e.s.Token(ctx, secretRequest(sp.Principal.AppID, sp.Secret, scope)); err != errBadClient {
		t.Errorf("Token with the old secret = %v, want the invalid_client answer", err)
	}
	if _, err := e.s.Token(ctx, secretRequest(sp.Principal.AppID, reset.Secret, scope)); err != nil {
		t.Errorf("Token with the new secret = %v", err)
	}
	if _, err := e.s.Verify(ctx, before.AccessToken, vaultAudience); err != nil {
		t.Errorf("Verify of a token issued before the reset = %v, want success until exp", err)
	}
	e.clock.Advance(before.Claims.ExpiresAt().Sub(e.clock.Now()))
	if _, err := e.s.Verify(ctx, before.AccessToken, vaultAudience); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Verify at the token's exp = %v, want expired", err)
	}
}

// TestSecretExpires: a secret past its lifetime is refused like a wrong one.
func TestSecretExpires(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp, err := e.s.CreateServicePrincipal(ctx, "short-lived", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req := secretRequest(sp.Principal.AppID, sp.Secret, vaultAudience+"/.default")
	e.clock.Advance(time.Hour)
	if _, err := e.s.Token(ctx, req); err != nil {
		t.Errorf("Token at the secret's expiry instant = %v, want success", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.s.Token(ctx, req); err != errBadClient {
		t.Errorf("Token after the secret expired = %v, want the invalid_client answer", err)
	}
}

// TestBadClientOneAnswer: an unknown client, a wrong secret, an empty secret
// list, a disabled client and another client's secret all get the same error
// value, so the answer tells nothing about which clients exist.
func TestBadClientOneAnswer(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "one-answer")
	other := e.newSP(t, "other")
	disabled := e.newSP(t, "disabled")
	if _, err := e.s.SetEnabled(ctx, disabled.Principal.ID, false); err != nil {
		t.Fatal(err)
	}
	scope := vaultAudience + "/.default"
	tests := []struct {
		name     string
		clientID string
		secret   Secret
	}{
		{"unknown client", "00000000-0000-0000-0000-000000000000", sp.Secret},
		{"wrong secret", sp.Principal.AppID, NewSecret("wrong")},
		{"another client's secret", sp.Principal.AppID, other.Secret},
		{"secret's hint only", sp.Principal.AppID, NewSecret(sp.Secret.Reveal()[:3])},
		{"disabled client, right secret", disabled.Principal.AppID, disabled.Secret},
	}
	for _, tc := range tests {
		if _, err := e.s.Token(ctx, secretRequest(tc.clientID, tc.secret, scope)); err != errBadClient {
			t.Errorf("%s: Token = %v, want the invalid_client answer", tc.name, err)
		}
	}
}
