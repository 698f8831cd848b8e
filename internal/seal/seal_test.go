package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/seal"
)

// Offsets of format version 1, as documented in envelope.go. The tests pin the
// format: a change here is a change to every stored secret.
const (
	wrapNonceAt = 10
	wrappedAt   = 22
	dataNonceAt = 70
	dataAt      = 82
	overhead    = dataAt + 16
)

// Fixed keys, so failures are reproducible.
const (
	hexA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	hexB = "f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100"
)

var testBinding = seal.Bind("secret", "t1", "v1", "db", "1")

func mustKey(t testing.TB, text string) seal.Key {
	t.Helper()
	k, err := seal.ParseKey([]byte(text))
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	return k
}

func mustKeyring(t testing.TB, active seal.Key, older ...seal.Key) *seal.Keyring {
	t.Helper()
	r, err := seal.NewKeyring(active, older...)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return r
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSeal(t testing.TB, r *seal.Keyring, plaintext []byte, b seal.Binding) []byte {
	t.Helper()
	env, err := r.Seal(plaintext, b)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return env
}

func TestRoundTrip(t *testing.T) {
	r := mustKeyring(t, mustKey(t, hexA))
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"1 byte", 1},
		{"100 bytes", 100},
		{"25 KiB", 25 * 1024},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			plaintext := randomBytes(t, size)
			env := mustSeal(t, r, plaintext, testBinding)
			if len(env) != size+overhead {
				t.Errorf("len(envelope) = %d, want %d", len(env), size+overhead)
			}
			if size >= 16 && bytes.Contains(env, plaintext[:16]) {
				t.Error("envelope holds the plaintext in the clear")
			}
			got, err := r.Open(env, testBinding)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got == nil || !bytes.Equal(got, plaintext) {
				t.Errorf("Open = %x, want %x", got, plaintext)
			}
			again := mustSeal(t, r, plaintext, testBinding)
			if bytes.Equal(again, env) {
				t.Error("two Seals of the same plaintext gave the same envelope")
			}
		})
	}
}

func TestLayout(t *testing.T) {
	k := mustKey(t, hexA)
	env := mustSeal(t, mustKeyring(t, k), []byte("v"), testBinding)
	id, err := hex.DecodeString(k.ID())
	if err != nil {
		t.Fatal(err)
	}
	if env[0] != 1 || env[1] != 8 || !bytes.Equal(env[2:wrapNonceAt], id) {
		t.Errorf("header = %x, want 01 08 %x", env[:wrapNonceAt], id)
	}
	if got, err := seal.KeyID(env); err != nil || got != k.ID() {
		t.Errorf("KeyID = %q, %v, want %q", got, err, k.ID())
	}
}

// TestEveryFlippedByteFails flips each byte of an envelope in turn: none may
// open. A flip inside the key id names a key that is not loaded; any other
// flip is corruption.
func TestEveryFlippedByteFails(t *testing.T) {
	r := mustKeyring(t, mustKey(t, hexA))
	plaintext := randomBytes(t, 100)
	env := mustSeal(t, r, plaintext, testBinding)
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 0x01
		want := seal.ErrCorrupt
		if 2 <= i && i < wrapNonceAt {
			want = seal.ErrUnknownKey
		}
		got, err := r.Open(bad, testBinding)
		if !errors.Is(err, want) {
			t.Errorf("Open(byte %d flipped) = %d bytes, %v; want error wrapping %v", i, len(got), err, want)
		}
		if _, err := r.Rewrap(bad, testBinding); !errors.Is(err, want) {
			t.Errorf("Rewrap(byte %d flipped) error = %v, want %v", i, err, want)
		}
	}
}

