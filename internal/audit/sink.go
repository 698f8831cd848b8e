package audit

import "github.com/latchkey/latchkey/internal/store"

// Sink receives the audit trail as it is stored, to copy it somewhere else:
// a file, a stream, a SIEM. The store stays the record; a sink is a copy
// that may lag, and that loses what it cannot hold.
//
// A Writer calls Offer from its one goroutine after each batch commits and
// before the batch's Record calls return, with the batch's events in Seq
// order, each with its Seq. Offer must not
// block: the Writer waits for it before it writes the next batch, so a
// sink that waits slows the whole trail down. A sink keeps its own bounded
// queue and drops, and counts, what does not fit. Offer must not modify
// batch, which every sink of the Writer shares, nor keep it after it
// returns; the Entry values may be copied.
//
// Several Writers sharing one store (replicas) each offer only the batches
// they wrote themselves: a sink on every replica sees the whole trail
// between them, each replica's part in order.
type Sink interface {
	Offer(batch []Entry)
}

// offer hands the events of a stored batch b to the sinks. It costs
// nothing without sinks.
func (w *Writer) offer(b store.AuditBatch, events []store.AuditEvent) {
	if len(w.sinks) == 0 {
		return
	}
	entries := make([]Entry, len(events))
	for i := range events {
		entries[i] = Entry{Seq: b.FirstSeq + int64(i), Event: eventOf(events[i]), Hash: events[i].Hash}
	}
	for _, s := range w.sinks {
		s.Offer(entries)
	}
}
