package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Principals = (*DB)(nil)

// principalColumns are the columns of principals that make a store.Principal,
// in the order scanPrincipal reads them. app_id is NULL for "", so that users
// never collide on it.
const principalColumns = `id, kind, name, app_id, scope, enabled, password_hash, created, updated`

// CreatePrincipal stores p. It returns an error wrapping store.ErrConflict when
// a principal with the same ID or AppID exists, or a user or managed identity
// with the same Name exists. ON CONFLICT without a target does nothing on a
// collision with any unique index, the partial one on names included, so of
// several racing creators one succeeds and the others see a conflict.
func (d *DB) CreatePrincipal(ctx context.Context, p store.Principal) error {
	if p.ID == "" {
		return fmt.Errorf("create %s principal %q: the id is empty", p.Kind, p.Name)
	}
	op := "create principal " + p.ID
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `INSERT INTO principals (`+principalColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT DO NOTHING`,
			p.ID, string(p.Kind), p.Name, nullText(p.AppID), p.Scope, p.Enabled, p.PasswordHash,
			micros(p.Created), micros(p.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: the id, the app id %q or the %s name %q is taken: %w",
				op, p.AppID, p.Kind, p.Name, store.ErrConflict)
		}
		return d.appendChange(ctx, tx, store.TopicPrincipal, p.ID, d.now())
	})
}

// Principal returns the principal with object id id, or an error wrapping
// store.ErrNotFound.
func (d *DB) Principal(ctx context.Context, id string) (store.Principal, error) {
	return d.principalWhere(ctx, "principal "+id, `id = $1`, id)
}

// PrincipalByAppID returns the service principal or managed identity whose
// client id is appID, or an error wrapping store.ErrNotFound. No principal has
// the app id "": users' is NULL.
func (d *DB) PrincipalByAppID(ctx context.Context, appID string) (store.Principal, error) {
	return d.principalWhere(ctx, "principal with app id "+appID, `app_id = $1`, appID)
}

// PrincipalByName returns the user or managed identity of kind k named name,
// or an error wrapping store.ErrNotFound, also for k == ServicePrincipal, whose
// names are not unique.
func (d *DB) PrincipalByName(ctx context.Context, k store.PrincipalKind, name string) (store.Principal, error) {
	what := fmt.Sprintf("%s %q", k, name)
	if k == store.ServicePrincipal {
		return store.Principal{}, fmt.Errorf("%s: service principals are not found by name: %w", what, store.ErrNotFound)
	}
	return d.principalWhere(ctx, what, `kind = $1 AND name = $2`, string(k), name)
}

// principalWhere reads the one principal that the condition where selects;
// what names it in errors.
func (d *DB) principalWhere(ctx context.Context, what, where string, args ...any) (store.Principal, error) {
	row := d.db.QueryRowContext(ctx, `SELECT `+principalColumns+` FROM principals WHERE `+where, args...)
	p, err := scanPrincipal(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Principal{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case err != nil:
		return store.Principal{}, fmt.Errorf("read %s: %w", what, err)
	}
	return p, nil
}

// Principals lists principals of kind k (all kinds when k is "") ordered by
// ID, one page at a time, and returns the cursor of the next page ("" after
// the last).
func (d *DB) Principals(ctx context.Context, k store.PrincipalKind, p store.Page) ([]store.Principal, string, error) {
	op := "list principals"
	if k != "" {
		op = fmt.Sprintf("list %s principals", k)
	}
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	limit := pageLimit(p.Limit)
	// One row more than the page tells whether another page follows.
	var rows *sql.Rows
	if k == "" {
		rows, err = d.db.QueryContext(ctx, `SELECT `+principalColumns+` FROM principals
			WHERE id > $1 ORDER BY id LIMIT $2`, after, limit+1)
	} else {
		rows, err = d.db.QueryContext(ctx, `SELECT `+principalColumns+` FROM principals
			WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3`, string(k), after, limit+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	ps, err := scanAll(rows, scanPrincipal)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	ps, next := pageOf(ps, limit, func(p store.Principal) string { return p.ID })
	return ps, next, nil
}

// UpdatePrincipal replaces the Name, Enabled, PasswordHash and Updated of the
// principal with p.ID. It returns an error wrapping store.ErrNotFound when
// there is none, and store.ErrConflict when another user or managed identity
// of its kind has the new Name.
//
// The name is checked inside the transaction, which settles it on SQLite,
// where write transactions take turns. On PostgreSQL two renames to the same
// free name at once both pass the check; the unique index then fails the
// second with the database's own error, never with a duplicate stored.
func (d *DB) UpdatePrincipal(ctx context.Context, p store.Principal) error {
	op := "update principal " + p.ID
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		var kind store.PrincipalKind
		err := tx.QueryRowContext(ctx, `SELECT kind FROM principals WHERE id = $1`, p.ID).Scan(&kind)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("principal %s: %w", p.ID, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("%s: %w", op, err)
		}
		if kind != store.ServicePrincipal {
			var holder string
			err := tx.QueryRowContext(ctx, `SELECT id FROM principals WHERE kind = $1 AND name = $2 AND id <> $3`,
				string(kind), p.Name, p.ID).Scan(&holder)
			switch {
			case err == nil:
				return fmt.Errorf("rename principal %s: %s name %q is taken by %s: %w",
					p.ID, kind, p.Name, holder, store.ErrConflict)
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		n, err := execCount(ctx, tx, `UPDATE principals SET name = $2, enabled = $3, password_hash = $4, updated = $5
			WHERE id = $1`, p.ID, p.Name, p.Enabled, p.PasswordHash, micros(p.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 { // deleted since the first read, on PostgreSQL
			return fmt.Errorf("principal %s: %w", p.ID, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicPrincipal, p.ID, d.now())
	})
}

// DeletePrincipal deletes the principal, all its credentials, and its role
// assignments and eligible assignments, in one transaction, and records a
// change of each topic it touched. It returns an error wrapping
// store.ErrNotFound when there is none.
//
// Assignments have no foreign key to principals (they may name principals of
// other directories), and creating one does not lock its principal: on
// PostgreSQL one created while the principal is deleted can outlive it.
func (d *DB) DeletePrincipal(ctx context.Context, id string) error {
	op := "delete principal " + id
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		// The principal goes first: deleting its row locks it, so a credential
		// added at the same time (see lockPrincipal) has either committed, and
		// is deleted below, or finds the principal gone.
		n, err := execCount(ctx, tx, `DELETE FROM principals WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("principal %s: %w", id, store.ErrNotFound)
		}
		// The foreign key cascades as well; this keeps the contract whatever
		// the connection's foreign-key setting.
		if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE principal_id = $1`, id); err != nil {
			return fmt.Errorf("%s: delete its credentials: %w", op, err)
		}
		assigned, err := execCount(ctx, tx, `DELETE FROM role_assignments WHERE principal_id = $1`, id)
		if err != nil {
			return fmt.Errorf("%s: delete its role assignments: %w", op, err)
		}
		eligible, err := execCount(ctx, tx, `DELETE FROM eligible_assignments WHERE principal_id = $1`, id)
		if err != nil {
			return fmt.Errorf("%s: delete its eligible assignments: %w", op, err)
		}
		at := d.now()
		changes := []struct {
			topic   string
			touched bool
		}{
			{store.TopicPrincipal, true},
			{store.TopicRoleAssignment, assigned > 0},
			{store.TopicEligibleAssignment, eligible > 0},
		}
		for _, c := range changes {
			if !c.touched {
				continue
			}
			if err := d.appendChange(ctx, tx, c.topic, id, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockPrincipal checks inside tx that the principal exists and keeps it from
// being deleted until tx ends, or returns an error wrapping store.ErrNotFound.
// The UPDATE changes nothing: it takes the row's write lock on PostgreSQL
// (SQLite's BEGIN IMMEDIATE already holds the whole database), so that a
// concurrent DeletePrincipal waits for tx rather than an insert that
// references the principal failing on the foreign key.
func lockPrincipal(ctx context.Context, tx *sql.Tx, id string) error {
	n, err := execCount(ctx, tx, `UPDATE principals SET updated = updated WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("lock principal %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("principal %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// scanPrincipal reads the principalColumns of one row.
func scanPrincipal(s scanner) (store.Principal, error) {
	var (
		p                store.Principal
		appID            sql.NullString
		created, updated sql.NullInt64
	)
	err := s.Scan(&p.ID, &p.Kind, &p.Name, &appID, &p.Scope, &p.Enabled, &p.PasswordHash, &created, &updated)
	if err != nil {
		return store.Principal{}, err
	}
	p.AppID = appID.String
	p.Created, p.Updated = timeOf(created), timeOf(updated)
	return p, nil
}
