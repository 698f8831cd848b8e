package vault_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is the harness of the vault tests: the real vault and access
// services over SQLite in a temporary folder, with a clock the tests move.

// clock is a settable time source for Options.Now. It is safe for concurrent use.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one installation: a SQLite file, a keyring and tenant, the access
// service and one vault service, with an administrator who holds Owner and
// Key Vault Administrator at "/", and the vaults "default" and "other" in hub
// "default".
type env struct {
	t      testing.TB
	path   string
	db     *sqlite.DB
	keys   *seal.Keyring
	tenant string
	clock  *clock
	access *access.Service
	vault  *vault.Service
	admin  string
}

// newEnv builds an installation in a temporary folder.
func newEnv(t testing.TB) *env {
	t.Helper()
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seal.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, path: filepath.Join(t.TempDir(), "latchkey.db"), keys: keys, tenant: uuid.NewString(), clock: newClock()}
	e.db = openDB(t, e.path)
	e.access = runAccess(t, e.db, e.clock)
	e.vault = e.newVault(e.db)
	e.admin = e.principal("admin", "Owner", "Key Vault Administrator")
	for _, scope := range []string{"/hubs/default", "/hubs/default/vaults/default", "/hubs/default/vaults/other"} {
		if _, err := e.access.CreateResource(t.Context(), e.admin, scope); err != nil {
			t.Fatalf("CreateResource(%s) = %v", scope, err)
		}
	}
	return e
}

// openDB opens and migrates the SQLite database at path; it is closed when the
// test ends, after the services that follow its change feed have stopped.
func openDB(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// run starts fn (a service's Run) and stops it when the test ends.
func run(t testing.TB, fn func(context.Context) error) {
	t.Helper()
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

func runAccess(t testing.TB, db *sqlite.DB, c *clock) *access.Service {
	t.Helper()
	svc, err := access.New(context.Background(), access.Options{Store: db, Now: c.Now})
	if err != nil {
		t.Fatalf("access.New: %v", err)
	}
	run(t, svc.Run)
	return svc
}

// newVault builds another vault service of this installation on db, and runs it.
func (e *env) newVault(db *sqlite.DB) *vault.Service {
	e.t.Helper()
	svc, err := vault.New(context.Background(), vault.Options{Store: db, Keys: e.keys, Access: e.access, TenantID: e.tenant, Now: e.clock.Now})
	if err != nil {
		e.t.Fatalf("vault.New: %v", err)
	}
	run(e.t, svc.Run)
	return svc
}

// principal creates a service principal holding roles at "/" and returns its id.
func (e *env) principal(name string, roles ...string) string {
	e.t.Helper()
	now := store.Time(e.clock.Now())
	p := store.Principal{ID: uuid.NewString(), Kind: store.ServicePrincipal, Name: name, AppID: uuid.NewString(), Enabled: true, Created: now, Updated: now}
	if err := e.db.CreatePrincipal(context.Background(), p); err != nil {
		e.t.Fatalf("CreatePrincipal(%s): %v", name, err)
	}
	for _, r := range roles {
		if err := e.access.Bootstrap(context.Background(), p.ID, r, "/"); err != nil {
			e.t.Fatalf("Bootstrap(%s, %s) = %v", name, r, err)
		}
	}
	return p.ID
}

// set stores value as a new version of name in vault "default" as the admin.
func (e *env) set(name, value string, p vault.SetParams) vault.Bundle {
	e.t.Helper()
	p.Value = vault.NewValue([]byte(value))
	b, err := e.vault.Set(context.Background(), e.admin, "default", name, p)
	if err != nil {
		e.t.Fatalf("Set(%s) = %v", name, err)
	}
	return b
}

// wantKind fails unless err is an *errs.Error of kind k whose Key Vault code
// (a *vault.Code in its chain) is code/inner; "" skips those checks.
func wantKind(t testing.TB, what string, err error, k errs.Kind, code, inner string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil, want an error of kind %v", what, k)
	}
	if got := errs.KindOf(err); got != k {
		t.Fatalf("%s = %v (kind %v), want kind %v", what, err, got, k)
	}
	if code == "" {
		return
	}
	var c *vault.Code
	if !errors.As(err, &c) {
		t.Fatalf("%s = %v: no Key Vault code, want %s/%s", what, err, code, inner)
	}
	if c.Code != code || c.Inner != inner {
		t.Errorf("%s: code %s/%s, want %s/%s", what, c.Code, c.Inner, code, inner)
	}
}
