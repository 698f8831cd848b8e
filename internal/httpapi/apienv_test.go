package httpapi_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
)

// This file is the harness of the management API tests: a real server over
// SQLite, the real client, and helpers to make certificates and key sets.

// apiEnv is env with an Authorizer that allows only the bootstrap admin and
// records what it was asked, the server's log kept, and the real client
// signed in as that admin.
type apiEnv struct {
	*env
	tokenURL  string
	adminID   string
	adminApp  *client.ClientCredentials
	admin     *client.Client
	mu        sync.Mutex // guards decisions
	decisions []string   // "action scope", as the Authorizer saw them
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	e := &apiEnv{}
	e.env = newEnv(t, envOptions{authorize: e.authorize, logs: true})
	admin, secret, _, err := e.ids.BootstrapAdmin(t.Context(), e.db, identity.Secret{})
	if err != nil {
		t.Fatal(err)
	}
	e.adminID = admin.ID
	e.tokenURL = client.TokenURL(e.ts.URL, e.tenant)
	e.adminApp = e.credentials(admin.AppID, secret.Reveal())
	e.admin = client.New(e.ts.URL, e.ts.Client(), e.adminApp)
	return e
}

func (e *apiEnv) authorize(_ context.Context, c *identity.Claims, action httpapi.Action, scope string) error {
	e.mu.Lock()
	e.decisions = append(e.decisions, string(action)+" "+scope)
	e.mu.Unlock()
	if c.ObjectID == e.adminID {
		return nil
	}
	return errs.E(errs.Forbidden, "test.authorize", "only the bootstrap admin may "+string(action), nil)
}

// decided reports whether the Authorizer was asked about action on scope.
func (e *apiEnv) decided(action httpapi.Action, scope string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.decisions {
		if d == string(action)+" "+scope {
			return true
		}
	}
	return false
}

// clientAs returns a client signed in as the service principal appID.
func (e *apiEnv) clientAs(appID, secret string) *client.Client {
	return client.New(e.ts.URL, e.ts.Client(), e.credentials(appID, secret))
}

func (e *apiEnv) credentials(appID, secret string) *client.ClientCredentials {
	return &client.ClientCredentials{TokenURL: e.tokenURL, ClientID: appID, Secret: secret, HTTPClient: e.ts.Client()}
}

// raw sends a request with the admin's token and returns status and body.
func (e *apiEnv) raw(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	tok, err := e.adminApp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// wantAPIError checks that err is a *client.Error with the given status.
func wantAPIError(t *testing.T, what string, err error, status int) *client.Error {
	t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: err = %v, want a *client.Error with status %d", what, err, status)
	}
	if ae.StatusCode != status {
		t.Fatalf("%s: status %d (%v), want %d", what, ae.StatusCode, ae, status)
	}
	if ae.RequestID == "" {
		t.Errorf("%s: the error has no request id", what)
	}
	return ae
}

func decodeJSON[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// newCertificate makes a self-signed certificate and returns its PEM and
// base64url SHA-1 thumbprint.
func newCertificate(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ci"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), base64.RawURLEncoding.EncodeToString(sum[:])
}

// newJWKS makes a JSON Web Key Set of one P-256 key.
func newJWKS(t *testing.T) json.RawMessage {
	t.Helper()
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt := key.PublicKey().Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	return json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"` +
		b64(pt[1:33]) + `","y":"` + b64(pt[33:]) + `"}]}`)
}
