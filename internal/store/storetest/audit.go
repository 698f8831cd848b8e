package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

func testAudit(t *testing.T, newStore func(t *testing.T) store.Store) {
	runCases(t, newStore, []testCase{
		{"Empty", testAuditEmpty},
		{"RoundTrip", testAuditRoundTrip},
		{"Conflict", testAuditConflict},
		{"Refused", testAuditRefused},
		{"Filters", testAuditFilters},
		{"Pages", testAuditPages},
		{"Prune", testAuditPrune},
		{"ConcurrentWriters", func(t *testing.T, s store.Store) { testAuditConcurrent(t, s, s) }},
	})
}

// auditLink numbers events as the batch after head, committed at committed
// or, like the audit package's batches, at its latest event's time if that is
// later, and gives each a Hash that depends on the head before it. It stands
// in for the audit package's chain: the store keeps the bytes without
// reading them.
func auditLink(head store.AuditHead, events []store.AuditEvent, committed time.Time) (store.AuditBatch, []store.AuditEvent) {
	for _, e := range events {
		if e.Time.After(committed) {
			committed = e.Time
		}
	}
	b := store.AuditBatch{Batch: head.Batch + 1, FirstSeq: head.Seq + 1, Prev: head.Hash, Committed: committed}
	linked := slices.Clone(events)
	prev := head.Hash
	for i := range linked {
		e := &linked[i]
		e.Seq, e.Batch = b.FirstSeq+int64(i), b.Batch
		h := sha256.New()
		h.Write(prev)
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(e.Seq)))
		h.Write([]byte(e.Operation))
		e.Hash = h.Sum(nil)
		prev = e.Hash
	}
	b.LastSeq = b.FirstSeq + int64(len(linked)) - 1
	b.Hash = prev
	return b, linked
}

// auditEvent returns the i-th test event; its fields vary with i so that
// filters have something to select.
func auditEvent(i int) store.AuditEvent {
	results := []string{"allowed", "denied", "failed"}
	return store.AuditEvent{
		Time:          baseTime().Add(time.Duration(i) * time.Minute),
		CorrelationID: fmt.Sprintf("req-%d", i),
		PrincipalID:   fmt.Sprintf("principal-%d", i%3),
		PrincipalType: "ServicePrincipal",
		PrincipalName: fmt.Sprintf("app %d", i%3),
		AuthMethod:    "client_secret",
		ClientIP:      "192.0.2.7",
		Operation:     []string{"Latchkey.KeyVault/vaults/secrets/getSecret/action", "Latchkey.KeyVault/vaults/read", "Latchkey.Identity/users/read"}[i%3],
		Scope:         []string{"/hubs/h/vaults/v", "/hubs/h", "/hubs/h2/vaults/w", "/"}[i%4],
		Result:        results[i%len(results)],
		Status:        200 + i%5,
		Reason:        fmt.Sprintf("reason %d", i),
	}
}

func auditEvents(from, n int) []store.AuditEvent {
	var es []store.AuditEvent
	for i := from; i < from+n; i++ {
		es = append(es, auditEvent(i))
	}
	return es
}

// mustAppendAudit appends events as the next batch and returns what it stored.
func mustAppendAudit(t *testing.T, s store.Store, events []store.AuditEvent, committed time.Time) (store.AuditBatch, []store.AuditEvent) {
	t.Helper()
	head, err := s.AuditHead(t.Context())
	if err != nil {
		t.Fatalf("AuditHead() = %v", err)
	}
	b, linked := auditLink(head, events, committed)
	if err := s.AppendAuditBatch(t.Context(), b, linked); err != nil {
		t.Fatalf("AppendAuditBatch(batch %d) = %v", b.Batch, err)
	}
	return b, linked
}

// allAuditEvents lists every event, oldest first.
func allAuditEvents(t *testing.T, s store.Store) []store.AuditEvent {
	t.Helper()
	return listAll(t, "AuditEvents", store.MaxPageLimit, func(p store.Page) ([]store.AuditEvent, string, error) {
		return s.AuditEvents(t.Context(), store.AuditFilter{}, p)
	})
}

