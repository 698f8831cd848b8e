package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Secrets = (*DB)(nil)

// A secret is a row of secrets, which names its current version and records
// its soft deletion, and its versions, rows of secret_versions. The secret's
// row exists exactly when it has versions. Every write locks the secret's row
// first, then touches its versions, so writers of one secret take turns and
// never deadlock. Errors name secrets and versions, never their values.
//
// A secret's Created is its first version's Created; its Updated is the
// Updated of the version last created or updated (RestoreSecret stores both as
// given). Delete, recover and purge leave them as they are.

// versionColumns are the columns of secret_versions that make a
// store.SecretVersion, in the order scanVersion reads them. The table also has
// seq, a sequence that orders versions by insertion.
const versionColumns = `vault, name, version, value, content_type, tags, enabled, not_before, expires, created, updated`

// secretColumns are the columns of secrets that make a store.Secret, in the
// order scanSecret reads them.
const secretColumns = `vault, name, current_version, deleted, scheduled_purge, created, updated`

// secretKey is the Key of a secret's changes.
func secretKey(vault, name string) string { return vault + "/" + name }

// CreateSecretVersion stores v as the current version of its secret, creating
// the secret on its first version. It returns an error wrapping
// store.ErrConflict when that version exists or the secret is soft-deleted.
//
// The upsert of the secret's row goes first: it inserts the row or locks it,
// and updates it only when the secret is not deleted, which it checks on the
// row as last committed (PostgreSQL re-reads a row it had to wait for). So a
// DeleteSecret racing with it either commits first, and the upsert changes
// no row, or waits for this transaction and deletes the secret with this
// version in it. The same row lock orders the versions of one secret, so the
// current version is also the one with the highest seq.
func (d *DB) CreateSecretVersion(ctx context.Context, v store.SecretVersion) error {
	op := fmt.Sprintf("create secret version %s/%s/%s", v.Vault, v.Name, v.Version)
	if v.Version == "" {
		return fmt.Errorf("create secret version %s/%s: the version is empty", v.Vault, v.Name)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `INSERT INTO secrets (`+secretColumns+`)
			VALUES ($1, $2, $3, NULL, NULL, $4, $5)
			ON CONFLICT (vault, name) DO UPDATE
				SET current_version = excluded.current_version, updated = excluded.updated
				WHERE secrets.deleted IS NULL`,
			v.Vault, v.Name, v.Version, micros(v.Created), micros(v.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: the secret is deleted: %w", op, store.ErrConflict)
		}
		if err := insertVersion(ctx, tx, v); err != nil {
			return err
		}
		return d.appendChange(ctx, tx, store.TopicSecret, secretKey(v.Vault, v.Name), d.now())
	})
}

// UpdateSecretVersion replaces the ContentType, Tags, Enabled, NotBefore,
// Expires and Updated of the version v names, deleted or not, and sets the
// secret's Updated to v.Updated. It returns an error wrapping
// store.ErrNotFound when there is no such version.
func (d *DB) UpdateSecretVersion(ctx context.Context, v store.SecretVersion) error {
	op := fmt.Sprintf("update secret version %s/%s/%s", v.Vault, v.Name, v.Version)
	tags, err := encodeTags(v.Tags)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `UPDATE secrets SET updated = $3 WHERE vault = $1 AND name = $2`,
			v.Vault, v.Name, micros(v.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, store.ErrNotFound)
		}
		n, err = execCount(ctx, tx, `UPDATE secret_versions
			SET content_type = $4, tags = $5, enabled = $6, not_before = $7, expires = $8, updated = $9
			WHERE vault = $1 AND name = $2 AND version = $3`,
			v.Vault, v.Name, v.Version, v.ContentType, tags, v.Enabled,
			micros(v.NotBefore), micros(v.Expires), micros(v.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicSecret, secretKey(v.Vault, v.Name), d.now())
	})
}

// SecretVersion returns one version of a secret, or its current version when
// version is "", whether or not the secret is deleted. It returns an error
// wrapping store.ErrNotFound when there is none. No tags come back as nil, and
// so does an empty Value.
func (d *DB) SecretVersion(ctx context.Context, vault, name, version string) (store.SecretVersion, error) {
	var row *sql.Row
	if version == "" {
		row = d.db.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM secret_versions
			WHERE vault = $1 AND name = $2
			AND version = (SELECT current_version FROM secrets WHERE vault = $1 AND name = $2)`, vault, name)
	} else {
		row = d.db.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM secret_versions
			WHERE vault = $1 AND name = $2 AND version = $3`, vault, name, version)
	}
	v, err := scanVersion(row)
	switch {
	case errors.Is(err, sql.ErrNoRows) && version == "":
		return store.SecretVersion{}, fmt.Errorf("current version of secret %s/%s: %w", vault, name, store.ErrNotFound)
	case errors.Is(err, sql.ErrNoRows):
		return store.SecretVersion{}, fmt.Errorf("secret version %s/%s/%s: %w", vault, name, version, store.ErrNotFound)
	case err != nil:
		return store.SecretVersion{}, fmt.Errorf("read secret version %s/%s/%s: %w", vault, name, version, err)
	}
	return v, nil
}

