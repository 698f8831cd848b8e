package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.AccountKeys = (*DB)(nil)

// An account's keys are rows of account_keys, one per key name; the record
// of their use is account_key_uses. Errors name accounts and keys, never a
// key's value or lookup hash.

// accountKeyColumns are the columns of account_keys that make a
// store.AccountKey, in the order scanAccountKey reads them.
const accountKeyColumns = `account, name, version, value, lookup, created`

// keyUseColumns are the columns of account_key_uses that make a
// store.KeyUse, in the order scanKeyUse reads them.
const keyUseColumns = `account, key_name, version, caller, via, last_used`

// PutAccountKey stores k, new when oldVersion is "", or in place of the key
// of that name whose Version is oldVersion, forgetting oldVersion's uses.
// See store.AccountKeys for its errors.
func (d *DB) PutAccountKey(ctx context.Context, k store.AccountKey, oldVersion string) error {
	op := fmt.Sprintf("put key %s of account %s", k.Name, k.Account)
	if k.Account == "" || k.Name == "" || k.Version == "" || k.Lookup == "" {
		return fmt.Errorf("%s: account, name, version and lookup are required", op)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		if err := checkLookupFree(ctx, tx, op, k); err != nil {
			return err
		}
		if oldVersion == "" {
			n, err := execCount(ctx, tx, `INSERT INTO account_keys (`+accountKeyColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				k.Account, k.Name, k.Version, bytesIn(k.Value), k.Lookup, micros(k.Created))
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			if n == 0 {
				return fmt.Errorf("%s: the account has that key already: %w", op, store.ErrConflict)
			}
			return d.appendChange(ctx, tx, store.TopicAccountKey, k.Account, d.now())
		}
		n, err := execCount(ctx, tx, `UPDATE account_keys SET version = $4, value = $5, lookup = $6, created = $7
			WHERE account = $1 AND name = $2 AND version = $3`,
			k.Account, k.Name, oldVersion, k.Version, bytesIn(k.Value), k.Lookup, micros(k.Created))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return missingOrReplaced(ctx, tx, op, k)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_key_uses WHERE account = $1 AND key_name = $2 AND version = $3`,
			k.Account, k.Name, oldVersion); err != nil {
			return fmt.Errorf("%s: forget the uses of the old value: %w", op, err)
		}
		return d.appendChange(ctx, tx, store.TopicAccountKey, k.Account, d.now())
	})
}

// checkLookupFree refuses, with ErrConflict, a lookup hash that another key
// has, so that the unique index never fails with a driver's error.
func checkLookupFree(ctx context.Context, tx *sql.Tx, op string, k store.AccountKey) error {
	var account, name string
	err := tx.QueryRowContext(ctx, `SELECT account, name FROM account_keys WHERE lookup = $1`, k.Lookup).Scan(&account, &name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("%s: look up the key's hash: %w", op, err)
	case account == k.Account && name == k.Name:
		return nil // the key replaced by itself: the update's version check decides
	}
	return fmt.Errorf("%s: the value is key %s of account %s already: %w", op, name, account, store.ErrConflict)
}

// missingOrReplaced tells why an update of a key changed no row: no such key
// (ErrNotFound), or one of another version (ErrConflict).
func missingOrReplaced(ctx context.Context, tx *sql.Tx, op string, k store.AccountKey) error {
	var version string
	err := tx.QueryRowContext(ctx, `SELECT version FROM account_keys WHERE account = $1 AND name = $2`,
		k.Account, k.Name).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("key %s of account %s: %w", k.Name, k.Account, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: the key was replaced meanwhile: %w", op, store.ErrConflict)
}

// AccountKeys returns the keys of account ordered by name; none when it has
// none.
func (d *DB) AccountKeys(ctx context.Context, account string) ([]store.AccountKey, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+accountKeyColumns+` FROM account_keys WHERE account = $1 ORDER BY name`, account)
	if err != nil {
		return nil, fmt.Errorf("read the keys of account %s: %w", account, err)
	}
	ks, err := scanAll(rows, scanAccountKey)
	if err != nil {
		return nil, fmt.Errorf("read the keys of account %s: %w", account, err)
	}
	return ks, nil
}

// AccountKeyByLookup returns the key whose lookup hash is lookup, or an error
// wrapping store.ErrNotFound.
func (d *DB) AccountKeyByLookup(ctx context.Context, lookup string) (store.AccountKey, error) {
	k, err := scanAccountKey(d.db.QueryRowContext(ctx, `SELECT `+accountKeyColumns+` FROM account_keys WHERE lookup = $1`, lookup))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.AccountKey{}, fmt.Errorf("account key by lookup: %w", store.ErrNotFound)
	case err != nil:
		return store.AccountKey{}, fmt.Errorf("read an account key by lookup: %w", err)
	}
	return k, nil
}

// accountKeyOrder is the ordering key of account_keys' listings: account and
// name joined by "/", which neither may hold.
const accountKeyOrder = `account || '/' || name`

// AllAccountKeys lists every account's keys ordered by account and name (as
// "account/name"), one page at a time.
func (d *DB) AllAccountKeys(ctx context.Context, p store.Page) ([]store.AccountKey, string, error) {
	ks, next, err := listPage(ctx, d, accountKeyColumns, "account_keys", accountKeyOrder, conditions{}, p, scanAccountKey,
		func(k store.AccountKey) string { return k.Account + "/" + k.Name })
	if err != nil {
		return nil, "", fmt.Errorf("list account keys: %w", err)
	}
	return ks, next, nil
}

// DeleteAccountKeys deletes the keys of account and their recorded uses.
func (d *DB) DeleteAccountKeys(ctx context.Context, account string) error {
	op := "delete the keys of account " + account
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_key_uses WHERE account = $1`, account); err != nil {
			return fmt.Errorf("%s: uses: %w", op, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_keys WHERE account = $1`, account); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return d.appendChange(ctx, tx, store.TopicAccountKey, account, d.now())
	})
}

// RecordKeyUses records uses, keeping the latest LastUsed of each account,
// key, version, caller and way. It appends no change: nothing caches uses.
func (d *DB) RecordKeyUses(ctx context.Context, uses []store.KeyUse) error {
	if len(uses) == 0 {
		return nil
	}
	op := fmt.Sprintf("record %d key uses", len(uses))
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO account_key_uses (`+keyUseColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account, key_name, version, caller, via) DO UPDATE
				SET last_used = excluded.last_used
				WHERE excluded.last_used > account_key_uses.last_used`)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		defer stmt.Close()
		for _, u := range uses {
			if _, err := stmt.ExecContext(ctx, u.Account, u.Key, u.Version, u.Caller, u.Via, u.LastUsed.UnixMicro()); err != nil {
				return fmt.Errorf("%s: key %s of account %s: %w", op, u.Key, u.Account, err)
			}
		}
		return nil
	})
}

// KeyUses returns the uses recorded of account's keys, ordered by key,
// version, caller and way.
func (d *DB) KeyUses(ctx context.Context, account string) ([]store.KeyUse, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+keyUseColumns+` FROM account_key_uses
		WHERE account = $1 ORDER BY key_name, version, caller, via`, account)
	if err != nil {
		return nil, fmt.Errorf("read the key uses of account %s: %w", account, err)
	}
	us, err := scanAll(rows, scanKeyUse)
	if err != nil {
		return nil, fmt.Errorf("read the key uses of account %s: %w", account, err)
	}
	return us, nil
}

// scanAccountKey reads the accountKeyColumns of one row.
func scanAccountKey(s scanner) (store.AccountKey, error) {
	var (
		k       store.AccountKey
		created sql.NullInt64
	)
	if err := s.Scan(&k.Account, &k.Name, &k.Version, &k.Value, &k.Lookup, &created); err != nil {
		return store.AccountKey{}, err
	}
	k.Value, k.Created = bytesOut(k.Value), timeOf(created)
	return k, nil
}

// scanKeyUse reads the keyUseColumns of one row.
func scanKeyUse(s scanner) (store.KeyUse, error) {
	var (
		u    store.KeyUse
		last sql.NullInt64
	)
	if err := s.Scan(&u.Account, &u.Key, &u.Version, &u.Caller, &u.Via, &last); err != nil {
		return store.KeyUse{}, err
	}
	u.LastUsed = timeOf(last)
	return u, nil
}