func allAuditBatches(t *testing.T, s store.Store) []store.AuditBatch {
	t.Helper()
	bs, err := s.AuditBatches(t.Context(), 0, store.MaxPageLimit)
	if err != nil {
		t.Fatalf("AuditBatches(0) = %v", err)
	}
	return bs
}

func mustAuditHead(t *testing.T, s store.Store) store.AuditHead {
	t.Helper()
	h, err := s.AuditHead(t.Context())
	if err != nil {
		t.Fatalf("AuditHead() = %v", err)
	}
	return h
}

func testAuditEmpty(t *testing.T, s store.Store) {
	if h := mustAuditHead(t, s); !cmp.Equal(h, store.AuditHead{}) {
		t.Errorf("AuditHead() of an empty store = %+v, want the zero head", h)
	}
	if bs := allAuditBatches(t, s); len(bs) != 0 {
		t.Errorf("AuditBatches(0) of an empty store = %v, want none", bs)
	}
	if es := allAuditEvents(t, s); len(es) != 0 {
		t.Errorf("AuditEvents() of an empty store = %v, want none", es)
	}
	if n, err := s.PruneAudit(t.Context(), time.Now()); n != 0 || err != nil {
		t.Errorf("PruneAudit() of an empty store = %d, %v; want 0", n, err)
	}
}

// testAuditRoundTrip appends batches and reads back every field: odd text,
// empty text, times that need normalising, and the order of the chain.
func testAuditRoundTrip(t *testing.T, s store.Store) {
	odd := store.AuditEvent{
		Time:          time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.FixedZone("X", -5*3600)),
		CorrelationID: "ünïcödé ☃ 'quote' \"double\" %_\\",
		PrincipalID:   "", PrincipalType: "", PrincipalName: "", AuthMethod: "", ClientIP: "2001:db8::1",
		Operation: "op", Scope: "/", Result: "failed", Status: -1, Reason: "line\nbreak\ttab",
	}
	committed := baseTime()
	b1, first := mustAppendAudit(t, s, []store.AuditEvent{auditEvent(0)}, committed)
	b2, second := mustAppendAudit(t, s, append(auditEvents(1, 4), odd), committed.Add(time.Second))
	want := normalizeAudit(slices.Concat(first, second))
	if diff := cmp.Diff(want, allAuditEvents(t, s)); diff != "" {
		t.Errorf("AuditEvents() mismatch (-want +got):\n%s", diff)
	}
	wantBatches := []store.AuditBatch{b1, b2}
	for i := range wantBatches {
		wantBatches[i].Committed = store.Time(wantBatches[i].Committed)
	}
	if diff := cmp.Diff(wantBatches, allAuditBatches(t, s)); diff != "" {
		t.Errorf("AuditBatches(0) mismatch (-want +got):\n%s", diff)
	}
	if b1.Prev != nil || b2.FirstSeq != 2 || b2.LastSeq != 6 || !slices.Equal(b2.Prev, b1.Hash) {
		t.Errorf("batches %+v and %+v are not linked", b1, b2)
	}
	wantHead := store.AuditHead{Batch: 2, Seq: 6, Hash: b2.Hash}
	if h := mustAuditHead(t, s); !cmp.Equal(h, wantHead) {
		t.Errorf("AuditHead() = %+v, want %+v", h, wantHead)
	}
	if bs, err := s.AuditBatches(t.Context(), 1, 10); err != nil || len(bs) != 1 || bs[0].Batch != 2 {
		t.Errorf("AuditBatches(1, 10) = %+v, %v; want batch 2", bs, err)
	}
	if bs, err := s.AuditBatches(t.Context(), 0, 1); err != nil || len(bs) != 1 || bs[0].Batch != 1 {
		t.Errorf("AuditBatches(0, 1) = %+v, %v; want batch 1", bs, err)
	}
}

