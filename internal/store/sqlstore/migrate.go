package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migration is one step of a backend's schema, read from NNNN_name.sql.
type migration struct {
	version int
	name    string // the file name without ".sql": "0001_init"
	sql     string
}

// SchemaTooNewError reports a database that a newer Latchkey has migrated past
// what this binary knows. Running on would risk writing rows the newer schema
// does not expect, so Migrate refuses.
type SchemaTooNewError struct {
	Database string // Dialect.Name
	Version  int    // the highest migration applied to the database
	Known    int    // the highest migration this binary embeds
}

// Error says what happened and what to do.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("%s database schema is at version %d but this latchkey knows only up to %d: upgrade latchkey",
		e.Database, e.Version, e.Known)
}

// createMigrationsTable is portable DDL; it runs inside each migration
// transaction, after the lock, so that two first starts cannot race to create it.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT NOT NULL PRIMARY KEY,
	name       TEXT   NOT NULL,
	applied_at BIGINT NOT NULL
)`

// Migrate brings the schema up to date and returns the names of the
// migrations it applied, oldest first; none when the schema was current. Each
// migration runs in its own transaction under the dialect's migration lock, so
// a crash leaves the schema at a known version and two processes starting at
// once apply each migration exactly once. It returns a *SchemaTooNewError when
// the database has migrations this binary does not know.
func (d *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := loadMigrations(d.dialect.Migrations)
	if err != nil {
		return nil, fmt.Errorf("load %s migrations: %w", d.dialect.Name, err)
	}
	var applied []string
	for {
		name, err := d.migrateOne(ctx, ms)
		if err != nil {
			return applied, err
		}
		if name == "" {
			return applied, nil
		}
		applied = append(applied, name)
	}
}

// migrateOne applies the first pending migration in one transaction and
// returns its name, or "" when none is pending.
func (d *DB) migrateOne(ctx context.Context, ms []migration) (string, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("migrate %s: begin: %w", d.dialect.Name, err)
	}
	defer tx.Rollback() // a no-op after Commit
	if d.dialect.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.dialect.MigrationLock); err != nil {
			return "", fmt.Errorf("migrate %s: take the migration lock: %w", d.dialect.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return "", fmt.Errorf("migrate %s: create schema_migrations: %w", d.dialect.Name, err)
	}
	done, err := appliedMigrations(ctx, tx)
	if err != nil {
		return "", fmt.Errorf("migrate %s: %w", d.dialect.Name, err)
	}
	next, err := d.pending(ms, done)
	if err != nil || next == nil {
		return "", err // the deferred rollback releases the lock
	}
	if _, err := tx.ExecContext(ctx, next.sql); err != nil {
		return "", fmt.Errorf("migrate %s: apply %s: %w", d.dialect.Name, next.name, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		next.version, next.name, d.now().UnixMicro())
	if err != nil {
		return "", fmt.Errorf("migrate %s: record %s: %w", d.dialect.Name, next.name, err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("migrate %s: commit %s: %w", d.dialect.Name, next.name, err)
	}
	return next.name, nil
}

// appliedMigrations reads schema_migrations as version -> name.
func appliedMigrations(ctx context.Context, tx *sql.Tx) (map[int]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version, name FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	done := make(map[int]string)
	for rows.Next() {
		var (
			version int
			name    string
		)
		if err := rows.Scan(&version, &name); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		done[version] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return done, nil
}

// pending checks the applied migrations against ms and returns the first one
// still to apply, or nil.
func (d *DB) pending(ms []migration, done map[int]string) (*migration, error) {
	highest := 0
	for v := range done {
		highest = max(highest, v)
	}
	if highest > len(ms) {
		return nil, &SchemaTooNewError{Database: d.dialect.Name, Version: highest, Known: len(ms)}
	}
	var next *migration
	for i := range ms {
		m := &ms[i]
		name, ok := done[m.version]
		switch {
		case !ok && next == nil:
			next = m
		case ok && name != m.name:
			return nil, fmt.Errorf("%s schema migration %d is recorded as %q but this latchkey calls it %q: the database belongs to another program or version",
				d.dialect.Name, m.version, name, m.name)
		}
	}
	return next, nil
}

// loadMigrations reads every NNNN_name.sql at the root of fsys, sorted by
// version, and checks that the versions run 1, 2, 3... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	if fsys == nil {
		return nil, errors.New("no migrations")
	}
	files, err := fs.Glob(fsys, "*.sql") // sorted by name, so by version
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(files))
	for i, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".sql")
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("migration %s: want a name like 0001_init.sql", file)
		}
		if version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %04d next", file, i+1)
		}
		text, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", file, err)
		}
		ms = append(ms, migration{version: version, name: name, sql: string(text)})
	}
	if len(ms) == 0 {
		return nil, errors.New("no migrations")
	}
	return ms, nil
}
