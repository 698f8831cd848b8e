package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// waitFor polls cond until it holds, failing the test after 10 s. It waits
// for a state the test cannot be told of otherwise (events sitting in the
// queue), never for a fixed time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommit queues 200 Record calls before the writer runs: it must
// store them in ceil(200/64) = 4 transactions, each Record returning only
// then, and the chain must verify.
func TestGroupCommit(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{MaxBatch: 64, QueueSize: 256})
	const n = 200
	errc := make(chan error, n)
	for i := range n {
		go func() { errc <- w.Record(context.WithoutCancel(t.Context()), event(i)) }()
	}
	waitFor(t, "200 events in the queue", func() bool { return w.Stats().QueueDepth == n })
	if got := stored(t, st); len(got) != 0 {
		t.Fatalf("%d events stored before Run", len(got))
	}
	start(t, w)
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("Record = %v", err)
		}
	}
	got := stored(t, st)
	want := make([]string, n)
	for i := range n {
		want[i] = event(i).CorrelationID
	}
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(got))); diff != "" {
		t.Errorf("stored events mismatch (-want +got):\n%s", diff)
	}
	batches, err := st.AuditBatches(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for _, b := range batches {
		sizes = append(sizes, b.LastSeq-b.FirstSeq+1)
	}
	if !slices.Equal(sizes, []int64{64, 64, 64, 8}) {
		t.Errorf("batch sizes = %v, want [64 64 64 8]", sizes)
	}
	s := w.Stats()
	if s.Batches != 4 || s.Written != n || s.Accepted != n || s.Dropped != 0 || s.QueueDepth != 0 {
		t.Errorf("Stats() = %+v, want 4 batches, %d written and accepted, none dropped or queued", s, n)
	}
	buckets := map[int]uint64{4: 0, 8: 1, 32: 1, 64: 4, 1024: 4}
	for _, b := range s.BatchSizes {
		if want, ok := buckets[b.UpTo]; ok && b.Batches != want {
			t.Errorf("Stats().BatchSizes: %d batches of at most %d, want %d", b.Batches, b.UpTo, want)
		}
	}
	mustVerify(t, st)
}

// TestOrder enqueues events from one goroutine while the writer runs: they
// are stored in the order they were queued, whatever the batches.
func TestOrder(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{MaxBatch: 37, QueueSize: 2000})
	start(t, w)
	const n = 1000
	var want []string
	for i := range n {
		if !w.Enqueue(event(i)) {
			t.Fatalf("Enqueue(%d) dropped the event", i)
		}
		want = append(want, event(i).CorrelationID)
	}
	if err := w.Record(t.Context(), event(n)); err != nil {
		t.Fatalf("Record = %v", err)
	}
	want = append(want, event(n).CorrelationID)
	if diff := cmp.Diff(want, stored(t, st)); diff != "" {
		t.Errorf("stored events mismatch (-want +got):\n%s", diff)
	}
	if s := w.Stats(); s.Batches < (n+1+36)/37 || s.Batches > n {
		t.Errorf("Stats().Batches = %d for %d events of at most 37 a batch", s.Batches, n+1)
	}
	if v := mustVerify(t, st); v.Events != n+1 {
		t.Errorf("Verify checked %d events, want %d", v.Events, n+1)
	}
}

// TestEnqueueDrops fills a queue of 8 while the writer is not running yet:
// Enqueue drops and counts the rest, and the 8 are stored once it runs.
func TestEnqueueDrops(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{QueueSize: 8})
	for i := range 20 {
		if got, want := w.Enqueue(event(i)), i < 8; got != want {
			t.Errorf("Enqueue(%d) = %t, want %t", i, got, want)
		}
	}
	bad := event(99)
	bad.Result = "maybe"
	if w.Enqueue(bad) {
		t.Error("Enqueue of an event with an unknown result = true")
	}
	s := w.Stats()
	if s.QueueDepth != 8 || s.QueueSize != 8 || s.Accepted != 8 || s.Dropped != 12 || s.Invalid != 1 || s.Written != 0 {
		t.Errorf("Stats() = %+v, want 8 queued of 8 and accepted, 12 dropped, 1 invalid, none written", s)
	}
	start(t, w)
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if got := stored(t, st); len(got) != 8 || got[0] != event(0).CorrelationID || got[7] != event(7).CorrelationID {
		t.Errorf("stored %v, want events 0 to 7", got)
	}
	if w.Enqueue(event(20)) {
		t.Error("Enqueue after Close = true")
	}
	if err := w.Record(t.Context(), event(21)); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Record after Close = %v, want Unavailable", err)
	}
	if s := w.Stats(); s.Dropped != 13 || s.Written != 8 || s.Lost != 0 {
		t.Errorf("Stats() after Close = %+v, want 13 dropped, 8 written, none lost", s)
	}
}

