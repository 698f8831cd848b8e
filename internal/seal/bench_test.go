package seal_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/seal"
)

var benchSizes = []struct {
	name string
	size int
}{
	{"100B", 100},
	{"25KB", 25 * 1024},
}

// BenchmarkSeal measures sealing one value: a data key, a key wrap and the
// data encryption.
func BenchmarkSeal(b *testing.B) {
	r := mustKeyring(b, mustKey(b, hexA))
	bind := seal.Bind("secret", "t1", "v1", "db", "0123456789abcdef")
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			plaintext := randomBytes(b, bs.size)
			b.ReportAllocs()
			b.SetBytes(int64(bs.size))
			for b.Loop() {
				if _, err := r.Seal(plaintext, bind); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen measures opening one value, the cost a secret read pays.
func BenchmarkOpen(b *testing.B) {
	r := mustKeyring(b, mustKey(b, hexA))
	bind := seal.Bind("secret", "t1", "v1", "db", "0123456789abcdef")
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			env := mustSeal(b, r, randomBytes(b, bs.size), bind)
			b.ReportAllocs()
			b.SetBytes(int64(bs.size))
			for b.Loop() {
				if _, err := r.Open(env, bind); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
