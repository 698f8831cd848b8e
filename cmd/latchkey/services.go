package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
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
	audit    *audit.Writer
	// connections is the connection service: hubs' and projects'
	// connections, their credentials kept in the hub's Key Vault connection.
	connections *connection.Service
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
	feed, sync, err := followChanges(ctx, st, logger)
	if err != nil {
		return nil, nil, err
	}
	ids, err := identity.New(ctx, identity.Options{
		Store: st, Keys: keys, TenantID: inst.TenantID, JWKS: httpapi.JWKSFetcher{}, Logger: logger, Throttle: throttle,
		Feed: feed, Sync: sync,
	})
	if err != nil {
		return nil, nil, err
	}
	acc, err := access.New(ctx, access.Options{Store: st, Logger: logger, Audit: auditLog(logger), Feed: feed, Sync: sync})
	if err != nil {
		return nil, nil, err
	}
	vs, err := vault.New(ctx, vault.Options{Store: st, Keys: keys, Access: acc, TenantID: inst.TenantID, Logger: logger, Feed: feed, Sync: sync})
	if err != nil {
		return nil, nil, err
	}
	trail, err := audit.NewWriter(audit.Options{Store: st, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	conns, err := connection.New(ctx, connection.Options{Store: st, Access: acc, Vault: vs, Directory: ids, Audit: trail,
		Logger: logger, Feed: feed, Sync: sync})
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	runFeed := func(ctx context.Context) error {
		feed.Run(ctx, 5*time.Second, func(err error) {
			logger.Warn("could not follow the change feed; caches serve what they hold and retry", "err", err)
		})
		return nil
	}
	// The audit writer drains its queue when its context ends: stop runs
	// after the HTTP server has stopped, so no request is still recording.
	loops := []func(context.Context) error{runFeed, ids.Run, acc.Run, vs.Run, trail.Run, conns.Run}
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
	return &app{inst: inst, store: st, identity: ids, access: acc, vault: vs, audit: trail, connections: conns}, stop, nil
}

// followChanges makes the process's one change-feed follower, which reports
// its progress as this replica, and the Sync that makes a write wait until
// every live replica has applied it, so that the writer's next request sees it
// whichever replica serves it.
func followChanges(ctx context.Context, st backend, logger *slog.Logger) (*store.Follower, func(context.Context) error, error) {
	seq, err := st.LatestChange(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the change feed: %w", err)
	}
	feed := store.NewFollower(st, seq)
	host, _ := os.Hostname()
	feed.ReportTo(st, fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8]), time.Now)
	barrier := store.NewBarrier(st, st, time.Now)
	sync := func(ctx context.Context) error {
		behind, err := barrier.Wait(ctx)
		if len(behind) > 0 {
			logger.WarnContext(ctx, "replicas did not apply a write in time; they will shortly", "replicas", behind)
		}
		return err
	}
	return feed, sync, nil
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