// TestRecordWaitsForRoom: Record waits for room in a full queue, until its
// context ends or the writer drains the queue.
func TestRecordWaitsForRoom(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{QueueSize: 1})
	if !w.Enqueue(event(0)) {
		t.Fatal("Enqueue into an empty queue dropped the event")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := w.Record(ctx, event(1)); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Record into a full queue of a stopped writer = %v, want Unavailable when ctx ends", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- w.Record(t.Context(), event(2)) }()
	start(t, w)
	if err := <-errc; err != nil {
		t.Errorf("Record once the writer runs = %v", err)
	}
	if got := stored(t, st); !slices.Equal(got, []string{event(0).CorrelationID, event(2).CorrelationID}) {
		t.Errorf("stored %v, want events 0 and 2", got)
	}
}

// TestRecordInvalid: an event without an operation or with an unknown
// result is refused as Invalid.
func TestRecordInvalid(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{})
	start(t, w)
	noOp, badResult := event(0), event(1)
	noOp.Operation = " "
	badResult.Result = ""
	for _, e := range []audit.Event{noOp, badResult} {
		if err := w.Record(t.Context(), e); !errs.Is(err, errs.Invalid) {
			t.Errorf("Record(%+v) = %v, want Invalid", e, err)
		}
	}
	for _, opts := range []audit.Options{{}, {Store: st, MaxBatch: -1}, {Store: st, MaxDelay: -1}, {Store: st, QueueSize: -1}} {
		if _, err := audit.NewWriter(opts); !errs.Is(err, errs.Invalid) {
			t.Errorf("NewWriter(%+v) = %v, want Invalid", opts, err)
		}
	}
}

// TestRecordDoesNotWaitOutMaxDelay: with a MaxDelay of an hour, reads'
// events wait in the queue, and a write's Record ends the wait: it returns
// once its batch committed, and the reads queued before it went in the same
// batch. A Record whose event the writer took without sleeping leaves a
// stale wake-up behind, which must not end the next batch's wait.
func TestRecordDoesNotWaitOutMaxDelay(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{MaxDelay: time.Hour})
	record := func(i int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := w.Record(ctx, event(i)); err != nil {
			t.Fatalf("Record(%d) = %v, want it stored without waiting out MaxDelay", i, err)
		}
	}
	// The stale wake-up: a Record queued before the writer runs, which the
	// writer's first batch holds from the start.
	recorded := make(chan struct{})
	go func() { defer close(recorded); record(0) }()
	waitFor(t, "the first Record in the queue", func() bool { return w.Stats().QueueDepth == 1 })
	start(t, w)
	<-recorded
	for round := range 3 {
		for i := range 3 {
			if !w.Enqueue(event(10*round + i + 1)) {
				t.Fatalf("Enqueue dropped event %d", 10*round+i+1)
			}
		}
		if round == 0 {
			// Long enough for the writer to take a read and sleep, and for
			// the stale wake-up to end the wait if it wrongly did.
			time.Sleep(50 * time.Millisecond)
		}
		if got := len(stored(t, st)); got != 1+4*round {
			t.Fatalf("round %d: %d events stored before the Record, want %d", round, got, 1+4*round)
		}
		record(10*round + 4)
		if got := len(stored(t, st)); got != 1+4*(round+1) {
			t.Errorf("round %d: %d events stored after the Record, want %d", round, got, 1+4*(round+1))
		}
	}
	if s := w.Stats(); s.Batches != 4 {
		t.Errorf("Stats().Batches = %d, want 4: the first Record's, then each Record's with the reads before it", s.Batches)
	}
	mustVerify(t, st)
}