// SecretVersions lists the versions of a secret ordered by Version, one page
// at a time, and returns the cursor of the next page ("" after the last).
func (d *DB) SecretVersions(ctx context.Context, vault, name string, p store.Page) ([]store.SecretVersion, string, error) {
	var where conditions
	where.add("vault = $%d", vault)
	where.add("name = $%d", name)
	vs, next, err := listPage(ctx, d, versionColumns, "secret_versions", "version", where, p, scanVersion,
		func(v store.SecretVersion) string { return v.Version })
	if err != nil {
		return nil, "", fmt.Errorf("list secret versions %s/%s: %w", vault, name, err)
	}
	return vs, next, nil
}

// Secret returns the secret named name, deleted or not, or an error wrapping
// store.ErrNotFound.
func (d *DB) Secret(ctx context.Context, vault, name string) (store.Secret, error) {
	row := d.db.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE vault = $1 AND name = $2`,
		vault, name)
	s, err := scanSecret(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Secret{}, fmt.Errorf("secret %s/%s: %w", vault, name, store.ErrNotFound)
	case err != nil:
		return store.Secret{}, fmt.Errorf("read secret %s/%s: %w", vault, name, err)
	}
	return s, nil
}

// Secrets lists a vault's secrets ordered by Name, one page at a time: the
// soft-deleted ones when deleted is true, the others when false.
func (d *DB) Secrets(ctx context.Context, vault string, deleted bool, p store.Page) ([]store.Secret, string, error) {
	var where conditions
	where.add("vault = $%d", vault)
	where.null("deleted", !deleted)
	ss, next, err := listPage(ctx, d, secretColumns, "secrets", "name", where, p, scanSecret,
		func(s store.Secret) string { return s.Name })
	if err != nil {
		return nil, "", fmt.Errorf("list secrets of vault %s (deleted %t): %w", vault, deleted, err)
	}
	return ss, next, nil
}

// DeleteSecret soft-deletes a secret: it keeps its versions, records deleted
// and scheduledPurge (zero: never purged by SecretsDue), and refuses new
// versions until recovered or purged. It returns an error wrapping
// store.ErrNotFound when there is no such secret that is not deleted.
func (d *DB) DeleteSecret(ctx context.Context, vault, name string, deleted, scheduledPurge time.Time) error {
	op := fmt.Sprintf("delete secret %s/%s", vault, name)
	if deleted.IsZero() {
		return fmt.Errorf("%s: the deletion time is zero", op)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `UPDATE secrets SET deleted = $3, scheduled_purge = $4
			WHERE vault = $1 AND name = $2 AND deleted IS NULL`,
			vault, name, micros(deleted), micros(scheduledPurge))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("secret %s/%s, not deleted: %w", vault, name, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicSecret, secretKey(vault, name), d.now())
	})
}

// RecoverSecret undoes DeleteSecret. It returns an error wrapping
// store.ErrNotFound when there is no such deleted secret.
func (d *DB) RecoverSecret(ctx context.Context, vault, name string) error {
	op := fmt.Sprintf("recover secret %s/%s", vault, name)
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `UPDATE secrets SET deleted = NULL, scheduled_purge = NULL
			WHERE vault = $1 AND name = $2 AND deleted IS NOT NULL`, vault, name)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("deleted secret %s/%s: %w", vault, name, store.ErrNotFound)
		}
		return d.appendChange(ctx, tx, store.TopicSecret, secretKey(vault, name), d.now())
	})
}

// PurgeSecret deletes a soft-deleted secret and every version of it for good.
// It returns an error wrapping store.ErrNotFound when there is no such deleted
// secret. Deleting the secret's row first locks it, so a CreateSecretVersion
// waiting for it inserts its version after the purge, as a new secret.
func (d *DB) PurgeSecret(ctx context.Context, vault, name string) error {
	op := fmt.Sprintf("purge secret %s/%s", vault, name)
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `DELETE FROM secrets WHERE vault = $1 AND name = $2 AND deleted IS NOT NULL`,
			vault, name)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("deleted secret %s/%s: %w", vault, name, store.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM secret_versions WHERE vault = $1 AND name = $2`,
			vault, name); err != nil {
			return fmt.Errorf("%s: delete its versions: %w", op, err)
		}
		return d.appendChange(ctx, tx, store.TopicSecret, secretKey(vault, name), d.now())
	})
}

