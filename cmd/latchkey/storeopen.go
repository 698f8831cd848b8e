package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// backend is a store with its migrations.
type backend interface {
	store.Store
	Migrate(ctx context.Context) (applied []string, err error)
}

// openStore opens the database c names: PostgreSQL for postgres:// URLs, SQLite
// for sqlite:PATH, and SQLite in the data folder when no database is given.
func openStore(ctx context.Context, c Config) (backend, error) {
	switch kind, target := splitDatabase(c); kind {
	case "postgres":
		db, err := postgres.Open(ctx, target)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return db, nil
	case "sqlite":
		if c.Database == "" { // the data folder is ours to create
			if err := os.MkdirAll(c.Data, 0o700); err != nil {
				return nil, fmt.Errorf("create data folder %s: %w: choose another with --data", c.Data, err)
			}
		}
		db, err := sqlite.Open(ctx, target)
		if err != nil {
			return nil, err
		}
		return db, nil
	default:
		return nil, fmt.Errorf("database %q: unknown kind: use postgres://user:password@host:5432/db or sqlite:PATH", redactDSN(c.Database))
	}
}

// splitDatabase returns the backend kind and its target (DSN or file path).
func splitDatabase(c Config) (kind, target string) {
	d := c.Database
	switch {
	case d == "":
		return "sqlite", filepath.Join(c.Data, "latchkey.db")
	case strings.HasPrefix(d, "postgres://"), strings.HasPrefix(d, "postgresql://"),
		!strings.Contains(d, "://") && (strings.Contains(d, "host=") || strings.Contains(d, "dbname=")):
		return "postgres", d // URL or keyword/value DSN
	case strings.HasPrefix(d, "sqlite:"):
		return "sqlite", strings.TrimPrefix(strings.TrimPrefix(d, "sqlite:"), "//")
	}
	return "", d
}

// storeKind names the backend for logs, without the DSN.
func storeKind(c Config) string {
	kind, target := splitDatabase(c)
	if kind == "sqlite" {
		return "sqlite:" + target
	}
	return kind
}

// redactDSN hides the password of a database URL or keyword/value DSN.
func redactDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		if strings.Contains(dsn, "password") {
			return keywordPassword.ReplaceAllString(dsn, "password=xxxxx")
		}
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "@") {
			return "[REDACTED]" // unparseable and may hold credentials
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// keywordPassword finds the password of a keyword/value DSN, quoted or not.
var keywordPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)
