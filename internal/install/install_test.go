package install_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/install"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// openStore opens and migrates the SQLite database at path and closes it when
// the test ends. Several calls on one path act as replicas sharing a database.
func openStore(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open(%s) = %v", path, err)
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

func newStore(t *testing.T) *sqlite.DB {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), "latchkey.db"))
}

func newKey(t *testing.T) seal.Key {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKeyring(t *testing.T, active seal.Key, older ...seal.Key) *seal.Keyring {
	t.Helper()
	r, err := seal.NewKeyring(active, older...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustInit runs Init and fails the test on an error.
func mustInit(t *testing.T, st *sqlite.DB, keys *seal.Keyring) install.Installation {
	t.Helper()
	inst, err := install.Init(t.Context(), st, keys)
	if err != nil {
		t.Fatalf("Init(%s) = %v", keys, err)
	}
	return inst
}

func TestInitCreatesTenant(t *testing.T) {
	inst := mustInit(t, newStore(t), newKeyring(t, newKey(t)))
	id, err := uuid.Parse(inst.TenantID)
	if err != nil || id.String() != inst.TenantID {
		t.Errorf("TenantID = %q (%v), want a lower-case GUID", inst.TenantID, err)
	}
	if other := mustInit(t, newStore(t), newKeyring(t, newKey(t))); other.TenantID == inst.TenantID {
		t.Errorf("two installations got the same tenant %s", inst.TenantID)
	}
}

// TestInitAgain: later starts find the tenant of the first, whether the key is
// the same Keyring, the same key loaded again, or the database is reopened.
func TestInitAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	st := openStore(t, path)
	key := newKey(t)
	keys := newKeyring(t, key)
	first := mustInit(t, st, keys)

	reloaded, err := seal.ParseKey([]byte(key.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	starts := []struct {
		name string
		st   *sqlite.DB
		keys *seal.Keyring
	}{
		{"same keyring", st, keys},
		{"key loaded again", st, newKeyring(t, reloaded)},
		{"database reopened", openStore(t, path), newKeyring(t, reloaded)},
	}
	for _, s := range starts {
		if got := mustInit(t, s.st, s.keys); got != first {
			t.Errorf("%s: Init() = %+v, want %+v", s.name, got, first)
		}
	}
}

func TestInitWrongKey(t *testing.T) {
	st := newStore(t)
	sealedWith := newKey(t)
	first := mustInit(t, st, newKeyring(t, sealedWith))

	wrong := newKey(t)
	inst, err := install.Init(t.Context(), st, newKeyring(t, wrong))
	if err == nil {
		t.Fatalf("Init with another master key = %+v, want an error", inst)
	}
	if got := errs.KindOf(err); got != errs.Invalid {
		t.Errorf("KindOf(Init error) = %v, want %v", got, errs.Invalid)
	}
	if !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("Init error = %v, want it to wrap seal.ErrUnknownKey", err)
	}
	msg := errs.Message(err)
	for _, want := range []string{"(id " + wrong.ID() + ")", "(id " + sealedWith.ID() + ")", "--master-key-file"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Init error message = %q, want it to contain %q", msg, want)
		}
	}
	if inst != (install.Installation{}) {
		t.Errorf("Init with another master key returned %+v, want the zero Installation", inst)
	}

	// The failed start changed nothing: the right key still opens the check.
	if got := mustInit(t, st, newKeyring(t, sealedWith)); got != first {
		t.Errorf("Init after a failed start = %+v, want %+v", got, first)
	}
}

// TestInitDuringRotation: with the new key active and the old one still
// loaded, the check sealed under the old key opens.
func TestInitDuringRotation(t *testing.T) {
	st := newStore(t)
	previous, current := newKey(t), newKey(t)
	first := mustInit(t, st, newKeyring(t, previous))
	if got := mustInit(t, st, newKeyring(t, current, previous)); got != first {
		t.Errorf("Init(new key, old key) = %+v, want %+v", got, first)
	}
}

// TestInitAlteredCheck: a master key check that is not an envelope of this
// installation is reported as an altered database, not as a wrong key.
func TestInitAlteredCheck(t *testing.T) {
	st := newStore(t)
	// "seal_canary" is the setting Init keeps the check under; a database
	// written by an earlier version holds it by that name.
	if _, err := st.InitSetting(t.Context(), "seal_canary", []byte("not an envelope")); err != nil {
		t.Fatal(err)
	}
	_, err := install.Init(t.Context(), st, newKeyring(t, newKey(t)))
	if got := errs.KindOf(err); got != errs.Invalid {
		t.Fatalf("Init with an altered check = %v (kind %v), want kind %v", err, got, errs.Invalid)
	}
	if !errors.Is(err, seal.ErrCorrupt) || !strings.Contains(errs.Message(err), "altered") {
		t.Errorf("Init with an altered check = %v, want seal.ErrCorrupt and a message saying the database was altered", err)
	}
}

// TestInitConcurrently starts four replicas on one new database at once: they
// must agree on one tenant, and each must pass the master key check.
func TestInitConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	keys := newKeyring(t, newKey(t))
	const replicas = 4
	stores := make([]*sqlite.DB, replicas)
	for i := range stores {
		stores[i] = openStore(t, path)
	}
	got := make([]install.Installation, replicas)
	errList := make([]error, replicas)
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() { got[i], errList[i] = install.Init(t.Context(), st, keys) })
	}
	wg.Wait()
	if err := errors.Join(errList...); err != nil {
		t.Fatalf("concurrent Init: %v", err)
	}
	for i, inst := range got {
		if inst.TenantID == "" || inst != got[0] {
			t.Errorf("replica %d: Init() = %+v, want %+v like replica 0", i, inst, got[0])
		}
	}
	if again := mustInit(t, stores[0], keys); again != got[0] {
		t.Errorf("Init after the race = %+v, want %+v", again, got[0])
	}
}
