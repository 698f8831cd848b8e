package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/gateway"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/seal"
)

func serveDefaults() Config {
	return Config{
		Addr:            ":8443",
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: 15 * time.Second,
	}
}

func newServeCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Latchkey server (HTTPS only)",
		Long: `Run the Latchkey server. Configuration comes from flags, then LATCHKEY_* environment
variables (LATCHKEY_ADDR, LATCHKEY_DATABASE, ...), then the YAML file given by --config;
flags win. The master key comes from --master-key-file or LATCHKEY_MASTER_KEY.`,
		Args: cobra.NoArgs,
	}
	addFlags(cmd.Flags(), serveDefaults())
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := loadConfig(serveDefaults(), cmd.Flags(), e.getenv)
		if err != nil {
			return err
		}
		if err := c.validate(); err != nil {
			return err
		}
		if c.TLSCert == "" {
			return errors.New("latchkey serves HTTPS only: give a PEM certificate chain with --tls-cert and its key with --tls-key")
		}
		return runServer(cmd.Context(), c, e, nil)
	})
	return cmd
}

// readyFunc is called once the server listens and its services run.
type readyFunc func(ctx context.Context, addr net.Addr, a *app) error

// runServer starts everything c describes, serves until ctx is done, then shuts
// down gracefully within c.ShutdownTimeout.
func runServer(ctx context.Context, c Config, e *env, onReady readyFunc) error {
	logger, err := newLogger(e.stderr, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	keys, err := loadKeyring(c)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return fmt.Errorf("TLS certificate %s or key %s: %w: give a PEM certificate chain with --tls-cert and its private key with --tls-key", c.TLSCert, c.TLSKey, err)
	}
	ln, err := listen(c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	st, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	sinks, err := openAuditSinks(c.Audit, logger, e.stdout, e.getenv)
	if err != nil {
		return err
	}
	sinks.start()
	defer sinks.stop(c.ShutdownTimeout) // after stop: the audit writer's final drain goes to the sinks
	a, stop, err := startServices(ctx, c, logger, keys, st, sinks.offered())
	if err != nil {
		return err
	}
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sinks.register(reg)
	// The gateway forwards the accounts' model calls to their upstreams,
	// trusting the system's roots.
	gw := gateway.New(gateway.Options{Logger: logger, Registerer: reg})
	proxies, err := c.trustedProxies() // checked by validate
	if err != nil {
		return err
	}
	api := httpapi.New(httpapi.Options{
		Logger: logger, Registry: reg, Ready: st.Ping, Identity: a.identity, Access: a.access,
		Authorize: func(ctx context.Context, c *identity.Claims, action httpapi.Action, scope string) error {
			return a.access.Authorize(ctx, c.ObjectID, string(action), scope)
		},
		VaultURL: vaultURL(c.VaultDomain, ln.Addr()), Vault: a.vault, VaultDomain: c.VaultDomain, Audit: a.audit,
		AuditStore: st, Review: a.review,
		Accounts: a.accounts, Gateway: gatewayAdapter{gw},
		Connections: a.connections, TrustedProxies: proxies,
	})
	if err := httpapi.RegisterMetrics(reg, httpapi.MetricSources{Identity: a.identity, Access: a.access, Vault: a.vault, Audit: a.audit}); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	logger.Info("latchkey started", "addr", ln.Addr().String(), "version", version(),
		"database", storeKind(c), "tenant_id", a.inst.TenantID, "master_key_id", keys.ActiveID())
	return serveHTTPS(ctx, c, logger, ln, cert, api, func() error {
		if onReady == nil {
			return nil
		}
		return onReady(ctx, ln.Addr(), a)
	})
}

// serveHTTPS serves api on ln until ctx is done, calling ready once it serves.
func serveHTTPS(ctx context.Context, c Config, logger *slog.Logger, ln net.Listener, cert tls.Certificate, api http.Handler, ready func() error) error {
	srv := &http.Server{
		Handler:           api,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		// TLS handshake failures are the client's problem (an untrusted CA, a port
		// scan); keep them out of the operator's way.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	if err := ready(); err != nil {
		srv.Close()
		<-errc
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve HTTPS: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", c.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("requests still running at the shutdown deadline were cut off", "err", err)
	}
	<-errc
	logger.Info("stopped")
	return nil
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("listen on %s: address already in use: stop the other process or choose another address with --addr", addr)
	case err != nil:
		return nil, fmt.Errorf("listen on %s: %w: check --addr", addr, err)
	}
	return ln, nil
}

// loadKeyring loads the master key from LATCHKEY_MASTER_KEY or the key file.
func loadKeyring(c Config) (*seal.Keyring, error) {
	var (
		key seal.Key
		err error
	)
	switch {
	case c.MasterKey != "":
		key, err = seal.ParseKey([]byte(c.MasterKey))
		if err != nil {
			return nil, fmt.Errorf("LATCHKEY_MASTER_KEY: %w", err)
		}
	case c.MasterKeyFile != "":
		key, err = seal.LoadKeyFile(c.MasterKeyFile)
		if err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("no master key: give --master-key-file FILE or set LATCHKEY_MASTER_KEY (make one with: openssl rand -base64 32 > master.key && chmod 600 master.key)")
	}
	return seal.NewKeyring(key)
}

func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) (*slog.Logger, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level %q is not debug, info, warn or error", s)
	}
	return l, nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
