package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/store"
)

// secretColumns are the columns of secret_versions that make a
// store.SecretVersion, in the order scanSecret reads them. The table also has
// seq, a sequence that orders versions by insertion: "newest" means the highest
// seq, never the latest timestamp, since clocks tie and step back.
const secretColumns = `vault, name, version, value, content_type, tags, enabled, not_before, expires, created, updated`

// CreateSecretVersion stores v as the newest version of its secret. It returns
// an error wrapping store.ErrConflict when that version already exists.
func (d *DB) CreateSecretVersion(ctx context.Context, v store.SecretVersion) error {
	if v.Version == "" {
		return fmt.Errorf("create secret version %s/%s: the version is empty", v.Vault, v.Name)
	}
	tags, err := encodeTags(v.Tags)
	if err != nil {
		return fmt.Errorf("create secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, err)
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO secret_versions (`+secretColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (vault, name, version) DO NOTHING`,
		v.Vault, v.Name, v.Version, bytesIn(v.Value), v.ContentType, tags, v.Enabled,
		micros(v.NotBefore), micros(v.Expires), micros(v.Created), micros(v.Updated))
	if err != nil {
		return fmt.Errorf("create secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("create secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, err)
	}
	if n == 0 {
		return fmt.Errorf("secret version %s/%s/%s: %w", v.Vault, v.Name, v.Version, store.ErrConflict)
	}
	return nil
}

// SecretVersion returns one version of a secret, or its newest version when
// version is "". It returns an error wrapping store.ErrNotFound when there is
// none. No tags come back as nil, and so does an empty Value.
func (d *DB) SecretVersion(ctx context.Context, vault, name, version string) (store.SecretVersion, error) {
	var row *sql.Row
	if version == "" {
		row = d.db.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secret_versions
			WHERE vault = $1 AND name = $2 ORDER BY seq DESC LIMIT 1`, vault, name)
	} else {
		row = d.db.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secret_versions
			WHERE vault = $1 AND name = $2 AND version = $3`, vault, name, version)
	}
	v, err := scanSecret(row)
	switch {
	case errors.Is(err, sql.ErrNoRows) && version == "":
		return store.SecretVersion{}, fmt.Errorf("newest version of secret %s/%s: %w", vault, name, store.ErrNotFound)
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
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", fmt.Errorf("list secret versions %s/%s: %w", vault, name, err)
	}
	limit := pageLimit(p.Limit)
	// One row more than the page tells whether another page follows.
	rows, err := d.db.QueryContext(ctx, `SELECT `+secretColumns+` FROM secret_versions
		WHERE vault = $1 AND name = $2 AND version > $3 ORDER BY version LIMIT $4`,
		vault, name, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list secret versions %s/%s: %w", vault, name, err)
	}
	vs, err := scanAll(rows, scanSecret)
	if err != nil {
		return nil, "", fmt.Errorf("list secret versions %s/%s: %w", vault, name, err)
	}
	vs, next := pageOf(vs, limit, func(v store.SecretVersion) string { return v.Version })
	return vs, next, nil
}

// scanSecret reads the secretColumns of one row.
func scanSecret(s scanner) (store.SecretVersion, error) {
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
