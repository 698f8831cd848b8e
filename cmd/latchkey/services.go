package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/vault"
)

// app is Latchkey's running services, for the HTTP layer and for hooks that run
// once the server serves (dev mode).
type app struct {
	inst     install.Installation
	store    backend
	identity *identity.Service
	access   *access.Service
	vault    *vault.Service
}

// startServices migrates the store, initialises the installation and starts
// the domain services with their background loops. stop ends the loops and
// waits for them.
func startServices(ctx context.Context, c Config, logger *slog.Logger, keys *seal.Keyring, st backend) (*app, func(), error) {
	applied, err := st.Migrate(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate the database: %w", err)
	}
	if len(applied) > 0 {
		logger.Info("database migrated", "applied", applied)
	}
	inst, err := install.Init(ctx, st, keys)
	if err != nil {
		return nil, nil, err
	}
	throttle, err := c.throttleOptions()
	if err != nil {
		return nil, nil, err
	}
	ids, err := identity.New(ctx, identity.Options{
		Store: st, Keys: keys, TenantID: inst.TenantID, JWKS: httpapi.JWKSFetcher{}, Logger: logger, Throttle: throttle,
	})
	if err != nil {
		return nil, nil, err
	}
	acc, err := access.New(ctx, access.Options{Store: st, Logger: logger, Audit: auditLog(logger)})
	if err != nil {
		return nil, nil, err
	}
	vs, err := vault.New(ctx, vault.Options{Store: st, Keys: keys, Access: acc, TenantID: inst.TenantID, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	loops := []func(context.Context) error{ids.Run, acc.Run, vs.Run}
	done := make(chan struct{}, len(loops))
	for _, run := range loops {
		go func() { _ = run(runCtx); done <- struct{}{} }()
	}
	stop := func() {
		cancel()
		for range loops {
			<-done
		}
	}
	return &app{inst: inst, store: st, identity: ids, access: acc, vault: vs}, stop, nil
}

// auditLog records access changes in the log until the audit trail lands: a
// minimal record of who changed what access, where and why.
func auditLog(logger *slog.Logger) func(ctx context.Context, e access.Event) {
	return func(ctx context.Context, e access.Event) {
		logger.InfoContext(ctx, "audit", "operation", e.Operation, "principal_id", e.CallerID, "target_principal_id", e.PrincipalID,
			"role_id", e.RoleID, "scope", e.Scope, "result", e.Result, "justification", e.Reason)
	}
}

// vaultURL returns the data-plane URL of a vault: its own host under
// vault.{domain}, on the server's port. Nil when no vault domain is set.
func vaultURL(domain string, addr net.Addr) func(name string) string {
	if domain == "" {
		return nil
	}
	_, port, _ := net.SplitHostPort(addr.String())
	suffix := ""
	if port != "443" {
		suffix = ":" + port
	}
	return func(name string) string { return "https://" + name + ".vault." + domain + suffix }
}
