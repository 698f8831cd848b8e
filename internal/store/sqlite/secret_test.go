package sqlite

import (
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlstore"
)

// TestMigrateSecrets checks the data migration of 0004_secrets: every secret
// stored before it gets its row, its newest version (by insertion, not by
// name) current, created from its oldest version and updated from the latest.
func TestMigrateSecrets(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, filepath.Join(t.TempDir(), "latchkey.db"))
	migrateTo(t, db, 3)
	rows := []struct {
		vault, name, version string
		created, updated     any // unix µs, or nil
	}{
		{"a", "s", "03", int64(1000), int64(1000)},
		{"b", "s", "01", int64(7000), int64(7000)},
		{"a", "s", "01", int64(2000), int64(5000)},
		{"a", "t", "09", nil, nil},
		{"a", "s", "02", int64(3000), int64(3000)},
	}
	for _, r := range rows {
		_, err := db.sql.ExecContext(ctx, `INSERT INTO secret_versions
			(vault, name, version, value, content_type, tags, enabled, not_before, expires, created, updated)
			VALUES ($1, $2, $3, $4, '', '{}', 1, NULL, NULL, $5, $6)`,
			r.vault, r.name, r.version, []byte("sealed"), r.created, r.updated)
		if err != nil {
			t.Fatalf("insert %s/%s/%s: %v", r.vault, r.name, r.version, err)
		}
	}
	if got, err := db.Migrate(ctx); err != nil || !slices.Equal(got, []string{"0004_secrets", "0005_replicas", "0006_audit"}) {
		t.Fatalf("Migrate() = %q, %v, want 0004_secrets", got, err)
	}
	at := func(n int64) time.Time { return time.UnixMicro(n).UTC() }
	want := map[[2]string]store.Secret{
		{"a", "s"}: {Vault: "a", Name: "s", CurrentVersion: "02", Created: at(1000), Updated: at(5000)},
		{"a", "t"}: {Vault: "a", Name: "t", CurrentVersion: "09"},
		{"b", "s"}: {Vault: "b", Name: "s", CurrentVersion: "01", Created: at(7000), Updated: at(7000)},
	}
	for key, w := range want {
		got, err := db.Secret(ctx, key[0], key[1])
		if diff := cmp.Diff(w, got); err != nil || diff != "" {
			t.Errorf("Secret(%q, %q) = %v; mismatch (-want +got):\n%s", key[0], key[1], err, diff)
		}
		if v, err := db.SecretVersion(ctx, key[0], key[1], ""); err != nil || v.Version != w.CurrentVersion {
			t.Errorf("SecretVersion(%q, %q, \"\") = %q, %v; want %q", key[0], key[1], v.Version, err, w.CurrentVersion)
		}
	}
	if err := db.CreateSecretVersion(ctx, store.SecretVersion{Vault: "a", Name: "s", Version: "00"}); err != nil {
		t.Fatalf("CreateSecretVersion after the migration = %v", err)
	}
	if v, err := db.SecretVersion(ctx, "a", "s", ""); err != nil || v.Version != "00" {
		t.Errorf("SecretVersion(current) after a new version = %q, %v; want 00", v.Version, err)
	}
}

// migrateTo applies the first n migrations to db, as an older Latchkey did.
func migrateTo(t *testing.T, db *DB, n int) {
	t.Helper()
	d, err := newDialect()
	if err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	files, err := fs.Glob(d.Migrations, "*.sql")
	if err != nil || len(files) < n {
		t.Fatalf("migrations = %q, %v; want at least %d", files, err, n)
	}
	for _, file := range files[:n] {
		text, err := fs.ReadFile(d.Migrations, file)
		if err != nil {
			t.Fatal(err)
		}
		older[file] = &fstest.MapFile{Data: text}
	}
	d.Migrations = older
	// The pool stays db's, which closes it; this DB needs no Close of its own.
	if _, err := sqlstore.New(db.sql, d, nil).Migrate(t.Context()); err != nil {
		t.Fatalf("migrate to %d: %v", n, err)
	}
}
