package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

// migrations names every migration a backend embeds, oldest first. The
// backends share one schema history, so each applies these, in this order.
var migrations = []string{"0001_init", "0002_identity", "0003_access", "0004_secrets", "0005_replicas", "0006_audit", "0007_audit_time", "0008_accounts", "0009_connections", "0010_audit_blobs"}

// Migrator is a backend's handle as the migration checks use it: the store,
// and the Migrate that builds its schema and returns the migrations applied.
type Migrator interface {
	store.Store
	Migrate(ctx context.Context) ([]string, error)
}

// MigrationBackend wires a backend into Migrations. D is the backend's handle;
// E is its schema-too-new error type, which storetest may not import.
type MigrationBackend[D Migrator, E error] struct {
	// NewDatabase creates an empty database that lives until the test ends
	// and returns where it is (a file path, a DSN) for Open.
	NewDatabase func(t *testing.T) string
	// Open opens a new, unmigrated handle on the database at where and
	// closes it when the test ends.
	Open func(t *testing.T, where string) D
	// SQL returns the pool behind db, to write rows as an older or a newer
	// latchkey did.
	SQL func(db D) *sql.DB
	// MigrateWith applies to db the migrations in fsys instead of the ones
	// the backend embeds. keep is given the embedded ones and returns fsys.
	MigrateWith func(ctx context.Context, db D, keep func(embedded fs.FS) (fsys fs.FS, err error)) ([]string, error)
	// TooNew is the error Migrate must return when the database holds
	// migration NextMigration(), one past what the backend embeds, and
	// TooNewMessage its text.
	TooNew        E
	TooNewMessage string
}

// Migrations checks a backend's Migrate: it applies every migration once and
// in order, does nothing on a current schema (through the same handle or a
// new one), applies each migration exactly once when several handles migrate
// an empty database at once, refuses a schema a newer latchkey wrote, and
// carries the secrets stored before 0004_secrets over to their new rows, and
// reads the audit events stored as rows before 0010_audit_blobs.
func Migrations[D Migrator, E error](t *testing.T, b MigrationBackend[D, E]) {
	t.Run("Idempotent", func(t *testing.T) { testMigrateIdempotent(t, b) })
	t.Run("Concurrently", func(t *testing.T) { testMigrateConcurrently(t, b) })
	t.Run("SchemaTooNew", func(t *testing.T) { testSchemaTooNew(t, b) })
	t.Run("0004_secrets", func(t *testing.T) { testMigrateSecrets(t, b) })
	t.Run("0010_audit_blobs", func(t *testing.T) { testMigrateAuditBlobs(t, b) })
}

func testMigrateIdempotent[D Migrator, E error](t *testing.T, b MigrationBackend[D, E]) {
	where := b.NewDatabase(t)
	db := b.Open(t, where)
	steps := []struct {
		name string
		db   D
		want []string
	}{
		{"first", db, migrations},
		{"again", db, nil},
		{"reopened", b.Open(t, where), nil},
	}
	for _, st := range steps {
		got, err := st.db.Migrate(t.Context())
		if err != nil || !slices.Equal(got, st.want) {
			t.Errorf("%s: Migrate() = %q, %v, want %q", st.name, got, err, st.want)
		}
	}
}

