package access_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
)

// TestChangeFeedSQLite: two Services on one SQLite file, as two processes
// would be; each sees the other's writes once its Run loop catches up.
func TestChangeFeedSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	testChangeFeed(t, openSQLite(t, path), openSQLite(t, path))
}

// TestChangeFeedPostgres: the same with two pools on one PostgreSQL schema,
// where the feed signals through LISTEN/NOTIFY.
func TestChangeFeedPostgres(t *testing.T) {
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES not set; PostgreSQL change feed skipped")
	}
	dsn = freshSchema(t, dsn)
	testChangeFeed(t, openPostgres(t, dsn), openPostgres(t, dsn))
}

func testChangeFeed(t *testing.T, storeA, storeB access.Store) {
	e := newEnvOn(t, storeA) // replica A: e.svc
	b := e.newService(storeB)
	ctx := t.Context()
	runLoop(t, e.svc)
	runLoop(t, b)
	alice, bob := e.principal("alice"), e.principal("bob")

	// A write through A: A sees it before CreateAssignment returns, B soon.
	a := e.assign(alice, "Key Vault Secrets User", vault)
	if !e.allowed(alice, access.SecretsGet, secret) {
		t.Fatal("the writer does not see its own assignment on return")
	}
	eventually(t, "B sees the new assignment", func() bool { return b.Decide(alice, access.SecretsGet, secret).Allowed })

	// A custom role created and widened through B reaches A's index.
	r, err := b.CreateRole(ctx, e.admin, secretReader())
	if err != nil {
		t.Fatalf("CreateRole through B = %v", err)
	}
	if _, err := b.CreateAssignment(ctx, e.admin, bob, r.ID, vault); err != nil {
		t.Fatalf("CreateAssignment through B = %v", err)
	}
	eventually(t, "A sees B's assignment of a custom role", func() bool { return e.svc.Decide(bob, access.SecretsGet, secret).Allowed })
	r.Permissions = []access.Permission{{DataActions: []string{access.SecretsGet, access.SecretsSet}}}
	if _, err := b.UpdateRole(ctx, e.admin, r); err != nil {
		t.Fatalf("UpdateRole through B = %v", err)
	}
	eventually(t, "A sees B's update of the custom role", func() bool { return e.svc.Decide(bob, access.SecretsSet, secret).Allowed })

	// A delete through A: B stops allowing.
	if err := e.svc.DeleteAssignment(ctx, e.admin, a.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B sees the deletion", func() bool { return !b.Decide(alice, access.SecretsGet, secret).Allowed })
}

// runLoop runs svc.Run until the test ends, and checks it returns cleanly.
func runLoop(t *testing.T, svc *access.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
}

// eventually polls cond until it holds, and fails the test if it does not
// within 20 s: the feed promises 5 s at worst, with room for a slow machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, time.Since(start).Round(time.Millisecond))
		}
		<-tick.C
	}
	t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
}

func openPostgres(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
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

// freshSchema creates an empty schema, drops it when the test ends, and
// returns dsn with search_path set to it (as postgres_test.go does).
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to LATCHKEY_TEST_POSTGRES: %v", err)
	}
	schema := "lk_" + strings.ToLower(rand.Text())
	if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close(context.Background())
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(context.Background())
	})
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// runKey marks the context of a Run loop, so that pausingStore can tell the
// loop's reads from a writer's.
type runKey struct{}

// pausingStore is a real store that can hold the Run loop at one point: after
// it read one principal's assignments, if any (target
// "RoleAssignments:{principal}"), after it read custom roles, if one grants
// setSecret ("RoleDefinitions"), or before it reads the feed ("ChangesSince").
// A test then interleaves a writer's calls with the loop's deterministically.
type pausingStore struct {
	access.Store
	mu     sync.Mutex // guards target
	target string
	paused chan string   // receives the target Run is held at
	resume chan struct{} // lets it go on
}

func newPausingStore(st access.Store) *pausingStore {
	return &pausingStore{Store: st, paused: make(chan string), resume: make(chan struct{})}
}

func (p *pausingStore) pauseAt(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *pausingStore) hold(ctx context.Context, at string, when bool) {
	p.mu.Lock()
	match := p.target != "" && p.target == at
	p.mu.Unlock()
	if !when || !match || ctx.Value(runKey{}) == nil {
		return
	}
	select {
	case p.paused <- at:
		<-p.resume
	case <-ctx.Done():
	}
}

