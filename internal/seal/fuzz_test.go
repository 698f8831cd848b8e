package seal_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/seal"
)

// FuzzOpen feeds arbitrary envelopes and bindings to Open, Rewrap and KeyID.
// None may panic; a failure must wrap ErrCorrupt or ErrUnknownKey; and only an
// envelope sealed by this test (the seed, or a seed of an earlier run kept in
// the fuzz cache: the key is fixed) may open, under the seed's binding. Every
// input also round-trips as a plaintext under its binding.
func FuzzOpen(f *testing.F) {
	r := mustKeyring(f, mustKey(f, hexA))
	seedPlaintext := []byte("fuzz seed value")
	seedBinding := seal.Bind("secret", "t1", "db")
	seedEnvelope := mustSeal(f, r, seedPlaintext, seedBinding)

	f.Add(seedEnvelope, "secret", "t1", "db")
	f.Add(seedEnvelope, "secret", "t1", "db2")
	f.Add(seedEnvelope, "secret", "t1db", "")
	f.Add(seedEnvelope[:len(seedEnvelope)-1], "secret", "t1", "db")
	f.Add([]byte{}, "", "", "")
	f.Add([]byte{1, 8}, "secret", "a", "b")
	f.Add(bytes.Repeat([]byte{1, 8, 0}, 40), "k", "\x00", "/")

	f.Fuzz(func(t *testing.T, envelope []byte, kind, part1, part2 string) {
		b := seal.Bind(kind, part1, part2)
		_ = b.String()
		isSeed := bytes.Equal(envelope, seedEnvelope) && b == seedBinding

		got, err := r.Open(envelope, b)
		switch {
		case err == nil && (b != seedBinding || !bytes.Equal(got, seedPlaintext)):
			t.Fatalf("Open(%x, %v) = %q; only envelopes of the seed plaintext and binding may open", envelope, b, got)
		case err != nil && isSeed:
			t.Fatalf("Open(seed): %v", err)
		case err != nil && !errors.Is(err, seal.ErrCorrupt) && !errors.Is(err, seal.ErrUnknownKey):
			t.Fatalf("Open error = %v, want ErrCorrupt or ErrUnknownKey", err)
		case err != nil && strings.Contains(err.Error(), string(seedPlaintext)):
			t.Fatalf("Open error %q holds the plaintext", err)
		}
		opened := err == nil

		moved, err := r.Rewrap(envelope, b)
		if (err == nil) != opened {
			t.Fatalf("Rewrap(%x, %v): error = %v, but Open succeeded = %v", envelope, b, err, opened)
		}
		if err == nil && !bytes.Equal(moved, envelope) {
			t.Fatal("Rewrap under the active key changed the envelope")
		}
		_, _ = seal.KeyID(envelope)

		sealed, err := r.Seal(envelope, b)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if back, err := r.Open(sealed, b); err != nil || !bytes.Equal(back, envelope) {
			t.Fatalf("Open(Seal(%x)) = %x, %v", envelope, back, err)
		}
	})
}

// FuzzParseKey checks that ParseKey never panics, that its errors are one
// line, and that an accepted key's Encode parses back to the same key.
func FuzzParseKey(f *testing.F) {
	k := mustKey(f, hexA)
	for _, s := range []string{
		hexA, strings.ToUpper(hexB), k.Encode(), strings.TrimRight(k.Encode(), "=") + "\n",
		"+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8=", "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8",
		"", " \n", "AAAA", hexA[:32], strings.Repeat("0", 64), "not a key", "====",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		k, err := seal.ParseKey(text)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseKey error %q is not one line", err)
			}
			return
		}
		if k.IsZero() || len(k.ID()) != 16 {
			t.Fatalf("ParseKey accepted a key with id %q, IsZero %v", k.ID(), k.IsZero())
		}
		back, err := seal.ParseKey([]byte(k.Encode()))
		if err != nil || back.ID() != k.ID() {
			t.Fatalf("ParseKey(Encode()) = %s, %v; want %s", back.ID(), err, k.ID())
		}
	})
}
