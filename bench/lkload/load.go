package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options shape one load run.
type Options struct {
	// Connections is how many workers run at once; each has its own client and
	// so its own keep-alive connection.
	Connections int
	// Duration is how long requests are measured.
	Duration time.Duration
	// Warmup runs requests before measuring, not counted: TLS handshakes and
	// the server's caches happen here.
	Warmup time.Duration
	// NewClient makes one worker's client.
	NewClient func() *http.Client
}

// Request sends one request with c and returns nil if the answer was right.
// It must read and close the response body, so that the connection is reused.
type Request func(ctx context.Context, c *http.Client) error

// Result is what one run measured. Latencies are of successful requests only.
type Result struct {
	Connections int
	Elapsed     time.Duration // from the end of the warm-up until the last worker stopped
	OK          int
	Errors      int
	// ErrorSamples counts errors by message, for the first few messages seen.
	ErrorSamples map[string]int
	latencies    []time.Duration // sorted
}

// PerSecond is the rate of successful requests.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which the fraction p (0 < p <= 1) of
// successful requests completed (nearest rank), or 0 without any.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	i := int(float64(n)*p+0.999999999) - 1
	return r.latencies[min(max(i, 0), n-1)]
}

// String prints the result on one line of key=value pairs, for people and awk.
func (r Result) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("connections=%d seconds=%.2f ok=%d errors=%d rps=%.0f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s",
		r.Connections, r.Elapsed.Seconds(), r.OK, r.Errors, r.PerSecond(),
		ms(r.Percentile(0.50)), ms(r.Percentile(0.90)), ms(r.Percentile(0.99)), ms(r.Percentile(1)))
}

// maxErrorSamples bounds the distinct error messages a run keeps.
const maxErrorSamples = 5

// Run sends requests with do from o.Connections workers, as fast as each gets
// answers, for o.Warmup and then o.Duration, and returns what was measured
// after the warm-up. A request that starts before the end is waited for. Run
// stops early when ctx is done.
func Run(ctx context.Context, o Options, do Request) Result {
	type worker struct {
		ok, errors int
		latencies  []time.Duration
		errs       map[string]int
	}
	start := time.Now()
	measureFrom := start.Add(o.Warmup)
	end := measureFrom.Add(o.Duration)
	workers := make([]worker, o.Connections)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.errs = map[string]int{}
		wg.Go(func() {
			c := o.NewClient()
			defer c.CloseIdleConnections()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := do(ctx, c)
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: not the server's fault
					}
					w.errors++
					if _, seen := w.errs[err.Error()]; seen || len(w.errs) < maxErrorSamples {
						w.errs[err.Error()]++
					}
					continue
				}
				w.ok++
				w.latencies = append(w.latencies, time.Since(t0))
			}
		})
	}
	wg.Wait()
	r := Result{Connections: o.Connections, Elapsed: time.Since(measureFrom), ErrorSamples: map[string]int{}}
	for _, w := range workers {
		r.OK += w.ok
		r.Errors += w.errors
		r.latencies = append(r.latencies, w.latencies...)
		for msg, n := range w.errs {
			if _, seen := r.ErrorSamples[msg]; seen || len(r.ErrorSamples) < maxErrorSamples {
				r.ErrorSamples[msg] += n
			}
		}
	}
	slices.Sort(r.latencies)
	return r
}

// errorReport lists a result's sampled errors, most frequent first.
func errorReport(r Result) string {
	msgs := make([]string, 0, len(r.ErrorSamples))
	for m := range r.ErrorSamples {
		msgs = append(msgs, m)
	}
	slices.SortFunc(msgs, func(a, b string) int { return cmp.Compare(r.ErrorSamples[b], r.ErrorSamples[a]) })
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "  %d× %s\n", r.ErrorSamples[m], m)
	}
	return b.String()
}

// newClientFunc returns a maker of clients that trust roots, keep their
// connection alive and speak HTTP/1.1, one transport (one connection pool)
// per client. A nil dial dials the URL's host.
func newClientFunc(roots *x509.CertPool, dial dialFunc) func() *http.Client {
	return func() *http.Client {
		tr := &http.Transport{
			DialContext:         dial,
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
}
