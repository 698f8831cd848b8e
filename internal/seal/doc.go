// Package seal owns encryption at rest: the master keys (Key, Keyring) and the
// envelope format that every secret and key Latchkey stores is sealed in.
//
// Each Seal call draws a fresh 256-bit data key, encrypts the plaintext with it
// under AES-256-GCM, and wraps the data key under the keyring's active master
// key. A Binding (the record's tenant, vault, name, version...) is authenticated
// with both, so a ciphertext copied onto another record does not open. Envelopes
// name the master key that wrapped them, so keys rotate without re-encrypting
// data: load the old key next to the new one and Rewrap. The envelope format,
// and why it is built so, is documented in envelope.go.
//
// seal knows nothing of vaults, records or SQL: callers build the Binding and
// store the bytes. It uses only the standard library's crypto and must not import
// anything of Latchkey's except internal/errs.
package seal
