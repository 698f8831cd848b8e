package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Verification is what Verify found.
type Verification struct {
	Head     store.AuditHead // the head Verify read first and walked to
	Batches  int64           // batches checked
	Events   int64           // events checked
	FirstSeq int64           // the oldest event kept (older ones were pruned); 0 for an empty trail
	Broken   *Break          // the first place the chain does not hold, or nil
}

// Intact reports whether the chain holds from the oldest batch kept to the
// head.
func (v Verification) Intact() bool { return v.Broken == nil }

// Break names the first event at which the chain does not hold.
type Break struct {
	Seq    int64  // the event: the first whose stored bytes do not check, or the first missing
	Batch  int64  // the batch that should hold it
	Reason string // what is wrong, for people
}

// String says where the chain breaks and why.
func (b *Break) String() string {
	return fmt.Sprintf("event %d (batch %d): %s", b.Seq, b.Batch, b.Reason)
}

// Verify walks the audit trail from the oldest batch kept to the head, in
// order, recomputing every event's hash from the head before it, and reports
// the first event that breaks the chain: one whose stored bytes were
// changed, one that is missing, or one out of place. It checks batches as
// it goes: each must start where the previous ended and name the previous
// head. The oldest batch kept is trusted to name its predecessor's head
// (pruning removed the rest). Events appended while it runs, after the head
// it read first, are left for the next run. It returns an Unavailable error
// when it cannot read the store.
func Verify(ctx context.Context, st store.Audit) (Verification, error) {
	const op = "audit.Verify"
	head, err := st.AuditHead(ctx)
	if err != nil {
		return Verification{}, errs.E(errs.Unavailable, op, "cannot read the audit trail", err)
	}
	v := Verification{Head: head}
	if head.Batch == 0 {
		return v, nil
	}
	w := walk{st: st, head: head, v: &v}
	if err := w.run(ctx); err != nil {
		return Verification{}, errs.E(errs.Unavailable, op, "cannot read the audit trail", err)
	}
	return v, nil
}

// walk is one run of Verify.
type walk struct {
	st   store.Audit
	head store.AuditHead
	v    *Verification

	events []store.AuditEvent // the page of events being read
	cursor string             // the next page's; "" once the last page is read
	read   bool               // a page was read
	damage *store.AuditDamage // the unreadable event that ended the last page, if one did
}

// run checks every batch up to the head, stopping at the first break.
func (w *walk) run(ctx context.Context) error {
	var prev *store.AuditBatch
	var chain []byte
	for after := int64(0); after < w.head.Batch; {
		bs, err := w.st.AuditBatches(ctx, after, store.MaxPageLimit)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			w.brk(w.head.Seq, w.head.Batch, "the head's batch is missing")
			return nil
		}
		for i := range bs {
			b := &bs[i]
			if b.Batch > w.head.Batch {
				return nil
			}
			if prev == nil {
				chain = b.Prev
				w.v.FirstSeq = b.FirstSeq
			} else if brk := linkBreak(prev, b, chain); brk != nil {
				w.v.Broken = brk
				return nil
			}
			ok, err := w.batch(ctx, b, &chain)
			if err != nil || !ok {
				return err
			}
			w.v.Batches++
			prev, after = b, b.Batch
		}
	}
	return nil
}

// linkBreak checks that b follows prev, whose events hash to chain.
func linkBreak(prev, b *store.AuditBatch, chain []byte) *Break {
	switch {
	case b.Batch != prev.Batch+1:
		return &Break{Seq: prev.LastSeq + 1, Batch: prev.Batch + 1,
			Reason: fmt.Sprintf("batch %d is missing: batch %d follows batch %d", prev.Batch+1, b.Batch, prev.Batch)}
	case b.FirstSeq != prev.LastSeq+1:
		return &Break{Seq: prev.LastSeq + 1, Batch: b.Batch,
			Reason: fmt.Sprintf("the batch starts at event %d, not at %d, where batch %d ended", b.FirstSeq, prev.LastSeq+1, prev.Batch)}
	case !bytes.Equal(b.Prev, chain):
		return &Break{Seq: b.FirstSeq, Batch: b.Batch,
			Reason: fmt.Sprintf("the batch names head %s before it, but the chain there is %s", short(b.Prev), short(chain))}
	}
	return nil
}

// batch checks b's events, extending chain over them; it reports false
// after recording a break.
func (w *walk) batch(ctx context.Context, b *store.AuditBatch, chain *[]byte) (bool, error) {
	if b.LastSeq < b.FirstSeq {
		w.brk(b.FirstSeq, b.Batch, fmt.Sprintf("the batch holds events %d..%d", b.FirstSeq, b.LastSeq))
		return false, nil
	}
	for seq := b.FirstSeq; seq <= b.LastSeq; seq++ {
		e, err := w.next(ctx)
		if err != nil {
			return false, err
		}
		switch {
		case e == nil && w.damage != nil:
			w.brk(w.damage.Seq, w.damage.Batch, "the event's stored bytes cannot be read: "+w.damage.Detail)
			return false, nil
		case e == nil || e.Seq > seq:
			w.brk(seq, b.Batch, "the event is missing: deleted, or its seq was changed")
			return false, nil
		case e.Seq < seq:
			w.brk(e.Seq, b.Batch, fmt.Sprintf("the event lies outside every batch (the batches go on from %d)", seq))
			return false, nil
		case e.Batch != b.Batch:
			w.brk(seq, b.Batch, fmt.Sprintf("the event says it is in batch %d", e.Batch))
			return false, nil
		}
		h := eventHash(*chain, e)
		if !bytes.Equal(h, e.Hash) {
			w.brk(seq, b.Batch, "the event's stored bytes do not match its hash: it was changed, or the chain before it")
			return false, nil
		}
		*chain = h
		w.v.Events++
		w.events = w.events[1:]
	}
	if !bytes.Equal(b.Hash, *chain) {
		w.brk(b.LastSeq, b.Batch, fmt.Sprintf("the batch's hash %s is not its last event's %s", short(b.Hash), short(*chain)))
		return false, nil
	}
	return true, nil
}

// next returns the next event in Seq order without consuming it, or nil
// after the last.
func (w *walk) next(ctx context.Context) (*store.AuditEvent, error) {
	for len(w.events) == 0 {
		if w.read && w.cursor == "" {
			return nil, nil
		}
		page, cursor, err := w.st.AuditEvents(ctx, store.AuditFilter{}, store.Page{Limit: store.MaxPageLimit, After: w.cursor})
		if dmg := (*store.AuditDamage)(nil); errors.As(err, &dmg) {
			// The events before the damage are checked first: the chain
			// may break before it.
			w.damage, cursor, err = dmg, "", nil
		}
		if err != nil {
			return nil, err
		}
		w.events, w.cursor, w.read = page, cursor, true
	}
	return &w.events[0], nil
}

func (w *walk) brk(seq, batch int64, reason string) {
	w.v.Broken = &Break{Seq: seq, Batch: batch, Reason: reason}
}

// short shows the start of a hash, enough to tell two apart in a message.
func short(h []byte) string {
	if len(h) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(h[:min(len(h), 8)])
}
