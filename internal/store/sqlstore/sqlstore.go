// Package sqlstore implements the storage contract of package store once, over
// database/sql, for every SQL backend. The SQL it runs is written to be portable
// across SQLite, PostgreSQL and the PostgreSQL-compatible distributed databases
// (CockroachDB, YugabyteDB): numbered placeholders ($1, $2), INSERT ... ON
// CONFLICT ... DO NOTHING, times as BIGINT unix microseconds, tags as JSON text.
// What still differs between databases (the DDL of the migrations and how
// migrators exclude each other) is carried by a small explicit Dialect value that
// each backend (store/sqlite, store/postgres) fills in; no query text is rewritten.
//
// sqlstore imports store, database/sql and the standard library; it must not
// import a driver, a backend or any domain package.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"time"
)

// Dialect describes what sqlstore needs to know about one kind of database.
type Dialect struct {
	// Name names the database in errors: "SQLite", "PostgreSQL".
	Name string
	// Migrations holds the backend's schema as files named NNNN_name.sql at
	// its root, numbered from 0001 without gaps.
	Migrations fs.FS
	// MigrationLock is SQL run first in every migration transaction so that
	// migrators in different processes take turns, or "" when beginning the
	// transaction already excludes other writers (SQLite's BEGIN IMMEDIATE).
	MigrationLock string
}

// DB is a store.Store over a *sql.DB. It is safe for concurrent use.
type DB struct {
	db      *sql.DB
	dialect Dialect
	now     func() time.Time // stamps schema_migrations.applied_at
}

// New returns a DB that runs its queries on db in dialect d. now stamps
// applied migrations; nil means time.Now. The DB owns db from then on: Close
// closes it.
func New(db *sql.DB, d Dialect, now func() time.Time) *DB {
	if now == nil {
		now = time.Now
	}
	return &DB{db: db, dialect: d, now: now}
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", d.dialect.Name, err)
	}
	return nil
}

// Close closes the database. It must be called once, after all use.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.dialect.Name, err)
	}
	return nil
}
