package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/errs"
)

const vaultAudience = "https://vault.azure.net"

// signOwn signs c with the service's active key, for tokens the token endpoint
// would never issue (another issuer, a future nbf).
func (e *testEnv) signOwn(t testing.TB, c Claims) string {
	t.Helper()
	tok, err := jwt.Signed(e.s.keys.Load().active.signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "verify-app")
	issued := e.tokenFor(t, sp, vaultAudience+"/.default")
	good := issued.AccessToken
	ours := issued.Claims
	kid := e.s.keys.Load().active.id
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	withIssuer := func(iss string) Claims { c := ours; c.Issuer = iss; c.TokenID = randomID(); return c }
	notYet := ours
	notYet.NotBefore, notYet.TokenID = ours.IssuedAt+int64((10*time.Minute).Seconds()), randomID()
	parts := strings.Split(good, ".")
	otherPayload := strings.Split(e.tokenFor(t, sp, "api://other/.default").AccessToken, ".")[1]
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + kid + `"}`))

	tests := []struct {
		name      string
		token     string
		audiences []string
		after     time.Duration // time since issue at which Verify runs
		wantErr   string        // "" means the token verifies
	}{
		{"valid", good, []string{vaultAudience}, 0, ""},
		{"valid, audience compared without case and trailing slash", good, []string{"https://VAULT.azure.net/"}, 0, ""},
		{"valid, one of several audiences", good, []string{"https://management.latchkey", vaultAudience}, 0, ""},
		{"valid, no audience asked", good, nil, 0, ""},
		{"valid one second before exp", good, []string{vaultAudience}, time.Hour - time.Second, ""},
		{"expired at exp", good, []string{vaultAudience}, time.Hour, "expired"},
		{"expired long ago", good, []string{vaultAudience}, 48 * time.Hour, "expired"},
		{"wrong audience", good, []string{"https://management.latchkey"}, 0, "audience"},
		{"not valid yet", e.signOwn(t, notYet), []string{vaultAudience}, 0, "not valid yet"},
		{"another tenant's issuer", e.signOwn(t, withIssuer("https://"+testHost+"/other-tenant/v2.0")), nil, 0, "issuer"},
		{"http issuer", e.signOwn(t, withIssuer("http://"+testHost+"/"+e.tenant+"/v2.0")), nil, 0, "issuer"},
		{"issuer without v2.0", e.signOwn(t, withIssuer("https://"+testHost+"/"+e.tenant)), nil, 0, "issuer"},
		{"foreign key with our kid", signJWT(t, jose.ES256, foreign, map[jose.HeaderKey]any{"kid": kid}, ours), nil, 0, "signature"},
		{"foreign key with an unknown kid", signJWT(t, jose.ES256, foreign, map[jose.HeaderKey]any{"kid": "not-ours"}, ours), nil, 0, "not signed by a current"},
		{"foreign key without kid", signJWT(t, jose.ES256, foreign, nil, ours), nil, 0, "not signed by a current"},
		{"payload swapped under our signature", parts[0] + "." + otherPayload + "." + parts[2], nil, 0, "signature"},
		{"alg none", noneHeader + "." + parts[1] + ".", nil, 0, "well-formed"},
		{"empty", "", nil, 0, "well-formed"},
		{"garbage", "not.a.jwt", nil, 0, "well-formed"},
		{"two parts", parts[0] + "." + parts[1], nil, 0, "well-formed"},
	}
	start := e.clock.Now()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(start.Add(tc.after).Sub(e.clock.Now()))
			c, err := e.s.Verify(ctx, tc.token, tc.audiences...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				if c.ObjectID != sp.Principal.ID || c.AppID != sp.Principal.AppID || c.TenantID != e.tenant {
					t.Errorf("Verify = oid %s appid %s tid %s, want %s %s %s", c.ObjectID, c.AppID, c.TenantID, sp.Principal.ID, sp.Principal.AppID, e.tenant)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify succeeded, want an error containing %q", tc.wantErr)
			}
			if k := errs.KindOf(err); k != errs.Unauthenticated {
				t.Errorf("Verify error kind = %v, want Unauthenticated", k)
			}
			msg := errs.Message(err)
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("Verify error = %q, want it to mention %q", msg, tc.wantErr)
			}
			if tc.token != "" && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token) {
				t.Errorf("Verify error echoes the token: %v", err)
			}
		})
	}
}

// TestVerifyRevokedPrincipal: deleting or disabling a principal refuses its
// tokens at once, also tokens already verified and cached.
func TestVerifyRevokedPrincipal(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		revoke func(e *testEnv, id string) error
	}{
		{"deleted", func(e *testEnv, id string) error { return e.s.DeletePrincipal(ctx, id) }},
		{"disabled", func(e *testEnv, id string) error { _, err := e.s.SetEnabled(ctx, id, false); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			sp := e.newSP(t, "revoked-app")
			tok := e.tokenFor(t, sp, vaultAudience+"/.default").AccessToken
			if _, err := e.s.Verify(ctx, tok, vaultAudience); err != nil {
				t.Fatalf("Verify before revocation = %v", err)
			}
			if err := tc.revoke(e, sp.Principal.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.Verify(ctx, tok, vaultAudience); err == nil || !strings.Contains(errs.Message(err), "deleted or disabled") {
				t.Errorf("Verify after %s = %v, want a refusal naming the principal", tc.name, err)
			}
			if _, err := e.s.Token(ctx, secretRequest(sp.Principal.AppID, sp.Secret, vaultAudience+"/.default")); err == nil {
				t.Errorf("Token after %s succeeded, want invalid_client", tc.name)
			} else if oe := OAuthErrorOf(err); oe.Code != CodeInvalidClient {
				t.Errorf("Token after %s = %v, want invalid_client", tc.name, err)
			}
		})
	}
}

// TestVerifyDisabledThenEnabled: re-enabling restores the principal's tokens.
func TestVerifyDisabledThenEnabled(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "toggled-app")
	tok := e.tokenFor(t, sp, vaultAudience+"/.default").AccessToken
	if _, err := e.s.SetEnabled(ctx, sp.Principal.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Verify(ctx, tok); err == nil {
		t.Fatal("Verify of a disabled principal's token succeeded")
	}
	if _, err := e.s.SetEnabled(ctx, sp.Principal.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Verify(ctx, tok); err != nil {
		t.Errorf("Verify after re-enabling = %v, want success", err)
	}
}
