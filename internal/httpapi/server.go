// Package httpapi is Latchkey's HTTPS surface: the route table, the middleware
// every request passes (request id, panic recovery, metrics, logging), and the one
// place where an error's Kind becomes a status code and a body (errors.go).
//
// httpapi is an adapter: it imports domain packages and internal/errs, never a
// storage backend. Handlers stay thin: decode, call one domain method, encode.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/review"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/vault"
)

// Options configure a Server. Logger and Registry are required.
type Options struct {
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics;
	// RegisterMetrics adds the services' to it.
	Registry *prometheus.Registry
	// Ready reports whether the server can serve requests (the store answers);
	// /readyz calls it with a short deadline. Nil means always ready.
	Ready func(ctx context.Context) error
	// Identity is the token service; required.
	Identity *identity.Service
	// Authorize decides every non-public route; nil denies them all.
	Authorize Authorizer
	// Access is the access service: roles, assignments and the scope tree's
	// records. Nil leaves those routes answering 503.
	Access *access.Service
	// VaultURL returns the data-plane URL of the vault named name.
	VaultURL func(name string) string
	// Vault is the vault service; VaultDomain names the hosts of its data
	// plane: {vault}.vault.{VaultDomain}. Either empty turns the data plane off.
	Vault       *vault.Service
	VaultDomain string
	// Audit receives an event for every authenticated request and every token
	// request; nil records nothing.
	Audit Auditor
	// Accounts is the AI services account service; nil leaves the accounts'
	// routes answering 503.
	Accounts *account.Service
	// Gateway forwards the accounts' model calls; nil answers them 503.
	Gateway Gateway
	// Connections is the connection service; nil leaves its routes
	// answering 503. The connection proxy forwards through Gateway.
	Connections *connection.Service
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AuditStore is the audit trail the management API lists and verifies;
	// Review runs access reviews. Nil leaves their routes answering 503.
	AuditStore store.Audit
	Review     *review.Service
	// TrustedProxies are the address ranges of proxies and load balancers
	// in front of the server: a request from one of them is taken to come
	// from the address it names in X-Forwarded-For (see clientIP). Empty:
	// the client is the TCP peer, and forwarded headers are ignored.
	TrustedProxies []netip.Prefix
}

// Server serves every surface of Latchkey on one listener. It is safe for
// concurrent use once built.
type Server struct {
	log            *slog.Logger
	ready          func(ctx context.Context) error
	now            func() time.Time
	metrics        *httpMetrics
	metricsHandler http.Handler
	identity       *identity.Service
	authorizer     Authorizer
	access         *access.Service
	vaultURL       func(name string) string
	vault          *vault.Service
	vaultDomain    string
	mux            *http.ServeMux
	vaultMux       *http.ServeMux // the Key Vault data plane, chosen by Host
	auditor        Auditor
	auditStore     store.Audit
	review         *review.Service
	accounts       *account.Service
	gateway        Gateway
	connections    *connection.Service
	trustedProxies []netip.Prefix
}

// New builds a Server and its routes.
func New(opts Options) *Server {
	s := &Server{
		log:            opts.Logger,
		ready:          opts.Ready,
		now:            opts.Now,
		metrics:        newHTTPMetrics(opts.Registry),
		metricsHandler: promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{}),
		identity:       opts.Identity,
		authorizer:     opts.Authorize,
		access:         opts.Access,
		vaultURL:       opts.VaultURL,
		vault:          opts.Vault,
		mux:            http.NewServeMux(),
		vaultMux:       http.NewServeMux(),
		auditor:        opts.Audit,
		auditStore:     opts.AuditStore,
		review:         opts.Review,
		accounts:       opts.Accounts,
		gateway:        opts.Gateway,
		connections:    opts.Connections,
		trustedProxies: opts.TrustedProxies,
	}
	if opts.Vault != nil {
		s.vaultDomain = strings.ToLower(opts.VaultDomain)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ready == nil {
		s.ready = func(context.Context) error { return nil }
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	for _, rt := range s.vaultRoutes() {
		s.vaultMux.Handle(rt.pattern, s.wrap(rt))
	}
	return s
}

// ServeHTTP dispatches a request through the route table: to the Key Vault
// data plane when its Host names a vault, to everything else otherwise.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, _, ok := s.vaultOfHost(r.Host); ok {
		s.vaultMux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), vaultKey, name)))
		return
	}
	s.mux.ServeHTTP(w, r)
}
