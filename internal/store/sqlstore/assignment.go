package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

var (
	_ store.RoleAssignments     = (*DB)(nil)
	_ store.EligibleAssignments = (*DB)(nil)
)

// assignmentColumns are the columns of role_assignments that make a
// store.RoleAssignment, in the order scanAssignment reads them.
const assignmentColumns = `id, principal_id, role_id, scope, expires, eligibility_id, justification, created_by, created`

// eligibleColumns are the columns of eligible_assignments that make a
// store.EligibleAssignment, in the order scanEligible reads them.
// max_duration is in microseconds.
const eligibleColumns = `id, principal_id, role_id, scope, max_duration, require_justification, created_by, created`

// CreateRoleAssignment stores a. It returns an error wrapping
// store.ErrConflict when a.ID exists or an assignment of the same principal,
// role, scope and EligibilityID exists. Neither the principal nor the role is
// checked: either may live outside the store (another directory, a built-in
// role).
func (d *DB) CreateRoleAssignment(ctx context.Context, a store.RoleAssignment) error {
	op := fmt.Sprintf("create role assignment %s of principal %s", a.ID, a.PrincipalID)
	if a.ID == "" {
		return fmt.Errorf("%s: the id is empty", op)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `INSERT INTO role_assignments (`+assignmentColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT DO NOTHING`,
			a.ID, a.PrincipalID, a.RoleID, a.Scope, micros(a.Expires), a.EligibilityID, a.Justification,
			a.CreatedBy, micros(a.Created))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: the id, or role %s at %s, is taken: %w", op, a.RoleID, a.Scope, store.ErrConflict)
		}
		return d.appendChange(ctx, tx, store.TopicRoleAssignment, a.PrincipalID, d.now())
	})
}

// RoleAssignment returns the assignment with id, or an error wrapping
// store.ErrNotFound.
func (d *DB) RoleAssignment(ctx context.Context, id string) (store.RoleAssignment, error) {
	row := d.db.QueryRowContext(ctx, `SELECT `+assignmentColumns+` FROM role_assignments WHERE id = $1`, id)
	a, err := scanAssignment(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.RoleAssignment{}, fmt.Errorf("role assignment %s: %w", id, store.ErrNotFound)
	case err != nil:
		return store.RoleAssignment{}, fmt.Errorf("read role assignment %s: %w", id, err)
	}
	return a, nil
}

// RoleAssignments lists assignments matching f ordered by ID, one page at a
// time, and returns the cursor of the next page ("" after the last).
func (d *DB) RoleAssignments(ctx context.Context, f store.AssignmentFilter, p store.Page) ([]store.RoleAssignment, string, error) {
	as, next, err := listPage(ctx, d, assignmentColumns, "role_assignments", "id", filterOf(f), p, scanAssignment,
		func(a store.RoleAssignment) string { return a.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list role assignments %+v: %w", f, err)
	}
	return as, next, nil
}

// DeleteRoleAssignment deletes an assignment. It returns an error wrapping
// store.ErrNotFound when there is none.
func (d *DB) DeleteRoleAssignment(ctx context.Context, id string) error {
	op := "delete role assignment " + id
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		var principalID string
		err := tx.QueryRowContext(ctx, `DELETE FROM role_assignments WHERE id = $1 RETURNING principal_id`,
			id).Scan(&principalID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("role assignment %s: %w", id, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("%s: %w", op, err)
		}
		return d.appendChange(ctx, tx, store.TopicRoleAssignment, principalID, d.now())
	})
}

// CreateEligibleAssignment stores e. It returns an error wrapping
// store.ErrConflict when e.ID exists or an eligible assignment of the same
// principal, role and scope exists. MaxDuration is stored in microseconds.
func (d *DB) CreateEligibleAssignment(ctx context.Context, e store.EligibleAssignment) error {
	op := fmt.Sprintf("create eligible assignment %s of principal %s", e.ID, e.PrincipalID)
	if e.ID == "" {
		return fmt.Errorf("%s: the id is empty", op)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `INSERT INTO eligible_assignments (`+eligibleColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING`,
			e.ID, e.PrincipalID, e.RoleID, e.Scope, e.MaxDuration.Microseconds(), e.RequireJustification,
			e.CreatedBy, micros(e.Created))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: the id, or role %s at %s, is taken: %w", op, e.RoleID, e.Scope, store.ErrConflict)
		}
		return d.appendChange(ctx, tx, store.TopicEligibleAssignment, e.PrincipalID, d.now())
	})
}

