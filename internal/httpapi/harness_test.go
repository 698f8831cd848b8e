package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// fakeClock is a clock tests move by hand. It is safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

// newFakeClock starts at the real time, truncated to the second, so that the
// SDKs and go-oidc, which read the wall clock, agree with the server.
func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is a real Latchkey HTTPS server: SQLite in a temporary folder, a
// sealed keyring, the identity service and the full router behind
// httptest.NewTLSServer.
type harness struct {
	ts       *httptest.Server
	identity *identity.Service
	clock    *fakeClock
	tenant   string
}

// newHarness starts a server; edit adjusts the identity options (throttle,
// lifetimes, JWKS fetcher) before the service is built.
func newHarness(t testing.TB, edit func(*identity.Options)) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/latchkey.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seal.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := install.Init(ctx, db, keys)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	log := slog.New(slog.DiscardHandler)
	opts := identity.Options{Store: db, Keys: keys, TenantID: inst.TenantID, Now: clk.Now, Logger: log}
	if edit != nil {
		edit(&opts)
	}
	svc, err := identity.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(httpapi.Options{Logger: log, Registry: prometheus.NewRegistry(), Identity: svc, Now: clk.Now})
	ts := httptest.NewTLSServer(srv)
	t.Cleanup(ts.Close)
	return &harness{ts: ts, identity: svc, clock: clk, tenant: inst.TenantID}
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
	claims, err := h.identity.Verify(t.Context(), token, audience)
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
	h := newHarness(b, func(o *identity.Options) {
		o.Throttle = identity.ThrottleOptions{PerClient: -1, PerAddress: -1}
	})
	sp, err := h.identity.CreateServicePrincipal(b.Context(), "bench-https", 0)
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