// waitPaused waits until Run is held at target.
func (p *pausingStore) waitPaused(t *testing.T, target string) {
	t.Helper()
	select {
	case at := <-p.paused:
		if at != target {
			t.Fatalf("Run paused at %s, want %s", at, target)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not reach %s within 20 s", target)
	}
}

func (p *pausingStore) RoleAssignments(ctx context.Context, f store.AssignmentFilter, pg store.Page) ([]store.RoleAssignment, string, error) {
	as, next, err := p.Store.RoleAssignments(ctx, f, pg)
	p.hold(ctx, "RoleAssignments:"+f.PrincipalID, len(as) > 0)
	return as, next, err
}

func (p *pausingStore) RoleDefinitions(ctx context.Context) ([]store.RoleDefinition, error) {
	ds, err := p.Store.RoleDefinitions(ctx)
	wide := slices.ContainsFunc(ds, func(d store.RoleDefinition) bool { return bytes.Contains(d.Permissions, []byte("setSecret")) })
	p.hold(ctx, "RoleDefinitions", wide)
	return ds, err
}

func (p *pausingStore) ChangesSince(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	p.hold(ctx, "ChangesSince", true)
	return p.Store.ChangesSince(ctx, after, limit)
}

// runMarked runs svc.Run with a context pausingStore recognises.
func runMarked(t *testing.T, svc *access.Service) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), runKey{}, true))
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
}

// TestFeedDoesNotUndoAWrite: the Run loop may read a principal's assignments
// just before a writer on the same replica deletes one and reloads. The
// loop's older read must not then replace the writer's newer one, or a
// revoked assignment would be honoured again after DeleteAssignment returned.
func TestFeedDoesNotUndoAWrite(t *testing.T) {
	ps := newPausingStore(openSQLite(t, filepath.Join(t.TempDir(), "latchkey.db")))
	e := newEnvOn(t, ps)
	alice := e.principal("alice")
	runMarked(t, e.svc)

	ps.pauseAt("RoleAssignments:" + alice)
	a := e.assign(alice, "Key Vault Secrets User", vault)
	ps.waitPaused(t, "RoleAssignments:"+alice) // Run has read alice's grant

	ps.pauseAt("ChangesSince")
	if err := e.svc.DeleteAssignment(t.Context(), e.admin, a.ID); err != nil {
		t.Fatal(err)
	}
	if e.allowed(alice, access.SecretsGet, secret) {
		t.Fatal("allowed right after DeleteAssignment returned")
	}
	ps.resume <- struct{}{}          // Run applies what it read before the delete
	ps.waitPaused(t, "ChangesSince") // and is about to read the feed again
	if d := e.svc.Decide(alice, access.SecretsGet, secret); d.Allowed {
		t.Errorf("after the Run loop applied its older read: Decide = %+v, want denied (the delete was undone)", d)
	}
	ps.pauseAt("")
	ps.resume <- struct{}{}
}

// TestFeedDoesNotUndoARoleUpdate: the same for the custom role table, where
// an older read would widen a role that was just narrowed.
func TestFeedDoesNotUndoARoleUpdate(t *testing.T) {
	ps := newPausingStore(openSQLite(t, filepath.Join(t.TempDir(), "latchkey.db")))
	e := newEnvOn(t, ps)
	ctx := t.Context()
	alice := e.principal("alice")
	r, err := e.svc.CreateRole(ctx, e.admin, secretReader())
	if err != nil {
		t.Fatal(err)
	}
	e.assign(alice, r.ID, vault)
	runMarked(t, e.svc)

	ps.pauseAt("RoleDefinitions")
	wide := r
	wide.Permissions = []access.Permission{{DataActions: []string{access.SecretsGet, access.SecretsSet}}}
	if _, err := e.svc.UpdateRole(ctx, e.admin, wide); err != nil {
		t.Fatal(err)
	}
	ps.waitPaused(t, "RoleDefinitions") // Run has read the wide role

	ps.pauseAt("ChangesSince")
	if _, err := e.svc.UpdateRole(ctx, e.admin, r); err != nil { // narrow it again
		t.Fatal(err)
	}
	if e.allowed(alice, access.SecretsSet, secret) {
		t.Fatal("allowed right after UpdateRole narrowed the role")
	}
	ps.resume <- struct{}{}
	ps.waitPaused(t, "ChangesSince")
	if d := e.svc.Decide(alice, access.SecretsSet, secret); d.Allowed {
		t.Errorf("after the Run loop applied its older read: Decide = %+v, want denied (the narrowing was undone)", d)
	}
	ps.pauseAt("")
	ps.resume <- struct{}{}
}
