package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.SigningKeys = (*DB)(nil)

// signingKeyColumns are the columns of signing_keys that make a
// store.SigningKey, in the order scanSigningKey reads them. Errors name a key
// by its id, never by its bytes.
const signingKeyColumns = `id, algorithm, private, public, created, active_until, retire_at`

// CreateSigningKey stores k. It returns an error wrapping store.ErrConflict
// when k.ID exists.
func (d *DB) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	if k.ID == "" {
		return fmt.Errorf("create %s signing key: the id is empty", k.Algorithm)
	}
	op := "create signing key " + k.ID
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO NOTHING`,
			k.ID, k.Algorithm, bytesIn(k.Private), bytesIn(k.Public),
			micros(k.Created), micros(k.ActiveUntil), micros(k.RetireAt))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("signing key %s: %w", k.ID, store.ErrConflict)
		}
		return d.appendChange(ctx, tx, store.TopicSigningKey, k.ID, d.now())
	})
}

// SigningKeys returns every stored signing key ordered by Created, then ID. A
// zero Created (NULL) sorts first, as the zero time does.
func (d *DB) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created NULLS FIRST, id`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	ks, err := scanAll(rows, scanSigningKey)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return ks, nil
}

// DeleteSigningKey deletes a key. It returns an error wrapping
// store.ErrNotFound when there is none.
func (d *DB) DeleteSigningKey(ctx context.Context, id string) error {
	op := "delete signing key " + id
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `DELETE FROM signing_keys WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("signing key %s: %w", id, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicSigningKey, id, d.now())
	})
}

// scanSigningKey reads the signingKeyColumns of one row.
func scanSigningKey(s scanner) (store.SigningKey, error) {
	var (
		k                              store.SigningKey
		created, activeUntil, retireAt sql.NullInt64
	)
	if err := s.Scan(&k.ID, &k.Algorithm, &k.Private, &k.Public, &created, &activeUntil, &retireAt); err != nil {
		return store.SigningKey{}, err
	}
	k.Private, k.Public = bytesOut(k.Private), bytesOut(k.Public)
	k.Created, k.ActiveUntil, k.RetireAt = timeOf(created), timeOf(activeUntil), timeOf(retireAt)
	return k, nil
}
