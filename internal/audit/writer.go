package audit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// The Writer's defaults.
const (
	DefaultMaxBatch  = 256
	DefaultMaxDelay  = 10 * time.Millisecond
	DefaultQueueSize = 8192
)

// Retries of a failed append wait from firstRetry, doubling, up to
// longestRetry. At shutdown the queue gets closeTimeout to drain.
const (
	firstRetry   = 10 * time.Millisecond
	longestRetry = time.Second
	closeTimeout = 10 * time.Second
)

// Options configures a Writer.
type Options struct {
	Store  store.Audit
	Logger *slog.Logger     // nil discards
	Now    func() time.Time // stamps events without a time, and batches; nil means time.Now
	// MaxBatch is the most events one transaction appends; 0 means
	// DefaultMaxBatch.
	MaxBatch int
	// MaxDelay is how long the first event of a batch may wait for others to
	// join it before the batch is written; 0 means DefaultMaxDelay. Events
	// that queued while an earlier batch was written do not wait again, and
	// a batch with a Record's event is written at once.
	MaxDelay time.Duration
	// QueueSize bounds the events waiting to be written; 0 means
	// DefaultQueueSize. When it is full, Enqueue drops and Record waits.
	QueueSize int
	// Sinks receive the events of each batch once it is stored (sink.go).
	// Offering costs the Writer nothing when there are none.
	Sinks []Sink
}

// Writer appends events to the audit trail in group-committed batches: one
// goroutine, owned by Run, takes events from a bounded queue and appends up
// to MaxBatch of them in one transaction, linked into the hash chain. Writers
// in several processes may share one store; an append that loses the race
// for the chain's head is relinked and retried. A Writer is safe for
// concurrent use.
type Writer struct {
	st       store.Audit
	log      *slog.Logger
	now      func() time.Time
	maxBatch int
	maxDelay time.Duration
	queue    chan pending
	recorded chan struct{} // a Record's event is in the queue: write without waiting out MaxDelay
	stats    counters
	sinks    []Sink

	// mu guards closed. Senders hold it for reading while they put an event
	// in the queue, so that once shut has taken it for writing and set
	// closed, no event can enter the queue, and the drain sees them all. A
	// sender blocked on a full queue is woken by stopping, which shut closes
	// before it asks for the lock.
	mu       sync.RWMutex
	closed   bool
	stopOnce sync.Once
	stopping chan struct{}

	// lifeMu guards running, drained, cancel and runErr.
	lifeMu  sync.Mutex
	running bool               // Run began
	drained bool               // Close drained the queue without Run
	cancel  context.CancelFunc // ends Run's loop; nil until Run begins
	runErr  error              // what the final drain returned
	done    chan struct{}      // closed when the final drain is over

	// Run's goroutine alone uses these (or Close's, when Run never ran).
	head      store.AuditHead
	headKnown bool
	collected []pending          // collect's batch, reused: nothing keeps it past write
	events    []store.AuditEvent // write's events, reused: the store and the sinks keep none
}

// pending is an event waiting in the queue: the record to store, when it
// was queued, and, for Record, where to report the outcome.
type pending struct {
	event  store.AuditEvent
	queued time.Time
	done   chan error // nil for Enqueue; buffered, receives one outcome
}

