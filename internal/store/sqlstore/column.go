package sqlstore

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// The column encodings every backend shares. Times are BIGINT unix microseconds
// in UTC, NULL for the zero time; bytes are never NULL, and empty ones read
// back as nil; optional unique text (an app id) is NULL when ""; tags are a
// JSON object as text, "{}" when there are none.

// micros encodes t for a nullable BIGINT time column.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// timeOf decodes a time column; the result is store.Time-normalised.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// nullText encodes s for a nullable TEXT column in which "" is NULL, so that
// a unique constraint on the column never sees two absent values collide.
func nullText(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// bytesIn encodes b for a NOT NULL BLOB or BYTEA column; nil would bind as NULL.
func bytesIn(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// bytesOut decodes a BLOB or BYTEA column. Drivers differ on empty bytes; every
// backend returns nil.
func bytesOut(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encodeTags encodes tags as JSON text; nil and empty maps both become "{}".
func encodeTags(tags map[string]string) (string, error) {
	if len(tags) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

// decodeTags decodes a tags column. No tags decode as nil, never as an empty
// map, so every backend returns the same value.
func decodeTags(text string) (map[string]string, error) {
	var tags map[string]string
	if err := json.Unmarshal([]byte(text), &tags); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// pageLimit applies the store.Page limit rules.
func pageLimit(limit int) int {
	switch {
	case limit <= 0:
		return store.DefaultPageLimit
	case limit > store.MaxPageLimit:
		return store.MaxPageLimit
	}
	return limit
}

// A cursor is the ordering key of the last item of a page, base64url-encoded
// so that callers treat it as opaque.

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

func decodeCursor(cursor string) (string, error) {
	key, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", fmt.Errorf("page cursor is not one this store issued: %w", store.ErrInvalid)
	}
	return string(key), nil
}

// pageOf trims items, read with a LIMIT of limit+1, to one page and returns
// the cursor of the next: the key of the page's last item, or "" when no
// extra row came and so no page follows.
func pageOf[T any](items []T, limit int, key func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(key(items[limit-1]))
}
