package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/auditsink"
	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/gateway"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/review"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file builds the one real server every end-to-end test of the package
// drives: SQLite in a temporary folder, a sealed keyring, an installation, the
// identity service and the full router on TLS. envOptions say what a suite
// needs beyond that. Each surface wraps an env with its own helpers: harness
// (Entra token endpoint, go-oidc checks), apiEnv (management API as the
// bootstrap admin) and kvEnv (Key Vault data plane).

// envOptions say how an env differs from the plain server.
type envOptions struct {
	// clock drives the services and the router; nil means real time.
	clock *fakeClock
	// editIdentity adjusts the identity options (throttle, lifetimes, JWKS
	// fetcher) before the service is built.
	editIdentity func(*identity.Options)
	// authorize decides the routes. Nil denies them all, except with keyVault,
	// where the access service decides.
	authorize httpapi.Authorizer
	// logs keeps the server's log, at Debug, in env.logs; otherwise it is
	// discarded.
	logs bool
	// keyVault adds the access, vault, account and audit services and serves the data
	// plane on *.vault.localhost with a certificate of a test CA. The sandbox
	// has no DNS for those hosts: env.hc dials every host at the server's
	// 127.0.0.1:PORT, while TLS verification and SNI follow the URL.
	keyVault bool
	// noAudit leaves the audit writer out of the server (with keyVault), for
	// the benchmark that compares secret reads with and without auditing.
	noAudit bool
	// auditDefaults runs the audit writer with its production defaults
	// rather than the short batch delay that keeps tests quick.
	auditDefaults bool
	// auditSink copies the audit trail, as a sink does, as JSON Lines into
	// env.sinkOut.
	auditSink bool
	// gateway forwards the accounts' model calls (with keyVault).
	gateway *gateway.Gateway
	// connections adds the connection service (it needs keyVault).
	connections bool
}

// env is a real Latchkey server and what a test needs to reach into it.
type env struct {
	t      testing.TB
	ts     *httptest.Server
	hc     *http.Client // trusts the server's certificate (and, with keyVault, dials every host at it)
	clock  *fakeClock   // nil when the server reads the real time
	tenant string
	db     *sqlite.DB
	ids    *identity.Service
	logs   *lockedBuffer        // the server's log; nil unless envOptions.logs
	reg    *prometheus.Registry // what /metrics serves: the server's and the services' metrics

	// Set only with envOptions.keyVault.
	access   *access.Service
	vault    *vault.Service
	accounts *account.Service
	trail    *audit.Writer
	review   *review.Service
	// With envOptions.auditSink: the sink and what it wrote.
	sink    *auditsink.Sink
	sinkOut *lockedBuffer
	path    string // the SQLite file
	port    string
	wire    *wireLog            // what hc sent and received
	conns   *connection.Service // set only with envOptions.connections
}

// newEnv starts a server as opts say and stops it when the test ends.
func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, clock: opts.clock}
	var now func() time.Time // nil: time.Now
	if opts.clock != nil {
		now = opts.clock.Now
	}
	log := slog.New(slog.DiscardHandler)
	if opts.logs {
		e.logs = &lockedBuffer{}
		log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	keys := e.install(ctx)
	idOpts := identity.Options{Store: e.db, Keys: keys, TenantID: e.tenant, Now: now, Logger: log}
	if opts.editIdentity != nil {
		opts.editIdentity(&idOpts)
	}
	var err error
	if e.ids, err = identity.New(ctx, idOpts); err != nil {
		t.Fatal(err)
	}
	e.reg = prometheus.NewRegistry()
	srvOpts := httpapi.Options{Logger: log, Registry: e.reg, Identity: e.ids, Authorize: opts.authorize, Now: now}
	if !opts.keyVault {
		e.registerMetrics(httpapi.MetricSources{Identity: e.ids})
		e.ts = httptest.NewTLSServer(httpapi.New(srvOpts))
		t.Cleanup(e.ts.Close)
		e.hc = e.ts.Client()
		return e
	}
	e.startVaultServices(ctx, keys, log, now, opts)
	srvOpts.Access, srvOpts.Vault, srvOpts.VaultDomain = e.access, e.vault, "localhost"
	if !opts.noAudit {
		srvOpts.Audit = e.trail
	}
	srvOpts.AuditStore, srvOpts.Review = e.db, e.review
	srvOpts.Accounts = e.accounts
	if opts.gateway != nil {
		srvOpts.Gateway = testGateway{opts.gateway}
	}
	if opts.connections {
		if e.conns, err = connection.New(ctx, connection.Options{Store: e.db, Access: e.access, Vault: e.vault, Directory: e.ids, Accounts: e.accounts,
			Audit: e.trail, Now: now, Logger: log}); err != nil {
			t.Fatal(err)
		}
		runUntilCleanup(t, e.conns.Run)
		srvOpts.Connections = e.conns
	}
	if srvOpts.Authorize == nil {
		srvOpts.Authorize = e.authorizeByAccess
	}
	e.registerMetrics(httpapi.MetricSources{Identity: e.ids, Access: e.access, Vault: e.vault, Audit: e.trail})
	e.serveVaultDomain(httpapi.New(srvOpts))
	return e
}

