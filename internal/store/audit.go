package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AuditEvent is one stored event of the audit trail: who did what to which
// scope, with what result, and its place in the tamper-evident chain. The
// store keeps every field as it is given: the audit package above it assigns
// Seq and Batch and computes Hash, and the store never looks inside a hash.
// No field holds a secret value; the audit package owns that rule.
type AuditEvent struct {
	Seq           int64     // the event's place in the trail: 1, 2, 3, ... without gaps
	Batch         int64     // the batch the event was appended in
	Time          time.Time // when the operation happened; never zero
	CorrelationID string    // the request id that ties the event to its response and log lines
	PrincipalID   string
	PrincipalType string
	PrincipalName string
	AuthMethod    string
	ClientIP      string
	Operation     string
	Scope         string
	Result        string // "allowed", "denied" or "failed"
	Status        int
	Reason        string
	Hash          []byte // the chain head after this event
}

// AuditBatch is a run of events appended in one transaction. Batches number
// 1, 2, 3, ... without gaps, and each holds the events FirstSeq..LastSeq.
type AuditBatch struct {
	Batch     int64
	FirstSeq  int64
	LastSeq   int64
	Prev      []byte    // the chain head the batch was appended to: the previous batch's Hash; nil for batch 1
	Hash      []byte    // the chain head after the batch: its last event's Hash
	Committed time.Time // the appending writer's clock, at or after every event's Time; never zero
}

// AuditHead is the end of the audit chain: the newest batch, its last event,
// and the chain head after it. The zero AuditHead is the head of an empty
// trail.
type AuditHead struct {
	Batch int64
	Seq   int64
	Hash  []byte
}

// ErrDamaged marks stored bytes that cannot be read back: changed or cut
// outside the application.
var ErrDamaged = errors.New("stored data is damaged")

// AuditDamage names the first audit event whose stored bytes cannot be read.
// It wraps ErrDamaged.
type AuditDamage struct {
	Seq    int64
	Batch  int64
	Detail string // what is wrong with the bytes, for people
}

func (d *AuditDamage) Error() string {
	return fmt.Sprintf("audit event %d (batch %d) cannot be read: %s", d.Seq, d.Batch, d.Detail)
}

func (d *AuditDamage) Unwrap() error { return ErrDamaged }

// AuditFilter selects audit events. Its zero value selects every event.
type AuditFilter struct {
	PrincipalID string    // exactly this principal, unless ""
	Operation   string    // operations that begin with this text, unless ""
	Scope       string    // events at this scope or below it ("/hubs/h" matches "/hubs/h/vaults/v", not "/hubs/h2"), unless "" or "/"
	Result      string    // exactly this result, unless ""
	Since       time.Time // events whose Time is at or after Since, unless zero
	Until       time.Time // events whose Time is before Until, unless zero
	Newest      bool      // list the newest events first instead of the oldest
}

// Audit is the storage of the audit trail: an append-only chain of batches
// of events. Appends are checked against the chain's head, so that writers in
// several processes sharing one database take turns and never fork it.
type Audit interface {
	// AppendAuditBatch stores b and its events in one transaction. events
	// must be b's events in order: Seq b.FirstSeq..b.LastSeq, each with Batch
	// b.Batch, the last one's Hash equal to b.Hash; a batch that breaks these
	// rules is refused with a plain error. b must extend the head: b.Batch is
	// the head's Batch + 1, b.FirstSeq its Seq + 1, b.Prev its Hash. When it
	// does not (another writer appended first) nothing is stored and the
	// error wraps ErrConflict: read the head again, relink and retry.
	AppendAuditBatch(ctx context.Context, b AuditBatch, events []AuditEvent) error
	// AuditHead returns the chain's head; the zero AuditHead when nothing
	// was ever appended. Pruning never moves the head.
	AuditHead(ctx context.Context) (AuditHead, error)
	// AuditBatches returns up to limit batches numbered after after, in order.
	// The limit follows Page's rules.
	AuditBatches(ctx context.Context, after int64, limit int) ([]AuditBatch, error)
	// AuditEvents lists the events that match f ordered by Seq (descending
	// when f.Newest), one page at a time, and returns the cursor of the next
	// page ("" after the last). A cursor it did not issue gives an error
	// wrapping ErrInvalid. When it meets stored bytes it cannot read, it
	// returns the matching events before them and an *AuditDamage naming
	// the first event it cannot read.
	AuditEvents(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, string, error)
	// PruneAudit deletes the oldest batches and their events, in order of
	// Batch, up to the first batch committed at or after before; it never
	// deletes the newest batch, which anchors the chain. It returns how many
	// events it deleted. What remains still verifies: the first batch kept
	// names its predecessor's Hash in Prev.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}
