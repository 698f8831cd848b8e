package httpapi_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/identity"
)

// get fetches a path of the harness.
func (h *harness) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := h.ts.Client().Get(h.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestDiscoveryAndJWKS: the discovery document names this host's endpoints,
// and the JWKS holds public ES256 keys only.
func TestDiscoveryAndJWKS(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.get(t, "/"+h.tenant+"/v2.0/.well-known/openid-configuration")
	var doc struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		JWKSURI       string   `json:"jwks_uri"`
		Algs          []string `json:"id_token_signing_alg_values_supported"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("discovery = %d %s", resp.StatusCode, body)
	}
	base := h.ts.URL + "/" + h.tenant
	if doc.Issuer != base+"/v2.0" || doc.TokenEndpoint != base+"/oauth2/v2.0/token" || doc.JWKSURI != base+"/discovery/v2.0/keys" || len(doc.Algs) != 1 || doc.Algs[0] != "ES256" {
		t.Errorf("discovery = %+v", doc)
	}
	resp, body = h.get(t, "/"+h.tenant+"/discovery/v2.0/keys")
	var set jose.JSONWebKeySet
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &set) != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS = %d %s", resp.StatusCode, body)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Algorithm != "ES256" || k.KeyID == "" {
			t.Errorf("JWKS key %s: public %v alg %s", k.KeyID, k.IsPublic(), k.Algorithm)
		}
	}
	if bytes.Contains(body, []byte(`"d"`)) {
		t.Errorf("JWKS holds a private part: %s", body)
	}
	for _, path := range []string{"/other-tenant/v2.0/.well-known/openid-configuration", "/other-tenant/discovery/v2.0/keys"} {
		if resp, body := h.get(t, path); resp.StatusCode != http.StatusNotFound || !bytes.Contains(body, []byte("AADSTS90002")) {
			t.Errorf("GET %s = %d %s, want 404 AADSTS90002", path, resp.StatusCode, body)
		}
	}
}

// ourKID returns the kid of the server's published key.
func (h *harness) ourKID(t *testing.T) string {
	t.Helper()
	_, body := h.get(t, "/"+h.tenant+"/discovery/v2.0/keys")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	return set.Keys[0].KeyID
}

// TestBadTokensRefused: tokens that are expired, for another audience, or not
// signed by our keys are refused by the service and by go-oidc alike.
func TestBadTokensRefused(t *testing.T) {
	h := newHarness(t, nil)
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "bad-tokens", 0)
	if err != nil {
		t.Fatal(err)
	}
	good := h.postToken(t, nil, secretForm(sp.Principal.AppID, sp.Secret.Reveal())).accessToken(t)
	c := h.checkToken(t, good, vaultAudience)
	kid := h.ourKID(t)
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	alg := func(header string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1] + "." + parts[2]
	}
	ctx := oidc.ClientContext(t.Context(), h.ts.Client())
	provider, err := oidc.NewProvider(ctx, h.issuer())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		token    string
		audience string
		after    time.Duration
	}{
		{"expired", good, vaultAudience, h.ids.TokenLifetime() + time.Second},
		{"another audience", good, "https://management.latchkey", 0},
		{"another issuer's key under our kid", signJWT(t, jose.ES256, foreign, kid, c), vaultAudience, 0},
		{"another issuer's key under an unknown kid", signJWT(t, jose.ES256, foreign, "unknown-kid", c), vaultAudience, 0},
		{"our header claims alg none", alg(`{"alg":"none","kid":"` + kid + `"}`), vaultAudience, 0},
		{"our header claims HS256", alg(`{"alg":"HS256","kid":"` + kid + `"}`), vaultAudience, 0},
		{"signature cut off", parts[0] + "." + parts[1] + ".", vaultAudience, 0},
	}
	start := h.clock.Now()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Advance(start.Add(tc.after).Sub(h.clock.Now()))
			if _, err := h.ids.Verify(t.Context(), tc.token, tc.audience); err == nil {
				t.Error("identity.Verify accepted the token")
			}
			v := provider.Verifier(&oidc.Config{ClientID: tc.audience, Now: h.clock.Now})
			if _, err := v.Verify(ctx, tc.token); err == nil {
				t.Error("go-oidc accepted the token")
			}
		})
	}
}

// normalise blanks what differs between two answers to the same failure:
// the request id and the time.
func normalise(t *testing.T, a tokenAnswer) string {
	t.Helper()
	var e struct {
		Timestamp string `json:"timestamp"`
		TraceID   string `json:"trace_id"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.TraceID == "" || e.TraceID != a.header.Get("X-Request-Id") {
		t.Fatalf("error body %s: %v (X-Request-Id %s)", a.body, err, a.header.Get("X-Request-Id"))
	}
	s := strings.ReplaceAll(string(a.body), e.TraceID, "<id>")
	return strings.ReplaceAll(s, e.Timestamp, "<time>")
}

// TestTokenEndpointNoClientOracle: a wrong credential for an existing client
// and any credential for a client that does not exist get byte-identical
// answers (apart from request id and time), so the token endpoint does not
// tell which client ids exist.
func TestTokenEndpointNoClientOracle(t *testing.T) {
	h := newHarness(t, nil)
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "oracle", 0)
	if err != nil {
		t.Fatal(err)
	}
	disabled, err := h.ids.CreateServicePrincipal(t.Context(), "oracle-disabled", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ids.SetEnabled(t.Context(), disabled.Principal.ID, false); err != nil {
		t.Fatal(err)
	}
	_, certKey, certPEM := selfSignedCert(t, h.clock.Now())
	if _, err := h.ids.AddCertificate(t.Context(), sp.Principal.AppID, "c", certPEM); err != nil {
		t.Fatal(err)
	}
	_, strangerKey, _ := selfSignedCert(t, h.clock.Now())
	const unknown = "3f8c2a8e-0000-4000-8000-000000000000"
	assertionForm := func(clientID string, key any) url.Values {
		now := h.clock.Now()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{h.tokenURL()},
			Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), ID: now.String() + clientID}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_assertion": {a},
			"client_assertion_type": {identity.AssertionTypeJWTBearer}, "scope": {vaultScope}}
	}
	groups := []struct {
		name  string
		forms map[string]url.Values
	}{
		{"client secret", map[string]url.Values{
			"unknown client":                 secretForm(unknown, sp.Secret.Reveal()),
			"wrong secret":                   secretForm(sp.Principal.AppID, "wrong-"+sp.Secret.Reveal()),
			"disabled client, right secret":  secretForm(disabled.Principal.AppID, disabled.Secret.Reveal()),
			"another client's secret":        secretForm(sp.Principal.AppID, disabled.Secret.Reveal()),
			"unknown client, not a uuid":     secretForm("not-a-guid", "x"),
			"client with certificate, wrong": secretForm(sp.Principal.AppID, "x"),
		}},
		{"certificate assertion", map[string]url.Values{
			"unknown client":                    assertionForm(unknown, strangerKey),
			"unregistered key":                  assertionForm(sp.Principal.AppID, strangerKey),
			"disabled client":                   assertionForm(disabled.Principal.AppID, strangerKey),
			"unknown client, key of a real one": assertionForm(unknown, certKey),
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			var first, firstName string
			for name, form := range g.forms {
				ans := h.postToken(t, nil, form)
				if code, aadsts := ans.oauthError(t); ans.status != http.StatusUnauthorized || code != identity.CodeInvalidClient || aadsts != 7000215 {
					t.Errorf("%s: %d %s %d, want 401 invalid_client 7000215", name, ans.status, code, aadsts)
				}
				got := normalise(t, ans) + "|" + ans.header.Get("Content-Type") + "|" + ans.header.Get("Cache-Control") + "|" + ans.header.Get("Www-Authenticate")
				if first == "" {
					first, firstName = got, name
					continue
				}
				if got != first {
					t.Errorf("answers differ:\n%s: %s\n%s: %s", firstName, first, name, got)
				}
			}
		})
	}
}

