package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/identity"
)

// harness is the server of the identity tests: env with a fake clock, and
// helpers for the token endpoint and go-oidc.
type harness struct{ *env }

// newHarness starts a server; edit adjusts the identity options (throttle,
// lifetimes, JWKS fetcher) before the service is built.
func newHarness(t testing.TB, edit func(*identity.Options)) *harness {
	t.Helper()
	return &harness{newEnv(t, envOptions{clock: newFakeClock(), editIdentity: edit})}
}

// clientOptions points an Azure SDK client at the harness: its authority
// host, its CA (through the test server's client) and no retries.
func (h *harness) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: h.ts.URL + "/"},
		Transport: h.ts.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// issuer is the issuer URL clients reaching the harness see.
func (h *harness) issuer() string { return h.ts.URL + "/" + h.tenant + "/v2.0" }

// tokenURL is the harness's token endpoint.
func (h *harness) tokenURL() string { return h.ts.URL + "/" + h.tenant + "/oauth2/v2.0/token" }

// checkToken verifies an access token twice, with the identity service and
// with go-oidc (issuer from discovery, audience, expiry, ES256 signature via
// the published JWKS), and returns the service's claims.
func (h *harness) checkToken(t *testing.T, token, audience string) *identity.Claims {
	t.Helper()
	claims, err := h.ids.Verify(t.Context(), token, audience)
	if err != nil {
		t.Fatalf("identity.Verify = %v", err)
	}
	ctx := oidc.ClientContext(t.Context(), h.ts.Client())
	provider, err := oidc.NewProvider(ctx, h.issuer())
	if err != nil {
		t.Fatalf("oidc.NewProvider(%s) = %v", h.issuer(), err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: audience, Now: h.clock.Now}).Verify(ctx, token)
	if err != nil {
		t.Fatalf("go-oidc Verify = %v", err)
	}
	if idt.Issuer != h.issuer() || idt.Subject != claims.Subject || !idt.Expiry.Equal(claims.ExpiresAt()) {
		t.Errorf("go-oidc saw iss %s sub %s exp %v; the service saw %s %s %v", idt.Issuer, idt.Subject, idt.Expiry, claims.Issuer, claims.Subject, claims.ExpiresAt())
	}
	// A verifier for another audience must refuse the same token.
	if _, err := provider.Verifier(&oidc.Config{ClientID: "https://management.latchkey", Now: h.clock.Now}).Verify(ctx, token); err == nil {
		t.Errorf("go-oidc accepted the token for another audience")
	}
	return claims
}

// tokenAnswer is what the token endpoint said.
type tokenAnswer struct {
	status int
	header http.Header
	body   []byte
}

// oauthError decodes an error answer.
func (a tokenAnswer) oauthError(t testing.TB) (code string, aadsts int) {
	t.Helper()
	var e struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.Error == "" || len(e.ErrorCodes) != 1 {
		t.Fatalf("token endpoint error body %s: %v", a.body, err)
	}
	return e.Error, e.ErrorCodes[0]
}

// accessToken decodes a success answer.
func (a tokenAnswer) accessToken(t testing.TB) string {
	t.Helper()
	var ok struct {
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		AccessToken string `json:"access_token"`
	}
	if a.status != http.StatusOK {
		t.Fatalf("token endpoint = %d %s, want 200", a.status, a.body)
	}
	if err := json.Unmarshal(a.body, &ok); err != nil || ok.AccessToken == "" || ok.TokenType != "Bearer" || ok.ExpiresIn <= 0 {
		t.Fatalf("token endpoint body %s: %v", a.body, err)
	}
	return ok.AccessToken
}

// postToken posts a form to the token endpoint with the client hc.
func (h *harness) postToken(t testing.TB, hc *http.Client, form url.Values) tokenAnswer {
	t.Helper()
	return h.postRaw(t, hc, h.tokenURL(), "application/x-www-form-urlencoded", form.Encode())
}

func (h *harness) postRaw(t testing.TB, hc *http.Client, target, contentType, body string) tokenAnswer {
	t.Helper()
	if hc == nil {
		hc = h.ts.Client()
	}
	resp, err := hc.Post(target, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return tokenAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// secretForm is a client_credentials request as MSAL sends it.
func secretForm(clientID, secret string) url.Values {
	return url.Values{
		"grant_type": {identity.GrantClientCredentials}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {"https://vault.azure.net/.default openid offline_access profile"},
	}
}

// BenchmarkTokenEndpointHTTPS measures client_credentials token requests over
// TLS with keep-alive connections, from every core at once.
func BenchmarkTokenEndpointHTTPS(b *testing.B) {
	h := newHarness(b, unthrottled)
	sp, err := h.ids.CreateServicePrincipal(b.Context(), "bench-https", 0)
	if err != nil {
		b.Fatal(err)
	}
	body := secretForm(sp.Principal.AppID, sp.Secret.Reveal()).Encode()
	tr := h.ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * runtime.GOMAXPROCS(0) // every RunParallel goroutine keeps its connection
	hc := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Post(h.tokenURL(), "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("token endpoint = %d", resp.StatusCode)
				return
			}
		}
	})
}
