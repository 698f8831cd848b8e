package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
)

// An envelope is what Seal returns and what the store keeps. Format version 1,
// offsets in bytes, n the plaintext length:
//
//	off  size  field
//	0    1     format version: 1
//	1    1     key id length: 8
//	2    8     key id: the master key's id bytes (Key.ID prints them as hex)
//	10   12    wrap nonce, random
//	22   48    wrapped data key: AES-256-GCM(master key, wrap nonce, data key, wrap AAD)
//	70   12    data nonce, random
//	82   n+16  sealed data: AES-256-GCM(data key, data nonce, plaintext, data AAD)
//
//	wrap AAD = "latchkey seal v1 wrap" | bytes 0-9 (version, id length, id) | binding
//	data AAD = "latchkey seal v1 data" | byte 0 (version) | binding
//
// The data key is 256 random bits drawn for each Seal and never reused, and the
// binding is the canonical encoding of the record's Binding. The labels keep
// the two AEAD uses (and any later version) apart. The wrap authenticates the
// key id, so an envelope relabelled to another loaded key fails; the data AAD
// leaves the key id out on purpose, so Rewrap can replace bytes 0-69 and keep
// the sealed data as it is. Random 96-bit wrap nonces bound a master key to
// about 2^32 Seals before it should be rotated (NIST SP 800-38D).
//
// A new format gets a new version byte; Open refuses versions it does not know.
const (
	version1    byte = 1
	nonceSize        = 12
	tagSize          = 16
	wrappedSize      = KeySize + tagSize

	idOffset        = 2
	wrapNonceOffset = idOffset + idSize
	wrappedOffset   = wrapNonceOffset + nonceSize
	dataNonceOffset = wrappedOffset + wrappedSize
	dataOffset      = dataNonceOffset + nonceSize
	minEnvelopeSize = dataOffset + tagSize // the envelope of an empty plaintext

	wrapLabel = "latchkey seal v1 wrap"
	dataLabel = "latchkey seal v1 data"
)

// ErrUnknownKey is wrapped by errors for envelopes sealed under a master key
// that the keyring does not hold.
var ErrUnknownKey = errors.New("seal: unknown master key")

// ErrCorrupt is wrapped by errors for envelopes that are malformed or fail
// authentication: tampered with, truncated, or bound to another record.
var ErrCorrupt = errors.New("seal: corrupt envelope")

// errNoBinding is returned when Seal, Open or Rewrap get the zero Binding: a
// programming error, so it wraps neither sentinel.
var errNoBinding = errors.New("no binding: bind every sealed value to its record with seal.Bind")

// envelope is a parsed envelope: sub-slices of the caller's bytes.
type envelope struct {
	header    []byte // version, key id length, key id
	id        [idSize]byte
	wrapNonce []byte
	wrapped   []byte
	dataNonce []byte
	sealed    []byte
}

// parseEnvelope checks the layout of env. Its errors wrap ErrCorrupt and end in
// advice; the caller prefixes the operation and binding.
func parseEnvelope(env []byte) (envelope, error) {
	switch {
	case len(env) == 0:
		return envelope{}, fmt.Errorf("envelope is empty: the stored value was lost or never sealed: %w", ErrCorrupt)
	case env[0] != version1:
		return envelope{}, fmt.Errorf("envelope format version %d is unknown (this build reads %d): "+
			"it is corrupted or was written by a newer Latchkey: %w", env[0], version1, ErrCorrupt)
	case len(env) < minEnvelopeSize:
		return envelope{}, fmt.Errorf("envelope is %d bytes, shorter than the %d of an empty value: "+
			"it is truncated: %w", len(env), minEnvelopeSize, ErrCorrupt)
	case env[1] != idSize:
		return envelope{}, fmt.Errorf("envelope key id is %d bytes, want %d: it is corrupted: %w",
			env[1], idSize, ErrCorrupt)
	}
	e := envelope{
		header:    env[:wrapNonceOffset],
		wrapNonce: env[wrapNonceOffset:wrappedOffset],
		wrapped:   env[wrappedOffset:dataNonceOffset],
		dataNonce: env[dataNonceOffset:dataOffset],
		sealed:    env[dataOffset:],
	}
	copy(e.id[:], env[idOffset:wrapNonceOffset])
	return e, nil
}

// KeyID returns the id of the master key an envelope was sealed under, without
// opening it. Its errors wrap ErrCorrupt.
func KeyID(envelope []byte) (string, error) {
	e, err := parseEnvelope(envelope)
	if err != nil {
		return "", fmt.Errorf("read master key id of sealed data: %w", err)
	}
	return hex.EncodeToString(e.id[:]), nil
}

// appendWrapAAD appends the additional data of the key wrap to dst.
func appendWrapAAD(dst, header []byte, b Binding) []byte {
	dst = append(dst, wrapLabel...)
	dst = append(dst, header...)
	return append(dst, b.enc...)
}

// appendDataAAD appends the additional data of the sealed data to dst.
func appendDataAAD(dst []byte, b Binding) []byte {
	dst = append(dst, dataLabel...)
	dst = append(dst, version1)
	return append(dst, b.enc...)
}

// aadCap is a capacity that holds either AAD for b, so one buffer serves both.
func aadCap(b Binding) int {
	return max(len(wrapLabel)+wrapNonceOffset, len(dataLabel)+1) + len(b.enc)
}

// newAEAD returns AES-256-GCM under key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
