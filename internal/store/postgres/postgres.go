// Package postgres is Latchkey's production storage backend: PostgreSQL through
// pgx, with the same SQL kept portable to the PostgreSQL-compatible distributed
// databases (CockroachDB, YugabyteDB). Queries and the migration runner come
// from store/sqlstore; this package owns the connection pool, the errors a
// user sees when the DSN is wrong or the server is down (never with the
// password), the PostgreSQL DDL in migrations/, and the LISTEN/NOTIFY that
// tells replicas of each other's changes (listen.go).
//
// postgres imports store, store/sqlstore and pgx; it must not import a domain
// package or another backend.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock serialises migrators on one database for the length of a
// migration transaction. The key is "latchkey" in ASCII, as a bigint.
const migrationLock = `SELECT pg_advisory_xact_lock(7809651199139603833)`

// Pool and connection limits. A replica rarely needs more than a handful of
// connections: hot reads are served from caches.
const (
	maxOpenConns    = 20
	maxIdleConns    = 10
	connMaxIdleTime = 5 * time.Minute
	connMaxLifetime = 30 * time.Minute
	connectTimeout  = 5 * time.Second // one connection attempt, and the ping in Open
)

// DB is a store.Store in a PostgreSQL database. It is safe for concurrent use,
// also by several processes (replicas) on the same database.
type DB struct {
	*sqlstore.DB
	sql *sql.DB // the same pool, for this package's tests
}

var _ store.Store = (*DB)(nil)

// Open connects to the PostgreSQL database named by dsn (a postgres:// URL or
// keyword/value string) and checks within 5 seconds that it answers. Errors
// say what to fix and never contain the password. Call Migrate before first
// use.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, dsnError(dsn, err)
	}
	if cfg.ConnectTimeout == 0 { // the DSN's connect_timeout wins
		cfg.ConnectTimeout = connectTimeout
	}
	dialect, err := newDialect()
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	db.SetConnMaxLifetime(connMaxLifetime)

	pingCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, reachError(cfg, err)
	}
	return &DB{DB: sqlstore.New(db, dialect, time.Now), sql: db}, nil
}

func newDialect() (sqlstore.Dialect, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return sqlstore.Dialect{}, fmt.Errorf("postgres migrations: %w", err)
	}
	return sqlstore.Dialect{
		Name:          "PostgreSQL",
		Migrations:    fsys,
		MigrationLock: migrationLock,
		ChangeLock:    changeLock,
		Notify:        notifyChange,
		Listen:        listen,
	}, nil
}
