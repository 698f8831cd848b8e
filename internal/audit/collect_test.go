package audit

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// TestCollect checks when the writer closes a batch, on a fake clock: after
// MaxDelay from the first event's arrival, at once when MaxBatch events are
// there at the start or the first has waited long enough, and when ctx ends. collect
// does not touch the store.
func TestCollect(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const delay = 2 * time.Millisecond
	cases := []struct {
		name      string
		before    int           // events queued before collect
		aged      time.Duration // how long ago they were queued
		later     []time.Duration
		wantSize  int
		wantAfter time.Duration
	}{
		{"one event waits MaxDelay", 1, 0, nil, 1, delay},
		{"an older event waits the rest", 1, 1500 * time.Microsecond, nil, 1, 500 * time.Microsecond},
		{"a stale event waits no more", 1, 5 * time.Millisecond, nil, 1, 0},
		{"a full batch goes at once", 6, 0, nil, 4, 0},
		{"later events join", 1, 0, []time.Duration{time.Millisecond, 1500 * time.Microsecond}, 3, delay},
		// The writer sleeps out the delay instead of waking for each event, so
		// a batch that fills meanwhile still goes at the delay; what did not
		// fit waits in the queue for the next one.
		{"later events fill the batch", 2, 0, []time.Duration{500 * time.Microsecond, time.Millisecond, 1900 * time.Microsecond}, 4, delay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w, err := NewWriter(Options{Store: st, MaxBatch: 4, MaxDelay: delay})
				if err != nil {
					t.Fatal(err)
				}
				for range tc.before {
					w.Enqueue(Event{Operation: "op", Result: Allowed})
				}
				time.Sleep(tc.aged)
				sent := make(chan struct{})
				go func() {
					defer close(sent)
					var waited time.Duration
					for _, at := range tc.later {
						time.Sleep(at - waited)
						waited = at
						w.Enqueue(Event{Operation: "op", Result: Allowed})
					}
				}()
				began := time.Now()
				batch := w.collect(t.Context())
				if len(batch) != tc.wantSize || time.Since(began) != tc.wantAfter {
					t.Errorf("collect gave %d events after %s, want %d after %s", len(batch), time.Since(began), tc.wantSize, tc.wantAfter)
				}
				<-sent
			})
		})
	}
	t.Run("ctx ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w, err := NewWriter(Options{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			if batch := w.collect(ctx); batch != nil {
				t.Errorf("collect with no events until ctx ended = %v, want nil", batch)
			}
		})
	})
}