// NewWriter returns a Writer; start it with Run. It returns an Invalid error
// when opts has no store or a negative limit.
func NewWriter(opts Options) (*Writer, error) {
	const op = "audit.NewWriter"
	switch {
	case opts.Store == nil:
		return nil, errs.Invalidf(op, "store", "an audit writer needs a store")
	case opts.MaxBatch < 0:
		return nil, errs.Invalidf(op, "maxBatch", "MaxBatch is %d: use a positive number, or 0 for %d", opts.MaxBatch, DefaultMaxBatch)
	case opts.MaxDelay < 0:
		return nil, errs.Invalidf(op, "maxDelay", "MaxDelay is %s: use a positive duration, or 0 for %s", opts.MaxDelay, DefaultMaxDelay)
	case opts.QueueSize < 0:
		return nil, errs.Invalidf(op, "queueSize", "QueueSize is %d: use a positive number, or 0 for %d", opts.QueueSize, DefaultQueueSize)
	case slices.Contains(opts.Sinks, nil):
		return nil, errs.Invalidf(op, "sinks", "Sinks holds a nil sink: leave it out")
	}
	w := &Writer{
		st:       opts.Store,
		log:      opts.Logger,
		now:      opts.Now,
		maxBatch: cmp.Or(opts.MaxBatch, DefaultMaxBatch),
		maxDelay: cmp.Or(opts.MaxDelay, DefaultMaxDelay),
		queue:    make(chan pending, cmp.Or(opts.QueueSize, DefaultQueueSize)),
		recorded: make(chan struct{}, 1),
		sinks:    slices.Clone(opts.Sinks),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w, nil
}

// errClosed is returned by Record once the Writer is closed.
func errClosed(op string) error {
	return errs.E(errs.Unavailable, op, "the audit trail is shutting down", nil)
}

// Enqueue queues e to be written within MaxDelay plus one commit, and
// returns at once: it never waits for the store, nor for room in the queue.
// It is for events of reads, on hot paths. It returns false when it dropped
// e, because the queue was full, the Writer closed, or e is invalid (no
// operation, an unknown result); Stats counts each.
func (w *Writer) Enqueue(e Event) bool {
	if err := e.check("audit.Enqueue"); err != nil {
		w.stats.invalid.Add(1)
		return false
	}
	now := w.now()
	p := pending{event: e.record(now), queued: now}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.stats.dropped.Add(1)
		return false
	}
	select {
	case w.queue <- p:
		w.stats.accepted.Add(1)
		return true
	default:
		w.stats.dropped.Add(1)
		return false
	}
}

// Record writes e and returns once it is durable in the store: it is for
// events of writes, which must be stored before the write's response. It
// waits for room in the queue when it is full. Errors:
//   - Invalid: e has no operation or an unknown result.
//   - Unavailable: the Writer is closed, ctx ended first, or the append
//     failed. The event may still be stored: a failed append is retried, and
//     a Writer that is closing still drains its queue.
//
// A handler whose response depends on the event should pass a context that
// its client cannot cancel (context.WithoutCancel) bounded by a timeout.
func (w *Writer) Record(ctx context.Context, e Event) error {
	const op = "audit.Record"
	if err := e.check(op); err != nil {
		return err
	}
	now := w.now()
	p := pending{event: e.record(now), queued: now, done: make(chan error, 1)}
	if err := w.send(ctx, op, p); err != nil {
		return err
	}
	select { // wake the writer if it waits for a batch to fill
	case w.recorded <- struct{}{}:
	default:
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return errs.E(errs.Unavailable, op, "the audit event was not confirmed stored in time", ctx.Err())
	}
}

// send puts p in the queue, waiting for room until ctx ends or the Writer
// closes.
func (w *Writer) send(ctx context.Context, op string, p pending) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return errClosed(op)
	}
	select {
	case w.queue <- p:
		w.stats.accepted.Add(1)
		return nil
	case <-w.stopping:
		return errClosed(op)
	case <-ctx.Done():
		return errs.E(errs.Unavailable, op, "the audit queue stayed full", ctx.Err())
	}
}