// TestTokenEndpointThrottled: with one request a second and a burst of two,
// the third immediate request gets 429 with Retry-After, and a second later
// the client is served again.
func TestTokenEndpointThrottled(t *testing.T) {
	h := newHarness(t, func(o *identity.Options) {
		o.Throttle = identity.ThrottleOptions{PerClient: 1, ClientBurst: 2}
	})
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "throttled", 0)
	if err != nil {
		t.Fatal(err)
	}
	form := secretForm(sp.Principal.AppID, sp.Secret.Reveal())
	for i := range 2 {
		if ans := h.postToken(t, nil, form); ans.status != http.StatusOK {
			t.Fatalf("request %d = %d %s, want 200", i+1, ans.status, ans.body)
		}
	}
	ans := h.postToken(t, nil, form)
	code, aadsts := ans.oauthError(t)
	if ans.status != http.StatusTooManyRequests || code != identity.CodeTemporarilyUnavail || aadsts != 50196 {
		t.Errorf("third request = %d %s %d, want 429 temporarily_unavailable 50196", ans.status, code, aadsts)
	}
	if ra := ans.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}
	// The bucket is per client: another client is served.
	other, err := h.ids.CreateServicePrincipal(t.Context(), "not-throttled", 0)
	if err != nil {
		t.Fatal(err)
	}
	if ans := h.postToken(t, nil, secretForm(other.Principal.AppID, other.Secret.Reveal())); ans.status != http.StatusOK {
		t.Errorf("another client = %d, want 200", ans.status)
	}
	h.clock.Advance(time.Second)
	if ans := h.postToken(t, nil, form); ans.status != http.StatusOK {
		t.Errorf("a second later = %d %s, want 200", ans.status, ans.body)
	}
}

