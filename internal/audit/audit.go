// Package audit owns Latchkey's audit trail: the Event that records an
// operation, allowed or denied; the hash chain that makes the stored trail
// tamper-evident (chain.go); the Writer that appends events to the store in
// group-committed batches (writer.go) and hands each stored batch to its
// sinks (sink.go); Verify, which walks the chain and names the first event
// that breaks it (verify.go); Query (query.go); and Retention, which prunes
// the oldest events (retention.go).
//
// An Event never holds a secret value. Its fields are ids, names, an
// address, an operation, a scope, a result, a status and a caller-safe
// reason, and the type has no field for a payload, a request or response
// body, a header or an error cause.
//
// audit imports internal/errs and internal/store; it must not import
// net/http, database/sql, a backend or an adapter.
package audit

import (
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Result is how an operation ended.
type Result string

// The results an Event may record.
const (
	Allowed Result = "allowed" // authorized and carried out
	Denied  Result = "denied"  // refused: not authenticated, not authorized, or refused by policy
	Failed  Result = "failed"  // authorized, but it did not succeed (not found, conflict, unavailable, ...)
)

// TokenOperation is the operation of a token request at the token
// endpoint, which names no route action of its own. An allowed one is a
// sign-in of the principal it names.
const TokenOperation = "Latchkey.Identity/token/action"

// valid reports whether r is one of the results above.
func (r Result) valid() bool { return r == Allowed || r == Denied || r == Failed }

// Event is one operation as the audit trail records it. It holds no secret
// value and has no field that could carry one by accident: no bytes, no
// body, no headers, no error (whose cause might quote a value), and the
// client address is a netip.Addr, stored without its zone. Reason is for a
// caller-safe message, the kind errs.Message returns, never a cause.
type Event struct {
	Time          time.Time  // when the operation happened; zero means when the Writer accepts it
	CorrelationID string     // the request id, which ties the event to its response and log lines
	PrincipalID   string     // "" for an anonymous caller
	PrincipalType string     // a store.PrincipalKind: "User", "ServicePrincipal", "ManagedIdentity"
	PrincipalName string     // the display name at the time of the operation
	AuthMethod    string     // how the caller proved who it is: "bearer", "client_secret", "certificate", ...
	ClientIP      netip.Addr // the caller's address, as the server saw it
	Operation     string     // the action, e.g. "Latchkey.KeyVault/vaults/secrets/getSecret/action"; required
	Scope         string     // the scope path the operation acted on, e.g. "/hubs/h/vaults/v"
	Result        Result     // required
	Status        int        // the response's status code
	Reason        string     // why it was denied or failed: a caller-safe message
}

// maxText is the most bytes a text field of a stored event keeps; longer
// text is cut at a character boundary. It bounds each event's size, so a
// caller cannot grow the trail without limit through one field.
const maxText = 1024

// check reports what is wrong with e, as an Invalid error, or nil.
func (e *Event) check(op string) error {
	if strings.TrimSpace(e.Operation) == "" {
		return errs.Invalidf(op, "operation", "an audit event needs an operation")
	}
	if !e.Result.valid() {
		return errs.Invalidf(op, "result", "audit result %q is not one of %q, %q, %q", clip(string(e.Result)), Allowed, Denied, Failed)
	}
	return nil
}

// record returns e as the store keeps it, stamped with now when it has no
// time: times in UTC microseconds, text as valid UTF-8 without NUL (which
// PostgreSQL text refuses) and at most maxText bytes per field.
func (e *Event) record(now time.Time) store.AuditEvent {
	t := e.Time
	if t.IsZero() {
		t = now
	}
	ip := ""
	if e.ClientIP.IsValid() {
		ip = e.ClientIP.WithZone("").String()
	}
	return store.AuditEvent{
		Time:          store.Time(t),
		CorrelationID: text(e.CorrelationID),
		PrincipalID:   text(e.PrincipalID),
		PrincipalType: text(e.PrincipalType),
		PrincipalName: text(e.PrincipalName),
		AuthMethod:    text(e.AuthMethod),
		ClientIP:      ip,
		Operation:     text(e.Operation),
		Scope:         text(e.Scope),
		Result:        string(e.Result),
		Status:        e.Status,
		Reason:        text(e.Reason),
	}
}

// eventOf returns the Event a stored record holds. A client address that no
// longer parses comes back as the zero Addr.
func eventOf(r store.AuditEvent) Event {
	ip, _ := netip.ParseAddr(r.ClientIP)
	return Event{
		Time:          r.Time,
		CorrelationID: r.CorrelationID,
		PrincipalID:   r.PrincipalID,
		PrincipalType: r.PrincipalType,
		PrincipalName: r.PrincipalName,
		AuthMethod:    r.AuthMethod,
		ClientIP:      ip,
		Operation:     r.Operation,
		Scope:         r.Scope,
		Result:        Result(r.Result),
		Status:        r.Status,
		Reason:        r.Reason,
	}
}

// text makes s storable: valid UTF-8, no NUL, at most maxText bytes.
func text(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return clip(s)
}

// clip cuts s to at most maxText bytes at a character boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
