package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/gateway"
	"github.com/latchkey/latchkey/internal/identity"
)

// This file is the harness of the Key Vault data-plane tests: env with the
// vault services on TLS with a certificate of our own CA for
// *.vault.localhost, so that vaults are reached as
// https://{vault}.vault.localhost:PORT exactly as the Azure SDK requires
// (host-based vaults, challenge resource verification on).

// kvEnv is one installation serving the Key Vault data plane, with the hub
// "default" and the vaults "default" and "other", and an administrator who
// holds Owner and Key Vault Administrator at "/".
type kvEnv struct {
	*env
	admin kvPrincipal
}

// kvPrincipal is a service principal with its secret.
type kvPrincipal struct {
	ID, AppID, Secret string
}

// grant is a role at a scope.
type grant struct{ role, scope string }

// newKVEnv starts a server whose services all read clk, with the token
// endpoint unthrottled and the server's log kept.
func newKVEnv(t *testing.T, clk *fakeClock, gw ...*gateway.Gateway) *kvEnv {
	t.Helper()
	opts := envOptions{clock: clk, editIdentity: unthrottled, logs: true, keyVault: true}
	if len(gw) > 0 {
		opts.gateway = gw[0]
	}
	e := &kvEnv{env: newEnv(t, opts)}
	e.setUp()
	return e
}

// newKVEnvWith is newKVEnv with the options given (keyVault among them).
func newKVEnvWith(t *testing.T, opts envOptions) *kvEnv {
	t.Helper()
	e := &kvEnv{env: newEnv(t, opts)}
	e.setUp()
	return e
}

// setUp makes the administrator, the hub "default" and its vaults.
func (e *kvEnv) setUp() {
	e.t.Helper()
	e.admin = e.principal("admin", grant{"Owner", "/"}, grant{"Key Vault Administrator", "/"})
	for _, scope := range []string{"/hubs/default", "/hubs/default/vaults/default", "/hubs/default/vaults/other"} {
		if _, err := e.access.CreateResource(context.Background(), e.admin.ID, scope); err != nil {
			e.t.Fatalf("CreateResource(%s) = %v", scope, err)
		}
	}
}

// vaultURL is the data-plane URL of vault name.
func (e *kvEnv) vaultURL(name string) string { return "https://" + name + ".vault.localhost:" + e.port }

// resource is the vault data plane's token audience (the challenge's resource).
func (e *kvEnv) resource() string { return "https://vault.localhost:" + e.port }

// authorityHost is the Entra authority host clients are configured with.
func (e *kvEnv) authorityHost() string { return "https://localhost:" + e.port + "/" }

// principal creates a service principal holding the grants.
func (e *kvEnv) principal(name string, grants ...grant) kvPrincipal {
	e.t.Helper()
	sp, err := e.ids.CreateServicePrincipal(context.Background(), name, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range grants {
		if err := e.access.Bootstrap(context.Background(), sp.Principal.ID, g.role, g.scope); err != nil {
			e.t.Fatalf("Bootstrap(%s, %s, %s) = %v", name, g.role, g.scope, err)
		}
	}
	return kvPrincipal{ID: sp.Principal.ID, AppID: sp.Principal.AppID, Secret: sp.Secret.Reveal()}
}

// token gets an access token for p with audience resource from the token
// endpoint, as any OAuth2 client would.
func (e *kvEnv) token(p kvPrincipal, resource string) string {
	e.t.Helper()
	form := url.Values{"grant_type": {identity.GrantClientCredentials}, "client_id": {p.AppID}, "client_secret": {p.Secret},
		"scope": {resource + "/.default"}}
	resp, err := e.hc.PostForm(e.authorityHost()+e.tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		e.t.Fatalf("token endpoint = %d, %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

// kvAnswer is a response, read whole.
type kvAnswer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to target (a full URL) with token ("" for none) and
// body ("" for none: Content-Length 0, as the SDK's first request).
func (e *kvEnv) do(method, target, token, body string) kvAnswer {
	e.t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return kvAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// kvErr is Key Vault's error object.
type kvErr struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

// wantError checks an error answer: status, code, inner code ("" for none),
// the x-ms-error-code header, and that only 401s carry the bearer challenge.
func (a kvAnswer) wantError(t *testing.T, what string, status int, code, inner string) kvErr {
	t.Helper()
	var e kvErr
	if a.status != status {
		t.Fatalf("%s = %d %s, want %d", what, a.status, a.body, status)
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s: body %s is not a Key Vault error object: %v", what, a.body, err)
	}
	gotInner := ""
	if e.Error.InnerError != nil {
		gotInner = e.Error.InnerError.Code
	}
	if e.Error.Code != code || gotInner != inner {
		t.Errorf("%s: code %s/%s, want %s/%s (%s)", what, e.Error.Code, gotInner, code, inner, e.Error.Message)
	}
	if h := a.header.Get("x-ms-error-code"); h != code {
		t.Errorf("%s: x-ms-error-code %q, want %q", what, h, code)
	}
	if h := a.header.Get("WWW-Authenticate"); (h != "") != (status == http.StatusUnauthorized) {
		t.Errorf("%s: status %d with WWW-Authenticate %q", what, status, h)
	}
	return e
}

// sdkOptions are the azcore options of every SDK client: our transport and
// few retries.
func (e *kvEnv) sdkOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.authorityHost()},
		Transport: e.hc,
		Retry:     policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond},
	}
}

// secretsClient is the real azsecrets client for vault name, signed in as p
// with ClientSecretCredential. Challenge resource verification stays on.
func (e *kvEnv) secretsClient(p kvPrincipal, name string) *azsecrets.Client {
	e.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.tenant, p.AppID, p.Secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.sdkOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := azsecrets.NewClient(e.vaultURL(name), cred, &azsecrets.ClientOptions{ClientOptions: e.sdkOptions()})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// wireLog records every exchange of the client: method, URL and status.
type wireLog struct {
	next http.RoundTripper
	mu   sync.Mutex // guards log
	log  []exchange
}

type exchange struct {
	method, url string
	status      int
}

func (w *wireLog) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(r)
	x := exchange{method: r.Method, url: r.URL.String()}
	if err == nil {
		x.status = resp.StatusCode
	}
	w.mu.Lock()
	w.log = append(w.log, x)
	w.mu.Unlock()
	return resp, err
}

// exchanges returns what was sent so far.
func (w *wireLog) exchanges() []exchange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]exchange(nil), w.log...)
}

