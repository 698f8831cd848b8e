// Package sqlite is Latchkey's embedded storage backend: one SQLite file,
// opened through the pure-Go driver modernc.org/sqlite, in WAL mode with full
// sync, so that an acknowledged write has been fsynced. Queries and the
// migration runner come from store/sqlstore; this package owns the connection
// settings and the SQLite DDL in migrations/.
//
// sqlite imports store, store/sqlstore and its driver; it must not import a
// domain package or another backend.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// connParams are applied by the driver to every connection it opens. The busy
// timeout comes first (the driver applies it first whatever the order here),
// so that switching to WAL waits for a lock instead of failing. _txlock makes
// every transaction BEGIN IMMEDIATE: it takes the write lock at the start, so
// a read-then-write transaction cannot fail midway on a stale snapshot.
const connParams = "_busy_timeout=5000&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_txlock=immediate"

// DB is a store.Store in one SQLite file. It is safe for concurrent use, also
// by several processes on the same file.
type DB struct {
	*sqlstore.DB
	sql *sql.DB // the same pool, for this package's tests
}

var _ store.Store = (*DB)(nil)

// Open opens the SQLite database at path, creating the file when it does not
// exist; its folder must exist. Call Migrate before first use.
func Open(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, openError(path, err)
	}
	dir := filepath.Dir(abs)
	if fi, err := os.Stat(dir); err != nil {
		return nil, openError(path, err)
	} else if !fi.IsDir() {
		return nil, openError(path, fmt.Errorf("%s is not a folder", dir))
	}
	dialect, err := newDialect()
	if err != nil {
		return nil, err
	}
	connector, err := sqlite.NewConnector(dsn(abs))
	if err != nil {
		return nil, openError(path, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxIdleConns(4) // each new connection re-runs the PRAGMAs
	if err := checkWAL(ctx, db); err != nil {
		db.Close()
		return nil, openError(path, err)
	}
	return &DB{DB: sqlstore.New(db, dialect, time.Now), sql: db}, nil
}

// dsn builds the driver's name for the file at an absolute path: a file: URI,
// so that characters such as '?' and '#' in the path are escaped, not parsed.
func dsn(abs string) string {
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + connParams
}

// checkWAL opens the first connection and checks that the file really is in
// WAL mode: SQLite keeps the old mode silently when it cannot switch.
func checkWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal", mode)
	}
	return nil
}

func openError(path string, err error) error {
	return fmt.Errorf("open SQLite database %s: %w: check that the folder exists and is writable", path, err)
}

func newDialect() (sqlstore.Dialect, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return sqlstore.Dialect{}, fmt.Errorf("sqlite migrations: %w", err)
	}
	// BEGIN IMMEDIATE already serialises migrators and change writers, so no
	// lock statements; SQLite has no notifications, so ChangeSignal polls.
	return sqlstore.Dialect{Name: "SQLite", Migrations: fsys}, nil
}