// normalizeAudit returns events as the store gives them back.
func normalizeAudit(events []store.AuditEvent) []store.AuditEvent {
	out := slices.Clone(events)
	for i := range out {
		out[i].Time = store.Time(out[i].Time)
	}
	return out
}

// testAuditConflict appends batches that do not extend the head: each is
// refused with ErrConflict and stores nothing.
func testAuditConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	empty := store.AuditHead{}
	b1, _ := mustAppendAudit(t, s, auditEvents(0, 2), baseTime())
	head := mustAuditHead(t, s)
	cases := []struct {
		name string
		head store.AuditHead
	}{
		{"stale head", empty},
		{"batch number taken", store.AuditHead{Batch: 0, Seq: 2, Hash: b1.Hash}},
		{"batch number skipped", store.AuditHead{Batch: 2, Seq: 2, Hash: b1.Hash}},
		{"seq skipped", store.AuditHead{Batch: 1, Seq: 3, Hash: b1.Hash}},
		{"seq reused", store.AuditHead{Batch: 1, Seq: 1, Hash: b1.Hash}},
		{"other prev", store.AuditHead{Batch: 1, Seq: 2, Hash: []byte("not the head")}},
		{"no prev", store.AuditHead{Batch: 1, Seq: 2}},
	}
	for _, tc := range cases {
		b, events := auditLink(tc.head, auditEvents(2, 2), baseTime())
		if err := s.AppendAuditBatch(ctx, b, events); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: AppendAuditBatch(batch %d, seq %d) = %v, want ErrConflict", tc.name, b.Batch, b.FirstSeq, err)
		}
	}
	if h := mustAuditHead(t, s); !cmp.Equal(h, head) {
		t.Errorf("AuditHead() after conflicts = %+v, want %+v", h, head)
	}
	if es := allAuditEvents(t, s); len(es) != 2 {
		t.Errorf("AuditEvents() after conflicts = %d events, want 2", len(es))
	}
}

