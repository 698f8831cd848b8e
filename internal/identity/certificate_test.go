package identity

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/errs"
)

// assertionRequest is a client_credentials request with a client assertion.
func assertionRequest(clientID, assertion string) TokenRequest {
	return TokenRequest{
		GrantType: GrantClientCredentials, ClientID: clientID, ClientAssertion: assertion,
		ClientAssertionType: AssertionTypeJWTBearer, Scope: vaultAudience + "/.default",
		Host: testHost, RemoteAddr: "192.0.2.1",
	}
}

// certAssertionClaims are the claims MSAL puts in a certificate assertion.
func (e *testEnv) certAssertionClaims(clientID string) jwt.Claims {
	now := e.clock.Now()
	return jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{e.tokenEndpoint()},
		Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now), ID: randomID(),
	}
}

// TestCertificateAssertion covers client assertions signed with a registered
// certificate: the encodings of its thumbprint clients send, and every rule an
// assertion must pass (audience, time window, lifetime, jti, sub).
func TestCertificateAssertion(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "cert-app")
	appID := sp.Principal.AppID
	cert, key, certPEM := selfSignedCert(t, e.clock.Now())
	if _, err := e.s.AddCertificate(ctx, appID, "ci", certPEM); err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := selfSignedCert(t, e.clock.Now())
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	std, raw := base64.StdEncoding, base64.RawURLEncoding

	type edit func(c *jwt.Claims)
	tests := []struct {
		name     string
		alg      jose.SignatureAlgorithm
		headers  map[jose.HeaderKey]any
		edit     edit
		other    bool   // sign with a key that is not the certificate's
		wantCode string // "" means a token is issued
		wantAAD  int
	}{
		{"MSAL: PS256, x5t#S256 in standard base64", jose.PS256, map[jose.HeaderKey]any{"x5t#S256": std.EncodeToString(s256[:])}, nil, false, "", 0},
		{"ADFS style: RS256, x5t in standard base64", jose.RS256, map[jose.HeaderKey]any{"x5t": std.EncodeToString(s1[:])}, nil, false, "", 0},
		{"x5t#S256 in base64url", jose.PS256, map[jose.HeaderKey]any{"x5t#S256": raw.EncodeToString(s256[:])}, nil, false, "", 0},
		{"x5t in base64url", jose.RS256, map[jose.HeaderKey]any{"x5t": raw.EncodeToString(s1[:])}, nil, false, "", 0},
		{"no thumbprint", jose.RS256, nil, nil, false, "", 0},
		{"v1 token endpoint audience", jose.RS256, nil, func(c *jwt.Claims) {
			c.Audience = jwt.Audience{"https://other.host/" + e.tenant + "/oauth2/token"}
		}, false, "", 0},
		{"thumbprint of another certificate", jose.PS256, map[jose.HeaderKey]any{"x5t#S256": raw.EncodeToString(make([]byte, 32))}, nil, false, CodeInvalidClient, 7000215},
		{"signed by another key", jose.PS256, nil, nil, true, CodeInvalidClient, 7000215},
		{"audience of another tenant", jose.PS256, nil, func(c *jwt.Claims) {
			c.Audience = jwt.Audience{"https://" + testHost + "/other/oauth2/v2.0/token"}
		}, false, CodeInvalidClient, 7000215},
		{"audience is the issuer", jose.PS256, nil, func(c *jwt.Claims) {
			c.Audience = jwt.Audience{"https://" + testHost + "/" + e.tenant + "/v2.0"}
		}, false, CodeInvalidClient, 7000215},
		{"expired", jose.PS256, nil, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(e.clock.Now().Add(-time.Second)) }, false, CodeInvalidClient, 7000215},
		{"no exp", jose.PS256, nil, func(c *jwt.Claims) { c.Expiry = nil }, false, CodeInvalidClient, 7000215},
		{"lives longer than a day", jose.PS256, nil, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(e.clock.Now().Add(25 * time.Hour)) }, false, CodeInvalidClient, 7000215},
		{"not valid yet", jose.PS256, nil, func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(e.clock.Now().Add(time.Hour)) }, false, CodeInvalidClient, 7000215},
		{"no jti", jose.PS256, nil, func(c *jwt.Claims) { c.ID = "" }, false, CodeInvalidClient, 7000215},
		{"sub is not the client", jose.PS256, nil, func(c *jwt.Claims) { c.Subject = "someone-else" }, false, CodeInvalidClient, 7000215},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.certAssertionClaims(appID)
			if tc.edit != nil {
				tc.edit(&c)
			}
			signer := key
			if tc.other {
				signer = otherKey
			}
			assertion := signJWT(t, tc.alg, signer, tc.headers, c)
			resp, err := e.s.Token(ctx, assertionRequest(appID, assertion))
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("Token = %v, want a token", err)
				}
				if resp.Claims.AuthMethod != authCertificate || resp.Claims.AppID != appID {
					t.Errorf("Token claims azpacr %q appid %q, want %q %q", resp.Claims.AuthMethod, resp.Claims.AppID, authCertificate, appID)
				}
				return
			}
			if err == nil {
				t.Fatalf("Token issued, want %s", tc.wantCode)
			}
			if oe := OAuthErrorOf(err); oe.Code != tc.wantCode || oe.AADSTS != tc.wantAAD {
				t.Errorf("Token = %s %d (%v), want %s %d", oe.Code, oe.AADSTS, err, tc.wantCode, tc.wantAAD)
			}
		})
	}
}

