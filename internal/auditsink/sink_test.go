package auditsink_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/auditsink"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestStreamLines: a stream sink writes each event as one line of JSON,
// the client.AuditEvent wire type, with the fields and names pinned by a
// golden file; and writes every event offered, in order.
func TestStreamLines(t *testing.T) {
	var out lockedBuffer
	s, err := auditsink.NewStream(auditsink.Options{Name: "console"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	first := entry(1, "/hubs/h/vaults/v")
	first.Reason = `denied: <no role> & "quotes"`
	first.Result = audit.Denied
	first.Status = 403
	first.Hash = bytes.Repeat([]byte{0xab}, 32) // the chain head after the event
	anonymous := audit.Entry{Seq: 2, Event: audit.Event{Time: first.Time, Operation: "Latchkey.Identity/token/action", Result: audit.Failed, Status: 400}}
	s.Offer([]audit.Entry{first, anonymous})
	s.Offer(entries(3, 500, "/"))
	if err := closeSink(s, 5*time.Second); err != nil {
		t.Fatalf("Close = %v", err)
	}
	got := out.String()
	golden := filepath.Join("testdata", "lines.golden")
	head := strings.Join(strings.SplitAfter(got, "\n")[:2], "")
	if *update {
		if err := os.WriteFile(golden, []byte(head), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if head != string(want) {
		t.Errorf("the first lines differ from %s (go test -update rewrites it):\n got: %s\nwant: %s", golden, head, want)
	}
	events := decodeLines(t, []byte(got))
	if !slices.Equal(seqs(events), span(1, 500)) {
		t.Errorf("wrote Seqs %v, want 1..500 in order", seqs(events))
	}
	if diff := cmp.Diff(auditsink.WireEvent(entry(300, "/")), events[299]); diff != "" {
		t.Errorf("event 300 as written (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Queued != 500 || st.Delivered != 500 || st.Dropped != 0 || st.QueueDepth != 0 {
		t.Errorf("Stats() = %+v, want 500 queued and delivered", st)
	}
}

// TestScope: a sink gets the events of its scope and below it; only a
// tenant-wide sink gets events without a scope (token requests). Scope
// names are compared without regard to ASCII case.
func TestScope(t *testing.T) {
	offered := []audit.Entry{
		entry(1, ""), entry(2, "/"), entry(3, "/hubs/h"), entry(4, "/hubs/h/vaults/v"),
		entry(5, "/hubs/h2"), entry(6, "/hubs/H/vaults/V/secrets/s"), entry(7, "/hubs/hx/vaults/v"),
		entry(8, "/identities/h"), entry(9, "/hubs/h/vaults/v2"),
	}
	cases := []struct {
		scope string
		want  []int64
	}{
		{"", span(1, 9)},
		{"/", span(1, 9)},
		{"/hubs/h", []int64{3, 4, 6, 9}},
		{"/HUBS/h/", []int64{3, 4, 6, 9}},
		{"/hubs/h/vaults/v", []int64{4, 6}},
		{"/hubs/h2", []int64{5}},
	}
	for _, tc := range cases {
		t.Run(tc.scope, func(t *testing.T) {
			var out lockedBuffer
			s, err := auditsink.NewStream(auditsink.Options{Name: "scoped", Scope: tc.scope}, &out)
			if err != nil {
				t.Fatal(err)
			}
			run(t, s)
			s.Offer(offered)
			if err := closeSink(s, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := seqs(decodeLines(t, []byte(out.String()))); !slices.Equal(got, tc.want) {
				t.Errorf("sink at %q got %v, want %v", tc.scope, got, tc.want)
			}
			if st := s.Stats(); st.Queued != uint64(len(tc.want)) {
				t.Errorf("Stats().Queued = %d, want %d: events outside the scope are not counted", st.Queued, len(tc.want))
			}
		})
	}
}

// TestOptionsErrors: bad names, scopes and limits are refused, saying what
// is wrong.
func TestOptionsErrors(t *testing.T) {
	cases := []struct {
		name string
		o    auditsink.Options
		want string
	}{
		{"no name", auditsink.Options{}, "sink name"},
		{"upper case", auditsink.Options{Name: "SIEM"}, "a-z, 0-9"},
		{"label injection", auditsink.Options{Name: `x",y="z`}, "sink name"},
		{"relative scope", auditsink.Options{Name: "a", Scope: "hubs/h"}, "must start with '/'"},
		{"odd scope", auditsink.Options{Name: "a", Scope: "/hubs"}, "alternate"},
		{"negative queue", auditsink.Options{Name: "a", QueueSize: -1}, "must not be negative"},
		{"negative flush", auditsink.Options{Name: "a", FlushInterval: -time.Second}, "must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditsink.NewStream(tc.o, &lockedBuffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewStream(%+v) = %v, want an error saying %q", tc.o, err, tc.want)
			}
		})
	}
}

// flakyWriter fails its first writes, then writes to out.
type flakyWriter struct {
	mu    sync.Mutex // guards fails
	fails int
	out   lockedBuffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fails > 0 {
		w.fails--
		return 0, errors.New("broken pipe")
	}
	return w.out.Write(p)
}

// TestStreamRetries: a failed write is retried with backoff, logged, and
// then counts as delivered; nothing is lost or reordered.
func TestStreamRetries(t *testing.T) {
	w := &flakyWriter{fails: 3}
	var logs lockedBuffer
	s, err := auditsink.NewStream(auditsink.Options{Name: "console", MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Logger: logs.logger()}, w)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	s.Offer(entries(1, 10, "/"))
	waitFor(t, "the 10 events written", func() bool { return s.Stats().Delivered == 10 })
	if got := seqs(decodeLines(t, []byte(w.out.String()))); !slices.Equal(got, span(1, 10)) {
		t.Errorf("wrote %v, want 1..10", got)
	}
	if st := s.Stats(); st.Failures != 3 {
		t.Errorf("Stats().Failures = %d, want 3", st.Failures)
	}
	if n := len(logs.lines("level=WARN", "retrying", "sink=console", "broken pipe")); n != 3 {
		t.Errorf("%d retry lines logged, want 3:\n%s", n, logs.String())
	}
	if n := len(logs.lines("level=INFO", "delivering again", "failed_attempts=3")); n != 1 {
		t.Errorf("the recovery was not logged once:\n%s", logs.String())
	}
}

// TestCloseDeadline: events a sink cannot deliver by Close's deadline are
// lost: counted, logged at Error level and reported by Close, which
// returns at the deadline.
func TestCloseDeadline(t *testing.T) {
	w := &flakyWriter{fails: 1 << 30}
	var logs lockedBuffer
	reg := prometheus.NewRegistry()
	s, err := auditsink.NewStream(auditsink.Options{Name: "stuck", BatchSize: 4, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Logger: logs.logger()}, w)
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(s)
	run(t, s)
	s.Offer(entries(1, 10, "/"))
	waitFor(t, "a failed write", func() bool { return s.Stats().Failures > 0 })
	err = closeSink(s, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "audit sink stuck: 10 events not delivered") {
		t.Errorf("Close = %v, want an error counting 10 events", err)
	}
	if st := s.Stats(); st.Lost != 10 || st.Delivered != 0 {
		t.Errorf("Stats() = %+v, want 10 lost", st)
	}
	if v := metricValue(t, reg, "latchkey_audit_sink_lost_events_total", "stuck"); v != 10 {
		t.Errorf("lost metric = %v, want 10", v)
	}
	if len(logs.lines("level=ERROR", "lost=10")) != 1 {
		t.Errorf("the loss was not logged at Error level:\n%s", logs.String())
	}
	s.Offer(entries(11, 12, "/"))
	if st := s.Stats(); st.Dropped != 2 {
		t.Errorf("after Close, Stats().Dropped = %d, want 2", st.Dropped)
	}
}

// TestCloseWithoutRun: Close without Run delivers what was queued itself,
// and Run afterwards returns at once.
func TestCloseWithoutRun(t *testing.T) {
	var out lockedBuffer
	s, err := auditsink.NewStream(auditsink.Options{Name: "idle"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(entries(1, 3, "/"))
	if err := closeSink(s, time.Second); err != nil {
		t.Errorf("Close = %v", err)
	}
	if got := seqs(decodeLines(t, []byte(out.String()))); !slices.Equal(got, span(1, 3)) {
		t.Errorf("Close without Run wrote %v, want 1..3", got)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Errorf("Run after Close = %v, want nil at once", err)
	}
}

// TestRunTwice: of two Run calls, one is refused at once; the other runs
// until Close.
func TestRunTwice(t *testing.T) {
	s, err := auditsink.NewStream(auditsink.Options{Name: "twice"}, &lockedBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- s.Run(context.WithoutCancel(t.Context())) }()
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "called twice") {
		t.Errorf("the first Run to return gave %v, want the refusal of a second Run", err)
	}
	if err := closeSink(s, time.Second); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("the running Run = %v, want nil after Close", err)
	}
}

// TestMetrics: each sink exports its counters labelled with its name, and
// sinks with different names share one registry.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var sinks []*auditsink.Sink
	for _, name := range []string{"one", "two"} {
		s, err := auditsink.NewStream(auditsink.Options{Name: name, Scope: map[string]string{"one": "/", "two": "/hubs/h"}[name]}, &lockedBuffer{})
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(s); err != nil {
			t.Fatalf("Register(%s): %v", name, err)
		}
		run(t, s)
		sinks = append(sinks, s)
	}
	for _, s := range sinks {
		s.Offer(append(entries(1, 5, "/"), entries(6, 7, "/hubs/h")...))
	}
	waitFor(t, "delivery", func() bool { return sinks[0].Stats().Delivered == 7 && sinks[1].Stats().Delivered == 2 })
	for _, c := range []struct {
		metric string
		sink   string
		want   float64
	}{
		{"latchkey_audit_sink_queued_events_total", "one", 7},
		{"latchkey_audit_sink_delivered_events_total", "one", 7},
		{"latchkey_audit_sink_delivered_events_total", "two", 2},
		{"latchkey_audit_sink_dropped_events_total", "two", 0},
		{"latchkey_audit_sink_queue_depth", "two", 0},
		{"latchkey_audit_sink_queue_capacity", "two", auditsink.DefaultQueueSize},
	} {
		if got := metricValue(t, reg, c.metric, c.sink); got != c.want {
			t.Errorf("%s{sink=%q} = %v, want %v", c.metric, c.sink, got, c.want)
		}
	}
	dup, err := auditsink.NewStream(auditsink.Options{Name: "one"}, &lockedBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(dup); err == nil {
		t.Error("a second sink named one was registered: names must be unique")
	}
}

// TestWireEvent: an event without a client address or time zone comes out
// with an empty address and the time in UTC.
func TestWireEvent(t *testing.T) {
	e := audit.Entry{Seq: 7, Event: audit.Event{
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 3600)),
		Operation: "op", Scope: "/", Result: audit.Allowed, Status: 204,
	}}
	want := client.AuditEvent{Seq: 7, Time: time.Date(2026, 1, 2, 2, 4, 5, 6000, time.UTC), Operation: "op", Scope: "/", Result: "allowed", Status: 204}
	got := auditsink.WireEvent(e)
	if diff := cmp.Diff(want, got); diff != "" || got.Time.Location() != time.UTC {
		t.Errorf("WireEvent (-want +got):\n%s (location %s)", diff, got.Time.Location())
	}
}
