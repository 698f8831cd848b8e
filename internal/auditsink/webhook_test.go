package auditsink_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/auditsink"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// receiver is a webhook receiver on a local TLS server, standing in for a
// SIEM. answer decides each request's fate by its number (1, 2, ...): a
// status to answer with, or 0 to hang up without an answer.
type receiver struct {
	srv      *httptest.Server
	answer   func(n int64, w http.ResponseWriter) int
	attempts atomic.Int64

	mu       sync.Mutex // guards accepted and headers
	accepted []client.AuditEvent
	headers  []http.Header
}

func newReceiver(t *testing.T, answer func(n int64, w http.ResponseWriter) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes refused on purpose
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	n := rc.attempts.Add(1)
	var batch []client.AuditEvent
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || dec.Decode(&batch) != nil || len(batch) == 0 {
		http.Error(w, "want a POST of a JSON array of audit events", http.StatusUnsupportedMediaType)
		return
	}
	status := http.StatusOK
	if rc.answer != nil {
		status = rc.answer(n, w)
	}
	if status == 0 { // hang up: the sender sees a network error
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if status < 300 {
		rc.mu.Lock()
		rc.accepted = append(rc.accepted, batch...)
		rc.headers = append(rc.headers, r.Header.Clone())
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

// got returns the events the receiver accepted, in order of arrival.
func (rc *receiver) got() []client.AuditEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.accepted)
}

// dedupe keeps the first arrival of each seq, as a receiver of an
// at-least-once stream does, and fails the test if an event arrives after
// a later one: delivery is in order.
func dedupe(t *testing.T, events []client.AuditEvent) []client.AuditEvent {
	t.Helper()
	var out []client.AuditEvent
	var last int64
	for _, e := range events {
		switch {
		case e.Seq > last:
			out = append(out, e)
			last = e.Seq
		case !slices.ContainsFunc(out, func(o client.AuditEvent) bool { return o.Seq == e.Seq }):
			t.Errorf("event %d arrived after event %d, and not as a repeat: delivery is out of order", e.Seq, last)
		}
	}
	return out
}

// fastRetries are backoffs short enough for tests.
func fastRetries(o auditsink.Options) auditsink.Options {
	o.MinBackoff, o.MaxBackoff = 2*time.Millisecond, 20*time.Millisecond
	return o
}

// TestWebhookOutage is the outage the sink exists for. A real audit Writer
// on SQLite stores 600 events and offers them to a webhook sink whose
// receiver first hangs up, then answers 503, for a while. Once it answers
// 200, every event arrives, in order, with no gap, exactly as stored: the
// queue (1,000) held them all. Failures are logged and retried; the
// credential in the header and the token in the URL's query never reach a
// log.
func TestWebhookOutage(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	// failed counts the attempts answered as failures: an attempt counted
	// by the receiver may still see the receiver back up.
	var failed atomic.Int64
	rc := newReceiver(t, func(n int64, _ http.ResponseWriter) int {
		if !down.Load() {
			return http.StatusOK
		}
		failed.Add(1)
		if n <= 3 {
			return 0
		}
		return http.StatusServiceUnavailable
	})
	var logs lockedBuffer
	sink, err := auditsink.NewWebhook(
		fastRetries(auditsink.Options{Name: "siem", QueueSize: 1000, BatchSize: 50, FlushInterval: 5 * time.Millisecond, Logger: logs.logger()}),
		auditsink.WebhookOptions{
			URL:    rc.srv.URL + "/ingest?code=planted-query-secret",
			Header: http.Header{"Authorization": {"Bearer planted-header-secret"}},
			Client: rc.srv.Client(),
		})
	if err != nil {
		t.Fatal(err)
	}
	run(t, sink)

	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	w, err := audit.NewWriter(audit.Options{Store: st, Sinks: []audit.Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(t.Context())
	const n = 600
	for i := range n {
		e := entry(int64(i+1), "/hubs/h").Event
		if i%100 == 0 {
			if err := w.Record(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		} else if !w.Enqueue(e) {
			t.Fatalf("Enqueue(%d) dropped", i)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ten failed attempts", func() bool { return failed.Load() >= 10 })
	if got := len(rc.got()); got != 0 {
		t.Fatalf("the receiver accepted %d events while down", got)
	}
	down.Store(false)
	waitFor(t, "every event delivered", func() bool { return sink.Stats().Delivered == n })
	if err := closeSink(sink, 5*time.Second); err != nil {
		t.Errorf("Close = %v", err)
	}

	got := dedupe(t, rc.got())
	stored := storedEvents(t, st)
	if len(stored) != n {
		t.Fatalf("stored %d events, want %d", len(stored), n)
	}
	if !slices.Equal(seqs(got), span(1, n)) {
		t.Errorf("the receiver got Seqs %v, want 1..%d in order without a gap", seqs(got), n)
	}
	if diff := cmp.Diff(stored, got); diff != "" {
		t.Errorf("the receiver got other events than those stored (-stored +received):\n%s", diff)
	}
	rc.mu.Lock()
	for _, h := range rc.headers {
		if h.Get("Authorization") != "Bearer planted-header-secret" || h.Get("User-Agent") != "latchkey-audit-sink" {
			t.Errorf("a delivery came without the configured header or the sink's User-Agent: %v", h)
		}
	}
	rc.mu.Unlock()
	s := sink.Stats()
	if s.Dropped != 0 || s.Lost != 0 || s.Rejected != 0 || s.Failures < 10 || s.Queued != n {
		t.Errorf("Stats() = %+v, want %d queued, none dropped, lost or rejected, at least 10 failures", s, n)
	}
	if len(logs.lines("level=WARN", "retrying", "503 Service Unavailable")) == 0 || len(logs.lines("level=WARN", "retrying", "EOF")) == 0 {
		t.Errorf("the 503s and hang-ups were not logged as retried:\n%s", logs.String())
	}
	if out := logs.String(); strings.Contains(out, "planted") || !strings.Contains(out, "/ingest?…") {
		t.Errorf("the logs quote a credential, or do not show the URL without its query:\n%s", out)
	}
}

// storedEvents returns every stored event as a sink writes it.
func storedEvents(t *testing.T, st store.Audit) []client.AuditEvent {
	t.Helper()
	var all []client.AuditEvent
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		es, next, err := audit.Query(t.Context(), st, audit.Filter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			all = append(all, auditsink.WireEvent(e))
		}
		if next == "" {
			return all
		}
		p.After = next
	}
}

// TestWebhookDropsBeyondQueue overfills the queue while the receiver is
// down. One event is being retried; of the next 50, the queue (20) keeps
// 20 and the rest are dropped: counted in Stats and in the metric, and
// reported by one Warn line for the episode. Once the receiver is back,
// the 21 events kept arrive in order, and a second Warn line gives the
// episode's count.
func TestWebhookDropsBeyondQueue(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(int64, http.ResponseWriter) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	var logs lockedBuffer
	reg := prometheus.NewRegistry()
	sink, err := auditsink.NewWebhook(
		fastRetries(auditsink.Options{Name: "siem", QueueSize: 20, BatchSize: 5, FlushInterval: time.Millisecond, Logger: logs.logger()}),
		auditsink.WebhookOptions{URL: rc.srv.URL, Client: rc.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(sink)
	run(t, sink)
	sink.Offer(entries(1, 1, "/"))
	waitFor(t, "event 1 in delivery", func() bool { return rc.attempts.Load() >= 1 })
	for from := int64(2); from <= 51; from += 10 {
		sink.Offer(entries(from, from+9, "/"))
	}
	s := sink.Stats()
	if s.Dropped != 30 || s.Queued != 21 || s.QueueDepth != 20 {
		t.Errorf("Stats() = %+v, want 21 queued, 20 waiting, 30 dropped", s)
	}
	if v := metricValue(t, reg, "latchkey_audit_sink_dropped_events_total", "siem"); v != 30 {
		t.Errorf("dropped metric = %v, want 30", v)
	}
	if v := metricValue(t, reg, "latchkey_audit_sink_queue_depth", "siem"); v != 20 {
		t.Errorf("queue depth metric = %v, want 20", v)
	}
	if got := logs.lines("level=WARN", "queue full", "sink=siem"); len(got) != 1 || !strings.Contains(got[0], "dropped=10 queue_size=20") {
		t.Errorf("want one Warn line for the episode, with the first drops and the queue size; got %q", got)
	}

	down.Store(false)
	waitFor(t, "the 21 kept events delivered", func() bool { return sink.Stats().Delivered == 21 })
	if got := seqs(dedupe(t, rc.got())); !slices.Equal(got, span(1, 21)) {
		t.Errorf("the receiver got %v, want 1..21 in order", got)
	}
	if got := logs.lines("level=WARN", "delivering again after dropping events", "dropped=30 dropped_total=30"); len(got) != 1 {
		t.Errorf("the end of the episode was not logged once with its count:\n%s", logs.String())
	}
	sink.Offer(entries(52, 53, "/"))
	waitFor(t, "two more delivered", func() bool { return sink.Stats().Delivered == 23 })
	if n := len(logs.lines("queue full")); n != 1 {
		t.Errorf("%d episode lines after recovery, want still 1", n)
	}
	if v := metricValue(t, reg, "latchkey_audit_sink_delivered_events_total", "siem"); v != 23 {
		t.Errorf("delivered metric = %v, want 23", v)
	}
}

// TestWebhookAnswers: how the sink takes each kind of answer to its first
// request (the second gets 200). Retried answers deliver the batch after a
// wait, no sooner than Retry-After; refused ones (4xx, redirects) drop it,
// counted and logged at Error level, and delivery goes on.
func TestWebhookAnswers(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		refused    bool
		log        string
	}{
		{http.StatusBadRequest, "", true, "400 Bad Request: the receiver refuses the batch"},
		{http.StatusUnauthorized, "", true, "401 Unauthorized"},
		{http.StatusFound, "", true, "redirects are not followed"},
		{http.StatusRequestTimeout, "", false, "408 Request Timeout"},
		{http.StatusTooManyRequests, "1", false, "retry_in=1s"},
		{http.StatusBadGateway, "", false, "502 Bad Gateway"},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			rc := newReceiver(t, func(n int64, w http.ResponseWriter) int {
				if n > 1 {
					return http.StatusOK
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				return tc.status
			})
			var logs lockedBuffer
			sink, err := auditsink.NewWebhook(fastRetries(auditsink.Options{Name: "siem", BatchSize: 5, FlushInterval: time.Millisecond, Logger: logs.logger()}),
				auditsink.WebhookOptions{URL: rc.srv.URL, Client: rc.srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			run(t, sink)
			sink.Offer(entries(1, 5, "/"))
			waitFor(t, "the first answer taken", func() bool { s := sink.Stats(); return s.Delivered+s.Rejected == 5 })
			sink.Offer(entries(6, 7, "/"))
			waitFor(t, "the next batch", func() bool { s := sink.Stats(); return s.Delivered+s.Rejected == 7 })
			s := sink.Stats()
			want := span(1, 7)
			if tc.refused {
				want = span(6, 7)
				if s.Rejected != 5 || s.Failures != 0 || len(logs.lines("level=ERROR", "refused a batch", "first_seq=1 last_seq=5", tc.log)) != 1 {
					t.Errorf("Stats() = %+v; want 5 rejected, no retry, and an Error line with %q:\n%s", s, tc.log, logs.String())
				}
			} else if s.Failures != 1 || s.Rejected != 0 || len(logs.lines("level=WARN", "retrying", tc.log)) != 1 {
				t.Errorf("Stats() = %+v; want one failure, retried, and a Warn line with %q:\n%s", s, tc.log, logs.String())
			}
			if got := seqs(rc.got()); !slices.Equal(got, want) {
				t.Errorf("the receiver got %v, want %v", got, want)
			}
			wantAttempts := int64(3) // the failure, its retry, the next batch
			if tc.refused {
				wantAttempts = 2 // no retry; a redirect is not followed either
			}
			if got := rc.attempts.Load(); got != wantAttempts {
				t.Errorf("the receiver saw %d requests, want %d", got, wantAttempts)
			}
		})
	}
}

// TestWebhookCAFile: with no client given, the sink trusts the CA in
// CAFile, and no other.
func TestWebhookCAFile(t *testing.T) {
	rc := newReceiver(t, nil)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	sink, err := auditsink.NewWebhook(auditsink.Options{Name: "siem", FlushInterval: time.Millisecond},
		auditsink.WebhookOptions{URL: rc.srv.URL, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	run(t, sink)
	sink.Offer(entries(1, 3, "/"))
	waitFor(t, "delivery over TLS to the CA's server", func() bool { return sink.Stats().Delivered == 3 })

	var logs lockedBuffer
	untrusting, err := auditsink.NewWebhook(fastRetries(auditsink.Options{Name: "other", FlushInterval: time.Millisecond, Logger: logs.logger()}),
		auditsink.WebhookOptions{URL: rc.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	run(t, untrusting)
	untrusting.Offer(entries(1, 1, "/"))
	waitFor(t, "a failed attempt", func() bool { return untrusting.Stats().Failures > 0 })
	if untrusting.Stats().Delivered != 0 || len(logs.lines("certificate")) == 0 {
		t.Errorf("a sink without the CA delivered, or did not log the certificate error:\n%s", logs.String())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := untrusting.Close(ctx); err == nil {
		t.Error("Close of a sink that could not deliver = nil, want the lost event reported")
	}
}

// TestWebhookOptions: bad URLs, headers and CA files are refused at once,
// without quoting a header's value.
func TestWebhookOptions(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(caFile, []byte("no certificate here"), 0o600)
	cases := []struct {
		name string
		w    auditsink.WebhookOptions
		want string
	}{
		{"no url", auditsink.WebhookOptions{}, "needs a url"},
		{"http", auditsink.WebhookOptions{URL: "http://siem.example/ingest"}, "is not https"},
		{"password in url", auditsink.WebhookOptions{URL: "https://u:planted@siem.example/"}, "put credentials in a header"},
		{"no host", auditsink.WebhookOptions{URL: "https:///ingest"}, "has no host"},
		{"not a url", auditsink.WebhookOptions{URL: "https://siem example/%zz"}, "is not a URL"},
		{"host header", auditsink.WebhookOptions{URL: "https://siem.example/", Header: http.Header{"Host": {"planted"}}}, "set by Latchkey"},
		{"newline in value", auditsink.WebhookOptions{URL: "https://siem.example/", Header: http.Header{"X-Key": {"plan\nted"}}}, "control character"},
		{"empty CA file", auditsink.WebhookOptions{URL: "https://siem.example/", CAFile: caFile}, "holds no PEM certificate"},
		{"missing CA file", auditsink.WebhookOptions{URL: "https://siem.example/", CAFile: caFile + ".none"}, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditsink.NewWebhook(auditsink.Options{Name: "siem"}, tc.w)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "planted") {
				t.Errorf("NewWebhook = %v, want an error saying %q that quotes no credential", err, tc.want)
			}
		})
	}
}
