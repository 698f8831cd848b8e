package seal

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
)

// KeySize is the length of a master key in bytes (AES-256).
const KeySize = 32

// idSize is how many bytes of the HMAC make a key id; it is printed as hex.
const idSize = 8

// idLabel is the HMAC message a key id is derived from. Changing it changes
// every key id, so it carries a version.
const idLabel = "latchkey master key id v1"

// keyFix is the advice every key-content error ends with.
const keyFix = "generate one with `openssl rand -base64 32`"

// maxKeyFileSize bounds how much of a key file is read, so a path pointing at a
// device or a large file fails fast instead of filling memory.
const maxKeyFileSize = 1 << 10

// redacted is what a Key prints as, whatever the verb.
const redacted = "[REDACTED]"

// Key is a 256-bit master key. It prints as [REDACTED] under every fmt verb and
// in slog, so it never reaches a log. The zero Key holds no key; build one with
// NewKey, ParseKey or LoadKeyFile. A Key is immutable and safe for concurrent use.
type Key struct {
	_ [0]func() // not comparable: compare IDs, never key bytes
	// m points at the key bytes rather than holding them, so that a struct with
	// a Key in an unexported field prints a pointer, not the key, under %v.
	m *keyMaterial
}

type keyMaterial struct {
	b  [KeySize]byte
	id [idSize]byte
}

func newKey(b []byte) Key {
	m := &keyMaterial{}
	copy(m.b[:], b)
	mac := hmac.New(sha256.New, m.b[:])
	mac.Write([]byte(idLabel))
	copy(m.id[:], mac.Sum(nil))
	return Key{m: m}
}

// NewKey returns a random master key from crypto/rand.
func NewKey() (Key, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Key{}, fmt.Errorf("generate master key: %w", err)
	}
	k := newKey(b[:])
	clear(b[:])
	return k, nil
}

// ParseKey reads a master key from text: after trimming surrounding whitespace,
// 64 hex characters, or standard or URL base64 (padded or not) of exactly 32
// bytes. A key of all zero bytes is refused. Errors say what is wrong and how to
// fix it, and never quote the text.
func ParseKey(text []byte) (Key, error) {
	s := bytes.TrimSpace(text)
	if len(s) == 0 {
		return Key{}, errors.New("master key is empty: " + keyFix)
	}
	var b []byte
	if isHex(s) && len(s)%2 == 0 {
		if len(s) != 2*KeySize {
			return Key{}, fmt.Errorf("master key is %d hex characters (%d bytes), want %d (%d bytes): %s",
				len(s), len(s)/2, 2*KeySize, KeySize, keyFix)
		}
		b = make([]byte, KeySize)
		hex.Decode(b, s) // cannot fail: s is all hex digits of even length
	} else {
		enc := base64.StdEncoding
		if bytes.ContainsAny(s, "-_") {
			enc = base64.URLEncoding
		}
		if !bytes.HasSuffix(s, []byte("=")) {
			enc = enc.WithPadding(base64.NoPadding)
		}
		b = make([]byte, enc.DecodedLen(len(s)))
		n, err := enc.Decode(b, s)
		if err != nil {
			// A CorruptInputError names an offset, never the input.
			return Key{}, fmt.Errorf("master key is not base64 or hex (%v): %s", err, keyFix)
		}
		b = b[:n]
	}
	defer clear(b)
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("master key is %d bytes, want %d: %s", len(b), KeySize, keyFix)
	}
	if allZero(b) {
		return Key{}, errors.New("master key is all zero bytes: " + keyFix)
	}
	return newKey(b), nil
}

// LoadKeyFile reads a master key file written as ParseKey accepts it. Errors
// name the path and say how to fix the problem.
func LoadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, keyFileError(path, err)
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, keyFileError(path, err)
	}
	defer clear(text)
	if len(text) > maxKeyFileSize {
		return Key{}, fmt.Errorf("master key file %s is larger than %d bytes: it must hold only the key; %s",
			path, maxKeyFileSize, keyFix)
	}
	k, err := ParseKey(text)
	if err != nil {
		return Key{}, fmt.Errorf("master key file %s: %w", path, err)
	}
	return k, nil
}

func keyFileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is named once, below
	}
	return fmt.Errorf("read master key file %s: %w: check the path and permissions", path, err)
}

// ID returns the key's id: the lower-case hex of the first 8 bytes of
// HMAC-SHA256(key, "latchkey master key id v1"). It is stable for the same key
// bytes, reveals nothing usable about the key, and is safe to log. The zero Key
// has the id "".
func (k Key) ID() string {
	if k.m == nil {
		return ""
	}
	return hex.EncodeToString(k.m.id[:])
}

// Encode returns the key as standard padded base64, the form to write to a key
// file. The zero Key encodes as "".
func (k Key) Encode() string {
	if k.m == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.m.b[:])
}

// IsZero reports whether k is the zero Key, which holds no key.
func (k Key) IsZero() bool { return k.m == nil }

// String returns [REDACTED].
func (Key) String() string { return redacted }

// GoString returns [REDACTED], for %#v.
func (Key) GoString() string { return redacted }

// LogValue returns [REDACTED], for slog.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format writes [REDACTED] for every verb, so %x or %d cannot print the bytes.
func (Key) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

func isHex(s []byte) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
