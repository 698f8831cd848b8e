// Package auditsink copies the audit trail, as it is stored, to places
// outside Latchkey: a JSON Lines file with size-based rotation (file.go), a
// stream such as stdout (stream.go), and an HTTPS webhook that takes
// batches of events (webhook.go). These are Azure's diagnostic settings for
// Latchkey: each sink gets the events of one scope and below it.
//
// A Sink is an audit.Sink: the audit Writer offers it each batch once the
// batch is stored. Offer never waits: each Sink has its own bounded queue
// and one goroutine (Run) that delivers from it, in order, retrying
// failures with backoff. When the queue is full, new events are dropped,
// counted, and reported: a Warn line when an episode of drops begins and
// another with the count when it ends, and metrics (metrics.go). Every event
// is written as a client.AuditEvent (wire.go). Delivery is at least once: a
// retried batch may arrive twice, and receivers tell events apart by seq.
//
// auditsink is an adapter: it may import net/http, Prometheus, the domains
// (audit, access) and client, never a store backend.
package auditsink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/errs"
)

// The defaults of Options.
const (
	DefaultQueueSize  = 10000
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// maxRetryAfter bounds how long a receiver's Retry-After may hold delivery
// back at a time.
const maxRetryAfter = 10 * time.Minute

// Options configures what every Sink has, whatever its destination: its
// name, its scope and its queue.
type Options struct {
	// Name names the sink in logs and is the "sink" label of its metrics: 1
	// to 63 of a-z, 0-9 and '-', starting with a letter or digit. Required.
	Name string
	// Scope is the scope whose events the sink gets, with those of every
	// scope below it: "/hubs/h" gets /hubs/h and /hubs/h/vaults/v, not
	// /hubs/h2. "" or "/" is the whole tenant, and only the whole tenant
	// gets events without a scope (token requests).
	Scope string
	// QueueSize bounds the events waiting for delivery; 0 means
	// DefaultQueueSize. When it is full, new events are dropped.
	QueueSize int
	// BatchSize is the most events delivered at once; 0 means the
	// destination's default (see NewFile, NewStream, NewWebhook).
	BatchSize int
	// FlushInterval is how long a batch waits for more events once its
	// first is taken from the queue, unless it fills; 0 means the
	// destination's default.
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before a failed delivery is
	// retried: it starts at MinBackoff and doubles up to MaxBackoff, with
	// random jitter; 0 means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger // nil discards
}

// destination is where a Sink delivers: one file, stream or URL. Run's
// goroutine alone calls deliver; close is called once, after Run is done.
type destination interface {
	// deliver writes events, in order, and returns nil only once they are
	// delivered. An error wrapping a *refusedError means the batch will
	// never be taken; a *retryError may ask for a longer wait.
	deliver(ctx context.Context, events []client.AuditEvent) error
	close() error
}

// Sink delivers the audit events of one scope to one destination through a
// bounded queue. Make one with NewFile, NewStream or NewWebhook; start it
// with go s.Run(ctx), give it to audit.Options.Sinks, and Close it after
// the audit Writer, so that it delivers what the Writer's final drain
// offers. It is a prometheus.Collector. A Sink is safe for concurrent use.
type Sink struct {
	name, scope, kind      string
	dest                   destination
	log                    *slog.Logger
	batchSize              int
	flush                  time.Duration
	minBackoff, maxBackoff time.Duration
	queue                  chan audit.Entry
	stats                  counters
	descs                  descs

	// An episode of drops begins with the first event dropped while
	// alerting is false, and ends once the queue has room again. episode
	// counts its drops.
	alerting atomic.Bool
	episode  atomic.Uint64

	// mu guards closed. Offer holds it for reading while it queues events,
	// so that once Close has set closed no event enters the queue.
	mu       sync.RWMutex
	closed   bool
	stopping chan struct{} // closed by Close: Run delivers what is queued, then returns

	// lifeMu guards running, finished and cancel.
	lifeMu   sync.Mutex
	running  bool               // Run began
	finished bool               // Close ran before Run
	cancel   context.CancelFunc // ends Run at once; nil until Run begins
	done     chan struct{}      // closed when Run returns

	closeOnce sync.Once
	closeErr  error
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CheckName returns an error saying what is wrong with a sink name, or nil.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("sink name %q must be 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit, like siem or local-file", name)
	}
	return nil
}

// CheckScope returns the canonical form of a sink's scope ("/" for the
// whole tenant), or an error saying what is wrong with it.
func CheckScope(scope string) (string, error) {
	if scope == "" {
		return "/", nil
	}
	s, err := access.ParseScope(scope)
	if err != nil {
		return "", errors.New(errs.Message(err)) // it names the scope: scope "hubs/h" must start with '/', ...
	}
	return s, nil
}