// shut stops the queue from taking events. Once it returns, every event
// that was accepted is in the queue.
func (w *Writer) shut() {
	w.stopOnce.Do(func() { close(w.stopping) })
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// Run writes queued events until ctx is done or Close is called, then stops
// taking events, writes those still queued (giving up after 10 s if the
// store fails) and returns. It returns an error when events were lost that
// way, or when Run was called before. After Close it returns at once. Run
// owns the Writer's one goroutine: call it once, as go w.Run(ctx), and
// Close to stop it.
func (w *Writer) Run(ctx context.Context) error {
	w.lifeMu.Lock()
	switch {
	case w.running:
		w.lifeMu.Unlock()
		return errors.New("audit: Writer.Run called twice")
	case w.drained:
		w.lifeMu.Unlock()
		return w.err()
	}
	w.running = true
	ctx, w.cancel = context.WithCancel(ctx)
	cancel := w.cancel
	w.lifeMu.Unlock()
	defer cancel()

	var carry []pending
	for {
		batch := w.collect(ctx)
		if len(batch) == 0 {
			break // ctx is done
		}
		if err := w.write(ctx, batch); err != nil {
			carry = batch // ctx ended while the batch was being retried
			break
		}
	}
	w.shut()
	w.finish(w.drain(context.WithoutCancel(ctx), carry))
	return w.err()
}

// Close stops the Writer: it stops taking events, waits until Run has
// written those still queued, and returns what Run returns. Without Run it
// writes them itself. Close may be called more than once.
func (w *Writer) Close() error {
	w.shut()
	w.lifeMu.Lock()
	if !w.running && !w.drained {
		w.drained = true
		w.lifeMu.Unlock()
		w.finish(w.drain(context.Background(), nil))
		return w.err()
	}
	cancel := w.cancel
	w.lifeMu.Unlock()
	if cancel != nil {
		cancel()
	}
	<-w.done
	return w.err()
}

func (w *Writer) finish(err error) {
	w.lifeMu.Lock()
	w.runErr = err
	w.lifeMu.Unlock()
	close(w.done)
}

func (w *Writer) err() error {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	return w.runErr
}

// collect waits for an event, then gathers more until the batch holds
// MaxBatch, MaxDelay has passed since the first was queued, or it holds a
// Record's event. It returns nil when ctx is done before an event comes.
func (w *Writer) collect(ctx context.Context) []pending {
	var first pending
	select {
	case first = <-w.queue:
	case <-ctx.Done():
		return nil
	}
	if w.collected == nil {
		w.collected = make([]pending, 0, w.maxBatch)
	}
	clear(w.collected[:cap(w.collected)]) // let go of the last batch's strings
	batch := append(w.collected[:0], first)
	batch, recorded := w.gather(batch, first.done != nil) // what is already waiting joins without a timer
	wait := first.queued.Add(w.maxDelay).Sub(w.now())
	if len(batch) == w.maxBatch || wait <= 0 || recorded {
		return batch
	}
	// Sleep out the delay rather than take each event as it comes: a read's
	// Enqueue then only puts its event in the queue's buffer, without waking
	// this goroutine once an event, which cost a read more than its append
	// did. A write's Record does wake it (w.recorded), since the write waits
	// for the commit. Under load the queue is never empty, the first event
	// waited already, and batches go out back to back.
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-ctx.Done():
		case <-w.recorded:
			// The signal may be stale (its event joined an earlier batch):
			// only a Record's event in this batch ends the wait.
			if batch, recorded = w.gather(batch, false); !recorded && len(batch) < w.maxBatch {
				continue
			}
			return batch
		}
		batch, _ = w.gather(batch, false)
		return batch
	}
}

// gather appends to batch the events waiting in the queue, up to MaxBatch,
// and reports whether batch holds a Record's event: recorded, or one of
// those it took.
func (w *Writer) gather(batch []pending, recorded bool) ([]pending, bool) {
	for len(batch) < w.maxBatch {
		select {
		case p := <-w.queue:
			batch = append(batch, p)
			recorded = recorded || p.done != nil
			continue
		default:
		}
		break
	}
	return batch, recorded
}

// drain writes carry and then every event left in the queue, which no
// longer takes any, in batches, giving up after closeTimeout. Events it
// cannot write are lost: their Record callers get the error, and it is
// logged and returned.
func (w *Writer) drain(ctx context.Context, carry []pending) error {
	ctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	rest := carry
	for {
	fill:
		for len(rest) < w.maxBatch {
			select {
			case p := <-w.queue:
				rest = append(rest, p)
			default:
				break fill
			}
		}
		if len(rest) == 0 {
			return nil
		}
		n := min(len(rest), w.maxBatch)
		if err := w.write(ctx, rest[:n]); err != nil {
			lost := len(rest) + len(w.queue)
			for _, p := range rest {
				notify(p, errs.E(errs.Unavailable, "audit.Record", "the audit trail shut down before the event was stored", err))
			}
			for len(w.queue) > 0 {
				notify(<-w.queue, errs.E(errs.Unavailable, "audit.Record", "the audit trail shut down before the event was stored", err))
			}
			w.stats.lost.Add(uint64(lost))
			w.log.Error("audit events lost at shutdown: the store did not accept them", "events", lost, "error", err)
			return fmt.Errorf("audit: %d events lost at shutdown: %w", lost, err)
		}
		rest = rest[n:]
	}
}

