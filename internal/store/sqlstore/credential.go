package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Credentials = (*DB)(nil)

// credentialColumns are the columns of credentials that make a
// store.Credential, in the order scanCredential reads them. Errors name a
// credential by id and name, never by its data.
const credentialColumns = `id, principal_id, kind, name, data, created, expires`

// Every write records a change of topic store.TopicPrincipal, keyed by the
// principal's id: a principal's credentials are part of it in caches.

// CreateCredential stores c. It returns an error wrapping store.ErrNotFound
// when c.PrincipalID names no principal, and store.ErrConflict when c.ID exists
// or the principal already has a credential named c.Name.
func (d *DB) CreateCredential(ctx context.Context, c store.Credential) error {
	op := fmt.Sprintf("create credential %s of principal %s", c.ID, c.PrincipalID)
	if c.ID == "" {
		return fmt.Errorf("%s: the id is empty", op)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		if err := lockPrincipal(ctx, tx, c.PrincipalID); err != nil {
			return err
		}
		if err := insertCredential(ctx, tx, c); err != nil {
			return err
		}
		return d.appendChange(ctx, tx, store.TopicPrincipal, c.PrincipalID, d.now())
	})
}

// Credentials returns every credential of a principal ordered by Created, then
// ID; an empty list when it has none or the principal does not exist. A zero
// Created (NULL) sorts first, as the zero time does.
func (d *DB) Credentials(ctx context.Context, principalID string) ([]store.Credential, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+credentialColumns+` FROM credentials
		WHERE principal_id = $1 ORDER BY created NULLS FIRST, id`, principalID)
	if err != nil {
		return nil, fmt.Errorf("list credentials of principal %s: %w", principalID, err)
	}
	cs, err := scanAll(rows, scanCredential)
	if err != nil {
		return nil, fmt.Errorf("list credentials of principal %s: %w", principalID, err)
	}
	return cs, nil
}

// AllCredentials lists the credentials of every principal ordered by ID, one
// page at a time, and returns the cursor of the next page.
func (d *DB) AllCredentials(ctx context.Context, p store.Page) ([]store.Credential, string, error) {
	const op = "list all credentials"
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	limit := pageLimit(p.Limit)
	rows, err := d.db.QueryContext(ctx, `SELECT `+credentialColumns+` FROM credentials
		WHERE id > $1 ORDER BY id LIMIT $2`, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	cs, err := scanAll(rows, scanCredential)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	cs, next := pageOf(cs, limit, func(c store.Credential) string { return c.ID })
	return cs, next, nil
}

// ReplaceCredentials deletes every credential of kind k of the principal and
// stores c in its place, in one transaction. c must be of kind k and belong to
// principalID. It returns an error wrapping store.ErrNotFound when the
// principal does not exist, and store.ErrConflict when c.ID is taken by a
// credential that is not replaced, or c.Name by one of another kind.
func (d *DB) ReplaceCredentials(ctx context.Context, principalID string, k store.CredentialKind, c store.Credential) error {
	op := fmt.Sprintf("replace %s credentials of principal %s", k, principalID)
	switch {
	case c.PrincipalID != principalID:
		return fmt.Errorf("%s: credential %s belongs to principal %q", op, c.ID, c.PrincipalID)
	case c.Kind != k:
		return fmt.Errorf("%s: credential %s is of kind %q", op, c.ID, c.Kind)
	case c.ID == "":
		return fmt.Errorf("%s: the id is empty", op)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		if err := lockPrincipal(ctx, tx, principalID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE principal_id = $1 AND kind = $2`,
			principalID, string(k))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := insertCredential(ctx, tx, c); err != nil {
			return err
		}
		return d.appendChange(ctx, tx, store.TopicPrincipal, principalID, d.now())
	})
}

// DeleteCredential deletes one credential of a principal. It returns an error
// wrapping store.ErrNotFound when there is no such credential.
func (d *DB) DeleteCredential(ctx context.Context, principalID, id string) error {
	op := fmt.Sprintf("delete credential %s of principal %s", id, principalID)
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `DELETE FROM credentials WHERE principal_id = $1 AND id = $2`, principalID, id)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("credential %s of principal %s: %w", id, principalID, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicPrincipal, principalID, d.now())
	})
}

// insertCredential stores c in tx, whose caller has locked its principal. ON
// CONFLICT without a target does nothing on a taken id and on a taken name
// (the partial unique index), which are both conflicts.
func insertCredential(ctx context.Context, tx *sql.Tx, c store.Credential) error {
	n, err := execCount(ctx, tx, `INSERT INTO credentials (`+credentialColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT DO NOTHING`,
		c.ID, c.PrincipalID, string(c.Kind), c.Name, bytesIn(c.Data), micros(c.Created), micros(c.Expires))
	if err != nil {
		return fmt.Errorf("insert credential %s of principal %s: %w", c.ID, c.PrincipalID, err)
	}
	if n == 0 {
		return fmt.Errorf("credential %s of principal %s: the id or the name %q is taken: %w",
			c.ID, c.PrincipalID, c.Name, store.ErrConflict)
	}
	return nil
}

// scanCredential reads the credentialColumns of one row.
func scanCredential(s scanner) (store.Credential, error) {
	var (
		c                store.Credential
		created, expires sql.NullInt64
	)
	if err := s.Scan(&c.ID, &c.PrincipalID, &c.Kind, &c.Name, &c.Data, &created, &expires); err != nil {
		return store.Credential{}, err
	}
	c.Data = bytesOut(c.Data)
	c.Created, c.Expires = timeOf(created), timeOf(expires)
	return c, nil
}