// newSink checks o and makes a Sink of kind ("file", "stdout", "webhook")
// that delivers to the destination that open makes; batch and flush are the
// destination's defaults. Options are checked before open runs.
func newSink(kind string, o Options, batch int, flush time.Duration, open func() (destination, error)) (*Sink, error) {
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	scope, err := CheckScope(o.Scope)
	switch {
	case err != nil:
		return nil, fmt.Errorf("audit sink %s: %w", o.Name, err)
	case o.QueueSize < 0, o.BatchSize < 0:
		return nil, fmt.Errorf("audit sink %s: queue size %d and batch size %d must not be negative (0 for the defaults)", o.Name, o.QueueSize, o.BatchSize)
	case o.FlushInterval < 0, o.MinBackoff < 0, o.MaxBackoff < 0:
		return nil, fmt.Errorf("audit sink %s: flush interval and backoffs must not be negative (0 for the defaults)", o.Name)
	}
	d, err := open()
	if err != nil {
		return nil, fmt.Errorf("audit sink %s: %w", o.Name, err)
	}
	s := &Sink{
		name: o.Name, scope: scope, kind: kind, dest: d, log: o.Logger,
		batchSize:  cmp.Or(o.BatchSize, batch),
		flush:      cmp.Or(o.FlushInterval, flush),
		minBackoff: cmp.Or(o.MinBackoff, DefaultMinBackoff),
		maxBackoff: cmp.Or(o.MaxBackoff, DefaultMaxBackoff),
		queue:      make(chan audit.Entry, cmp.Or(o.QueueSize, DefaultQueueSize)),
		stopping:   make(chan struct{}),
		done:       make(chan struct{}),
		descs:      newDescs(o.Name),
	}
	s.maxBackoff = max(s.maxBackoff, s.minBackoff)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("sink", s.name)
	return s, nil
}

// Name returns the sink's name.
func (s *Sink) Name() string { return s.name }

// Scope returns the canonical scope whose events the sink gets.
func (s *Sink) Scope() string { return s.scope }

// Offer queues the events of batch that lie in the sink's scope, and
// returns at once: it never waits for delivery nor for room. Events that do
// not fit in the queue, or come after Close, are dropped and counted; the
// first drop of an episode is logged at Warn level.
func (s *Sink) Offer(batch []audit.Entry) {
	var queued, dropped uint64
	s.mu.RLock()
	closed := s.closed
	for i := range batch {
		if !within(batch[i].Scope, s.scope) {
			continue
		}
		if closed {
			dropped++
			continue
		}
		select {
		case s.queue <- batch[i]:
			queued++
		default:
			dropped++
		}
	}
	s.mu.RUnlock()
	s.stats.queued.Add(queued)
	switch {
	case dropped > 0 && closed: // counted, not alerted: Close reports how shutdown went
		s.stats.dropped.Add(dropped)
	case dropped > 0:
		s.drop(dropped)
	}
}

// within reports whether scope is ancestor or lies below it, ignoring ASCII
// case (scope names are case-insensitive); ancestor is canonical. Every
// scope, and the empty scope of a token request, lies within "/".
func within(scope, ancestor string) bool {
	if ancestor == "/" {
		return true
	}
	n := len(ancestor)
	return len(scope) >= n && asciiEqualFold(scope[:n], ancestor) && (len(scope) == n || scope[n] == '/')
}

func asciiEqualFold(a, b string) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// drop counts n dropped events. The first drop of an episode is logged; the
// episode ends, with another line, once delivery has drained the queue to
// half its size (endEpisode).
func (s *Sink) drop(n uint64) {
	s.stats.dropped.Add(n)
	s.episode.Add(n)
	if s.alerting.CompareAndSwap(false, true) {
		s.log.Warn("audit sink queue full: dropping new events until delivery catches up",
			"dropped", n, "queue_size", cap(s.queue))
	}
}

// endEpisode ends an episode of drops once the queue has room again, and
// logs how many events it dropped.
func (s *Sink) endEpisode() {
	if s.alerting.Load() && len(s.queue) <= cap(s.queue)/2 && s.alerting.CompareAndSwap(true, false) {
		s.log.Warn("audit sink delivering again after dropping events: they are in the audit trail, not in this sink",
			"dropped", s.episode.Swap(0), "dropped_total", s.stats.dropped.Load())
	}
}

// Run delivers queued events until Close has had them all delivered, or ctx
// ends, and returns nil; it returns an error only when called twice. Run
// owns the Sink's one goroutine: call it once, as go s.Run(ctx), and Close
// to stop it. After Close it returns at once.
func (s *Sink) Run(ctx context.Context) error {
	s.lifeMu.Lock()
	switch {
	case s.running:
		s.lifeMu.Unlock()
		return errors.New("auditsink: Sink.Run called twice")
	case s.finished:
		s.lifeMu.Unlock()
		return nil
	}
	s.running = true
	ctx, s.cancel = context.WithCancel(ctx)
	cancel := s.cancel
	s.lifeMu.Unlock()
	defer close(s.done)
	defer cancel()
	s.pump(ctx)
	return nil
}

