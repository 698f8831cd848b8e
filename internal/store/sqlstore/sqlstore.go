// Package sqlstore implements the storage contract of package store once, over
// database/sql, for every SQL backend. The SQL it runs is written to be portable
// across SQLite, PostgreSQL and the PostgreSQL-compatible distributed databases
// (CockroachDB, YugabyteDB): numbered placeholders ($1, $2), INSERT ... ON
// CONFLICT ... DO NOTHING, times as BIGINT unix microseconds, tags as JSON text.
// What still differs between databases (the DDL of the migrations, how
// migrators and change writers exclude each other, how other processes learn
// of changes) is carried by a small explicit Dialect value that each backend
// (store/sqlite, store/postgres) fills in; no query text is rewritten.
//
// sqlstore imports store, database/sql and the standard library; it must not
// import a driver, a backend or any domain package.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sync"
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
	// ChangeLock is SQL run in a transaction just before it appends to the
	// change feed, and held until it ends, so that changes commit in the order
	// of their Seq; "" when write transactions already take turns (SQLite).
	ChangeLock string
	// Notify is SQL run in every transaction that appends to the change feed,
	// to wake other processes' listeners when it commits; "" when the
	// database has no notifications (SQLite).
	Notify string
	// Listen, unless nil, is how ChangeSignal hears of other processes'
	// changes: it calls signal once it listens for the notifications Notify
	// sends, again after each, and again after each reconnection (changes
	// may have been missed meanwhile), until ctx is done. When nil,
	// ChangeSignal polls the change feed instead.
	Listen func(ctx context.Context, db *sql.DB, signal func())
}

// DB is a store.Store over a *sql.DB. It is safe for concurrent use.
type DB struct {
	db      *sql.DB
	dialect Dialect
	now     func() time.Time // stamps applied migrations and changes

	// watchers counts the ChangeSignal goroutines, which Close waits for.
	watchers sync.WaitGroup

	// mu guards subscribers.
	mu sync.Mutex
	// subscribers maps the channel of each ChangeSignal call still watching
	// to the cancel func of its goroutine's context: a write signals every
	// channel without blocking, and Close cancels every goroutine.
	subscribers map[chan struct{}]context.CancelFunc

	// stmtMu guards auditStmts: the statements the audit writer runs in
	// every transaction (auditHeadQuery, auditBatchInsert), prepared on
	// first use.
	stmtMu     sync.Mutex
	auditStmts map[string]*sql.Stmt
}

// New returns a DB that runs its queries on db in dialect d. now stamps
// applied migrations and changes; nil means time.Now. The DB owns db from
// then on: Close closes it.
func New(db *sql.DB, d Dialect, now func() time.Time) *DB {
	if now == nil {
		now = time.Now
	}
	return &DB{db: db, dialect: d, now: now, subscribers: make(map[chan struct{}]context.CancelFunc)}
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", d.dialect.Name, err)
	}
	return nil
}

// Close ends the ChangeSignal goroutines still running, waits for them, and
// closes the database. It must be called once, after all use.
func (d *DB) Close() error {
	d.mu.Lock()
	for _, cancel := range d.subscribers {
		cancel()
	}
	d.mu.Unlock()
	d.watchers.Wait()
	d.stmtMu.Lock()
	for _, st := range d.auditStmts {
		st.Close()
	}
	d.stmtMu.Unlock()
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.dialect.Name, err)
	}
	return nil
}

// inTx runs fn in one transaction and commits it when fn returns nil. When fn
// fails, the transaction is rolled back and fn's error returned as it is; op
// ("delete principal ...") names the work in errors of begin and commit.
// Every transaction run through inTx is a write that appends to the change
// feed, so after a commit it signals this DB's ChangeSignal subscribers.
func (d *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := d.tx(ctx, op, fn); err != nil {
		return err
	}
	d.signalSubscribers()
	return nil
}

// tx runs fn in one transaction and commits it when fn returns nil, without
// signalling change subscribers: for writes outside the change feed (the
// audit trail).
func (d *DB) tx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// execer is what *sql.DB and *sql.Tx have in common for writes.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// execCount runs query on e and returns the number of rows it affected.
func execCount(ctx context.Context, e execer, query string, args ...any) (int64, error) {
	res, err := e.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// scanAll reads every row of rows with scan, then closes rows. No rows give
// a nil slice.
func scanAll[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var items []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return items, nil
}
