package sqlstore

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// A batch's events are stored with the batch, as one blob in
// audit_batches.events, rather than as a row each: a row cost SQLite more
// than the read it recorded (binding 15 values, two B-trees), and one insert
// per batch makes appending several times cheaper (docs/benchmarks.md,
// "Audit"). The blob is the store's own; the audit package's hash chain
// covers the events' fields, not these bytes, so the format can change
// with a new version byte.
//
// Version 1 is the version byte 1, then each event of the batch in Seq
// order (Seq and Batch are not stored: the batch's FirstSeq and number give
// them):
//
//	varint   its Time in unix microseconds, minus the previous event's (0 before the first)
//	text×10  CorrelationID PrincipalID PrincipalType PrincipalName AuthMethod
//	         ClientIP Operation Scope Result Reason
//	varint   Status
//	bytes    Hash
//
// varint is encoding/binary's signed varint; bytes a uvarint length and the
// bytes; text a uvarint k: 0 repeats the previous event's text in the same
// place (a batch's events mostly share their principal, operation and
// scope), and k > 0 is followed by k-1 bytes of text. The first event
// repeats nothing. Nothing follows the last event.
const auditBlobVersion = 1

// auditTexts returns pointers to e's text fields in their order in a blob.
func auditTexts(e *store.AuditEvent) [10]*string {
	return [10]*string{&e.CorrelationID, &e.PrincipalID, &e.PrincipalType, &e.PrincipalName, &e.AuthMethod,
		&e.ClientIP, &e.Operation, &e.Scope, &e.Result, &e.Reason}
}

// appendAuditBlob appends the version 1 encoding of events to b.
func appendAuditBlob(b []byte, events []store.AuditEvent) []byte {
	b = append(b, auditBlobVersion)
	var prevAt int64
	var prev [10]*string
	for i := range events {
		e := &events[i]
		at := e.Time.UnixMicro()
		b = binary.AppendVarint(b, at-prevAt)
		texts := auditTexts(e)
		for j, s := range texts {
			if i > 0 && *s == *prev[j] {
				b = append(b, 0)
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(*s))+1)
			b = append(b, *s...)
		}
		b = binary.AppendVarint(b, int64(e.Status))
		b = binary.AppendUvarint(b, uint64(len(e.Hash)))
		b = append(b, e.Hash...)
		prevAt, prev = at, texts
	}
	return b
}

// auditBlobReader reads one blob, event by event.
type auditBlobReader struct {
	b       []byte
	off     int
	err     string // why the last read failed
	scratch [binary.MaxVarintLen64]byte
}

// The reader accepts only what appendAuditBlob writes: numbers in their
// shortest form, and a text that repeats the previous event's only as a
// repeat. So a blob has one encoding, and a changed byte always changes the
// events read back (or makes them unreadable) at the event it is in: the
// hash chain then names that event.

func (r *auditBlobReader) varint() (int64, bool) {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 || n != len(binary.AppendVarint(r.scratch[:0], v)) {
		r.err = fmt.Sprintf("the number at byte %d is cut short, too long or not in its shortest form", r.off)
		return 0, false
	}
	r.off += n
	return v, true
}

func (r *auditBlobReader) uvarint() (uint64, bool) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 || n != len(binary.AppendUvarint(r.scratch[:0], v)) {
		r.err = fmt.Sprintf("the length at byte %d is cut short, too long or not in its shortest form", r.off)
		return 0, false
	}
	r.off += n
	return v, true
}

// bytes reads n bytes, without copying them.
func (r *auditBlobReader) bytes(n uint64) ([]byte, bool) {
	if n > uint64(len(r.b)-r.off) {
		r.err = fmt.Sprintf("%d bytes at byte %d run past the end (%d bytes)", n, r.off, len(r.b))
		return nil, false
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, true
}

// event reads the event after prev (nil for the first) into e.
func (r *auditBlobReader) event(e, prev *store.AuditEvent) bool {
	delta, ok := r.varint()
	if !ok {
		return false
	}
	var at int64
	if prev != nil {
		at = prev.Time.UnixMicro()
	}
	e.Time = time.UnixMicro(at + delta).UTC()
	texts := auditTexts(e)
	var prevTexts [10]*string
	if prev != nil {
		prevTexts = auditTexts(prev)
	}
	for j, s := range texts {
		k, ok := r.uvarint()
		if !ok {
			return false
		}
		if k == 0 {
			if prev == nil {
				r.err = fmt.Sprintf("the first event repeats a text (byte %d)", r.off-1)
				return false
			}
			*s = *prevTexts[j]
			continue
		}
		start := r.off
		p, ok := r.bytes(k - 1)
		if !ok {
			return false
		}
		if prev != nil && string(p) == *prevTexts[j] {
			r.err = fmt.Sprintf("the text at byte %d repeats the previous event's without saying so", start)
			return false
		}
		*s = string(p)
	}
	status, ok := r.varint()
	if !ok {
		return false
	}
	if int64(int(status)) != status {
		r.err = fmt.Sprintf("the status before byte %d is out of range", r.off)
		return false
	}
	e.Status = int(status)
	n, ok := r.uvarint()
	if !ok {
		return false
	}
	h, ok := r.bytes(n)
	if !ok {
		return false
	}
	e.Hash = bytesOut(append([]byte(nil), h...))
	return true
}

// parseAuditBlob returns the events of batch b from its blob. When the blob
// cannot be read to the end, it returns the events before the first it
// cannot read, and an *store.AuditDamage naming that event.
func parseAuditBlob(b store.AuditBatch, blob []byte) ([]store.AuditEvent, error) {
	n := b.LastSeq - b.FirstSeq + 1
	damage := func(seq int64, detail string) error {
		return &store.AuditDamage{Seq: seq, Batch: b.Batch, Detail: detail}
	}
	switch {
	case n < 1 || n > 1<<20:
		return nil, damage(b.FirstSeq, fmt.Sprintf("the batch says it holds events %d..%d", b.FirstSeq, b.LastSeq))
	case len(blob) == 0:
		return nil, damage(b.FirstSeq, "the batch's events are missing")
	case blob[0] != auditBlobVersion:
		return nil, damage(b.FirstSeq, fmt.Sprintf("the events are stored in an unknown version %d", blob[0]))
	}
	r := auditBlobReader{b: blob, off: 1}
	events := make([]store.AuditEvent, 0, min(n, int64(len(blob)/13)+1)) // an event takes 13 bytes at least
	for i := range n {
		var prev *store.AuditEvent
		if i > 0 {
			prev = &events[i-1]
		}
		e := store.AuditEvent{Seq: b.FirstSeq + i, Batch: b.Batch}
		if !r.event(&e, prev) {
			return events, damage(e.Seq, r.err)
		}
		events = append(events, e)
	}
	if r.off != len(blob) {
		return events, damage(b.LastSeq, fmt.Sprintf("%d bytes follow the batch's last event", len(blob)-r.off))
	}
	return events, nil
}