// TestTokenEndpointSecretReset: after ResetSecret the old secret gets
// invalid_client, the new one works, and tokens issued before keep verifying
// until their exp.
func TestTokenEndpointSecretReset(t *testing.T) {
	h := newHarness(t, nil)
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "reset", 0)
	if err != nil {
		t.Fatal(err)
	}
	before := h.postToken(t, nil, secretForm(sp.Principal.AppID, sp.Secret.Reveal())).accessToken(t)
	reset, err := h.ids.ResetSecret(t.Context(), sp.Principal.AppID, 0)
	if err != nil {
		t.Fatal(err)
	}
	ans := h.postToken(t, nil, secretForm(sp.Principal.AppID, sp.Secret.Reveal()))
	if code, _ := ans.oauthError(t); ans.status != http.StatusUnauthorized || code != identity.CodeInvalidClient {
		t.Errorf("old secret after reset = %d %s, want 401 invalid_client", ans.status, code)
	}
	after := h.postToken(t, nil, secretForm(sp.Principal.AppID, reset.Secret.Reveal())).accessToken(t)
	h.checkToken(t, after, vaultAudience)
	h.clock.Advance(h.ids.TokenLifetime() - time.Second)
	h.checkToken(t, before, vaultAudience) // still valid one second before exp
	h.clock.Advance(time.Second)
	if _, err := h.ids.Verify(t.Context(), before, vaultAudience); err == nil {
		t.Error("a token from the old secret verified at its exp")
	}
}

// TestTokenEndpointRevokedPrincipal: deleting or disabling a principal
// refuses its issued tokens at once and gives it no new ones.
func TestTokenEndpointRevokedPrincipal(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(h *harness, id string) error
	}{
		{"DeletePrincipal", func(h *harness, id string) error { return h.ids.DeletePrincipal(t.Context(), id) }},
		{"SetEnabled false", func(h *harness, id string) error {
			_, err := h.ids.SetEnabled(t.Context(), id, false)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sp, err := h.ids.CreateServicePrincipal(t.Context(), "revoked", 0)
			if err != nil {
				t.Fatal(err)
			}
			form := secretForm(sp.Principal.AppID, sp.Secret.Reveal())
			tok := h.postToken(t, nil, form).accessToken(t)
			h.checkToken(t, tok, vaultAudience) // verified once, so cached
			if err := tc.revoke(h, sp.Principal.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := h.ids.Verify(t.Context(), tok, vaultAudience); err == nil {
				t.Error("Verify accepted the token of a revoked principal")
			}
			if ans := h.postToken(t, nil, form); ans.status != http.StatusUnauthorized {
				t.Errorf("token request after revocation = %d %s, want 401", ans.status, ans.body)
			}
		})
	}
}

