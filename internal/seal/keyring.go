package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
)

// Keyring holds the master keys: the active one seals, and every one opens, so
// master keys rotate by loading the new key as active and the old ones after
// it, then Rewrapping. A Keyring is immutable after NewKeyring and safe for
// concurrent use. It keeps each key's AES-GCM instance, never the Key itself.
type Keyring struct {
	keys []masterKey // keys[0] is the active key
	ids  []string    // hex ids, in the order of keys
}

// masterKey is a loaded key: its id and its AES-GCM instance, built once so
// Seal and Open do not rerun the AES key schedule.
type masterKey struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// NewKeyring returns a Keyring that seals under active and opens envelopes
// sealed under active or any of older. It fails on a zero Key or on a key
// given twice.
func NewKeyring(active Key, older ...Key) (*Keyring, error) {
	all := append([]Key{active}, older...)
	r := &Keyring{keys: make([]masterKey, 0, len(all)), ids: make([]string, 0, len(all))}
	for i, k := range all {
		if k.IsZero() {
			which := "the active master key"
			if i > 0 {
				which = fmt.Sprintf("older master key %d", i)
			}
			return nil, fmt.Errorf("seal: %s is the zero Key: load keys with LoadKeyFile or ParseKey", which)
		}
		if r.lookup(k.m.id) != nil {
			return nil, fmt.Errorf("seal: master key %s is given twice: load each key once", k.ID())
		}
		aead, err := newAEAD(k.m.b[:])
		if err != nil {
			return nil, fmt.Errorf("seal: master key %s: %w", k.ID(), err)
		}
		r.keys = append(r.keys, masterKey{id: k.m.id, aead: aead})
		r.ids = append(r.ids, k.ID())
	}
	return r, nil
}

// ActiveID returns the id of the key that Seal and Rewrap use.
func (r *Keyring) ActiveID() string { return r.ids[0] }

// IDs returns the ids of every loaded key, the active one first.
func (r *Keyring) IDs() []string { return slices.Clone(r.ids) }

// String describes the keyring by key ids, for logs.
func (r *Keyring) String() string {
	return fmt.Sprintf("Keyring(active %s, loaded %s)", r.ids[0], strings.Join(r.ids, ", "))
}

func (r *Keyring) lookup(id [idSize]byte) *masterKey {
	for i := range r.keys {
		if r.keys[i].id == id {
			return &r.keys[i]
		}
	}
	return nil
}

// Seal encrypts plaintext under a fresh data key, wraps that key under the
// active master key, and binds both to b. It fails only on the zero Binding or
// when the system's random source fails.
func (r *Keyring) Seal(plaintext []byte, b Binding) ([]byte, error) {
	if b.IsZero() {
		return nil, fmt.Errorf("seal data: %w", errNoBinding)
	}
	env := make([]byte, dataOffset, dataOffset+len(plaintext)+tagSize)
	dataKey, aad := newScratch(b)
	defer clear(dataKey)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("seal data for %s: draw data key: %w", b, err)
	}
	if _, err := rand.Read(env[dataNonceOffset:dataOffset]); err != nil {
		return nil, fmt.Errorf("seal data for %s: draw nonce: %w", b, err)
	}
	if err := r.wrap(env, dataKey, aad, b); err != nil {
		return nil, fmt.Errorf("seal data for %s: %w", b, err)
	}
	data, err := newAEAD(dataKey)
	if err != nil {
		return nil, fmt.Errorf("seal data for %s: %w", b, err)
	}
	return data.Seal(env, env[dataNonceOffset:dataOffset], plaintext, appendDataAAD(aad[:0], b)), nil
}

// wrap writes bytes 0-69 of env: the header naming the active key, a fresh
// wrap nonce and dataKey wrapped under the active key. aad is scratch space.
func (r *Keyring) wrap(env, dataKey, aad []byte, b Binding) error {
	active := &r.keys[0]
	env[0] = version1
	env[1] = idSize
	copy(env[idOffset:wrapNonceOffset], active.id[:])
	if _, err := rand.Read(env[wrapNonceOffset:wrappedOffset]); err != nil {
		return fmt.Errorf("draw nonce: %w", err)
	}
	aad = appendWrapAAD(aad[:0], env[:wrapNonceOffset], b)
	active.aead.Seal(env[wrappedOffset:wrappedOffset], env[wrapNonceOffset:wrappedOffset], dataKey, aad)
	return nil
}