func TestCorruptEnvelopes(t *testing.T) {
	r := mustKeyring(t, mustKey(t, hexA))
	plaintext := []byte("database password")
	env := mustSeal(t, r, plaintext, testBinding)
	flip := func(i int) []byte {
		b := bytes.Clone(env)
		b[i] ^= 0x01
		return b
	}
	setVersion := func(v byte) []byte {
		b := bytes.Clone(env)
		b[0] = v
		return b
	}
	tests := []struct {
		name     string
		envelope []byte
		want     string // in the message
	}{
		{"flipped ciphertext byte", flip(dataAt + 3), "sealed data does not authenticate"},
		{"flipped tag byte", flip(len(env) - 1), "sealed data does not authenticate"},
		{"flipped wrapped-key byte", flip(wrappedAt + 5), "corrupted or was sealed for another record"},
		{"flipped wrap nonce byte", flip(wrapNonceAt), "corrupted or was sealed for another record"},
		{"flipped data nonce byte", flip(dataNonceAt + 11), "sealed data does not authenticate"},
		{"flipped key id length", flip(1), "key id is 9 bytes, want 8"},
		{"truncated by one byte", env[:len(env)-1], "sealed data does not authenticate"},
		{"truncated inside the header", env[:5], "envelope is 5 bytes, shorter than the 98"},
		{"truncated to the key wrap", env[:dataNonceAt], "shorter than the 98"},
		{"extended by one byte", append(bytes.Clone(env), 0), "sealed data does not authenticate"},
		{"empty envelope", []byte{}, "envelope is empty"},
		{"nil envelope", nil, "envelope is empty"},
		{"wrong version byte 0", setVersion(0), "format version 0 is unknown"},
		{"wrong version byte 2", setVersion(2), "format version 2 is unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Open(tc.envelope, testBinding)
			if !errors.Is(err, seal.ErrCorrupt) {
				t.Fatalf("Open = %q, %v; want error wrapping ErrCorrupt", got, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, testBinding.String()) {
				t.Errorf("Open error = %q, want it to contain %q and %q", msg, tc.want, testBinding)
			}
			if strings.Contains(msg, string(plaintext)) {
				t.Errorf("Open error %q holds the plaintext", msg)
			}
		})
	}
}

func TestKeyIDOfMalformedEnvelope(t *testing.T) {
	for _, env := range [][]byte{nil, {1}, {2, 8}, bytes.Repeat([]byte{1, 8}, 20)} {
		if id, err := seal.KeyID(env); !errors.Is(err, seal.ErrCorrupt) {
			t.Errorf("KeyID(%x) = %q, %v; want ErrCorrupt", env, id, err)
		}
	}
}

func TestWrongBindingFails(t *testing.T) {
	r := mustKeyring(t, mustKey(t, hexA))
	bound := seal.Bind("secret", "t1", "v1", "db", "1")
	env := mustSeal(t, r, []byte("s3cr3t-value"), bound)
	tests := []struct {
		name string
		b    seal.Binding
	}{
		{"other tenant", seal.Bind("secret", "t2", "v1", "db", "1")},
		{"other vault", seal.Bind("secret", "t1", "v2", "db", "1")},
		{"other name", seal.Bind("secret", "t1", "v1", "cache", "1")},
		{"other version", seal.Bind("secret", "t1", "v1", "db", "2")},
		{"other kind", seal.Bind("account-key", "t1", "v1", "db", "1")},
		{"missing part", seal.Bind("secret", "t1", "v1", "db")},
		{"extra empty part", seal.Bind("secret", "t1", "v1", "db", "1", "")},
		{"parts joined", seal.Bind("secret", "t1", "v1", "db1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Open(env, tc.b)
			if !errors.Is(err, seal.ErrCorrupt) {
				t.Fatalf("Open under %v: error = %v, want ErrCorrupt", tc.b, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "sealed for another record") ||
				!strings.Contains(msg, tc.b.String()) || strings.Contains(msg, "s3cr3t") {
				t.Errorf("Open under %v: error = %q", tc.b, msg)
			}
		})
	}
}

func TestZeroBindingRefused(t *testing.T) {
	r := mustKeyring(t, mustKey(t, hexA))
	if _, err := r.Seal([]byte("v"), seal.Binding{}); err == nil || !strings.Contains(err.Error(), "seal.Bind") {
		t.Errorf("Seal with the zero Binding: error = %v, want one pointing at seal.Bind", err)
	}
	env := mustSeal(t, r, []byte("v"), testBinding)
	if _, err := r.Open(env, seal.Binding{}); err == nil {
		t.Error("Open with the zero Binding succeeded")
	}
}
