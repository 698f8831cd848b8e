package account_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is the harness of the account tests: the real identity, access,
// vault and account services over SQLite in a temporary folder, with a clock
// the tests move.

// clock is a settable time source. It is safe for concurrent use.
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

// env is one installation with hub "default" holding vault "default", and an
// administrator who holds Owner and Key Vault Administrator at "/".
type env struct {
	t        testing.TB
	path     string
	db       *sqlite.DB
	keys     *seal.Keyring
	tenant   string
	clock    *clock
	ids      *identity.Service
	access   *access.Service
	vault    *vault.Service
	accounts *account.Service
	admin    string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, path: filepath.Join(t.TempDir(), "latchkey.db"), clock: newClock()}
	if e.keys, err = seal.NewKeyring(key); err != nil {
		t.Fatal(err)
	}
	e.db = openDB(t, e.path)
	inst, err := install.Init(ctx, e.db, e.keys)
	if err != nil {
		t.Fatal(err)
	}
	e.tenant = inst.TenantID
	if e.ids, err = identity.New(ctx, identity.Options{Store: e.db, Keys: e.keys, TenantID: e.tenant, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	run(t, e.ids.Run)
	if e.access, err = access.New(ctx, access.Options{Store: e.db, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	run(t, e.access.Run)
	if e.vault, err = vault.New(ctx, vault.Options{Store: e.db, Keys: e.keys, Access: e.access, TenantID: e.tenant, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	run(t, e.vault.Run)
	e.accounts = e.newAccounts(e.db, nil)
	e.admin = e.principal("admin", "Owner", "Key Vault Administrator")
	for _, scope := range []string{"/hubs/default", "/hubs/default/vaults/default"} {
		if _, err := e.access.CreateResource(ctx, e.admin, scope); err != nil {
			t.Fatalf("CreateResource(%s) = %v", scope, err)
		}
	}
	return e
}

// newAccounts builds an account service of this installation on db, as
// edit says, and runs it until the test ends.
func (e *env) newAccounts(db *sqlite.DB, edit func(*account.Options)) *account.Service {
	e.t.Helper()
	opts := account.Options{Store: db, Keys: e.keys, TenantID: e.tenant, Access: e.access, Vault: e.vault, Identity: e.ids, Now: e.clock.Now}
	if edit != nil {
		edit(&opts)
	}
	svc, err := account.New(context.Background(), opts)
	if err != nil {
		e.t.Fatalf("account.New: %v", err)
	}
	run(e.t, svc.Run)
	return svc
}

// openDB opens and migrates the SQLite database at path; it is closed when
// the test ends, after the services that follow its change feed stopped.
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

// principal creates a service principal holding roles at "/" and returns its
// id.
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

// create makes account name in hub "default" with an upstream key, as the
// admin.
func (e *env) create(name, upstreamKey string) account.Account {
	e.t.Helper()
	spec := account.Spec{UpstreamURL: ptr("http://127.0.0.1:9/v1")}
	if upstreamKey != "" {
		k := account.NewKey(upstreamKey)
		spec.UpstreamKey = &k
	}
	a, created, err := e.accounts.Put(context.Background(), e.admin, "default", name, spec)
	if err != nil || !created {
		e.t.Fatalf("Put(%s) = %v, created %v", name, err, created)
	}
	return a
}

// listKeys returns the account's keys, as the admin.
func (e *env) listKeys(name string) account.Keys {
	e.t.Helper()
	ks, err := e.accounts.ListKeys(context.Background(), e.admin, name)
	if err != nil {
		e.t.Fatalf("ListKeys(%s) = %v", name, err)
	}
	return ks
}

func ptr[T any](v T) *T { return &v }

// wantKind fails unless err is of kind k.
func wantKind(t testing.TB, what string, err error, k errs.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil, want an error of kind %v", what, k)
	}
	if got := errs.KindOf(err); got != k {
		t.Fatalf("%s = %v (kind %v), want kind %v", what, err, got, k)
	}
}

// fmtAll prints v with every verb a log line might use.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s %d %x", v, v, v, v, v, v)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
