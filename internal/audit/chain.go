package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// The chain. Every stored event carries the chain head after it:
//
//	Hash(e) = SHA-256(canonical(Hash(previous event), e))
//
// where the previous event is the one with the next lower Seq, and the first
// event ever appended has an empty previous hash. A batch's Hash is its last
// event's, and its Prev the Hash of the event before its first. So a batch
// is chained to the head before it through its events, and changing any
// stored byte of an event changes its hash, which then no longer matches.
//
// canonical is the concatenation, in this order, of
//
//	str("latchkey-audit-v1")  the version of this encoding
//	bytes(prev)               the chain head before the event (32 bytes, or 0 for the first event)
//	int(Seq) int(Batch) int(Time as unix microseconds, UTC)
//	str(CorrelationID) str(PrincipalID) str(PrincipalType) str(PrincipalName)
//	str(AuthMethod) str(ClientIP) str(Operation) str(Scope) str(Result)
//	int(Status) str(Reason)
//
// with int(x) the 8 bytes of x as a big-endian two's-complement int64, and
// str(s) and bytes(b) the length as a big-endian uint32 followed by the
// bytes (UTF-8 for text). Every variable-length field carries its length,
// so no two different events encode alike. docs/audit.md states the same and
// gives a worked example; TestCanonical pins it.

// chainVersion opens every encoding, so that a future encoding cannot be
// mistaken for this one.
const chainVersion = "latchkey-audit-v1"

// link numbers events, in place, as the batch after head, gives each its
// Hash, and returns the batch, committed at committed. Linking again on
// another head redoes all three.
func link(head store.AuditHead, events []store.AuditEvent, committed time.Time) store.AuditBatch {
	// A batch is committed at or after each of its events' times (the store
	// relies on it to find events by time through the batches): an event
	// stamped by a clock ahead of the writer's moves the commit time on.
	for _, e := range events {
		if e.Time.After(committed) {
			committed = e.Time
		}
	}
	b := store.AuditBatch{
		Batch:     head.Batch + 1,
		FirstSeq:  head.Seq + 1,
		LastSeq:   head.Seq + int64(len(events)),
		Prev:      head.Hash,
		Committed: store.Time(committed),
	}
	sums := make([]byte, 0, sha256.Size*len(events)) // one allocation for the batch's hashes
	prev := head.Hash
	buf := make([]byte, 0, 512)
	for i := range events {
		e := &events[i]
		e.Seq, e.Batch = b.FirstSeq+int64(i), b.Batch
		buf = canonical(buf[:0], prev, e)
		sum := sha256.Sum256(buf)
		sums = append(sums, sum[:]...)
		e.Hash = sums[len(sums)-sha256.Size : len(sums) : len(sums)]
		prev = e.Hash
	}
	b.Hash = prev
	return b
}

// eventHash returns the chain head after e, given the head before it.
func eventHash(prev []byte, e *store.AuditEvent) []byte {
	sum := sha256.Sum256(canonical(make([]byte, 0, 512), prev, e))
	return sum[:]
}

// canonical appends the canonical encoding of e after prev to b.
func canonical(b, prev []byte, e *store.AuditEvent) []byte {
	b = appendText(b, chainVersion)
	b = appendBytes(b, prev)
	b = appendInt(b, e.Seq)
	b = appendInt(b, e.Batch)
	b = appendInt(b, e.Time.UnixMicro())
	for _, s := range [...]string{e.CorrelationID, e.PrincipalID, e.PrincipalType, e.PrincipalName,
		e.AuthMethod, e.ClientIP, e.Operation, e.Scope, e.Result} {
		b = appendText(b, s)
	}
	b = appendInt(b, int64(e.Status))
	return appendText(b, e.Reason)
}

func appendInt(b []byte, x int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(x)) }

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}
