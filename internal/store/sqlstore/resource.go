package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Resources = (*DB)(nil)

// resourceColumns are the columns of resources that make a store.Resource, in
// the order scanResource reads them.
const resourceColumns = `scope, kind, name, parent, properties, created, updated`

// rootScope is the tenant, the parent of hubs; it is not stored.
const rootScope = "/"

// CreateResource stores r. It returns an error wrapping store.ErrConflict
// when r.Scope exists, or when r is a vault or account whose Name another
// resource of its kind has (a partial unique index); and store.ErrNotFound
// when r.Parent is not "/" and names no resource. The parent is locked until
// the insert commits, so that it cannot be deleted from under its new child.
func (d *DB) CreateResource(ctx context.Context, r store.Resource) error {
	op := "create resource " + r.Scope
	if r.Scope == "" {
		return fmt.Errorf("create %s %q: the scope is empty", r.Kind, r.Name)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		if r.Parent != rootScope {
			if err := lockResource(ctx, tx, r.Parent); err != nil {
				return fmt.Errorf("%s: parent: %w", op, err)
			}
		}
		n, err := execCount(ctx, tx, `INSERT INTO resources (`+resourceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT DO NOTHING`,
			r.Scope, string(r.Kind), r.Name, r.Parent, bytesIn(r.Properties), micros(r.Created), micros(r.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: the scope or the %s name %q is taken: %w", op, r.Kind, r.Name, store.ErrConflict)
		}
		return d.appendChange(ctx, tx, store.TopicResource, r.Scope, d.now())
	})
}

// Resource returns the resource at scope, or an error wrapping
// store.ErrNotFound.
func (d *DB) Resource(ctx context.Context, scope string) (store.Resource, error) {
	return d.resourceWhere(ctx, "resource "+scope, `scope = $1`, scope)
}

// ResourceByName returns the vault or account of kind k named name, or an
// error wrapping store.ErrNotFound, also for the other kinds, whose names are
// unique only within their parent.
func (d *DB) ResourceByName(ctx context.Context, k store.ResourceKind, name string) (store.Resource, error) {
	what := fmt.Sprintf("%s %q", k, name)
	if k != store.Vault && k != store.Account {
		return store.Resource{}, fmt.Errorf("%s: only vaults and accounts are found by name: %w", what, store.ErrNotFound)
	}
	return d.resourceWhere(ctx, what, `kind = $1 AND name = $2`, string(k), name)
}

// resourceWhere reads the one resource that the condition where selects; what
// names it in errors.
func (d *DB) resourceWhere(ctx context.Context, what, where string, args ...any) (store.Resource, error) {
	row := d.db.QueryRowContext(ctx, `SELECT `+resourceColumns+` FROM resources WHERE `+where, args...)
	r, err := scanResource(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Resource{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case err != nil:
		return store.Resource{}, fmt.Errorf("read %s: %w", what, err)
	}
	return r, nil
}

// Resources lists resources of kind k ("" for all) under parent ("" for
// anywhere) ordered by Scope, one page at a time, and returns the cursor of
// the next page ("" after the last). Under means directly: parent's children.
func (d *DB) Resources(ctx context.Context, k store.ResourceKind, parent string, p store.Page) ([]store.Resource, string, error) {
	var where conditions
	where.equal("kind", string(k))
	where.equal("parent", parent)
	rs, next, err := listPage(ctx, d, resourceColumns, "resources", "scope", where, p, scanResource,
		func(r store.Resource) string { return r.Scope })
	if err != nil {
		return nil, "", fmt.Errorf("list resources of kind %q under %q: %w", k, parent, err)
	}
	return rs, next, nil
}

// UpdateResource replaces the Properties and Updated of the resource at
// r.Scope. It returns an error wrapping store.ErrNotFound when there is none.
func (d *DB) UpdateResource(ctx context.Context, r store.Resource) error {
	op := "update resource " + r.Scope
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `UPDATE resources SET properties = $2, updated = $3 WHERE scope = $1`,
			r.Scope, bytesIn(r.Properties), micros(r.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("resource %s: %w", r.Scope, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicResource, r.Scope, d.now())
	})
}

// UpdateResourceIf replaces the Properties and Updated of the resource at
// r.Scope if its stored Properties are prev, in one statement. It returns
// an error wrapping store.ErrConflict when they are not, and
// store.ErrNotFound when there is no resource at r.Scope.
func (d *DB) UpdateResourceIf(ctx context.Context, r store.Resource, prev []byte) error {
	op := "update resource " + r.Scope
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `UPDATE resources SET properties = $2, updated = $3 WHERE scope = $1 AND properties = $4`,
			r.Scope, bytesIn(r.Properties), micros(r.Updated), bytesIn(prev))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			var one int
			switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM resources WHERE scope = $1`, r.Scope).Scan(&one); {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("resource %s: %w", r.Scope, store.ErrNotFound)
			case err != nil:
				return fmt.Errorf("%s: %w", op, err)
			}
			return fmt.Errorf("resource %s changed since it was read: %w", r.Scope, store.ErrConflict)
		}
		return d.appendChange(ctx, tx, store.TopicResource, r.Scope, d.now())
	})
}

