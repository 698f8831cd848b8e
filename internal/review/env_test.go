package review_test

import (
	"cmp"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/review"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/postgres/pgtest"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file is the harness of the review tests: one installation on a real
// store (SQLite, or PostgreSQL when LATCHKEY_TEST_POSTGRES is set) whose
// records are made through the real identity, access and vault services at
// instants a settable clock chooses, and whose audit trail is written by the
// real audit.Writer from events the tests construct.

// backend is a store with its migrations.
type backend interface {
	store.Store
	Migrate(ctx context.Context) ([]string, error)
}

// stores returns the backends the review tests run on.
func stores(t *testing.T) map[string]func(t *testing.T) backend {
	m := map[string]func(t *testing.T) backend{"SQLite": func(t *testing.T) backend { return openSQLite(t) }}
	if dsn := os.Getenv("LATCHKEY_TEST_POSTGRES"); dsn != "" {
		m["PostgreSQL"] = func(t *testing.T) backend { return openPostgres(t, dsn) }
	} else {
		t.Log("LATCHKEY_TEST_POSTGRES not set; the review runs on SQLite only")
	}
	return m
}

func openSQLite(t testing.TB) backend {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, db)
}

func openPostgres(t testing.TB, dsn string) backend {
	t.Helper()
	db, err := postgres.Open(t.Context(), pgtest.FreshSchema(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	return migrated(t, db)
}

func migrated(t testing.TB, db backend) backend {
	t.Helper()
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// clock is a settable time source. It is safe for concurrent use.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// now is the instant the reviews run at.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// ago returns the instant d before now.
func ago(d time.Duration) time.Time { return now.Add(-d) }

const day = 24 * time.Hour

// env is one installation with an administrator holding Owner and Key Vault
// Administrator at "/".
type env struct {
	t      testing.TB
	db     backend
	clock  *clock
	ids    *identity.Service
	access *access.Service
	vault  *vault.Service
	admin  store.Principal
	events []audit.Event
}

func newEnv(t testing.TB, db backend) *env {
	t.Helper()
	ctx := t.Context()
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
	e := &env{t: t, db: db, clock: &clock{t: ago(60 * day)}}
	if e.ids, err = identity.New(ctx, identity.Options{Store: db, Keys: keys, TenantID: inst.TenantID, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if e.access, err = access.New(ctx, access.Options{Store: db, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	run(t, e.access.Run)
	e.vault, err = vault.New(ctx, vault.Options{Store: db, Keys: keys, Access: e.access, TenantID: inst.TenantID, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.vault.Run)
	e.admin = e.sp("admin", grant{"Owner", "/"}, grant{"Key Vault Administrator", "/"})
	return e
}

// run starts fn (a service's Run) and stops it when the test ends.
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

// grant is a role at a scope.
type grant struct{ role, scope string }

// sp creates a service principal, at the clock's time, holding the grants.
func (e *env) sp(name string, grants ...grant) store.Principal {
	e.t.Helper()
	sp, err := e.ids.CreateServicePrincipal(e.t.Context(), name, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.grant(sp.Principal, grants...)
	return sp.Principal
}

func (e *env) grant(p store.Principal, grants ...grant) {
	e.t.Helper()
	for _, g := range grants {
		if err := e.access.Bootstrap(e.t.Context(), p.ID, g.role, g.scope); err != nil {
			e.t.Fatalf("Bootstrap(%s, %s, %s) = %v", p.Name, g.role, g.scope, err)
		}
	}
}

// assignment returns the id of p's assignment of role at scope.
func (e *env) assignment(p store.Principal, role, scope string) string {
	e.t.Helper()
	as, _, err := e.access.Assignments(e.t.Context(), store.AssignmentFilter{PrincipalID: p.ID, RoleID: role, Scope: scope}, store.Page{})
	if err != nil || len(as) != 1 {
		e.t.Fatalf("Assignments(%s, %s, %s) = %v, %v; want one", p.Name, role, scope, as, err)
	}
	return as[0].ID
}

// clientSecret returns the id of p's client secret.
func (e *env) clientSecret(p store.Principal) string {
	e.t.Helper()
	cs, err := e.db.Credentials(e.t.Context(), p.ID)
	if err != nil || len(cs) != 1 {
		e.t.Fatalf("Credentials(%s) = %v, %v; want one", p.Name, cs, err)
	}
	return cs[0].ID
}

// resources creates scopes as the admin.
func (e *env) resources(scopes ...string) {
	e.t.Helper()
	for _, sc := range scopes {
		if _, err := e.access.CreateResource(e.t.Context(), e.admin.ID, sc); err != nil {
			e.t.Fatalf("CreateResource(%s) = %v", sc, err)
		}
	}
}

// secret sets a secret as the admin, expiring at expires (zero: never).
func (e *env) secret(vaultName, name string, expires time.Time) {
	e.t.Helper()
	_, err := e.vault.Set(e.t.Context(), e.admin.ID, vaultName, name, vault.SetParams{Value: vault.NewValue([]byte("value of " + name)), Expires: expires})
	if err != nil {
		e.t.Fatalf("Set(%s/%s) = %v", vaultName, name, err)
	}
}

// event adds an allowed event of p to the trail to be written.
func (e *env) event(at time.Time, p store.Principal, ip, operation, scope string) {
	e.events = append(e.events, audit.Event{Time: at, PrincipalID: p.ID, PrincipalType: string(p.Kind), PrincipalName: p.Name,
		ClientIP: netip.MustParseAddr(ip), Operation: operation, Scope: scope, Result: audit.Allowed, Status: 200})
}

// signIn adds p's token request.
func (e *env) signIn(at time.Time, p store.Principal, ip string) {
	e.event(at, p, ip, audit.TokenOperation, "")
}

// denied adds n denied events, every's apart from start, of p ("" ID: an
// anonymous caller) from ip.
func (e *env) denied(start time.Time, n int, every time.Duration, p store.Principal, ip string) {
	for i := range n {
		e.events = append(e.events, audit.Event{Time: start.Add(time.Duration(i) * every), PrincipalID: p.ID, PrincipalName: p.Name,
			ClientIP: netip.MustParseAddr(ip), Operation: access.SecretsGet, Scope: "/hubs/h/vaults/v/secrets/db",
			Result: audit.Denied, Status: 403, Reason: "no role assignment grants getSecret"})
	}
}

// writeTrail stores the events added so far in the order of their times,
// through a real audit.Writer; Close drains its queue.
func (e *env) writeTrail() {
	e.t.Helper()
	w, err := audit.NewWriter(audit.Options{Store: e.db, QueueSize: len(e.events) + 1})
	if err != nil {
		e.t.Fatal(err)
	}
	go w.Run(context.Background())
	slices.SortStableFunc(e.events, func(a, b audit.Event) int { return a.Time.Compare(b.Time) })
	for _, ev := range e.events {
		if !w.Enqueue(ev) {
			e.t.Fatalf("Enqueue(%+v) dropped the event", ev)
		}
	}
	if err := w.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.events = nil
}

// reviewer builds a review service reading the clock at now.
func (e *env) reviewer(opts review.Options) *review.Service {
	e.t.Helper()
	e.clock.Set(now)
	opts.Store, opts.Access, opts.Now = e.db, e.access, e.clock.Now
	s, err := review.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// brief is what tests compare of a finding.
type brief struct {
	Kind     review.Kind
	Severity review.Severity
	Subject  string
}

func briefs(fs []review.Finding) []brief {
	out := make([]brief, len(fs))
	for i, f := range fs {
		out[i] = brief{f.Kind, f.Severity, f.Subject}
	}
	return out
}

// sorted orders briefs as Review orders findings.
func sorted(bs []brief) []brief {
	rank := map[review.Severity]int{review.High: 0, review.Medium: 1, review.Low: 2}
	slices.SortFunc(bs, func(a, b brief) int {
		return cmp.Or(cmp.Compare(rank[a.Severity], rank[b.Severity]), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subject, b.Subject))
	})
	return bs
}
