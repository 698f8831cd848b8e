// Package store is the storage contract of Latchkey: the record types, one small
// interface per aggregate, and the errors every backend returns.
//
// The store is untrusted with secrets: it sees only ciphertext. Sealing happens in
// the domain packages above it (see internal/seal). Backends (store/sqlite,
// store/postgres) implement every interface here and pass the one conformance
// suite in store/storetest. store imports only internal/errs and the standard
// library.
//
// Conventions every backend keeps:
//   - Times are stored in UTC, truncated to microseconds, so that both backends
//     round-trip them equally; zero times stay zero.
//   - A method returns an error wrapping ErrNotFound when the named record does not
//     exist and ErrConflict when it already exists; callers test with errors.Is.
//   - An acknowledged write is durable: it survives kill -9 and power loss.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is wrapped by errors for records that do not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped by errors for writes that collide with an existing record.
var ErrConflict = errors.New("conflict")

// ErrInvalid is wrapped by errors for arguments a backend cannot use, such as a
// page cursor it did not issue.
var ErrInvalid = errors.New("invalid argument")

// Store is everything a backend provides. It is safe for concurrent use.
type Store interface {
	Settings
	Secrets
	Principals
	Credentials
	SigningKeys
	Resources
	RoleDefinitions
	RoleAssignments
	EligibleAssignments
	Changes
	Replicas
	Audit
	AccountKeys

	// Ping checks that the database answers; /readyz calls it.
	Ping(ctx context.Context) error
	// Close releases the database. It must be called once, after all use.
	Close() error
}

// Settings holds installation-wide values, such as the tenant id, that are written
// once and read at start.
type Settings interface {
	// Setting returns the value stored under key, or an error wrapping ErrNotFound.
	Setting(ctx context.Context, key string) ([]byte, error)
	// InitSetting stores value under key unless key already has a value, and
	// returns the value that is stored afterwards. Two processes that race to
	// initialise the same key both get the winner's value.
	InitSetting(ctx context.Context, key string, value []byte) ([]byte, error)
}

// Page asks for one page of a listing ordered by a stable key: at most Limit items
// (Limit <= 0 means DefaultPageLimit; larger than MaxPageLimit means MaxPageLimit)
// that come after the cursor After ("" for the first page). Cursors are opaque to
// callers.
type Page struct {
	Limit int
	After string
}

// The page sizes backends apply.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// Time normalises t the way every backend stores it: UTC, truncated to
// microseconds. The zero time stays zero.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