// TestCertificateAssertionReplay: an assertion is accepted once.
func TestCertificateAssertionReplay(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "replay-app")
	_, key, certPEM := selfSignedCert(t, e.clock.Now())
	if _, err := e.s.AddCertificate(ctx, sp.Principal.AppID, "", certPEM); err != nil {
		t.Fatal(err)
	}
	assertion := signJWT(t, jose.PS256, key, nil, e.certAssertionClaims(sp.Principal.AppID))
	if _, err := e.s.Token(ctx, assertionRequest(sp.Principal.AppID, assertion)); err != nil {
		t.Fatalf("first use: Token = %v", err)
	}
	_, err := e.s.Token(ctx, assertionRequest(sp.Principal.AppID, assertion))
	if oe := OAuthErrorOf(err); err == nil || oe.Code != CodeInvalidClient || oe.AADSTS != 7000215 {
		t.Errorf("second use: Token = %v, want invalid_client 7000215", err)
	}
	// A new assertion with a new jti works again.
	again := signJWT(t, jose.PS256, key, nil, e.certAssertionClaims(sp.Principal.AppID))
	if _, err := e.s.Token(ctx, assertionRequest(sp.Principal.AppID, again)); err != nil {
		t.Errorf("fresh assertion: Token = %v", err)
	}
}

// TestCertificateLifecycle: an expired certificate, or one of a disabled
// principal, gets the one invalid_client answer.
func TestCertificateLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "cert-life")
	_, key, certPEM := selfSignedCert(t, e.clock.Now()) // valid for 24 hours
	if _, err := e.s.AddCertificate(ctx, sp.Principal.AppID, "", certPEM); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SetEnabled(ctx, sp.Principal.ID, false); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Token(ctx, assertionRequest(sp.Principal.AppID, signJWT(t, jose.PS256, key, nil, e.certAssertionClaims(sp.Principal.AppID))))
	if err != errBadClient {
		t.Errorf("disabled principal: Token = %v, want the invalid_client answer", err)
	}
	if _, err := e.s.SetEnabled(ctx, sp.Principal.ID, true); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(25 * time.Hour)
	_, err = e.s.Token(ctx, assertionRequest(sp.Principal.AppID, signJWT(t, jose.PS256, key, nil, e.certAssertionClaims(sp.Principal.AppID))))
	if err != errBadClient {
		t.Errorf("expired certificate: Token = %v, want the invalid_client answer", err)
	}
}

func TestAddCertificateRejects(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, nil)
	sp := e.newSP(t, "cert-input")
	cert, key, certPEM := selfSignedCert(t, e.clock.Now())
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"PEM", certPEM, true},
		{"DER", cert.Raw, true},
		{"private key PEM", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), false},
		{"garbage", []byte("hello"), false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		_, err := e.s.AddCertificate(ctx, sp.Principal.AppID, tc.name, tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("AddCertificate(%s) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if !tc.ok && errs.KindOf(err) != errs.Invalid {
			t.Errorf("AddCertificate(%s) kind = %v, want Invalid", tc.name, errs.KindOf(err))
		}
	}
	e.clock.Advance(48 * time.Hour)
	if _, err := e.s.AddCertificate(ctx, sp.Principal.AppID, "late", certPEM); errs.KindOf(err) != errs.Invalid {
		t.Errorf("AddCertificate of an expired certificate = %v, want Invalid", err)
	}
	if _, err := e.s.AddCertificate(ctx, "no-such-app", "", certPEM); errs.KindOf(err) != errs.NotFound {
		t.Errorf("AddCertificate for an unknown app = %v, want NotFound", err)
	}
}
