package auditsink

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of a Sink's counters. Counts start at zero when the
// Sink is made and only grow. Events outside the sink's scope are not
// counted anywhere.
type Stats struct {
	QueueDepth int    // events waiting for delivery now
	QueueSize  int    // the most events that may wait
	Queued     uint64 // events taken into the queue
	Delivered  uint64 // events delivered
	Dropped    uint64 // events refused because the queue was full, or offered after Close
	Rejected   uint64 // events of batches the receiver refused for good (a webhook's 4xx), not retried
	Failures   uint64 // delivery attempts that failed and were retried
	Lost       uint64 // queued events still undelivered when Close gave up
}

// counters are a Sink's statistics, updated without locks.
type counters struct {
	queued, delivered, dropped, rejected, failures, lost atomic.Uint64
}

// Stats returns a snapshot of s's counters, read one at a time while the
// Sink works, so they may disagree by an event or two.
func (s *Sink) Stats() Stats {
	c := &s.stats
	return Stats{
		QueueDepth: len(s.queue),
		QueueSize:  cap(s.queue),
		Queued:     c.queued.Load(),
		Delivered:  c.delivered.Load(),
		Dropped:    c.dropped.Load(),
		Rejected:   c.rejected.Load(),
		Failures:   c.failures.Load(),
		Lost:       c.lost.Load(),
	}
}

// descs describe a Sink's metrics, each labelled sink="NAME". Alert on
// increase(latchkey_audit_sink_dropped_events_total[5m]) > 0.
type descs struct {
	queued, delivered, dropped, rejected, failures, lost, depth, capacity *prometheus.Desc
}

func newDescs(sink string) descs {
	labels := prometheus.Labels{"sink": sink}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("latchkey_audit_sink_"+name, help, nil, labels)
	}
	return descs{
		queued:    d("queued_events_total", "Audit events taken into the sink's queue."),
		delivered: d("delivered_events_total", "Audit events the sink delivered."),
		dropped:   d("dropped_events_total", "Audit events the sink dropped because its queue was full."),
		rejected:  d("rejected_events_total", "Audit events in batches the sink's receiver refused for good (not retried)."),
		failures:  d("delivery_failures_total", "Failed delivery attempts, retried after a backoff."),
		lost:      d("lost_events_total", "Queued audit events not delivered when the sink shut down."),
		depth:     d("queue_depth", "Audit events waiting in the sink's queue."),
		capacity:  d("queue_capacity", "The most audit events the sink's queue holds."),
	}
}

// Describe sends the descriptions of s's metrics; with Collect it makes a
// Sink a prometheus.Collector. Register each Sink once: their metrics differ
// by the sink label, so Sinks with distinct names share a registry.
func (s *Sink) Describe(ch chan<- *prometheus.Desc) {
	d := &s.descs
	for _, desc := range []*prometheus.Desc{d.queued, d.delivered, d.dropped, d.rejected, d.failures, d.lost, d.depth, d.capacity} {
		ch <- desc
	}
}

// Collect sends the current values of s's metrics.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	st, d := s.Stats(), &s.descs
	for _, c := range []struct {
		desc *prometheus.Desc
		v    uint64
	}{
		{d.queued, st.Queued}, {d.delivered, st.Delivered}, {d.dropped, st.Dropped},
		{d.rejected, st.Rejected}, {d.failures, st.Failures}, {d.lost, st.Lost},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.v))
	}
	ch <- prometheus.MustNewConstMetric(d.depth, prometheus.GaugeValue, float64(st.QueueDepth))
	ch <- prometheus.MustNewConstMetric(d.capacity, prometheus.GaugeValue, float64(st.QueueSize))
}

var _ prometheus.Collector = (*Sink)(nil)
