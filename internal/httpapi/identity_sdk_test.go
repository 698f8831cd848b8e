package httpapi_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
)

// These tests drive the token service with the clients applications run
// (azidentity over MSAL) and check every token with the service and with
// go-oidc, as a relying party would.

const (
	vaultScope    = "https://vault.azure.net/.default"
	vaultAudience = "https://vault.azure.net"
)

// getToken asks cred for a Key Vault token.
func getToken(t *testing.T, cred azcore.TokenCredential) (azcore.AccessToken, error) {
	t.Helper()
	return cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
}

// TestSDKClientSecretCredential: ClientSecretCredential gets a token that both
// verifiers accept, with the claims of an app that used a secret.
func TestSDKClientSecretCredential(t *testing.T) {
	h := newHarness(t, nil)
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "sdk-secret", 0)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewClientSecretCredential(h.tenant, sp.Principal.AppID, sp.Secret.Reveal(),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: h.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := getToken(t, cred)
	if err != nil {
		t.Fatalf("GetToken = %v", err)
	}
	c := h.checkToken(t, tok.Token, vaultAudience)
	if c.IDType != "app" || c.AppID != sp.Principal.AppID || c.AuthorizedParty != sp.Principal.AppID ||
		c.ObjectID != sp.Principal.ID || c.TenantID != h.tenant || c.AuthMethod != "1" || c.Version != "2.0" {
		t.Errorf("claims = %+v", c)
	}
	if want := h.clock.Now().Add(h.ids.TokenLifetime()); tok.ExpiresOn.Sub(want).Abs() > time.Minute {
		t.Errorf("ExpiresOn = %v, want about %v", tok.ExpiresOn, want)
	}
	// A wrong secret is an authentication failure the SDK reports as such.
	bad, err := azidentity.NewClientSecretCredential(h.tenant, sp.Principal.AppID, "not-the-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: h.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = getToken(t, bad)
	checkRefused(t, err, identity.CodeInvalidClient)
}

// selfSignedCert makes an RSA 2048 key and a self-signed certificate.
func selfSignedCert(t *testing.T, now time.Time) (*x509.Certificate, *rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "latchkey-sdk-test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestSDKClientCertificateCredential: ClientCertificateCredential signs
// assertions (PS256, x5t#S256 thumbprint, optionally the x5c chain) that the
// service accepts for a certificate registered as PEM.
func TestSDKClientCertificateCredential(t *testing.T) {
	h := newHarness(t, nil)
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "sdk-cert", 0)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, certPEM := selfSignedCert(t, h.clock.Now())
	if _, err := h.ids.AddCertificate(t.Context(), sp.Principal.AppID, "sdk", certPEM); err != nil {
		t.Fatal(err)
	}
	for _, chain := range []bool{false, true} {
		t.Run("SendCertificateChain="+map[bool]string{false: "false", true: "true"}[chain], func(t *testing.T) {
			cred, err := azidentity.NewClientCertificateCredential(h.tenant, sp.Principal.AppID, []*x509.Certificate{cert}, key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: h.clientOptions(), DisableInstanceDiscovery: true, SendCertificateChain: chain})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := getToken(t, cred)
			if err != nil {
				t.Fatalf("GetToken = %v", err)
			}
			c := h.checkToken(t, tok.Token, vaultAudience)
			if c.IDType != "app" || c.AppID != sp.Principal.AppID || c.ObjectID != sp.Principal.ID || c.AuthMethod != "2" {
				t.Errorf("claims = %+v", c)
			}
		})
	}
	// A certificate that is not registered gets invalid_client.
	otherCert, otherKey, _ := selfSignedCert(t, h.clock.Now())
	cred, err := azidentity.NewClientCertificateCredential(h.tenant, sp.Principal.AppID, []*x509.Certificate{otherCert}, otherKey,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: h.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = getToken(t, cred)
	checkRefused(t, err, identity.CodeInvalidClient)
}

// oidcIssuer is a test-local OIDC issuer standing in for a Kubernetes cluster:
// discovery and a JWKS over TLS, and service account tokens signed with RS256.
type oidcIssuer struct {
	ts        *httptest.Server
	key       *rsa.PrivateKey
	kid       string
	jwks      []byte
	jwksCalls atomic.Int32
}

func newOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &oidcIssuer{key: key, kid: "sa-key-1"}
	i.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: i.kid, Algorithm: string(jose.RS256), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": i.ts.URL, "jwks_uri": i.jwksURL(), "response_types_supported": []string{"id_token"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		i.jwksCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(i.jwks)
	})
	i.ts = httptest.NewTLSServer(mux)
	t.Cleanup(i.ts.Close)
	return i
}

