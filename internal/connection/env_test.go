package connection_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is the harness of the connection tests: the real identity,
// access, vault, audit and connection services over SQLite in a temporary
// folder, with hub "h", projects "p1" and "p2", vault "kv" of h, and a
// managed identity "h-vault" that holds Key Vault Secrets Officer on kv.

type env struct {
	t        testing.TB
	db       *sqlite.DB
	ids      *identity.Service
	access   *access.Service
	vault    *vault.Service
	trail    *audit.Writer
	conns    *connection.Service
	admin    string // Owner and Key Vault Administrator at "/"
	identity store.Principal
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t}
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.db = db
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
	if e.ids, err = identity.New(ctx, identity.Options{Store: db, Keys: keys, TenantID: inst.TenantID}); err != nil {
		t.Fatal(err)
	}
	run(t, e.ids.Run)
	if e.access, err = access.New(ctx, access.Options{Store: db}); err != nil {
		t.Fatal(err)
	}
	run(t, e.access.Run)
	if e.vault, err = vault.New(ctx, vault.Options{Store: db, Keys: keys, Access: e.access, TenantID: inst.TenantID}); err != nil {
		t.Fatal(err)
	}
	run(t, e.vault.Run)
	if e.trail, err = audit.NewWriter(audit.Options{Store: db, MaxDelay: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	run(t, e.trail.Run)
	e.conns, err = connection.New(ctx, connection.Options{Store: db, Access: e.access, Vault: e.vault, Directory: e.ids, Audit: e.trail})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.conns.Run)

	e.admin = e.principal("admin", grant{"Owner", "/"}, grant{"Key Vault Administrator", "/"})
	for _, scope := range []string{"/hubs/h", "/hubs/h/projects/p1", "/hubs/h/projects/p2", "/hubs/h/vaults/kv", "/hubs/other", "/hubs/other/vaults/elsewhere"} {
		if _, err := e.access.CreateResource(ctx, e.admin, scope); err != nil {
			t.Fatalf("CreateResource(%s) = %v", scope, err)
		}
	}
	if e.identity, err = e.ids.CreateManagedIdentity(ctx, "h-vault"); err != nil {
		t.Fatal(err)
	}
	if err := e.access.Bootstrap(ctx, e.identity.ID, "Key Vault Secrets Officer", "/hubs/h/vaults/kv"); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs fn (a service's Run) until the test ends.
func run(t testing.TB, fn func(context.Context) error) {
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

type grant struct{ role, scope string }

// principal creates a service principal holding the grants and returns its
// object id.
func (e *env) principal(name string, grants ...grant) string {
	e.t.Helper()
	sp, err := e.ids.CreateServicePrincipal(e.t.Context(), name, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range grants {
		if err := e.access.Bootstrap(e.t.Context(), sp.Principal.ID, g.role, g.scope); err != nil {
			e.t.Fatalf("Bootstrap(%s, %s, %s) = %v", name, g.role, g.scope, err)
		}
	}
	return sp.Principal.ID
}

// secretsReaderRole creates a custom role with the listsecrets data action.
func (e *env) secretsReaderRole() string {
	e.t.Helper()
	r, err := e.access.CreateRole(e.t.Context(), e.admin, access.Role{
		Name: "Connection Secrets Reader", Description: "Read connections and their credentials.",
		Permissions: []access.Permission{{Actions: []string{access.ConnectionsRead}, DataActions: []string{access.ConnectionsListSecrets, access.ConnectionsProxy}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Name
}

// keyVault creates hub h's Key Vault connection "hub-vault" as the admin.
func (e *env) keyVault() *connection.Connection {
	e.t.Helper()
	c, _, err := e.conns.Put(e.t.Context(), e.admin, connection.Ref{Hub: "h", Name: "hub-vault"},
		connection.Definition{Category: connection.CategoryKeyVault, Vault: "kv", Identity: "h-vault"})
	if err != nil {
		e.t.Fatalf("Put(Key Vault connection) = %v", err)
	}
	return c
}

// put creates a connection as the admin.
func (e *env) put(ref connection.Ref, def connection.Definition) *connection.Connection {
	e.t.Helper()
	c, _, err := e.conns.Put(e.t.Context(), e.admin, ref, def)
	if err != nil {
		e.t.Fatalf("Put(%+v) = %v", ref, err)
	}
	return c
}

func creds(kv ...string) connection.Credentials {
	c := connection.Credentials{}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = vault.NewValue([]byte(kv[i+1]))
	}
	return c
}

// caller is principal id as the audit records name it.
func caller(id string) connection.Caller {
	return connection.Caller{ID: id, Audit: audit.Event{PrincipalID: id, PrincipalType: "ServicePrincipal", CorrelationID: "req-" + id[:8]}}
}

// events lists the audit events whose operation begins with op.
func (e *env) events(op string) []audit.Entry {
	e.t.Helper()
	es, _, err := audit.Query(e.t.Context(), e.db, audit.Filter{Operation: op}, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}