// testAuditRefused appends batches whose events do not match them: each is
// refused, not as a conflict, and stores nothing.
func testAuditRefused(t *testing.T, s store.Store) {
	b, events := auditLink(store.AuditHead{}, auditEvents(0, 3), baseTime())
	cases := []struct {
		name   string
		change func(b *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent
	}{
		{"no events", func(*store.AuditBatch, []store.AuditEvent) []store.AuditEvent { return nil }},
		{"batch 0", func(b *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent { b.Batch = 0; return es }},
		{"last seq", func(b *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent { b.LastSeq++; return es }},
		{"hash", func(b *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent { b.Hash = []byte("x"); return es }},
		{"no commit time", func(b *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent {
			b.Committed = time.Time{}
			return es
		}},
		{"event order", func(_ *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent {
			es[0], es[1] = es[1], es[0]
			return es
		}},
		{"event batch", func(_ *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent { es[1].Batch = 2; return es }},
		{"event time", func(_ *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent {
			es[1].Time = time.Time{}
			return es
		}},
		{"event after the commit", func(b *store.AuditBatch, es []store.AuditEvent) []store.AuditEvent {
			es[1].Time = b.Committed.Add(time.Microsecond)
			return es
		}},
	}
	for _, tc := range cases {
		bb := b
		es := tc.change(&bb, slices.Clone(events))
		err := s.AppendAuditBatch(t.Context(), bb, es)
		if err == nil || errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: AppendAuditBatch = %v, want an error other than ErrConflict", tc.name, err)
		}
	}
	if h := mustAuditHead(t, s); !cmp.Equal(h, store.AuditHead{}) {
		t.Errorf("AuditHead() after refused appends = %+v, want the zero head", h)
	}
	if err := s.AppendAuditBatch(t.Context(), b, events); err != nil {
		t.Errorf("AppendAuditBatch of the valid batch = %v", err)
	}
}

// testAuditFilters checks every filter alone and some together against a
// filter applied in Go.
func testAuditFilters(t *testing.T, s store.Store) {
	var all []store.AuditEvent
	for i := 0; i < 24; i += 6 {
		_, es := mustAppendAudit(t, s, auditEvents(i, 6), baseTime())
		all = append(all, es...)
	}
	extra := auditEvent(24)
	extra.Operation, extra.Scope = "Latchkey.KeyVault/vaults_x", "/hubs/h/"
	_, es := mustAppendAudit(t, s, []store.AuditEvent{extra}, baseTime())
	all = normalizeAudit(append(all, es...))
	at := func(i int) time.Time { return auditEvent(i).Time }
	cases := []struct {
		name  string
		f     store.AuditFilter
		match func(e store.AuditEvent) bool
	}{
		{"all", store.AuditFilter{}, func(store.AuditEvent) bool { return true }},
		{"principal", store.AuditFilter{PrincipalID: "principal-1"},
			func(e store.AuditEvent) bool { return e.PrincipalID == "principal-1" }},
		{"operation prefix", store.AuditFilter{Operation: "Latchkey.KeyVault/vaults/"},
			func(e store.AuditEvent) bool { return e.Operation != "Latchkey.Identity/users/read" && e.Seq != 25 }},
		{"operation underscore is no wildcard", store.AuditFilter{Operation: "Latchkey.KeyVault/vaults_"},
			func(e store.AuditEvent) bool { return e.Seq == 25 }},
		{"operation percent is no wildcard", store.AuditFilter{Operation: "Latchkey.%"},
			func(store.AuditEvent) bool { return false }},
		{"operation is case-sensitive", store.AuditFilter{Operation: "latchkey."},
			func(store.AuditEvent) bool { return false }},
		{"operation exact", store.AuditFilter{Operation: "Latchkey.Identity/users/read"},
			func(e store.AuditEvent) bool { return e.Operation == "Latchkey.Identity/users/read" }},
		{"scope and below", store.AuditFilter{Scope: "/hubs/h"},
			func(e store.AuditEvent) bool {
				return e.Scope == "/hubs/h" || e.Scope == "/hubs/h/vaults/v" || e.Seq == 25
			}},
		{"scope with a slash", store.AuditFilter{Scope: "/hubs/h/"},
			func(e store.AuditEvent) bool {
				return e.Scope == "/hubs/h" || e.Scope == "/hubs/h/vaults/v" || e.Seq == 25
			}},
		{"scope leaf", store.AuditFilter{Scope: "/hubs/h2/vaults/w"},
			func(e store.AuditEvent) bool { return e.Scope == "/hubs/h2/vaults/w" }},
		{"scope root", store.AuditFilter{Scope: "/"}, func(store.AuditEvent) bool { return true }},
		{"scope none", store.AuditFilter{Scope: "/hubs/h/vaults"}, func(e store.AuditEvent) bool { return e.Scope == "/hubs/h/vaults/v" }},
		{"result", store.AuditFilter{Result: "denied"}, func(e store.AuditEvent) bool { return e.Result == "denied" }},
		{"since", store.AuditFilter{Since: at(5)}, func(e store.AuditEvent) bool { return !e.Time.Before(at(5)) }},
		{"until", store.AuditFilter{Until: at(5)}, func(e store.AuditEvent) bool { return e.Time.Before(at(5)) }},
		{"since and until", store.AuditFilter{Since: at(3), Until: at(9)},
			func(e store.AuditEvent) bool { return !e.Time.Before(at(3)) && e.Time.Before(at(9)) }},
		{"together", store.AuditFilter{PrincipalID: "principal-0", Scope: "/hubs/h", Result: "allowed", Since: at(1)},
			func(e store.AuditEvent) bool {
				return e.PrincipalID == "principal-0" && (e.Scope == "/hubs/h" || e.Scope == "/hubs/h/vaults/v" || e.Seq == 25) &&
					e.Result == "allowed" && !e.Time.Before(at(1))
			}},
	}
	for _, tc := range cases {
		var want []store.AuditEvent
		for _, e := range all {
			if tc.match(e) {
				want = append(want, e)
			}
		}
		got := listAll(t, tc.name, 4, func(p store.Page) ([]store.AuditEvent, string, error) {
			return s.AuditEvents(t.Context(), tc.f, p)
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: AuditEvents(%+v) mismatch (-want +got):\n%s", tc.name, tc.f, diff)
		}
		newest := tc.f
		newest.Newest = true
		got = listAll(t, tc.name, 3, func(p store.Page) ([]store.AuditEvent, string, error) {
			return s.AuditEvents(t.Context(), newest, p)
		})
		slices.Reverse(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: AuditEvents(%+v), newest first, mismatch (-want +got):\n%s", tc.name, newest, diff)
		}
	}
}

// testAuditPages pages through events at several limits, both ways.
func testAuditPages(t *testing.T, s store.Store) {
	// 300 events take several INSERT statements, the last one not full.
	_, es := mustAppendAudit(t, s, auditEvents(0, 300), baseTime())
	mustAppendAudit(t, s, auditEvents(300, 1), baseTime())
	all := allAuditEvents(t, s)
	if diff := cmp.Diff(normalizeAudit(es), all[:300]); diff != "" || len(all) != 301 {
		t.Fatalf("AuditEvents() = %d events; mismatch (-want +got):\n%s", len(all), diff)
	}
	for _, limit := range []int{1, 7, 100, 300, 301, 0, -1, store.MaxPageLimit + 1} {
		for _, newest := range []bool{false, true} {
			got := listAll(t, "AuditEvents", limit, func(p store.Page) ([]store.AuditEvent, string, error) {
				return s.AuditEvents(t.Context(), store.AuditFilter{Newest: newest}, p)
			})
			want := slices.Clone(all)
			if newest {
				slices.Reverse(want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("AuditEvents(newest %t), limit %d, mismatch (-want +got):\n%s", newest, limit, diff)
			}
		}
	}
	if page, next, err := s.AuditEvents(t.Context(), store.AuditFilter{}, store.Page{}); len(page) != store.DefaultPageLimit || next == "" || err != nil {
		t.Errorf("AuditEvents() first page = %d events, next %q, %v; want %d and a cursor", len(page), next, err, store.DefaultPageLimit)
	}
	for _, cursor := range []string{"!", "bm90IGEgbnVtYmVy"} { // not base64; "not a number"
		if _, _, err := s.AuditEvents(t.Context(), store.AuditFilter{}, store.Page{After: cursor}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AuditEvents(after %q) = %v, want ErrInvalid", cursor, err)
		}
	}
}

// testAuditPrune prunes batches by commit time: in order, never the newest,
// and what remains still links to the pruned part through Prev.
func testAuditPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	hour := func(h int) time.Time { return baseTime().Add(time.Duration(h) * time.Hour) }
	committed := []int{0, 1, 2, 1, 3} // batch 4 was committed by a writer whose clock is behind
	var batches []store.AuditBatch
	for i, h := range committed {
		b, _ := mustAppendAudit(t, s, auditEvents(i*2, 2), hour(h))
		batches = append(batches, b)
	}
	head := mustAuditHead(t, s)
	steps := []struct {
		before      time.Time
		deleted     int64
		firstBatch  int64
		firstEvents int64
	}{
		{hour(0), 0, 1, 1},
		{hour(1), 2, 2, 3},                           // batch 1
		{hour(2), 2, 3, 5},                           // batch 2; batch 3 stops the prune, batch 4 stays with it
		{hour(3), 4, 5, 9},                           // batches 3 and 4
		{hour(9), 0, 5, 9},                           // the newest batch stays
		{hour(9).Add(-time.Microsecond), 0, 5, 9},    // nothing left to prune
		{time.Time{}.Add(time.Microsecond), 0, 5, 9}, // a time before everything
	}
	for _, st := range steps {
		n, err := s.PruneAudit(ctx, st.before)
		if n != st.deleted || err != nil {
			t.Errorf("PruneAudit(%v) = %d, %v; want %d", st.before, n, err, st.deleted)
		}
		bs := allAuditBatches(t, s)
		es := allAuditEvents(t, s)
		if len(bs) == 0 || bs[0].Batch != st.firstBatch || len(es) == 0 || es[0].Seq != st.firstEvents {
			t.Fatalf("after PruneAudit(%v): batches %v, events from %v; want from batch %d and seq %d",
				st.before, bs, es, st.firstBatch, st.firstEvents)
		}
		if !slices.Equal(bs[0].Prev, batches[bs[0].Batch-1].Prev) {
			t.Errorf("after PruneAudit(%v): batch %d lost its Prev", st.before, bs[0].Batch)
		}
		if h := mustAuditHead(t, s); !cmp.Equal(h, head) {
			t.Errorf("AuditHead() after PruneAudit(%v) = %+v, want %+v", st.before, h, head)
		}
	}
	b, _ := mustAppendAudit(t, s, auditEvents(10, 1), hour(4))
	if b.Batch != 6 || b.FirstSeq != 11 {
		t.Errorf("append after pruning made batch %d from seq %d, want batch 6 from seq 11", b.Batch, b.FirstSeq)
	}
}

// testAuditConcurrent appends from several writers at once, half through
// each store, each retrying on conflict as the audit package does: the chain
// must come out whole, without a fork or a gap.
func testAuditConcurrent(t *testing.T, first, second store.Store) {
	const writers, batches, size = 4, 15, 3
	var wg sync.WaitGroup
	for w := range writers {
		s := first
		if w%2 == 1 {
			s = second
		}
		wg.Go(func() {
			for i := range batches {
				events := auditEvents((w*batches+i)*size, size)
				for attempt := 0; ; attempt++ {
					head, err := s.AuditHead(t.Context())
					if err != nil {
						t.Errorf("writer %d: AuditHead() = %v", w, err)
						return
					}
					b, linked := auditLink(head, events, baseTime())
					err = s.AppendAuditBatch(t.Context(), b, linked)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) || attempt > 1000 {
						t.Errorf("writer %d: AppendAuditBatch(batch %d), attempt %d = %v", w, b.Batch, attempt, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, s := range []store.Store{first, second} {
		checkAuditChain(t, s, writers*batches, writers*batches*size)
	}
}

// checkAuditChain checks that s holds one unbroken chain of batches and
// events, as auditLink makes them.
func checkAuditChain(t *testing.T, s store.Store, wantBatches, wantEvents int) {
	t.Helper()
	bs := allAuditBatches(t, s)
	es := allAuditEvents(t, s)
	if len(bs) != wantBatches || len(es) != wantEvents {
		t.Fatalf("%d batches and %d events stored, want %d and %d", len(bs), len(es), wantBatches, wantEvents)
	}
	var head store.AuditHead
	seen := make(map[string]bool)
	for _, b := range bs {
		events := es[b.FirstSeq-1 : b.LastSeq]
		relinked, linked := auditLink(head, events, b.Committed)
		if diff := cmp.Diff(relinked, b); diff != "" {
			t.Fatalf("batch %d does not extend batch %d (-want +got):\n%s", b.Batch, head.Batch, diff)
		}
		if diff := cmp.Diff(linked, events); diff != "" {
			t.Fatalf("events of batch %d are not linked (-want +got):\n%s", b.Batch, diff)
		}
		for _, e := range events {
			if seen[e.CorrelationID] {
				t.Errorf("event %s stored twice", e.CorrelationID)
			}
			seen[e.CorrelationID] = true
		}
		head = store.AuditHead{Batch: b.Batch, Seq: b.LastSeq, Hash: b.Hash}
	}
	if h := mustAuditHead(t, s); !cmp.Equal(h, head) {
		t.Errorf("AuditHead() = %+v, want the last batch's %+v", h, head)
	}
}

// testSharedAudit appends through two stores on one database at once, as
// two replicas do: the chain must not fork.
func testSharedAudit(t *testing.T, first, second store.Store) {
	testAuditConcurrent(t, first, second)
}