func (i *oidcIssuer) jwksURL() string { return i.ts.URL + "/openid/v1/jwks" }

// serviceAccountToken signs a projected service account token; edit changes
// its claims.
func (i *oidcIssuer) serviceAccountToken(t *testing.T, now time.Time, edit func(*jwt.Claims)) string {
	t.Helper()
	c := jwt.Claims{
		Issuer: i.ts.URL, Subject: "system:serviceaccount:team-a:app", Audience: jwt.Audience{identity.DefaultFederatedAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}
	if edit != nil {
		edit(&c)
	}
	return signJWT(t, jose.RS256, i.key, i.kid, c)
}

func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key crypto.Signer, kid string, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// workloadCredential writes token to a file, as the workload identity webhook
// projects it, and builds a WorkloadIdentityCredential reading it.
func (h *harness) workloadCredential(t *testing.T, clientID, token string) *azidentity.WorkloadIdentityCredential {
	t.Helper()
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: h.clientOptions(), TenantID: h.tenant, ClientID: clientID, TokenFilePath: path, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// TestSDKWorkloadIdentityCredential exchanges a Kubernetes service account
// token for a Latchkey token, with the issuer's keys fetched from its jwksUri
// over TLS or given inline.
func TestSDKWorkloadIdentityCredential(t *testing.T) {
	tests := []struct {
		name   string
		inline bool
	}{
		{"jwksUri", false},
		{"inline jwks", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss := newOIDCIssuer(t)
			h := newHarness(t, func(o *identity.Options) {
				if !tc.inline {
					o.JWKS = httpapi.JWKSFetcher{Client: iss.ts.Client()}
				}
			})
			sp, err := h.ids.CreateServicePrincipal(t.Context(), "workload", 0)
			if err != nil {
				t.Fatal(err)
			}
			fc := identity.FederatedCredential{Name: "team-a", Issuer: iss.ts.URL, Subject: "system:serviceaccount:team-a:*"}
			if tc.inline {
				fc.JWKS = iss.jwks
			} else {
				fc.JWKSURI = iss.jwksURL()
			}
			if _, err := h.ids.AddFederatedCredential(t.Context(), sp.Principal.AppID, fc); err != nil {
				t.Fatal(err)
			}
			cred := h.workloadCredential(t, sp.Principal.AppID, iss.serviceAccountToken(t, h.clock.Now(), nil))
			tok, err := getToken(t, cred)
			if err != nil {
				t.Fatalf("GetToken = %v", err)
			}
			c := h.checkToken(t, tok.Token, vaultAudience)
			if c.IDType != "app" || c.AppID != sp.Principal.AppID || c.ObjectID != sp.Principal.ID || c.AuthMethod != "2" {
				t.Errorf("claims = %+v", c)
			}
			wantFetches := int32(1)
			if tc.inline {
				wantFetches = 0
			}
			if got := iss.jwksCalls.Load(); got != wantFetches {
				t.Errorf("the issuer's JWKS was fetched %d times, want %d", got, wantFetches)
			}
		})
	}
}

// TestSDKWorkloadIdentityRefused: external tokens that do not fit the
// federated credential get invalid_client, which the SDK reports as an
// AuthenticationFailedError.
func TestSDKWorkloadIdentityRefused(t *testing.T) {
	iss := newOIDCIssuer(t)
	h := newHarness(t, func(o *identity.Options) { o.JWKS = httpapi.JWKSFetcher{Client: iss.ts.Client()} })
	sp, err := h.ids.CreateServicePrincipal(t.Context(), "workload", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ids.AddFederatedCredential(t.Context(), sp.Principal.AppID, identity.FederatedCredential{
		Name: "team-a", Issuer: iss.ts.URL, Subject: "system:serviceaccount:team-a:*", JWKSURI: iss.jwksURL(),
	}); err != nil {
		t.Fatal(err)
	}
	impostorKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	tests := []struct {
		name  string
		token string
	}{
		{"wrong subject", iss.serviceAccountToken(t, now, func(c *jwt.Claims) { c.Subject = "system:serviceaccount:team-b:app" })},
		{"wrong issuer", iss.serviceAccountToken(t, now, func(c *jwt.Claims) { c.Issuer = "https://oidc.elsewhere.test" })},
		{"wrong audience", iss.serviceAccountToken(t, now, func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://kubernetes.default.svc"} })},
		{"expired", iss.serviceAccountToken(t, now, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)) })},
		{"signed by another key under the issuer's kid", signJWT(t, jose.RS256, impostorKey, iss.kid, jwt.Claims{
			Issuer: iss.ts.URL, Subject: "system:serviceaccount:team-a:app", Audience: jwt.Audience{identity.DefaultFederatedAudience},
			Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := getToken(t, h.workloadCredential(t, sp.Principal.AppID, tc.token))
			checkRefused(t, err, identity.CodeInvalidClient)
		})
	}
}

// checkRefused checks that err is the SDK's AuthenticationFailedError over an
// OAuth error answer with the code want.
func checkRefused(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("GetToken succeeded, want a refusal")
	}
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("GetToken error %T %v, want *azidentity.AuthenticationFailedError", err, err)
	}
	if afe.RawResponse == nil {
		t.Fatalf("AuthenticationFailedError carries no response: %v", err)
	}
	body, perr := runtime.Payload(afe.RawResponse) // reads the body and keeps it for Error()
	var e struct {
		Error string `json:"error"`
	}
	if perr != nil || json.Unmarshal(body, &e) != nil || e.Error != want {
		t.Errorf("GetToken refused with %d %s, want %s", afe.RawResponse.StatusCode, body, want)
	}
	if !strings.Contains(err.Error(), `"error": "`+want+`"`) {
		t.Errorf("the SDK's error text does not show the server's answer: %v", err)
	}
	if want == identity.CodeInvalidClient && afe.RawResponse.StatusCode != http.StatusUnauthorized {
		t.Errorf("refusal status = %d, want 401", afe.RawResponse.StatusCode)
	}
}

// TestPasswordGrant: a local user signs in with the password grant (what the
// CLI does) and gets a user token.
func TestPasswordGrant(t *testing.T) {
	h := newHarness(t, nil)
	user, err := h.ids.CreateUser(t.Context(), "alice@example.test", identity.NewSecret("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{
		"grant_type": {identity.GrantPassword}, "username": {"alice@example.test"},
		"password": {"correct horse battery staple"}, "scope": {vaultScope + " openid profile offline_access"},
	}
	ans := h.postToken(t, nil, form)
	if cc := ans.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	c := h.checkToken(t, ans.accessToken(t), vaultAudience)
	if c.IDType != "user" || c.ObjectID != user.ID || c.PreferredUsername != "alice@example.test" || c.AppID != identity.CLIClientID || c.AuthMethod != "0" {
		t.Errorf("claims = %+v", c)
	}
	form.Set("password", "wrong password, long enough")
	ans = h.postToken(t, nil, form)
	if code, aadsts := ans.oauthError(t); ans.status != http.StatusBadRequest || code != identity.CodeInvalidGrant || aadsts != 50126 {
		t.Errorf("wrong password = %d %s %d, want 400 invalid_grant 50126", ans.status, code, aadsts)
	}
}
