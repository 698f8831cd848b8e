package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/store"
)

// Setting returns the value stored under key, or an error wrapping
// store.ErrNotFound. An empty value comes back as nil.
func (d *DB) Setting(ctx context.Context, key string) ([]byte, error) {
	var value []byte
	err := d.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, key).Scan(&value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("setting %s: %w", key, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("read setting %s: %w", key, err)
	}
	return bytesOut(value), nil
}

// InitSetting stores value under key unless key already has a value, and
// returns the value stored afterwards. The insert does nothing on conflict, so
// of several racing callers the first to commit wins and all read its value.
func (d *DB) InitSetting(ctx context.Context, key string, value []byte) ([]byte, error) {
	_, err := d.db.ExecContext(ctx,
		`INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, key, bytesIn(value))
	if err != nil {
		return nil, fmt.Errorf("init setting %s: %w", key, err)
	}
	return d.Setting(ctx, key)
}
