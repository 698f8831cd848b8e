package auditsink_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/auditsink"
)

// entry returns a test event with its Seq at scope.
func entry(seq int64, scope string) audit.Entry {
	return audit.Entry{Seq: seq, Event: audit.Event{
		Time:          time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Millisecond),
		CorrelationID: fmt.Sprintf("req-%06d", seq),
		PrincipalID:   "3f1c1a52-8f7e-4c55-9b11-3f8a2c1d0e01",
		PrincipalType: "ServicePrincipal",
		PrincipalName: "build-agent",
		AuthMethod:    "client_secret",
		ClientIP:      netip.MustParseAddr("192.0.2.44"),
		Operation:     "Latchkey.KeyVault/vaults/secrets/getSecret/action",
		Scope:         scope,
		Result:        audit.Allowed,
		Status:        200,
	}}
}

// entries returns the test events from..to (inclusive) at scope.
func entries(from, to int64, scope string) []audit.Entry {
	var es []audit.Entry
	for seq := from; seq <= to; seq++ {
		es = append(es, entry(seq, scope))
	}
	return es
}

// waitFor polls cond until it holds, failing the test after 10 s. It waits
// for a state the test cannot be told of otherwise, never for a fixed time.
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

// lockedBuffer is a bytes.Buffer that goroutines share: a stream sink's output or a logger's.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the logged lines that hold every one of want.
func (b *lockedBuffer) lines(want ...string) []string {
	var found []string
	for line := range strings.Lines(b.String()) {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			found = append(found, strings.TrimSpace(line))
		}
	}
	return found
}

func (b *lockedBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// run starts s and closes it when the test ends, checking that Run
// returns nil.
func run(t *testing.T, s *auditsink.Sink) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.WithoutCancel(t.Context())) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx) // tests that care check Close themselves
		if err := <-errc; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// closeSink closes s, giving it at most d to deliver what is queued.
func closeSink(s *auditsink.Sink, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.Close(ctx)
}

// decodeLines decodes JSON Lines of client.AuditEvent, failing the test on
// a line that is not one.
func decodeLines(t *testing.T, b []byte) []client.AuditEvent {
	t.Helper()
	var events []client.AuditEvent
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var e client.AuditEvent
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q is not an audit event: %v", sc.Text(), err)
		}
		events = append(events, e)
	}
	return events
}

// seqs returns the events' Seqs.
func seqs(events []client.AuditEvent) []int64 {
	s := make([]int64, len(events))
	for i, e := range events {
		s[i] = e.Seq
	}
	return s
}

// span returns from..to.
func span(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// metricValue gathers reg and returns the value of the metric name with
// label sink=sink, failing the test when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name, sink string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sink {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{sink=%q}", name, sink)
	return 0
}
