package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Filter selects events for Query. Its zero value selects every event.
type Filter struct {
	PrincipalID string    // exactly this principal
	Operation   string    // operations that begin with this text: "Latchkey.KeyVault/" for every Key Vault operation
	Scope       string    // events at this scope path or below it; "/" or "" for all
	Result      Result    // exactly this result
	Since       time.Time // events at or after this time
	Until       time.Time // events before this time
	Newest      bool      // newest first instead of oldest first
}

// Entry is an event as Query returns it, with its place in the trail.
type Entry struct {
	Seq int64
	Event
	// Hash is the chain head after this event: the hash over the trail up
	// to and including it. A copy that keeps it can tell a rewritten trail
	// from the one it copied.
	Hash []byte
}

// Query lists the events that match f, one page at a time, and returns the
// cursor of the next page ("" after the last). Errors: Invalid for an
// unknown result, a scope that is not a path, Since after Until, or a page
// cursor Query did not issue; Unavailable when the store cannot be read.
func Query(ctx context.Context, st store.Audit, f Filter, p store.Page) ([]Entry, string, error) {
	const op = "audit.Query"
	switch {
	case f.Result != "" && !f.Result.valid():
		return nil, "", errs.Invalidf(op, "result", "result %q is not one of %q, %q, %q", clip(string(f.Result)), Allowed, Denied, Failed)
	case f.Scope != "" && !strings.HasPrefix(f.Scope, "/"):
		return nil, "", errs.Invalidf(op, "scope", "scope %q is not a scope path: it must start with /", clip(f.Scope))
	case !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since):
		return nil, "", errs.Invalidf(op, "until", "until (%s) is before since (%s)",
			f.Until.UTC().Format(time.RFC3339), f.Since.UTC().Format(time.RFC3339))
	}
	rs, next, err := st.AuditEvents(ctx, store.AuditFilter{
		PrincipalID: text(f.PrincipalID),
		Operation:   text(f.Operation),
		Scope:       text(f.Scope),
		Result:      string(f.Result),
		Since:       f.Since,
		Until:       f.Until,
		Newest:      f.Newest,
	}, p)
	var dmg *store.AuditDamage
	switch {
	case errors.Is(err, store.ErrInvalid):
		return nil, "", errs.E(errs.Invalid, op, "the page cursor is not one this server issued: start again from the first page", err)
	case errors.As(err, &dmg):
		return nil, "", errs.E(errs.Unavailable, op, fmt.Sprintf(
			"the audit trail is damaged at event %d (batch %d): `latchkey audit verify` reports where its chain breaks", dmg.Seq, dmg.Batch), err)
	case err != nil:
		return nil, "", errs.E(errs.Unavailable, op, "cannot read the audit trail", err)
	}
	entries := make([]Entry, len(rs))
	for i, r := range rs {
		entries[i] = Entry{Seq: r.Seq, Event: eventOf(r), Hash: r.Hash}
	}
	return entries, next, nil
}