// TestTokenEndpointAssertionReplay: the same client assertion (same jti) is
// accepted once.
func TestTokenEndpointAssertionReplay(t *testing.T) {
	h := newHarness(t, nil)
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "replay", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, key, certPEM := selfSignedCert(t, h.clock.Now())
	if _, err := h.ids.AddCertificate(t.Context(), sp.Principal.AppID, "c", certPEM); err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: sp.Principal.AppID, Subject: sp.Principal.AppID, Audience: jwt.Audience{h.tokenURL()},
		Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now), ID: "jti-once",
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {sp.Principal.AppID}, "client_assertion": {assertion},
		"client_assertion_type": {identity.AssertionTypeJWTBearer}, "scope": {vaultScope + " openid offline_access profile"}}
	h.checkToken(t, h.postToken(t, nil, form).accessToken(t), vaultAudience)
	ans := h.postToken(t, nil, form)
	if code, aadsts := ans.oauthError(t); ans.status != http.StatusUnauthorized || code != identity.CodeInvalidClient || aadsts != 7000215 {
		t.Errorf("replayed assertion = %d %s %d, want 401 invalid_client 7000215", ans.status, code, aadsts)
	}
}

// TestTokenEndpointBadRequests: malformed requests get Entra's error fields
// with the right status, and never a token.
func TestTokenEndpointBadRequests(t *testing.T) {
	h := newHarness(t, nil)
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "bad-requests", 0)
	if err != nil {
		t.Fatal(err)
	}
	good := secretForm(sp.Principal.AppID, sp.Secret.Reveal())
	with := func(k, v string) string {
		f := url.Values{}
		for key, vs := range good {
			f[key] = vs
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f.Encode()
	}
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
	}{
		{"another tenant", "/other-tenant/oauth2/v2.0/token", form, good.Encode(), http.StatusNotFound, identity.CodeInvalidRequest},
		{"no grant_type", "", form, with("grant_type", ""), http.StatusBadRequest, identity.CodeInvalidRequest},
		{"authorization_code", "", form, with("grant_type", "authorization_code"), http.StatusBadRequest, identity.CodeUnsupportedGrantType},
		{"no scope", "", form, with("scope", ""), http.StatusBadRequest, identity.CodeInvalidScope},
		{"scope without .default", "", form, with("scope", "https://vault.azure.net/user_impersonation"), http.StatusBadRequest, identity.CodeInvalidScope},
		{"no client_id", "", form, with("client_id", ""), http.StatusBadRequest, identity.CodeInvalidRequest},
		{"duplicate client_id", "", form, good.Encode() + "&client_id=other", http.StatusBadRequest, identity.CodeInvalidRequest},
		{"JSON body", "", "application/json", `{"grant_type":"client_credentials"}`, http.StatusBadRequest, identity.CodeInvalidRequest},
		{"body over 64 KiB", "", form, good.Encode() + "&pad=" + strings.Repeat("a", 64<<10), http.StatusBadRequest, identity.CodeInvalidRequest},
		{"assertion that is not a JWT", "", form, with("client_secret", "") + "&client_assertion=abc&client_assertion_type=" + url.QueryEscape(identity.AssertionTypeJWTBearer), http.StatusUnauthorized, identity.CodeInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := h.tokenURL()
			if tc.path != "" {
				target = h.ts.URL + tc.path
			}
			ans := h.postRaw(t, nil, target, tc.contentType, tc.body)
			code, _ := ans.oauthError(t)
			if ans.status != tc.wantStatus || code != tc.wantCode {
				t.Errorf("= %d %s (%s), want %d %s", ans.status, code, ans.body, tc.wantStatus, tc.wantCode)
			}
			if ans.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(ans.header.Get("Content-Type"), "application/json") {
				t.Errorf("headers Cache-Control %q Content-Type %q", ans.header.Get("Cache-Control"), ans.header.Get("Content-Type"))
			}
			if strings.Contains(string(ans.body), sp.Secret.Reveal()) {
				t.Errorf("the error body echoes the client secret")
			}
		})
	}
}