// testMigrateConcurrently starts several migrators on one empty database at
// once, as replicas do: each migration must be applied exactly once.
func testMigrateConcurrently[D Migrator, E error](t *testing.T, b MigrationBackend[D, E]) {
	where := b.NewDatabase(t)
	dbs := []D{b.Open(t, where), b.Open(t, where), b.Open(t, where)}
	applied := make([][]string, len(dbs))
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { applied[i], errs[i] = db.Migrate(t.Context()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Migrate: %v", err)
	}
	// Migrators take turns per migration, so one may apply 0002 after
	// another applied 0001: compare what was applied, in any order.
	got := slices.Concat(applied...)
	slices.Sort(got)
	if !slices.Equal(got, migrations) {
		t.Errorf("concurrent Migrate applied %q, want each migration once", got)
	}
}

// NextMigration is the number of the migration after the last one the
// backends embed.
func NextMigration() int { return len(migrations) + 1 }

func testSchemaTooNew[D Migrator, E error](t *testing.T, b MigrationBackend[D, E]) {
	db := b.Open(t, b.NewDatabase(t))
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	_, err := b.SQL(db).ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)`, NextMigration())
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Migrate(t.Context())
	var tooNew E
	if !errors.As(err, &tooNew) || !cmp.Equal(tooNew, b.TooNew) {
		t.Fatalf("Migrate() = %v, want %#v", err, b.TooNew)
	}
	if err.Error() != b.TooNewMessage {
		t.Errorf("Migrate() error = %q, want %q", err, b.TooNewMessage)
	}
}

// testMigrateSecrets checks the data migration of 0004_secrets: every secret
// stored before it gets its row, its newest version (by insertion, not by
// name) current, created from its oldest version and updated from the latest.
func testMigrateSecrets[D Migrator, E error](t *testing.T, b MigrationBackend[D, E]) {
	ctx := t.Context()
	db := b.Open(t, b.NewDatabase(t))
	migrateFirst(t, b, db, 3)
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
		// enabled is bound, as the backends write it, so that each driver
		// stores true in its own way (1 in SQLite, TRUE in PostgreSQL).
		_, err := b.SQL(db).ExecContext(ctx, `INSERT INTO secret_versions
			(vault, name, version, value, content_type, tags, enabled, not_before, expires, created, updated)
			VALUES ($1, $2, $3, $4, '', '{}', $5, NULL, NULL, $6, $7)`,
			r.vault, r.name, r.version, []byte("sealed"), true, r.created, r.updated)
		if err != nil {
			t.Fatalf("insert %s/%s/%s: %v", r.vault, r.name, r.version, err)
		}
	}
	if got, err := db.Migrate(ctx); err != nil || !slices.Equal(got, migrations[3:]) {
		t.Fatalf("Migrate() = %q, %v, want %q", got, err, migrations[3:])
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

// migrateFirst applies the first n migrations to db, as an older latchkey did.
func migrateFirst[D Migrator, E error](t *testing.T, b MigrationBackend[D, E], db D, n int) {
	t.Helper()
	older := func(embedded fs.FS) (fs.FS, error) {
		files, err := fs.Glob(embedded, "*.sql")
		if err != nil || len(files) < n {
			return nil, fmt.Errorf("migrations = %q, %v; want at least %d", files, err, n)
		}
		fsys := fstest.MapFS{}
		for _, file := range files[:n] {
			text, err := fs.ReadFile(embedded, file)
			if err != nil {
				return nil, err
			}
			fsys[file] = &fstest.MapFile{Data: text}
		}
		return fsys, nil
	}
	if got, err := b.MigrateWith(t.Context(), db, older); err != nil || !slices.Equal(got, migrations[:n]) {
		t.Fatalf("migrate to %d: Migrate() = %q, %v, want %q", n, got, err, migrations[:n])
	}
}

// testMigrateAuditBlobs writes two batches of audit events as rows, as
// latchkey did before 0010_audit_blobs, migrates, and checks that they are
// listed with the events appended after (in both orders, by time and by
// principal), that the chain goes on from them, and that pruning removes
// their rows.
func testMigrateAuditBlobs[D Migrator, E error](t *testing.T, b MigrationBackend[D, E]) {
	ctx := t.Context()
	db := b.Open(t, b.NewDatabase(t))
	migrateFirst(t, b, db, 9)
	raw := b.SQL(db)
	var head store.AuditHead
	var old []store.AuditEvent
	for _, n := range []int{2, 1} {
		batch, events := auditLink(head, auditEvents(len(old), n), baseTime().Add(time.Duration(len(old)+n)*time.Minute))
		_, err := raw.ExecContext(ctx, `INSERT INTO audit_batches (batch, first_seq, last_seq, prev, hash, committed)
			VALUES ($1, $2, $3, $4, $5, $6)`, batch.Batch, batch.FirstSeq, batch.LastSeq, append([]byte{}, batch.Prev...), batch.Hash, batch.Committed.UnixMicro())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			_, err := raw.ExecContext(ctx, `INSERT INTO audit_events (seq, batch, at, correlation_id, principal_id, principal_type,
				principal_name, auth_method, client_ip, operation, scope, result, status, reason, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
				e.Seq, e.Batch, e.Time.UnixMicro(), e.CorrelationID, e.PrincipalID, e.PrincipalType, e.PrincipalName,
				e.AuthMethod, e.ClientIP, e.Operation, e.Scope, e.Result, e.Status, e.Reason, e.Hash)
			if err != nil {
				t.Fatal(err)
			}
		}
		old = append(old, events...)
		head = store.AuditHead{Batch: batch.Batch, Seq: batch.LastSeq, Hash: batch.Hash}
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	if got, err := db.AuditHead(ctx); err != nil || !cmp.Equal(got, head) {
		t.Fatalf("AuditHead() after the migration = %+v, %v; want %+v", got, err, head)
	}
	newBatch, added := mustAppendAudit(t, db, auditEvents(3, 4), baseTime().Add(7*time.Minute))
	all := append(slices.Clone(old), added...)
	if diff := cmp.Diff(normalizeAudit(all), allAuditEvents(t, db)); diff != "" {
		t.Errorf("AuditEvents() across the migration mismatch (-want +got):\n%s", diff)
	}
	list := func(f store.AuditFilter) []int64 {
		t.Helper()
		es, _, err := db.AuditEvents(ctx, f, store.Page{})
		if err != nil {
			t.Fatalf("AuditEvents(%+v) = %v", f, err)
		}
		var seqs []int64
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		return seqs
	}
	for _, tc := range []struct {
		f    store.AuditFilter
		want []int64
	}{
		{store.AuditFilter{Newest: true}, []int64{7, 6, 5, 4, 3, 2, 1}},
		{store.AuditFilter{PrincipalID: "principal-1"}, []int64{2, 5}},
		{store.AuditFilter{Since: baseTime().Add(2 * time.Minute).Truncate(time.Second), Until: baseTime().Add(5 * time.Minute).Truncate(time.Second)},
			[]int64{3, 4, 5}},
	} {
		if got := list(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("AuditEvents(%+v) = seqs %v, want %v", tc.f, got, tc.want)
		}
	}
	if n, err := db.PruneAudit(ctx, newBatch.Committed); n != 3 || err != nil {
		t.Errorf("PruneAudit(the new batch's commit) = %d, %v; want the 3 events stored as rows", n, err)
	}
	var rows int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("audit_events after pruning its batches holds %d rows (%v), want none", rows, err)
	}
	if diff := cmp.Diff(normalizeAudit(added), allAuditEvents(t, db)); diff != "" {
		t.Errorf("AuditEvents() after pruning mismatch (-want +got):\n%s", diff)
	}
}