// pump delivers batches from the queue until collect finds none (ctx ended,
// or Close began and the queue is empty), or ctx ends during a delivery.
func (s *Sink) pump(ctx context.Context) {
	for {
		batch := s.collect(ctx)
		if len(batch) == 0 {
			return
		}
		if err := s.deliver(ctx, batch); err != nil {
			s.stats.lost.Add(uint64(len(batch)))
			return
		}
	}
}

// Close stops the Sink: it takes no more events, lets Run deliver those
// queued until ctx ends (or delivers them itself when Run never began),
// then stops Run and closes the destination. Events
// still undelivered then are lost: they are counted (Stats().Lost), logged
// at Error level, and Close returns an error. Close may be called more than
// once; later calls return what the first returned.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown(ctx) })
	return s.closeErr
}

func (s *Sink) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stopping)
	s.lifeMu.Lock()
	running, cancel := s.running, s.cancel
	s.finished = !running
	s.lifeMu.Unlock()
	if running {
		select {
		case <-s.done:
		case <-ctx.Done():
			cancel()
			<-s.done
		}
	} else {
		s.pump(ctx) // Run never began: deliver what is queued here
	}
	for len(s.queue) > 0 {
		<-s.queue
		s.stats.lost.Add(1)
	}
	err := s.dest.close()
	if err != nil {
		err = fmt.Errorf("audit sink %s: %w", s.name, err)
	}
	if lost := s.stats.lost.Load(); lost > 0 {
		s.log.Error("audit sink closed before it delivered every event: they are in the audit trail, not in this sink", "lost", lost)
		err = errors.Join(fmt.Errorf("audit sink %s: %d events not delivered before shutdown", s.name, lost), err)
	}
	return err
}

// collect waits for an event, then gathers more until the batch holds
// BatchSize or FlushInterval has passed since the first was taken. Once
// Close began it takes only what is queued, without waiting. It returns nil
// when ctx ends, or Close began and the queue is empty.
func (s *Sink) collect(ctx context.Context) []audit.Entry {
	var first audit.Entry
	select {
	case first = <-s.queue:
	case <-ctx.Done():
		return nil
	case <-s.stopping:
		select {
		case first = <-s.queue:
		default:
			return nil
		}
	}
	batch := append(make([]audit.Entry, 0, s.batchSize), first)
	for len(batch) < s.batchSize { // what is already waiting joins at once
		select {
		case e := <-s.queue:
			batch = append(batch, e)
			continue
		default:
		}
		break
	}
	if len(batch) == s.batchSize || s.flush == 0 {
		return batch
	}
	timer := time.NewTimer(s.flush)
	defer timer.Stop()
	for len(batch) < s.batchSize {
		select {
		case e := <-s.queue:
			batch = append(batch, e)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		case <-s.stopping:
			return batch // the next collect takes the rest without waiting
		}
	}
	return batch
}

// deliver delivers batch, retrying failures with exponential backoff and
// jitter (or the receiver's Retry-After) until it is delivered or refused.
// It returns an error only when ctx ends first.
func (s *Sink) deliver(ctx context.Context, batch []audit.Entry) error {
	events := make([]client.AuditEvent, len(batch))
	for i := range batch {
		events[i] = WireEvent(batch[i])
	}
	n := uint64(len(events))
	wait := s.minBackoff
	for attempt := 1; ; attempt++ {
		err := s.dest.deliver(ctx, events)
		if err == nil {
			s.stats.delivered.Add(n)
			if attempt > 1 {
				s.log.Info("audit sink delivering again", "failed_attempts", attempt-1)
			}
			s.endEpisode()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if refused := (*refusedError)(nil); errors.As(err, &refused) {
			s.stats.rejected.Add(n)
			s.log.Error("audit sink's receiver refused a batch: its events are dropped from this sink, not retried",
				"events", n, "first_seq", events[0].Seq, "last_seq", events[n-1].Seq, "err", err)
			return nil
		}
		s.stats.failures.Add(1)
		d := wait/2 + rand.N(wait/2+1)
		if retry := (*retryError)(nil); errors.As(err, &retry) && retry.after > d {
			d = min(retry.after, maxRetryAfter)
		}
		s.log.Warn("audit sink delivery failed; retrying", "events", n, "attempt", attempt, "retry_in", d, "err", err)
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, s.maxBackoff)
	}
}

// refusedError is a delivery the destination will never take (a webhook's
// 4xx): retrying it would hold up every event behind it.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// retryError is a delivery that failed for now; after, when positive, is
// how long the receiver asked to be left alone (Retry-After).
type retryError struct {
	msg   string
	after time.Duration
}

func (e *retryError) Error() string { return e.msg }
