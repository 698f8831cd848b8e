package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlstore"
	"github.com/latchkey/latchkey/internal/store/storetest"
)

// TestCrash must stay first in name and behaviour: storetest.Crash re-runs
// this test binary with -test.run=^TestCrash$ as its child.
func TestCrash(t *testing.T) {
	storetest.Crash(t, func(t *testing.T) string { return freshSchema(t, testDSN(t)) }, openStore)
}

func openStore(ctx context.Context, dsn string) (store.Store, error) {
	db, err := Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openMigrated(t, freshSchema(t, dsn)) })
}

// testDSN returns the server the tests may use, or skips the test.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES not set; PostgreSQL conformance skipped")
	}
	return dsn
}

// freshSchema creates an empty schema, drops it when the test ends, and
// returns dsn with search_path set to it, so that tests run in parallel on one
// database without seeing each other's tables.
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	schema := "lk_" + strings.ToLower(rand.Text())
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
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

// openDB opens the database at dsn and closes it when the test ends.
func openDB(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func openMigrated(t *testing.T, dsn string) *DB {
	t.Helper()
	db := openDB(t, dsn)
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestPool(t *testing.T) {
	db := openDB(t, testDSN(t))
	if got := db.sql.Stats().MaxOpenConnections; got != maxOpenConns {
		t.Errorf("MaxOpenConnections = %d, want %d", got, maxOpenConns)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	dsn := freshSchema(t, testDSN(t))
	db := openDB(t, dsn)
	steps := []struct {
		name string
		db   *DB
		want []string
	}{
		{"first", db, []string{"0001_init", "0002_identity", "0003_access", "0004_secrets", "0005_replicas", "0006_audit"}},
		{"again", db, nil},
		{"reopened", openDB(t, dsn), nil},
	}
	for _, st := range steps {
		got, err := st.db.Migrate(t.Context())
		if err != nil || !slices.Equal(got, st.want) {
			t.Errorf("%s: Migrate() = %q, %v, want %q", st.name, got, err, st.want)
		}
	}
}

// TestMigrateConcurrently starts several migrators on one empty schema at
// once, as replicas do: each migration must be applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := freshSchema(t, testDSN(t))
	dbs := []*DB{openDB(t, dsn), openDB(t, dsn), openDB(t, dsn)}
	applied := make([][]string, len(dbs))
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { applied[i], errs[i] = db.Migrate(t.Context()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Migrate: %v", err)
	}
	// Migrators take turns per migration, so one may apply 0002 after
	// another applied 0001: compare what was applied, in any order.
	got := slices.Concat(applied...)
	slices.Sort(got)
	if !slices.Equal(got, []string{"0001_init", "0002_identity", "0003_access", "0004_secrets", "0005_replicas", "0006_audit"}) {
		t.Errorf("concurrent Migrate applied %q, want each migration once", got)
	}
}

func TestSchemaTooNew(t *testing.T) {
	db := openMigrated(t, freshSchema(t, testDSN(t)))
	_, err := db.sql.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (7, '0007_future', 0)`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Migrate(t.Context())
	var tooNew *sqlstore.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Version != 7 || tooNew.Known != 6 {
		t.Fatalf("Migrate() = %v, want a SchemaTooNewError at 7 of 5", err)
	}
	want := "PostgreSQL database schema is at version 7 but this latchkey knows only up to 6: upgrade latchkey"
	if err.Error() != want {
		t.Errorf("Migrate() error = %q, want %q", err, want)
	}
}
