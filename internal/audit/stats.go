package audit

import "sync/atomic"

// Stats is a snapshot of a Writer's counters, for metrics: the HTTP layer
// registers them with Prometheus (queue depth as a gauge, the counts as
// counters, BatchSizes as a histogram). Counts start at zero when the
// Writer is made and only grow.
type Stats struct {
	QueueDepth int    // events waiting to be written now
	QueueSize  int    // the most events that may wait
	Accepted   uint64 // events taken into the queue by Enqueue or Record
	Dropped    uint64 // events Enqueue refused: the queue was full or the Writer closed
	Invalid    uint64 // events Enqueue refused as malformed: no operation, or an unknown result
	Written    uint64 // events stored
	Batches    uint64 // batches stored, one transaction each
	Conflicts  uint64 // appends relinked and retried because another writer extended the chain first
	Failures   uint64 // appends that failed and were retried after a wait
	Lost       uint64 // accepted events that could not be stored before the Writer closed
	// BatchSizes counts stored batches by their number of events, as a
	// Prometheus histogram's buckets do: cumulatively, each bucket counting
	// the batches of at most UpTo events. With Batches as the count and
	// Written as the sum it makes the histogram.
	BatchSizes []BatchSizeBucket
}

// BatchSizeBucket is one bucket of Stats.BatchSizes.
type BatchSizeBucket struct {
	UpTo    int    // events
	Batches uint64 // batches of at most UpTo events
}

// batchSizeBounds are the upper bounds of the BatchSizes buckets. A larger
// batch counts only in Stats.Batches.
var batchSizeBounds = [...]int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}

// counters are a Writer's statistics, updated without locks.
type counters struct {
	accepted, dropped, invalid, written, batches, conflicts, failures, lost atomic.Uint64
	sizes                                                                   [len(batchSizeBounds)]atomic.Uint64
}

// countBatch records a stored batch of n events.
func (c *counters) countBatch(n int) {
	c.batches.Add(1)
	c.written.Add(uint64(n))
	for i, bound := range batchSizeBounds {
		if n <= bound {
			c.sizes[i].Add(1)
			return
		}
	}
}

// Stats returns a snapshot of w's counters. Counters are read one at a
// time while the Writer works, so they may disagree by an event or two.
func (w *Writer) Stats() Stats {
	c := &w.stats
	s := Stats{
		QueueDepth: len(w.queue),
		QueueSize:  cap(w.queue),
		Accepted:   c.accepted.Load(),
		Dropped:    c.dropped.Load(),
		Invalid:    c.invalid.Load(),
		Written:    c.written.Load(),
		Batches:    c.batches.Load(),
		Conflicts:  c.conflicts.Load(),
		Failures:   c.failures.Load(),
		Lost:       c.lost.Load(),
		BatchSizes: make([]BatchSizeBucket, len(batchSizeBounds)),
	}
	var sum uint64
	for i, bound := range batchSizeBounds {
		sum += c.sizes[i].Load()
		s.BatchSizes[i] = BatchSizeBucket{UpTo: bound, Batches: sum}
	}
	return s
}
