package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres/pgtest"
	"github.com/latchkey/latchkey/internal/store/sqlstore"
	"github.com/latchkey/latchkey/internal/store/storetest"
)

// TestCrash must stay first in name and behaviour: storetest.Crash re-runs
// this test binary with -test.run=^TestCrash$ as its child.
func TestCrash(t *testing.T) {
	storetest.Crash(t, func(t *testing.T) string { return pgtest.FreshSchema(t, testDSN(t)) }, openStore)
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
	storetest.Run(t, func(t *testing.T) store.Store { return openMigrated(t, pgtest.FreshSchema(t, dsn)) })
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

// TestMigrations runs the migration checks every backend shares; the
// migrators of TestMigrations/Concurrently take turns through the advisory lock.
func TestMigrations(t *testing.T) {
	dsn := testDSN(t)
	storetest.Migrations(t, storetest.MigrationBackend[*DB, *sqlstore.SchemaTooNewError]{
		NewDatabase: func(t *testing.T) string { return pgtest.FreshSchema(t, dsn) },
		Open:        openDB,
		SQL:         func(db *DB) *sql.DB { return db.sql },
		MigrateWith: func(ctx context.Context, db *DB, keep func(fs.FS) (fs.FS, error)) ([]string, error) {
			d, err := newDialect()
			if err != nil {
				return nil, err
			}
			if d.Migrations, err = keep(d.Migrations); err != nil {
				return nil, err
			}
			// The pool stays db's, which closes it; this DB needs no Close of its own.
			return sqlstore.New(db.sql, d, nil).Migrate(ctx)
		},
		TooNew: &sqlstore.SchemaTooNewError{Database: "PostgreSQL", Version: storetest.NextMigration(), Known: storetest.NextMigration() - 1},
		TooNewMessage: fmt.Sprintf("PostgreSQL database schema is at version %d but this latchkey knows only up to %d: upgrade latchkey",
			storetest.NextMigration(), storetest.NextMigration()-1),
	})
}
