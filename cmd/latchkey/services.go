package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/httpapi"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/review"
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
	accounts *account.Service
	audit    *audit.Writer
	review   *review.Service
	// connections is the connection service: hubs' and projects'
	// connections, their credentials kept in the hub's Key Vault connection.
	connections *connection.Service
}

// startServices migrates the store, initialises the installation and starts
// the domain services with their background loops. stop ends the loops and
// waits for them.
// sinks receive the audit trail as it is stored; the caller runs and closes
// them, after stop.
func startServices(ctx context.Context, c Config, logger *slog.Logger, keys *seal.Keyring, st backend, sinks []audit.Sink) (*app, func(), error) {
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
	trail, err := audit.NewWriter(audit.Options{Store: st, Logger: logger, Sinks: sinks})
	if err != nil {
		return nil, nil, err
	}
	acc, err := access.New(ctx, access.Options{Store: st, Logger: logger, Audit: accessAudit(trail, logger), Feed: feed, Sync: sync})
	if err != nil {
		return nil, nil, err
	}
	vs, err := vault.New(ctx, vault.Options{Store: st, Keys: keys, Access: acc, TenantID: inst.TenantID, Logger: logger, Feed: feed, Sync: sync,
		Audit: vaultAudit(trail, logger)})
	if err != nil {
		return nil, nil, err
	}
	accounts, err := account.New(ctx, account.Options{Store: st, Keys: keys, TenantID: inst.TenantID, Access: acc, Vault: vs, Identity: ids,
		Logger: logger, Feed: feed, Sync: sync})
	if err != nil {
		return nil, nil, err
	}
	rev, err := review.New(review.Options{Store: st, Access: acc, KeySources: []review.KeySource{accounts.ReviewKeys}})
	if err != nil {
		return nil, nil, err
	}
	keep, err := c.Audit.keep()
	if err != nil {
		return nil, nil, err
	}
	retention := audit.Retention{Store: st, Keep: keep, Logger: logger}
	conns, err := connection.New(ctx, connection.Options{Store: st, Access: acc, Vault: vs, Directory: ids, Audit: trail, Accounts: accounts,
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
	loops := []func(context.Context) error{runFeed, ids.Run, acc.Run, vs.Run, accounts.Run, trail.Run, conns.Run}
	loops = append(loops, retention.Run) // prunes the audit trail hourly
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
	return &app{inst: inst, store: st, identity: ids, access: acc, vault: vs, accounts: accounts, audit: trail, review: rev, connections: conns}, stop, nil
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

// accessAudit records the access service's own events in the audit trail:
// which principal an access change was for, with which role, and why (an
// activation's justification). When the change serves a request, this
// detail joins the request's one event (audit.Annotate); otherwise (dev
// mode's and admin bootstrap's grants) it is an event of its own, stored
// before the change is acknowledged.
func accessAudit(trail *audit.Writer, logger *slog.Logger) func(ctx context.Context, e access.Event) {
	return func(ctx context.Context, e access.Event) {
		var parts []string
		if e.PrincipalID != "" {
			parts = append(parts, "principal "+e.PrincipalID)
		}
		if e.RoleID != "" {
			parts = append(parts, "role "+e.RoleID)
		}
		if e.Reason != "" {
			parts = append(parts, fmt.Sprintf("justification %q", e.Reason))
		}
		if !e.Until.IsZero() {
			parts = append(parts, "until "+e.Until.UTC().Format(time.RFC3339))
		}
		detail := e.Operation
		if len(parts) > 0 {
			detail += ": " + strings.Join(parts, ", ")
		}
		if audit.Annotate(ctx, e.Scope, detail) {
			return
		}
		recordOwn(ctx, trail, logger, "an access change", audit.Event{
			Operation: "Latchkey.Authorization/" + e.Operation, PrincipalID: e.CallerID, Scope: e.Scope,
			Result: audit.Result(e.Result), Reason: detail,
		})
	}
}

// recordOwn records ev, an event of its own that no request's event carries,
// waiting up to 10 s for it to be stored; what names it in the error logged
// when it cannot be.
func recordOwn(ctx context.Context, trail *audit.Writer, logger *slog.Logger, what string, ev audit.Event) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := trail.Record(rctx, ev); err != nil {
		logger.ErrorContext(ctx, what+" could not be recorded in the audit trail", "operation", ev.Operation,
			"principal_id", ev.PrincipalID, "scope", ev.Scope, "err", err)
	}
}

// vaultAudit records what the vault does by itself (a secret purged at its
// scheduled date) in the audit trail, as an event of its own with no caller:
// no principal id, and the principal name "latchkey".
func vaultAudit(trail *audit.Writer, logger *slog.Logger) func(ctx context.Context, e vault.Event) {
	return func(ctx context.Context, e vault.Event) {
		recordOwn(ctx, trail, logger, "what the vault did by itself", audit.Event{
			Operation: e.Operation, PrincipalName: "latchkey", Scope: e.Scope, Result: audit.Allowed, Reason: e.Reason,
		})
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
