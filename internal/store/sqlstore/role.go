package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.RoleDefinitions = (*DB)(nil)

// roleColumns are the columns of role_definitions that make a
// store.RoleDefinition, in the order scanRole reads them. The table also has
// name_key, the lower-cased name, which is unique, so that names are unique
// case-insensitively on both databases whatever their collation.
const roleColumns = `id, name, description, permissions, assignable_scopes, created, updated`

// nameKey is the form of a role name that uniqueness is checked on. It is
// computed here, not by SQL's lower(), which differs between databases.
func nameKey(name string) string {
	return strings.ToLower(name)
}

// CreateRoleDefinition stores r. It returns an error wrapping
// store.ErrConflict when r.ID exists or another custom role has r.Name
// (compared case-insensitively).
func (d *DB) CreateRoleDefinition(ctx context.Context, r store.RoleDefinition) error {
	op := "create role definition " + r.ID
	if r.ID == "" {
		return fmt.Errorf("create role definition %q: the id is empty", r.Name)
	}
	scopes, err := encodeScopes(r.AssignableScopes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `INSERT INTO role_definitions (`+roleColumns+`, name_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING`,
			r.ID, r.Name, r.Description, bytesIn(r.Permissions), scopes, micros(r.Created), micros(r.Updated),
			nameKey(r.Name))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: the id or the name %q is taken: %w", op, r.Name, store.ErrConflict)
		}
		return d.appendChange(ctx, tx, store.TopicRoleDefinition, r.ID, d.now())
	})
}

// RoleDefinition returns the custom role with id, or an error wrapping
// store.ErrNotFound.
func (d *DB) RoleDefinition(ctx context.Context, id string) (store.RoleDefinition, error) {
	row := d.db.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM role_definitions WHERE id = $1`, id)
	r, err := scanRole(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.RoleDefinition{}, fmt.Errorf("role definition %s: %w", id, store.ErrNotFound)
	case err != nil:
		return store.RoleDefinition{}, fmt.Errorf("read role definition %s: %w", id, err)
	}
	return r, nil
}

// RoleDefinitions returns every custom role ordered by Name, bytewise.
func (d *DB) RoleDefinitions(ctx context.Context) ([]store.RoleDefinition, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+roleColumns+` FROM role_definitions ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list role definitions: %w", err)
	}
	rs, err := scanAll(rows, scanRole)
	if err != nil {
		return nil, fmt.Errorf("list role definitions: %w", err)
	}
	return rs, nil
}

// UpdateRoleDefinition replaces the Name, Description, Permissions,
// AssignableScopes and Updated of the role with r.ID. It returns an error
// wrapping store.ErrNotFound when there is none and store.ErrConflict when
// another role has the new Name. As in UpdatePrincipal, the name is checked
// inside the transaction; on PostgreSQL the unique index fails the second of
// two simultaneous renames to one free name with the database's own error.
func (d *DB) UpdateRoleDefinition(ctx context.Context, r store.RoleDefinition) error {
	op := "update role definition " + r.ID
	scopes, err := encodeScopes(r.AssignableScopes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		var found int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM role_definitions WHERE id = $1`, r.ID).Scan(&found)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("role definition %s: %w", r.ID, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("%s: %w", op, err)
		}
		var holder string
		err = tx.QueryRowContext(ctx, `SELECT id FROM role_definitions WHERE name_key = $1 AND id <> $2`,
			nameKey(r.Name), r.ID).Scan(&holder)
		switch {
		case err == nil:
			return fmt.Errorf("rename role definition %s: the name %q is taken by %s: %w",
				r.ID, r.Name, holder, store.ErrConflict)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%s: %w", op, err)
		}
		n, err := execCount(ctx, tx, `UPDATE role_definitions
			SET name = $2, name_key = $3, description = $4, permissions = $5, assignable_scopes = $6, updated = $7
			WHERE id = $1`,
			r.ID, r.Name, nameKey(r.Name), r.Description, bytesIn(r.Permissions), scopes, micros(r.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 { // deleted since the first read, on PostgreSQL
			return fmt.Errorf("role definition %s: %w", r.ID, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicRoleDefinition, r.ID, d.now())
	})
}

// DeleteRoleDefinition deletes a custom role. It returns an error wrapping
// store.ErrNotFound when there is none and store.ErrConflict while an
// assignment or eligible assignment uses it.
//
// Assignments do not lock the role they name (it may be built in, and so not
// stored), so on PostgreSQL an assignment created while the role is deleted
// can commit after the check and be left naming a missing role.
func (d *DB) DeleteRoleDefinition(ctx context.Context, id string) error {
	op := "delete role definition " + id
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `DELETE FROM role_definitions WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("role definition %s: %w", id, store.ErrNotFound)
		}
		for _, table := range []string{"role_assignments", "eligible_assignments"} {
			var user string
			err := tx.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE role_id = $1 ORDER BY id LIMIT 1`,
				id).Scan(&user)
			switch {
			case err == nil:
				return fmt.Errorf("%s: it is in use by %s %s: %w", op, table, user, store.ErrConflict)
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("%s: look for %s: %w", op, table, err)
			}
		}
		return d.appendChange(ctx, tx, store.TopicRoleDefinition, id, d.now())
	})
}

// encodeScopes encodes assignable scopes as a JSON array; nil and empty
// both become "[]".
func encodeScopes(scopes []string) (string, error) {
	if len(scopes) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(scopes)
	if err != nil {
		return "", fmt.Errorf("encode assignable scopes: %w", err)
	}
	return string(b), nil
}

// decodeScopes decodes an assignable_scopes column; none decode as nil.
func decodeScopes(text string) ([]string, error) {
	var scopes []string
	if err := json.Unmarshal([]byte(text), &scopes); err != nil {
		return nil, fmt.Errorf("decode assignable scopes: %w", err)
	}
	if len(scopes) == 0 {
		return nil, nil
	}
	return scopes, nil
}

// scanRole reads the roleColumns of one row.
func scanRole(s scanner) (store.RoleDefinition, error) {
	var (
		r                store.RoleDefinition
		scopes           string
		created, updated sql.NullInt64
	)
	if err := s.Scan(&r.ID, &r.Name, &r.Description, &r.Permissions, &scopes, &created, &updated); err != nil {
		return store.RoleDefinition{}, err
	}
	var err error
	if r.AssignableScopes, err = decodeScopes(scopes); err != nil {
		return store.RoleDefinition{}, fmt.Errorf("role definition %s: %w", r.ID, err)
	}
	r.Permissions = bytesOut(r.Permissions)
	r.Created, r.Updated = timeOf(created), timeOf(updated)
	return r, nil
}
