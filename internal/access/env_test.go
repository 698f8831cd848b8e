package access_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// clock is a settable time source for Options.Now. It is safe for concurrent use.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

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

// env is an access.Service on a real SQLite store, with an administrator who
// holds Owner and Key Vault Administrator at "/", as dev mode's admin does.
type env struct {
	t     *testing.T
	store access.Store
	svc   *access.Service
	clock *clock
	admin string

	mu     sync.Mutex // guards events
	events []access.Event
}

// newEnv opens a migrated SQLite store in a temporary folder.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, openSQLite(t, filepath.Join(t.TempDir(), "latchkey.db")))
}

// newEnvOn builds the service on st and bootstraps the administrator.
func newEnvOn(t *testing.T, st access.Store) *env {
	t.Helper()
	e := &env{t: t, store: st, clock: newClock()}
	e.svc = e.newService(st)
	e.admin = e.principal("admin")
	for _, role := range []string{"Owner", "Key Vault Administrator"} {
		if err := e.svc.Bootstrap(t.Context(), e.admin, role, "/"); err != nil {
			t.Fatalf("Bootstrap(admin, %s, /) = %v", role, err)
		}
	}
	return e
}

// newService builds another Service on st that shares e's clock and audit log.
func (e *env) newService(st access.Store) *access.Service {
	e.t.Helper()
	svc, err := access.New(e.t.Context(), access.Options{
		Store: st,
		Now:   e.clock.Now,
		Audit: func(_ context.Context, ev access.Event) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.events = append(e.events, ev)
		},
	})
	if err != nil {
		e.t.Fatalf("access.New: %v", err)
	}
	return svc
}

func openSQLite(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// principal creates a user named name and returns its id.
func (e *env) principal(name string) string {
	e.t.Helper()
	now := store.Time(e.clock.Now())
	p := store.Principal{ID: uuid.NewString(), Kind: store.User, Name: name, Enabled: true, Created: now, Updated: now}
	if err := e.store.CreatePrincipal(e.t.Context(), p); err != nil {
		e.t.Fatalf("CreatePrincipal(%s): %v", name, err)
	}
	return p.ID
}

// assign assigns role to principal at scope as the administrator, or fails.
func (e *env) assign(principal, role, scope string) access.Assignment {
	e.t.Helper()
	a, err := e.svc.CreateAssignment(e.t.Context(), e.admin, principal, role, scope)
	if err != nil {
		e.t.Fatalf("CreateAssignment(%s, %s) = %v", role, scope, err)
	}
	return a
}

// allowed reports Decide's answer on e's service.
func (e *env) allowed(principal, action, scope string) bool {
	return e.svc.Decide(principal, action, scope).Allowed
}

// eventsOf returns the audit events of operation op.
func (e *env) eventsOf(op string) []access.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []access.Event
	for _, ev := range e.events {
		if ev.Operation == op {
			out = append(out, ev)
		}
	}
	return out
}

// wantKind fails unless err is an *errs.Error of kind k whose message holds
// every fragment of want.
func wantKind(t *testing.T, what string, err error, k errs.Kind, want ...string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != k {
		t.Fatalf("%s = %v, want a %v error", what, err, k)
	}
	for _, w := range want {
		if !strings.Contains(e.Msg, w) {
			t.Errorf("%s message %q does not say %q", what, e.Msg, w)
		}
	}
}
