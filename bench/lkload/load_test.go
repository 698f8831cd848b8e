package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, ms(i))
	}
	tests := []struct {
		name      string
		latencies []time.Duration
		p         float64
		want      time.Duration
	}{
		{"none", nil, 0.5, 0},
		{"one", []time.Duration{ms(7)}, 0.99, ms(7)},
		{"median of 100", hundred, 0.50, ms(50)},
		{"p90 of 100", hundred, 0.90, ms(90)},
		{"p99 of 100", hundred, 0.99, ms(99)},
		{"max", hundred, 1, ms(100)},
		{"p50 of 3", []time.Duration{ms(1), ms(2), ms(3)}, 0.5, ms(2)},
	}
	for _, tc := range tests {
		r := Result{latencies: tc.latencies}
		if got := r.Percentile(tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

// TestRun drives a real TLS server: every answer is counted once, errors
// apart, and each worker keeps one connection.
func TestRun(t *testing.T) {
	var served, conns atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%5 == 0 {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{"access_token":"x"}`))
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tgt := target{method: http.MethodPost, url: ts.URL, form: tokenForm("id", "secret", azureVaultScope), want: tokenMarker, wantName: "a token",
		roots: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	o := Options{Connections: 3, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, NewClient: newClientFunc(tgt.roots, nil)}
	r := Run(t.Context(), o, func(ctx context.Context, c *http.Client) error {
		_, err := tgt.send(ctx, c)
		return err
	})
	if r.OK == 0 || r.Errors == 0 {
		t.Fatalf("Run = %v, want both answers and errors", r)
	}
	if got := int64(r.OK + r.Errors); got >= served.Load() {
		t.Errorf("Run counted %d requests of %d served: warm-up requests must not count", got, served.Load())
	}
	if len(r.latencies) != r.OK {
		t.Errorf("Run kept %d latencies for %d good answers", len(r.latencies), r.OK)
	}
	if n := r.ErrorSamples["HTTP 429 Too Many Requests"]; n != r.Errors {
		t.Errorf("ErrorSamples = %v, want all %d errors as HTTP 429", r.ErrorSamples, r.Errors)
	}
	if got := conns.Load(); got != int64(o.Connections) {
		t.Errorf("server saw %d connections, want one per worker (%d)", got, o.Connections)
	}
	if !strings.Contains(r.String(), "connections=3 ") {
		t.Errorf("String() = %q, want connections=3", r.String())
	}
}

// TestRunStopsWithContext: a cancelled run ends at once and counts no errors.
func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	o := Options{Connections: 2, Duration: time.Hour, NewClient: func() *http.Client { return &http.Client{} }}
	r := Run(ctx, o, func(ctx context.Context, c *http.Client) error { return ctx.Err() })
	if r.OK != 0 || r.Errors != 0 {
		t.Errorf("Run after cancel = %v, want nothing counted", r)
	}
}
