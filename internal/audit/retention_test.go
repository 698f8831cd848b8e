package audit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
)

// syncBuffer is a bytes.Buffer for a logger that goroutines share.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const day = 24 * time.Hour

// TestRetention stores four batches committed on days 0, 100, 400 and 500
// on SQLite, then runs the retention loop (keep 365 days, hourly) on a fake
// clock: on day 466 its first prune, at start, deletes the batches of days 0
// and 100; an hour later, with the clock on day 866, it deletes day 400's
// and keeps day 500's, the newest, which anchors the chain. Each prune is
// logged with its count, and what remains verifies.
func TestRetention(t *testing.T) {
	st, _ := newStore(t)
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64 // days since epoch
	now := func() time.Time { return epoch.Add(time.Duration(clock.Load()) * day) }
	w := newWriter(t, st, audit.Options{Now: now})
	start(t, w)
	for i, d := range []int64{0, 100, 400, 500} {
		clock.Store(d)
		e := event(i)
		e.Time = time.Time{} // stamped by the writer's clock, on day d
		if err := w.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func() []int64 {
		var s []int64
		for _, e := range storedEntries(t, st) {
			s = append(s, e.Seq)
		}
		return s
	}
	if got := seqs(); len(got) != 4 {
		t.Fatalf("stored %v, want 4 events", got)
	}

	var logs syncBuffer
	synctest.Test(t, func(t *testing.T) {
		clock.Store(466)
		r := audit.Retention{Store: st, Keep: 365 * day, Every: time.Hour, Now: now,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()
		if got := seqs(); !equal(got, []int64{3, 4}) {
			t.Errorf("after the prune at start on day 466, events %v remain, want [3 4]", got)
		}
		if !strings.Contains(logs.String(), `msg="audit events pruned" events=2 before=2026-04-12T00:00:00Z`) {
			t.Errorf("the first prune was not logged with its count and cutoff:\n%s", logs.String())
		}
		clock.Store(866)
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		if got := seqs(); !equal(got, []int64{3, 4}) {
			t.Errorf("before the hour is up, events %v remain, want [3 4]", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := seqs(); !equal(got, []int64{4}) {
			t.Errorf("an hour later, on day 866, events %v remain, want [4]: the newest batch is kept", got)
		}
		if !strings.Contains(logs.String(), `msg="audit events pruned" events=1 before=2027-05-17T00:00:00Z`) {
			t.Errorf("the second prune was not logged:\n%s", logs.String())
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if !strings.Contains(logs.String(), "nothing to prune") {
			t.Errorf("the third prune, with nothing left to delete, was not logged:\n%s", logs.String())
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	if v := mustVerify(t, st); v.FirstSeq != 4 || v.Head.Seq != 4 {
		t.Errorf("Verify after pruning = first %d, head %d; want 4 and 4", v.FirstSeq, v.Head.Seq)
	}
	if err := w.Record(t.Context(), event(9)); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, st)
}

// TestRetentionForever: a Keep of 0 prunes nothing, ever, and Run returns
// at once saying so.
func TestRetentionForever(t *testing.T) {
	st, _ := newStore(t)
	w := newWriter(t, st, audit.Options{Now: func() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }})
	start(t, w)
	if err := w.Record(t.Context(), event(0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(t.Context(), event(1)); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	r := audit.Retention{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := r.Run(t.Context()); err != nil {
		t.Errorf("Run = %v", err)
	}
	if n, err := r.Prune(t.Context()); n != 0 || err != nil {
		t.Errorf("Prune = %d, %v; want 0, nil", n, err)
	}
	if got := len(storedEntries(t, st)); got != 2 {
		t.Errorf("%d events remain, want both", got)
	}
	if !strings.Contains(logs.String(), "every event is kept") {
		t.Errorf("Run did not say that it keeps every event:\n%s", logs.String())
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