// registerMetrics exports the services' counters at /metrics, as latchkey
// serve does.
func (e *env) registerMetrics(src httpapi.MetricSources) {
	e.t.Helper()
	if err := httpapi.RegisterMetrics(e.reg, src); err != nil {
		e.t.Fatal(err)
	}
}

// install opens and migrates a fresh SQLite store, seals a new master key and
// initialises the installation, whose tenant the env takes.
func (e *env) install(ctx context.Context) *seal.Keyring {
	e.t.Helper()
	e.path = filepath.Join(e.t.TempDir(), "latchkey.db")
	db, err := sqlite.Open(ctx, e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		e.t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		e.t.Fatal(err)
	}
	keys, err := seal.NewKeyring(key)
	if err != nil {
		e.t.Fatal(err)
	}
	inst, err := install.Init(ctx, db, keys)
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.tenant = db, inst.TenantID
	return keys
}

// startVaultServices builds the access and vault services and the audit
// writer, and runs each until the test ends.
func (e *env) startVaultServices(ctx context.Context, keys *seal.Keyring, log *slog.Logger, now func() time.Time, opts envOptions) {
	e.t.Helper()
	var err error
	if e.access, err = access.New(ctx, access.Options{Store: e.db, Now: now, Logger: log}); err != nil {
		e.t.Fatal(err)
	}
	runUntilCleanup(e.t, e.access.Run)
	e.vault, err = vault.New(ctx, vault.Options{Store: e.db, Keys: keys, Access: e.access, TenantID: e.tenant, Now: now, Logger: log})
	if err != nil {
		e.t.Fatal(err)
	}
	runUntilCleanup(e.t, e.vault.Run)
	e.accounts, err = account.New(ctx, account.Options{Store: e.db, Keys: keys, TenantID: e.tenant, Access: e.access, Vault: e.vault,
		Identity: e.ids, Now: now, Logger: log})
	if err != nil {
		e.t.Fatal(err)
	}
	runUntilCleanup(e.t, e.accounts.Run)
	auditOpts := audit.Options{Store: e.db, Logger: log, MaxDelay: time.Millisecond}
	if opts.auditDefaults {
		auditOpts.MaxDelay = 0
	}
	if opts.auditSink {
		e.sinkOut = &lockedBuffer{}
		if e.sink, err = auditsink.NewStream(auditsink.Options{Name: "test", Logger: log}, e.sinkOut); err != nil {
			e.t.Fatal(err)
		}
		runUntilCleanup(e.t, e.sink.Run)
		auditOpts.Sinks = []audit.Sink{e.sink}
	}
	if e.trail, err = audit.NewWriter(auditOpts); err != nil {
		e.t.Fatal(err)
	}
	runUntilCleanup(e.t, e.trail.Run)
	if e.review, err = review.New(review.Options{Store: e.db, Access: e.access, Now: now}); err != nil {
		e.t.Fatal(err)
	}
}

// authorizeByAccess lets the access service decide, as the real server does.
func (e *env) authorizeByAccess(ctx context.Context, c *identity.Claims, action httpapi.Action, scope string) error {
	return e.access.Authorize(ctx, c.ObjectID, string(action), scope)
}

// serveVaultDomain serves h on TLS with a leaf of a test CA for the vault
// hosts, and builds hc: it trusts that CA and dials every host at the server.
func (e *env) serveVaultDomain(h http.Handler) {
	e.t.Helper()
	ca, leaf := newTestPKI(e.t)
	e.ts = httptest.NewUnstartedServer(h)
	e.ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	e.ts.StartTLS()
	e.t.Cleanup(e.ts.Close)
	addr := e.ts.Listener.Addr().String()
	_, e.port, _ = net.SplitHostPort(addr)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: ca},
		ForceAttemptHTTP2: true,
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	e.wire = &wireLog{next: tr}
	e.hc = &http.Client{Transport: e.wire}
}

// unthrottled turns the token endpoint's throttle off, for tests and
// benchmarks that ask for many tokens from one client.
func unthrottled(o *identity.Options) {
	o.Throttle = identity.ThrottleOptions{PerClient: -1, PerAddress: -1}
}

// runUntilCleanup runs fn (a service's Run) until the test ends, and waits
// for it before the store closes.
func runUntilCleanup(t testing.TB, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// newTestPKI makes a CA and a leaf certificate it signs for the vault hosts,
// localhost and 127.0.0.1.
func newTestPKI(t testing.TB) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Latchkey test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vault.localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames:    []string{"*.vault.localhost", "vault.localhost", "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}

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

// lockedBuffer collects the server's log from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