// DeleteResource deletes the resource at scope. It returns an error wrapping
// store.ErrNotFound when there is none, and store.ErrConflict when another
// resource has it as Parent.
//
// The row goes first: deleting it locks it, so a child created at the same
// time (see lockResource) has either committed, and is seen by the check
// that follows, or finds its parent gone.
func (d *DB) DeleteResource(ctx context.Context, scope string) error {
	op := "delete resource " + scope
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		var kind, name string
		err := tx.QueryRowContext(ctx, `DELETE FROM resources WHERE scope = $1 RETURNING kind, name`, scope).Scan(&kind, &name)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("resource %s: %w", scope, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("%s: %w", op, err)
		}
		if kind == string(store.Vault) {
			var secret string
			err := tx.QueryRowContext(ctx, `SELECT name FROM secrets WHERE vault = $1 LIMIT 1`, name).Scan(&secret)
			switch {
			case err == nil:
				return fmt.Errorf("%s: it holds secrets, such as %s: %w", op, secret, store.ErrConflict)
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("%s: look for secrets: %w", op, err)
			}
		}
		var child string
		err = tx.QueryRowContext(ctx, `SELECT scope FROM resources WHERE parent = $1 ORDER BY scope LIMIT 1`,
			scope).Scan(&child)
		switch {
		case err == nil:
			return fmt.Errorf("%s: it has children, such as %s: %w", op, child, store.ErrConflict)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%s: look for children: %w", op, err)
		}
		return d.appendChange(ctx, tx, store.TopicResource, scope, d.now())
	})
}

// lockResource checks inside tx that the resource at scope exists and keeps
// it from being deleted until tx ends, or returns an error wrapping
// store.ErrNotFound; see lockPrincipal.
func lockResource(ctx context.Context, tx *sql.Tx, scope string) error {
	n, err := execCount(ctx, tx, `UPDATE resources SET updated = updated WHERE scope = $1`, scope)
	if err != nil {
		return fmt.Errorf("lock resource %s: %w", scope, err)
	}
	if n == 0 {
		return fmt.Errorf("resource %s: %w", scope, store.ErrNotFound)
	}
	return nil
}

// scanResource reads the resourceColumns of one row.
func scanResource(s scanner) (store.Resource, error) {
	var (
		r                store.Resource
		created, updated sql.NullInt64
	)
	if err := s.Scan(&r.Scope, &r.Kind, &r.Name, &r.Parent, &r.Properties, &created, &updated); err != nil {
		return store.Resource{}, err
	}
	r.Properties = bytesOut(r.Properties)
	r.Created, r.Updated = timeOf(created), timeOf(updated)
	return r, nil
}
