package audit_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// recordingSink keeps what it is offered, and checks, as it is offered,
// that the batch is already stored: the head has reached its last event.
type recordingSink struct {
	t  *testing.T
	st store.Audit

	mu      sync.Mutex // guards batches
	batches [][]audit.Entry
}

func (s *recordingSink) Offer(batch []audit.Entry) {
	head, err := s.st.AuditHead(s.t.Context())
	if err != nil {
		s.t.Errorf("AuditHead: %v", err)
	}
	if last := batch[len(batch)-1].Seq; head.Seq < last {
		s.t.Errorf("offered events up to %d while the head is at %d: a sink got events before they were stored", last, head.Seq)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, slices.Clone(batch))
}

// entries returns every entry offered, in the order offered.
func (s *recordingSink) entries() []audit.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Concat(s.batches...)
}

// storedEntries returns every stored event with its Seq, oldest first.
func storedEntries(t *testing.T, st store.Audit) []audit.Entry {
	t.Helper()
	var all []audit.Entry
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		entries, next, err := audit.Query(t.Context(), st, audit.Filter{}, p)
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		all = append(all, entries...)
		if next == "" {
			return all
		}
		p.After = next
	}
}

var addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// TestSinksGetStoredBatches: every sink of a Writer is offered every event
// it stored, once, in order, with its Seq and as the store holds it (text
// cut, times in UTC microseconds), and only once it is stored. A failed
// append offers nothing; its retry offers the events once.
func TestSinksGetStoredBatches(t *testing.T) {
	st, path := newStore(t)
	sinks := []*recordingSink{{t: t, st: st}, {t: t, st: st}}
	w := newWriter(t, st, audit.Options{MaxBatch: 16, QueueSize: 1024, Sinks: []audit.Sink{sinks[0], sinks[1]}})
	start(t, w)
	long := event(0)
	long.Reason = fmt.Sprintf("%02000d", 7) // longer than a stored field may be
	if err := w.Record(t.Context(), long); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 200; i++ {
		if !w.Enqueue(event(i)) {
			t.Fatalf("Enqueue(%d) dropped", i)
		}
	}
	if err := w.Record(t.Context(), event(201)); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	mustExec(t, raw, `ALTER TABLE audit_batches RENAME TO audit_batches_away`)
	if err := w.Record(t.Context(), event(202)); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Record while the table is away = %v, want Unavailable", err)
	}
	mustExec(t, raw, `ALTER TABLE audit_batches_away RENAME TO audit_batches`)
	if err := w.Record(t.Context(), event(203)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	want := storedEntries(t, st)
	if len(want) != 204 {
		t.Fatalf("stored %d events, want 204", len(want))
	}
	if n := len(want[0].Reason); n != 1024 {
		t.Errorf("the stored reason has %d bytes, want 1024", n)
	}
	// Each event carries the chain head after it, to sinks and listings
	// alike (compared below): what a copy keeps to catch a rewritten trail.
	for i, e := range want {
		if len(e.Hash) != 32 || i > 0 && bytes.Equal(e.Hash, want[i-1].Hash) {
			t.Fatalf("event %d has chain hash %x: want 32 bytes, unlike the one before", e.Seq, e.Hash)
		}
	}
	for i, s := range sinks {
		got := s.entries()
		if diff := cmp.Diff(want, got, addrEqual); diff != "" {
			t.Errorf("sink %d was offered other events than those stored (-stored +offered):\n%s", i, diff)
		}
		if len(s.batches) != int(w.Stats().Batches) {
			t.Errorf("sink %d was offered %d batches, want one per stored batch (%d)", i, len(s.batches), w.Stats().Batches)
		}
	}
}

// TestSinksAcrossWriters: two writers on one trail each offer the batches
// they stored; between them every event is offered once, and each writer's
// part comes in order, though another writer's batches interleave.
func TestSinksAcrossWriters(t *testing.T) {
	first, path := newStore(t)
	second := openStore(t, path)
	sinks := []*recordingSink{{t: t, st: first}, {t: t, st: second}}
	writers := []*audit.Writer{
		newWriter(t, first, audit.Options{MaxBatch: 8, Sinks: []audit.Sink{sinks[0]}}),
		newWriter(t, second, audit.Options{MaxBatch: 8, Sinks: []audit.Sink{sinks[1]}}),
	}
	for _, w := range writers {
		start(t, w)
	}
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := writers[i%2].Record(t.Context(), event(i)); err != nil {
				t.Errorf("Record(%d) = %v", i, err)
			}
		})
	}
	wg.Wait()
	var seqs []int64
	for i, s := range sinks {
		mine := s.entries()
		if !slices.IsSortedFunc(mine, func(a, b audit.Entry) int { return int(a.Seq - b.Seq) }) {
			t.Errorf("writer %d offered its events out of order", i)
		}
		for _, e := range mine {
			seqs = append(seqs, e.Seq)
		}
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("offered Seqs between the writers: %d at place %d, want %d (every event once, no gap)", seq, i, i+1)
		}
	}
	if len(seqs) != n {
		t.Errorf("offered %d events, want %d", len(seqs), n)
	}
	t.Logf("conflicts: %d and %d", writers[0].Stats().Conflicts, writers[1].Stats().Conflicts)
}

func TestNilSink(t *testing.T) {
	st, _ := newStore(t)
	if _, err := audit.NewWriter(audit.Options{Store: st, Sinks: []audit.Sink{nil}}); !errs.Is(err, errs.Invalid) {
		t.Errorf("NewWriter with a nil sink = %v, want Invalid", err)
	}
}