// Open authenticates and decrypts an envelope sealed under any loaded key with
// the same Binding. Its errors wrap ErrUnknownKey when the envelope's master
// key is not loaded, and ErrCorrupt when the envelope is malformed, tampered
// with, or bound to another record. They never hold key material or data.
func (r *Keyring) Open(envelope []byte, b Binding) ([]byte, error) {
	plaintext, _, err := r.open("open sealed data", envelope, b, nil)
	return plaintext, err
}

// open parses, unwraps and decrypts an envelope, naming op in errors. With
// keep non-nil it also hands the parsed envelope and the data key to keep
// before the key is cleared (Rewrap wraps it again).
func (r *Keyring) open(op string, env []byte, b Binding, keep func(e envelope, dataKey, aad []byte) error) ([]byte, envelope, error) {
	e, err := r.parse(op, env, b)
	if err != nil {
		return nil, e, err
	}
	dataKey, aad := newScratch(b)
	defer clear(dataKey)
	if err := r.unwrap(op, e, dataKey, aad, b); err != nil {
		return nil, e, err
	}
	plaintext := make([]byte, 0, len(e.sealed)-tagSize)
	plaintext, err = openData(e, dataKey, plaintext, appendDataAAD(aad[:0], b))
	if err != nil {
		return nil, e, fmt.Errorf("%s for %s: %w", op, b, err)
	}
	if keep != nil {
		clear(plaintext)
		return nil, e, keep(e, dataKey, aad)
	}
	return plaintext, e, nil
}

// Rewrap returns the envelope with its data key wrapped under the active
// master key and the sealed data unchanged. It first checks the whole envelope
// as Open does, so it fails, with Open's errors, exactly when Open would: a
// rotation never carries a corrupt value forward. An envelope already under
// the active key comes back as a copy.
func (r *Keyring) Rewrap(env []byte, b Binding) ([]byte, error) {
	const op = "rewrap sealed data"
	// GCM checks the data's tag only while decrypting, so open decrypts the
	// data and clears the plaintext at once.
	var out []byte
	_, _, err := r.open(op, env, b, func(e envelope, dataKey, aad []byte) error {
		out = slices.Clone(env)
		if e.id == r.keys[0].id {
			return nil
		}
		if err := r.wrap(out, dataKey, aad, b); err != nil {
			return fmt.Errorf("%s for %s: %w", op, b, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// newScratch returns room for a data key and for either AAD of b, in one
// allocation. The caller clears dataKey when done.
func newScratch(b Binding) (dataKey, aad []byte) {
	buf := make([]byte, KeySize+aadCap(b))
	return buf[:KeySize:KeySize], buf[KeySize:KeySize]
}

// parse checks the Binding and the envelope's layout, naming op and b in errors.
func (r *Keyring) parse(op string, env []byte, b Binding) (envelope, error) {
	if b.IsZero() {
		return envelope{}, fmt.Errorf("%s: %w", op, errNoBinding)
	}
	e, err := parseEnvelope(env)
	if err != nil {
		return envelope{}, fmt.Errorf("%s for %s: %w", op, b, err)
	}
	return e, nil
}

// unwrap finds e's master key and writes the data key into dataKey.
func (r *Keyring) unwrap(op string, e envelope, dataKey, aad []byte, b Binding) error {
	mk := r.lookup(e.id)
	if mk == nil {
		return fmt.Errorf("%s for %s: it was sealed with master key %x, which is not loaded (loaded: %s): "+
			"start with the master key it was sealed with: %w", op, b, e.id, strings.Join(r.ids, ", "), ErrUnknownKey)
	}
	if _, err := mk.aead.Open(dataKey[:0], e.wrapNonce, e.wrapped, appendWrapAAD(aad[:0], e.header, b)); err != nil {
		return fmt.Errorf("%s for %s: the data key does not authenticate under master key %x: "+
			"the envelope is corrupted or was sealed for another record: %w", op, b, e.id, ErrCorrupt)
	}
	return nil
}

// openData authenticates and decrypts e's sealed data with dataKey, appending
// the plaintext to dst.
func openData(e envelope, dataKey, dst, aad []byte) ([]byte, error) {
	data, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	out, err := data.Open(dst, e.dataNonce, e.sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("the sealed data does not authenticate: it is corrupted: %w", ErrCorrupt)
	}
	return out, nil
}
