package identity

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// fakeClock is a clock tests move by hand. It is safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newFakeClock() *fakeClock {
	// Near the real time, so certificates and third-party checks that read the
	// wall clock agree with the service.
	return &fakeClock{now: time.Now().UTC().Truncate(time.Second)}
}

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

// noThrottle disables both token request limits.
var noThrottle = ThrottleOptions{PerClient: -1, PerAddress: -1}

// testHost is the host test clients reach the token service by.
const testHost = "login.test"

// testEnv is a Service on a real SQLite store in a temporary folder.
type testEnv struct {
	s      *Service
	opts   Options
	clock  *fakeClock
	tenant string
}

// newTestEnv builds a Service with a fake clock and throttling off; edit
// adjusts its options before it is built.
func newTestEnv(t testing.TB, edit func(*Options)) *testEnv {
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
	opts := Options{Store: db, Keys: keys, TenantID: inst.TenantID, Now: clk.Now, Throttle: noThrottle}
	if edit != nil {
		edit(&opts)
	}
	s, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{s: s, opts: opts, clock: clk, tenant: inst.TenantID}
}

// replica builds a second Service on the same store, as another server would.
func (e *testEnv) replica(t testing.TB) *Service {
	t.Helper()
	s, err := New(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newSP creates a service principal and returns it with its secret.
func (e *testEnv) newSP(t testing.TB, name string) CreatedServicePrincipal {
	t.Helper()
	sp, err := e.s.CreateServicePrincipal(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// secretRequest is a client_credentials request with a client secret.
func secretRequest(clientID string, secret Secret, scope string) TokenRequest {
	return TokenRequest{
		GrantType: GrantClientCredentials, ClientID: clientID, ClientSecret: secret,
		Scope: scope, Host: testHost, RemoteAddr: "192.0.2.1",
	}
}

// tokenFor gets an access token for sp with its secret, failing the test if
// the service refuses.
func (e *testEnv) tokenFor(t testing.TB, sp CreatedServicePrincipal, scope string) TokenResponse {
	t.Helper()
	resp, err := e.s.Token(context.Background(), secretRequest(sp.Principal.AppID, sp.Secret, scope))
	if err != nil {
		t.Fatalf("Token(%s) = %v", sp.Principal.Name, err)
	}
	return resp
}

// tokenEndpoint is the audience client assertions must carry.
func (e *testEnv) tokenEndpoint() string {
	return "https://" + testHost + "/" + e.tenant + "/oauth2/v2.0/token"
}

// selfSignedCert makes an RSA key and a self-signed certificate valid around now.
func selfSignedCert(t testing.TB, now time.Time) (*x509.Certificate, *rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "latchkey-test-client"},
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

// signJWT signs claims with key under alg, with extra headers.
func signJWT(t testing.TB, alg jose.SignatureAlgorithm, key crypto.Signer, headers map[jose.HeaderKey]any, claims any) string {
	t.Helper()
	so := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range headers {
		so = so.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, so)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