// write appends batch to the chain, retrying until it is stored or ctx is
// done. Record callers hear of the first failure at once; the batch is
// still retried. The store calls themselves do not take ctx's cancellation,
// so that a shutdown never cuts a commit in half; only the waits do.
func (w *Writer) write(ctx context.Context, batch []pending) error {
	events := w.events[:0]
	for _, p := range batch {
		events = append(events, p.event)
	}
	w.events = events
	defer clear(events) // let go of the strings until the next batch
	sctx := context.WithoutCancel(ctx)
	retry := firstRetry
	conflicts := 0
	var tried *store.AuditBatch // the last append whose outcome is unknown
	for {
		b, err := w.appendOnce(sctx, events, tried)
		if err == nil {
			w.stats.countBatch(len(batch))
			w.offer(b, events) // before Record returns, so that its event is in every sink's hands
			for i := range batch {
				notify(batch[i], nil)
				batch[i].done = nil
			}
			return nil
		}
		w.headKnown = false
		if errors.Is(err, store.ErrConflict) {
			w.stats.conflicts.Add(1)
			if conflicts++; conflicts < maxConflicts {
				continue // another writer extended the chain: relink on the new head
			}
		} else if b.Batch != 0 { // the append itself failed, maybe after its commit
			tried = &b
		}
		conflicts = 0
		w.stats.failures.Add(1)
		w.log.Error("audit append failed; retrying", "events", len(batch), "retry_in", retry, "error", err)
		for i := range batch {
			notify(batch[i], errs.E(errs.Unavailable, "audit.Record", "the audit event could not be stored yet", err))
			batch[i].done = nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
		retry = min(2*retry, longestRetry)
	}
}

// maxConflicts is how many conflicts in a row write retries at once before
// it counts a failure and waits: writers that extend the chain make
// progress, so only a fault keeps one losing that long.
const maxConflicts = 100

// appendOnce links events onto the head and appends them once, and on
// success makes the head the one after them. It returns the batch it tried
// to append, or the zero batch when it failed before that. When tried is
// the batch of an earlier attempt whose commit may have succeeded, it first
// checks whether the store holds it, and if so adopts the store's head
// instead of appending the events twice: a batch's hash covers every event
// and the head before it, so an equal hash means the same batch.
func (w *Writer) appendOnce(ctx context.Context, events []store.AuditEvent, tried *store.AuditBatch) (store.AuditBatch, error) {
	if !w.headKnown {
		h, err := w.st.AuditHead(ctx)
		if err != nil {
			return store.AuditBatch{}, err
		}
		w.head, w.headKnown = h, true
	}
	if tried != nil && w.head.Batch >= tried.Batch {
		bs, err := w.st.AuditBatches(ctx, tried.Batch-1, 1)
		if err != nil {
			return store.AuditBatch{}, err
		}
		if len(bs) == 1 && bytes.Equal(bs[0].Hash, tried.Hash) {
			return *tried, nil // stored by the attempt that seemed to fail; the head is already read
		}
	}
	b := link(w.head, events, w.now())
	if err := w.st.AppendAuditBatch(ctx, b, events); err != nil {
		return b, err
	}
	w.head = store.AuditHead{Batch: b.Batch, Seq: b.LastSeq, Hash: b.Hash}
	return b, nil
}

// notify reports err to p's Record caller, if it waits and has not heard yet.
func notify(p pending, err error) {
	if p.done != nil {
		p.done <- err
	}
}