// EligibleAssignment returns the eligible assignment with id, or an error
// wrapping store.ErrNotFound.
func (d *DB) EligibleAssignment(ctx context.Context, id string) (store.EligibleAssignment, error) {
	row := d.db.QueryRowContext(ctx, `SELECT `+eligibleColumns+` FROM eligible_assignments WHERE id = $1`, id)
	e, err := scanEligible(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.EligibleAssignment{}, fmt.Errorf("eligible assignment %s: %w", id, store.ErrNotFound)
	case err != nil:
		return store.EligibleAssignment{}, fmt.Errorf("read eligible assignment %s: %w", id, err)
	}
	return e, nil
}

// EligibleAssignments lists eligible assignments matching f ordered by ID,
// one page at a time, and returns the cursor of the next page.
func (d *DB) EligibleAssignments(ctx context.Context, f store.AssignmentFilter, p store.Page) ([]store.EligibleAssignment, string, error) {
	es, next, err := listPage(ctx, d, eligibleColumns, "eligible_assignments", "id", filterOf(f), p, scanEligible,
		func(e store.EligibleAssignment) string { return e.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list eligible assignments %+v: %w", f, err)
	}
	return es, next, nil
}

// DeleteEligibleAssignment deletes an eligible assignment and every
// assignment made from it, in one transaction, and records a change of each
// topic it touched. It returns an error wrapping store.ErrNotFound when there
// is none.
func (d *DB) DeleteEligibleAssignment(ctx context.Context, id string) error {
	op := "delete eligible assignment " + id
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		var principalID string
		err := tx.QueryRowContext(ctx, `DELETE FROM eligible_assignments WHERE id = $1 RETURNING principal_id`,
			id).Scan(&principalID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("eligible assignment %s: %w", id, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("%s: %w", op, err)
		}
		activated, err := execCount(ctx, tx, `DELETE FROM role_assignments WHERE eligibility_id = $1`, id)
		if err != nil {
			return fmt.Errorf("%s: delete its activations: %w", op, err)
		}
		at := d.now()
		if err := d.appendChange(ctx, tx, store.TopicEligibleAssignment, principalID, at); err != nil {
			return err
		}
		if activated == 0 {
			return nil
		}
		return d.appendChange(ctx, tx, store.TopicRoleAssignment, principalID, at)
	})
}

// filterOf turns an assignment filter into conditions; empty fields match
// everything.
func filterOf(f store.AssignmentFilter) conditions {
	var where conditions
	where.equal("principal_id", f.PrincipalID)
	where.equal("role_id", f.RoleID)
	where.equal("scope", f.Scope)
	return where
}

// scanAssignment reads the assignmentColumns of one row.
func scanAssignment(s scanner) (store.RoleAssignment, error) {
	var (
		a                store.RoleAssignment
		expires, created sql.NullInt64
	)
	err := s.Scan(&a.ID, &a.PrincipalID, &a.RoleID, &a.Scope, &expires, &a.EligibilityID, &a.Justification,
		&a.CreatedBy, &created)
	if err != nil {
		return store.RoleAssignment{}, err
	}
	a.Expires, a.Created = timeOf(expires), timeOf(created)
	return a, nil
}

// scanEligible reads the eligibleColumns of one row.
func scanEligible(s scanner) (store.EligibleAssignment, error) {
	var (
		e           store.EligibleAssignment
		maxDuration int64
		created     sql.NullInt64
	)
	err := s.Scan(&e.ID, &e.PrincipalID, &e.RoleID, &e.Scope, &maxDuration, &e.RequireJustification,
		&e.CreatedBy, &created)
	if err != nil {
		return store.EligibleAssignment{}, err
	}
	e.MaxDuration = time.Duration(maxDuration) * time.Microsecond
	e.Created = timeOf(created)
	return e, nil
}