// RestoreSecret stores s and its versions (oldest first, the last becoming
// current) in one transaction, with s's Created, Updated, Deleted and
// ScheduledPurge as given. It returns an error wrapping store.ErrConflict when
// a secret of that name exists, deleted or not, or when two versions are the
// same. versions must not be empty and must all belong to s; s.CurrentVersion
// is either "" or the last version's.
func (d *DB) RestoreSecret(ctx context.Context, s store.Secret, versions []store.SecretVersion) error {
	op := fmt.Sprintf("restore secret %s/%s", s.Vault, s.Name)
	if len(versions) == 0 {
		return fmt.Errorf("%s: no versions", op)
	}
	for _, v := range versions {
		if v.Vault != s.Vault || v.Name != s.Name || v.Version == "" {
			return fmt.Errorf("%s: version %q of secret %s/%s does not belong to it", op, v.Version, v.Vault, v.Name)
		}
	}
	current := versions[len(versions)-1].Version
	if s.CurrentVersion != "" && s.CurrentVersion != current {
		return fmt.Errorf("%s: current version %s is not the last of its versions, %s", op, s.CurrentVersion, current)
	}
	return d.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := execCount(ctx, tx, `INSERT INTO secrets (`+secretColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (vault, name) DO NOTHING`,
			s.Vault, s.Name, current, micros(s.Deleted), micros(s.ScheduledPurge), micros(s.Created), micros(s.Updated))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: the secret exists: %w", op, store.ErrConflict)
		}
		for _, v := range versions {
			if err := insertVersion(ctx, tx, v); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		return d.appendChange(ctx, tx, store.TopicSecret, secretKey(s.Vault, s.Name), d.now())
	})
}

// SecretsDue lists up to limit soft-deleted secrets, of every vault, whose
// ScheduledPurge is before before, ordered by ScheduledPurge, then vault and
// name. The limit follows store.Page's rules: <= 0 means
// store.DefaultPageLimit, and it is at most store.MaxPageLimit.
func (d *DB) SecretsDue(ctx context.Context, before time.Time, limit int) ([]store.Secret, error) {
	// A stored time t, whole microseconds, is before before exactly when it is
	// before before rounded up to a whole microsecond.
	end := before.UnixMicro()
	if before.Nanosecond()%1000 != 0 {
		end++
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+secretColumns+` FROM secrets
		WHERE scheduled_purge IS NOT NULL AND scheduled_purge < $1 AND deleted IS NOT NULL
		ORDER BY scheduled_purge, vault, name LIMIT $2`, end, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list secrets due for purge before %s: %w", before.UTC().Format(time.RFC3339Nano), err)
	}
	ss, err := scanAll(rows, scanSecret)
	if err != nil {
		return nil, fmt.Errorf("list secrets due for purge before %s: %w", before.UTC().Format(time.RFC3339Nano), err)
	}
	return ss, nil
}

// insertVersion stores v in tx, whose caller has written its secret's row. It
// returns an error wrapping store.ErrConflict when the version exists.
func insertVersion(ctx context.Context, tx *sql.Tx, v store.SecretVersion) error {
	tags, err := encodeTags(v.Tags)
	if err != nil {
		return fmt.Errorf("secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, err)
	}
	n, err := execCount(ctx, tx, `INSERT INTO secret_versions (`+versionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (vault, name, version) DO NOTHING`,
		v.Vault, v.Name, v.Version, bytesIn(v.Value), v.ContentType, tags, v.Enabled,
		micros(v.NotBefore), micros(v.Expires), micros(v.Created), micros(v.Updated))
	if err != nil {
		return fmt.Errorf("insert secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, err)
	}
	if n == 0 {
		return fmt.Errorf("secret version %s/%s/%s exists: %w", v.Vault, v.Name, v.Version, store.ErrConflict)
	}
	return nil
}

// scanVersion reads the versionColumns of one row.
func scanVersion(s scanner) (store.SecretVersion, error) {
	var (
		v                                    store.SecretVersion
		tags                                 string
		notBefore, expires, created, updated sql.NullInt64
	)
	err := s.Scan(&v.Vault, &v.Name, &v.Version, &v.Value, &v.ContentType, &tags, &v.Enabled,
		&notBefore, &expires, &created, &updated)
	if err != nil {
		return store.SecretVersion{}, err
	}
	if v.Tags, err = decodeTags(tags); err != nil {
		return store.SecretVersion{}, fmt.Errorf("secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, err)
	}
	v.Value = bytesOut(v.Value)
	v.NotBefore, v.Expires = timeOf(notBefore), timeOf(expires)
	v.Created, v.Updated = timeOf(created), timeOf(updated)
	return v, nil
}

// scanSecret reads the secretColumns of one row.
func scanSecret(s scanner) (store.Secret, error) {
	var (
		sec                                       store.Secret
		deleted, scheduledPurge, created, updated sql.NullInt64
	)
	err := s.Scan(&sec.Vault, &sec.Name, &sec.CurrentVersion, &deleted, &scheduledPurge, &created, &updated)
	if err != nil {
		return store.Secret{}, err
	}
	sec.Deleted, sec.ScheduledPurge = timeOf(deleted), timeOf(scheduledPurge)
	sec.Created, sec.Updated = timeOf(created), timeOf(updated)
	return sec, nil
}
