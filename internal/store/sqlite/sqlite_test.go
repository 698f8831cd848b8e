package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlstore"
	"github.com/latchkey/latchkey/internal/store/storetest"
)

// TestCrash must stay first in name and behaviour: storetest.Crash re-runs
// this test binary with -test.run=^TestCrash$ as its child.
func TestCrash(t *testing.T) {
	storetest.Crash(t, func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "crash.db")
	}, openStore)
}

func openStore(ctx context.Context, path string) (store.Store, error) {
	db, err := Open(ctx, path)
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
	storetest.Run(t, func(t *testing.T) store.Store {
		return openMigrated(t, filepath.Join(t.TempDir(), "latchkey.db"))
	})
}

// TestShared runs the cases of two stores on one file, as two processes on
// one machine have: SQLite has no notifications, so they hear of each
// other's changes by polling.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "latchkey.db")
		return openMigrated(t, path), openDB(t, path)
	})
}

// TestChangeSignalEndsAtClose checks that Close ends the goroutines of
// subscriptions whose context is never done.
func TestChangeSignalEndsAtClose(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	sig := db.ChangeSignal(context.Background())
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range sig { // Close waits for the goroutine, so the channel is closed
	}
}

// openDB opens the database at path and closes it when the test ends.
func openDB(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func openMigrated(t *testing.T, path string) *DB {
	t.Helper()
	db := openDB(t, path)
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// TestPragmas checks the connection settings on several connections at once,
// since the driver applies them to each connection it opens.
func TestPragmas(t *testing.T) {
	db := openMigrated(t, filepath.Join(t.TempDir(), "latchkey.db"))
	cases := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
	}
	for n := range 3 {
		conn, err := db.sql.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, tc := range cases {
			var got string
			if err := conn.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("connection %d: PRAGMA %s: %v", n, tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("connection %d: PRAGMA %s = %q, want %q", n, tc.pragma, got, tc.want)
			}
		}
	}
}

// TestImmediateTransactions checks that a transaction takes the write lock
// when it begins: a second one cannot begin while the first is open.
func TestImmediateTransactions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	first, second := openMigrated(t, path), openDB(t, path)
	tx, err := first.sql.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := second.sql.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "PRAGMA busy_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	if tx2, err := conn.BeginTx(t.Context(), nil); err == nil {
		tx2.Rollback()
		t.Fatal("BeginTx succeeded while another transaction was open, want SQLITE_BUSY from BEGIN IMMEDIATE")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	tx2, err := conn.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatalf("BeginTx after the first transaction ended = %v", err)
	}
	tx2.Rollback()
}

// TestMigrations runs the migration checks every backend shares; the
// migrators of TestMigrations/Concurrently take turns through BEGIN IMMEDIATE.
func TestMigrations(t *testing.T) {
	storetest.Migrations(t, storetest.MigrationBackend[*DB, *sqlstore.SchemaTooNewError]{
		NewDatabase: func(t *testing.T) string { return filepath.Join(t.TempDir(), "latchkey.db") },
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
		TooNew: &sqlstore.SchemaTooNewError{Database: "SQLite", Version: storetest.NextMigration(), Known: storetest.NextMigration() - 1},
		TooNewMessage: fmt.Sprintf("SQLite database schema is at version %d but this latchkey knows only up to %d: upgrade latchkey",
			storetest.NextMigration(), storetest.NextMigration()-1),
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "read-only")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		skip bool
	}{
		{"missing folder", filepath.Join(dir, "missing", "latchkey.db"), false},
		{"folder is a file", filepath.Join(file, "latchkey.db"), false},
		{"not a database", file, false},
		{"read-only folder", filepath.Join(readOnly, "latchkey.db"), os.Geteuid() == 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("root can write anywhere")
			}
			db, err := Open(t.Context(), tc.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "open SQLite database "+tc.path+": ") ||
				!strings.HasSuffix(msg, ": check that the folder exists and is writable") {
				t.Errorf("Open(%q) = %q, want the path and the hint", tc.path, msg)
			}
		})
	}
}

// TestOpenOddPath checks that characters with a meaning in URIs stay part of
// the file name.
func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%20e&f=g")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "latch key.db")
	openMigrated(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %q: %v", path, err)
	}
}