// update rewrites the golden files instead of comparing with them:
//
//	go test ./internal/httpapi -run KV -update
var update = flag.Bool("update", false, "rewrite testdata/*/*.golden with the current output")

const apiVersion = "api-version=2026-04-01"

// fixedClock is the clock of golden tests: 2026-03-01T12:00:00Z (unix 1772366400).
func fixedClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

var (
	uuidPattern   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	versionInText = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	keyInText     = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
)

// normalise replaces what changes from run to run (port, tenant and other
// ids, versions) with placeholders.
func (e *kvEnv) normalise(s string) string {
	s = strings.ReplaceAll(s, "localhost:"+e.port, "localhost:{port}")
	s = strings.ReplaceAll(s, e.tenant, "{tenant}")
	s = uuidPattern.ReplaceAllString(s, "{uuid}")
	s = keyInText.ReplaceAllString(s, "{key}")
	return versionInText.ReplaceAllString(s, "{version}")
}

// golden compares an answer (status, the headers a client reads, and the
// body, indented) with testdata/keyvault/name.golden.
func (e *kvEnv) golden(t *testing.T, name string, a kvAnswer) {
	t.Helper()
	e.goldenIn(t, "keyvault", name, a)
}

// goldenIn is golden for testdata/dir/name.golden.
func (e *kvEnv) goldenIn(t *testing.T, dir, name string, a kvAnswer) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", a.status, http.StatusText(a.status))
	for _, h := range []string{"Content-Type", "WWW-Authenticate", "X-Ms-Error-Code"} {
		if v := a.header.Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, e.normalise(v))
		}
	}
	if len(a.body) > 0 {
		var body bytes.Buffer
		if err := json.Indent(&body, []byte(e.normalise(string(a.body))), "", "  "); err != nil {
			t.Fatalf("%s: body %s is not JSON: %v", name, a.body, err)
		}
		b.WriteString("\n" + body.String() + "\n")
	}
	path := filepath.Join("testdata", dir, name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go test ./internal/httpapi -run %s -update to create it", err, t.Name())
	}
	if d := cmp.Diff(string(want), b.String()); d != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", name, path, d)
	}
}

// secretURL is the URL of path in vault "default" with the api-version.
func (e *kvEnv) secretURL(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return e.vaultURL("default") + path + sep + apiVersion
}

// bundle is the part of a SecretBundle (or item) the tests read.
type bundle struct {
	Value       *string           `json:"value"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  struct {
		Enabled *bool `json:"enabled"`
	} `json:"attributes"`
	RecoveryID string `json:"recoveryId"`
}

func (b bundle) version() string { return b.ID[strings.LastIndexByte(b.ID, '/')+1:] }

type page struct {
	Value    []bundle `json:"value"`
	NextLink *string  `json:"nextLink"`
}

func decode[T any](t *testing.T, a kvAnswer) T {
	t.Helper()
	var v T
	if a.status != http.StatusOK {
		t.Fatalf("status %d %s, want 200", a.status, a.body)
	}
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
	return v
}
