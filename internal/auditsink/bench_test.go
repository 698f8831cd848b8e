package auditsink_test

import (
	"io"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/auditsink"
)

// BenchmarkOffer measures what a sink costs the audit Writer per stored
// batch of 64 events: the scope check and a queue send each, never I/O.
// A stream sink to io.Discard drains the queue meanwhile; events it cannot
// take in time are dropped, which costs less than queueing.
func BenchmarkOffer(b *testing.B) {
	for _, scope := range []string{"/", "/hubs/h"} {
		b.Run("scope="+scope, func(b *testing.B) {
			s, err := auditsink.NewStream(auditsink.Options{Name: "bench", Scope: scope}, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			go s.Run(b.Context())
			batch := entries(1, 64, "/hubs/h/vaults/v")
			b.ReportAllocs()
			for b.Loop() {
				s.Offer(batch)
			}
			b.StopTimer()
			closeSink(s, time.Second)
			st := s.Stats()
			b.ReportMetric(float64(st.Dropped)/float64(st.Queued+st.Dropped), "dropped/event")
		})
	}
}