// TestCloseFlushes: Close writes what is queued at once, without waiting
// for MaxDelay, with Run and without it; Run after Close is refused.
func TestCloseFlushes(t *testing.T) {
	for _, run := range []bool{true, false} {
		t.Run(fmt.Sprintf("run=%t", run), func(t *testing.T) {
			st, _ := newStore(t)
			w := newWriter(t, st, audit.Options{MaxDelay: time.Hour})
			if run {
				start(t, w)
			}
			for i := range 5 {
				w.Enqueue(event(i))
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			if got := stored(t, st); len(got) != 5 {
				t.Errorf("stored %d events after Close, want 5", len(got))
			}
			if err := w.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
			if !run { // (with run, Run may have begun before Close or not)
				if err := w.Run(t.Context()); err != nil {
					t.Errorf("Run after Close = %v, want it to return at once", err)
				}
			}
		})
	}
}

// TestStoredText: what the writer stores of an event's text, address and
// time.
func TestStoredText(t *testing.T) {
	st, _ := newStore(t)
	now := time.Date(2026, 11, 23, 8, 9, 10, 123456789, time.UTC)
	w := newWriter(t, st, audit.Options{Now: func() time.Time { return now }})
	start(t, w)
	long := strings.Repeat("é", 600) // 1200 bytes
	e := audit.Event{
		CorrelationID: "nul\x00byte", PrincipalID: "bad\xffutf8", PrincipalName: long,
		ClientIP:  netip.MustParseAddr("fe80::1%eth0-could-be-anything"),
		Operation: "op", Result: audit.Denied, Status: 403, Reason: "no role grants op",
	}
	if err := w.Record(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	entries, _, err := audit.Query(t.Context(), st, audit.Filter{}, store.Page{})
	if err != nil || len(entries) != 1 {
		t.Fatalf("Query = %v, %v; want one event", entries, err)
	}
	want := e
	want.Time = now.Truncate(time.Microsecond)
	want.CorrelationID, want.PrincipalID = "nul\uFFFDbyte", "bad\uFFFDutf8"
	want.PrincipalName = strings.Repeat("é", 512) // 1024 bytes
	want.ClientIP = netip.MustParseAddr("fe80::1")
	if diff := cmp.Diff(want, entries[0].Event, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("stored event mismatch (-want +got):\n%s", diff)
	}
}

// TestWritersShareChain runs two writers on two stores over one file, as
// two processes would: every event is stored once and the chain does not
// fork.
func TestWritersShareChain(t *testing.T) {
	first, path := newStore(t)
	second := openStore(t, path)
	writers := []*audit.Writer{
		newWriter(t, first, audit.Options{MaxBatch: 8}),
		newWriter(t, second, audit.Options{MaxBatch: 8}),
	}
	for _, w := range writers {
		start(t, w)
	}
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := writers[i%2].Record(t.Context(), event(i)); err != nil {
				t.Errorf("Record(%d) = %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := stored(t, first); len(got) != n || len(slices.Compact(slices.Sorted(slices.Values(got)))) != n {
		t.Errorf("stored %d events (%d distinct), want %d", len(got), len(slices.Compact(slices.Sorted(slices.Values(got)))), n)
	}
	mustVerify(t, second)
	t.Logf("conflicts: %d and %d", writers[0].Stats().Conflicts, writers[1].Stats().Conflicts)
}

// TestStoreFailure takes the batches table away under a running writer:
// Record reports the failure, the writer retries, and once the table is
// back the event is stored and the chain verifies.
func TestStoreFailure(t *testing.T) {
	st, path := newStore(t)
	w := newWriter(t, st, audit.Options{})
	start(t, w)
	if err := w.Record(t.Context(), event(0)); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	mustExec(t, raw, `ALTER TABLE audit_batches RENAME TO audit_batches_away`)
	if err := w.Record(t.Context(), event(1)); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Record while the table is away = %v, want Unavailable", err)
	}
	mustExec(t, raw, `ALTER TABLE audit_batches_away RENAME TO audit_batches`)
	if err := w.Record(t.Context(), event(2)); err != nil {
		t.Errorf("Record once the table is back = %v", err)
	}
	want := []string{event(0).CorrelationID, event(1).CorrelationID, event(2).CorrelationID}
	if got := stored(t, st); !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	if s := w.Stats(); s.Failures == 0 || s.Written != 3 {
		t.Errorf("Stats() = %+v, want failures and 3 written", s)
	}
	mustVerify(t, st)
}

// mustExec runs query on db or fails the test.
func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
