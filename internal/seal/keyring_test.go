package seal_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/seal"
)

func TestWrongMasterKey(t *testing.T) {
	a, b := mustKey(t, hexA), mustKey(t, hexB)
	env := mustSeal(t, mustKeyring(t, a), []byte("v"), testBinding)

	t.Run("key not loaded", func(t *testing.T) {
		_, err := mustKeyring(t, b).Open(env, testBinding)
		if !errors.Is(err, seal.ErrUnknownKey) {
			t.Fatalf("Open = %v, want ErrUnknownKey", err)
		}
		msg := err.Error()
		for _, want := range []string{a.ID(), b.ID(), testBinding.String(), "start with the master key"} {
			if !strings.Contains(msg, want) {
				t.Errorf("Open error = %q, want it to contain %q", msg, want)
			}
		}
	})

	t.Run("key id rewritten to a loaded key", func(t *testing.T) {
		forged := bytes.Clone(env)
		idB, _ := hex.DecodeString(b.ID())
		copy(forged[2:wrapNonceAt], idB)
		if id, _ := seal.KeyID(forged); id != b.ID() {
			t.Fatalf("KeyID(forged) = %s, want %s", id, b.ID())
		}
		_, err := mustKeyring(t, b).Open(forged, testBinding)
		if !errors.Is(err, seal.ErrCorrupt) {
			t.Errorf("Open = %v, want ErrCorrupt", err)
		}
	})
}

func TestNewKeyringErrors(t *testing.T) {
	a, b := mustKey(t, hexA), mustKey(t, hexB)
	tests := []struct {
		name   string
		active seal.Key
		older  []seal.Key
		want   string
	}{
		{"zero active", seal.Key{}, nil, "the active master key is the zero Key"},
		{"zero older", a, []seal.Key{b, {}}, "older master key 2 is the zero Key"},
		{"duplicate", a, []seal.Key{b, mustKey(t, hexA)}, "master key " + a.ID() + " is given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seal.NewKeyring(tc.active, tc.older...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewKeyring error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	r := mustKeyring(t, a, b)
	if r.ActiveID() != a.ID() || strings.Join(r.IDs(), ",") != a.ID()+","+b.ID() {
		t.Errorf("ActiveID, IDs = %s, %v; want %s, [%s %s]", r.ActiveID(), r.IDs(), a.ID(), a.ID(), b.ID())
	}
	r.IDs()[0] = "changed"
	if r.ActiveID() != a.ID() || r.IDs()[0] != a.ID() {
		t.Error("changing the slice IDs returned changed the keyring")
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := mustKey(t, hexA), mustKey(t, hexB)
	plaintext := []byte("rotate me")
	env := mustSeal(t, mustKeyring(t, oldKey), plaintext, testBinding)
	both := mustKeyring(t, newKey, oldKey)

	if got, err := both.Open(env, testBinding); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("Open under old key in NewKeyring(new, old) = %q, %v", got, err)
	}
	if _, err := both.Rewrap(env, seal.Bind("secret", "other")); !errors.Is(err, seal.ErrCorrupt) {
		t.Errorf("Rewrap under another binding: error = %v, want ErrCorrupt", err)
	}
	moved, err := both.Rewrap(env, testBinding)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if id, _ := seal.KeyID(moved); id != newKey.ID() {
		t.Errorf("KeyID after Rewrap = %s, want %s", id, newKey.ID())
	}
	if !bytes.Equal(moved[dataNonceAt:], env[dataNonceAt:]) {
		t.Error("Rewrap changed the sealed data")
	}
	for name, r := range map[string]*seal.Keyring{"new and old": both, "new alone": mustKeyring(t, newKey)} {
		if got, err := r.Open(moved, testBinding); err != nil || !bytes.Equal(got, plaintext) {
			t.Errorf("Open rewrapped envelope with %s = %q, %v", name, got, err)
		}
	}
	if _, err := mustKeyring(t, oldKey).Open(moved, testBinding); !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("Open rewrapped envelope with the old key alone: error = %v, want ErrUnknownKey", err)
	}

	again, err := both.Rewrap(moved, testBinding)
	if err != nil || !bytes.Equal(again, moved) {
		t.Fatalf("Rewrap under the active key = %x, %v; want an identical copy", again, err)
	}
	again[0] ^= 0xff
	if moved[0] != 1 {
		t.Error("Rewrap under the active key returned its input, not a copy")
	}
}

func TestConcurrentUse(t *testing.T) {
	r := mustKeyring(t, mustKey(t, hexA), mustKey(t, hexB))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			plaintext := []byte{byte(g), 1, 2, 3}
			for range 100 {
				env, err := r.Seal(plaintext, testBinding)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := r.Open(env, testBinding); err != nil || !bytes.Equal(got, plaintext) {
					t.Errorf("Open = %x, %v; want %x", got, err, plaintext)
					return
				}
			}
		})
	}
	wg.Wait()
}
