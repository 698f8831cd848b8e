package audit_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// openStore opens and migrates the SQLite store at path and closes it when
// the test ends.
func openStore(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// newStore opens a fresh store in a temporary folder.
func newStore(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	return openStore(t, path), path
}

// newWriter makes a Writer on st with opts and closes it when the test
// ends. It does not start it.
func newWriter(t testing.TB, st store.Audit, opts audit.Options) *audit.Writer {
	t.Helper()
	opts.Store = st
	w, err := audit.NewWriter(opts)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Writer.Close: %v", err)
		}
	})
	return w
}

// start runs w until the test ends, and checks what Run returns.
func start(t testing.TB, w *audit.Writer) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(t.Context()) }()
	t.Cleanup(func() {
		if err := <-errc; err != nil {
			t.Errorf("Writer.Run: %v", err)
		}
	})
}

// event returns the i-th test event: every field set, and its correlation id
// names i.
func event(i int) audit.Event {
	return audit.Event{
		Time:          time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		CorrelationID: fmt.Sprintf("req-%06d", i),
		PrincipalID:   "3f1c1a52-8f7e-4c55-9b11-3f8a2c1d0e01",
		PrincipalType: "ServicePrincipal",
		PrincipalName: "build-agent",
		AuthMethod:    "client_secret",
		ClientIP:      netip.MustParseAddr("192.0.2.44"),
		Operation:     "Latchkey.KeyVault/vaults/secrets/getSecret/action",
		Scope:         "/hubs/h/vaults/v",
		Result:        audit.Allowed,
		Status:        200,
		Reason:        "granted by Key Vault Secrets User at /hubs/h",
	}
}

// stored returns every stored event's correlation id, oldest first.
func stored(t testing.TB, st store.Audit) []string {
	t.Helper()
	var ids []string
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		entries, next, err := audit.Query(t.Context(), st, audit.Filter{}, p)
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		for _, e := range entries {
			ids = append(ids, e.CorrelationID)
		}
		if next == "" {
			return ids
		}
		p.After = next
	}
}

// mustVerify fails the test unless the chain in st is intact.
func mustVerify(t testing.TB, st store.Audit) audit.Verification {
	t.Helper()
	v, err := audit.Verify(t.Context(), st)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !v.Intact() {
		t.Fatalf("Verify found a break in an untouched trail: %s", v.Broken)
	}
	return v
}
