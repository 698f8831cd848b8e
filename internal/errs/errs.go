// Package errs is Latchkey's error model: a Kind that says what the caller can do
// about a failure, an operation name, a message that is safe to show, and the
// underlying cause for logs.
//
// It knows nothing of HTTP or SQL: the transport adapters (internal/httpapi) map a
// Kind to a status code in one place. errs imports only the standard library and
// none of Latchkey's packages.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// The kinds of error. The zero value is Internal, so an error that was never
// classified is treated as unexpected.
const (
	Internal        Kind = iota // unexpected; the cause is logged, never shown
	Invalid                     // malformed input; Msg says what and how to fix it
	Unauthenticated             // missing or bad credentials
	Forbidden                   // authenticated, but the action is not granted
	NotFound                    // the named item does not exist
	Conflict                    // already exists, or a stale version
	Throttled                   // too many requests: retry after Error.RetryAfter
	Unavailable                 // sealed, overloaded, dependency down: retry later
)

var kindNames = [...]string{
	Internal:        "internal",
	Invalid:         "invalid",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	NotFound:        "not found",
	Conflict:        "conflict",
	Throttled:       "throttled",
	Unavailable:     "unavailable",
}

// String returns the kind's lower-case name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is a failure the caller can act on. Msg is safe to show to the caller;
// Err is the cause, for logs only. Neither may hold a secret value.
type Error struct {
	Kind Kind
	Op   string // the operation that failed, as "package.Method"
	// Field names the input at fault for Invalid errors ("value", "attributes.exp"),
	// when there is one.
	Field string
	Msg   string
	// RetryAfter tells a Throttled or Unavailable caller when to try again.
	RetryAfter time.Duration
	Err        error
}

// E builds an *Error of kind k for operation op with a caller-safe message and an
// optional cause.
func E(k Kind, op, msg string, cause error) *Error {
	return &Error{Kind: k, Op: op, Msg: msg, Err: cause}
}

// Invalidf builds an Invalid error naming the field at fault; the message should
// say what was wrong and how to fix it.
func Invalidf(op, field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Op: op, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Error formats the error for logs: operation, message and cause.
func (e *Error) Error() string {
	s := e.Op
	if e.Msg != "" {
		if s != "" {
			s += ": "
		}
		s += e.Msg
	}
	if e.Err != nil {
		if s != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	if s == "" {
		s = e.Kind.String()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the outermost *Error in err's chain, or Internal when
// there is none. A nil error has no kind; KindOf(nil) returns Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether KindOf(err) is k. A non-nil error that carries no *Error
// counts as Internal; a nil error is of no kind.
func Is(err error, k Kind) bool {
	return err != nil && KindOf(err) == k
}

// Message returns the caller-safe message of the outermost *Error in err's chain,
// or "" when there is none (the caller then shows a generic text).
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return ""
}
