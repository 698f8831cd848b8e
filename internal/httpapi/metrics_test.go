package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchkey/latchkey/internal/access"
)

// TestRouteMetricLabels walks the route tables: every route's labels come
// from the bounded sets, and its operation is its declared action.
func TestRouteMetricLabels(t *testing.T) {
	s := newTestServer(t, Options{})
	surfaces := []string{"management", "oauth", "vault", "account", "operations"}
	for _, rt := range append(s.routes(), s.vaultRoutes()...) {
		surface, operation, pattern := routeLabels(rt)
		if !slices.Contains(surfaces, surface) {
			t.Errorf("route %q: surface label %q is not one of %v: name the surface in surfaceNames", rt.pattern, surface, surfaces)
		}
		if pattern != rt.pattern {
			t.Errorf("route %q: route label %q", rt.pattern, pattern)
		}
		want := string(rt.action)
		if rt.pattern == tokenPattern {
			want = tokenOperation
		}
		if operation != want {
			t.Errorf("route %q: operation label %q, want %q", rt.pattern, operation, want)
		}
		if _, known := access.Lookup(operation); !known && !slices.Contains([]string{string(ActionPublic), string(ActionAuthenticated), tokenOperation}, operation) {
			t.Errorf("route %q: operation label %q is neither an action of the catalog nor a public one", rt.pattern, operation)
		}
		if probe := slices.Contains(probePatterns, rt.pattern); probe != (surface == "operations") {
			t.Errorf("route %q: surface %q", rt.pattern, surface)
		}
	}
	for _, p := range probePatterns {
		if !slices.ContainsFunc(s.routes(), func(rt route) bool { return rt.pattern == p }) {
			t.Errorf("probe %q is not a route", p)
		}
	}
}

// TestRouteMetricsCount: concurrent requests of one route are all counted,
// under their method (OTHER for an unknown one) and status code, and timed.
func TestRouteMetricsCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newHTTPMetrics(reg)
	rm := m.forRoute(route{pattern: "PUT /secrets/{name}", action: access.SecretsSet, surface: surfaceVault})
	calls := []struct {
		method string
		status int
	}{{http.MethodPut, 200}, {http.MethodPut, 403}, {"BREW", 404}, {http.MethodPut, 200}}
	const workers, each = 4, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c := calls[(w+i)%len(calls)]
				rm.observe(c.method, c.status, time.Millisecond)
			}
		})
	}
	wg.Wait()
	labels := func(method string, code int) prometheus.Labels {
		return prometheus.Labels{"surface": "vault", "operation": access.SecretsSet, "route": "PUT /secrets/{name}", "method": method, "code": strconv.Itoa(code)}
	}
	total := workers * each
	for _, tc := range []struct {
		method string
		code   int
		want   int
	}{{"PUT", 200, total / 2}, {"PUT", 403, total / 4}, {"OTHER", 404, total / 4}} {
		if got := testutil.ToFloat64(m.requests.With(labels(tc.method, tc.code))); got != float64(tc.want) {
			t.Errorf("requests{method=%s,code=%d} = %v, want %d", tc.method, tc.code, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.requests); n != 3 {
		t.Errorf("%d request series, want 3", n)
	}
	if got, err := testutil.GatherAndCount(reg, "latchkey_http_request_duration_seconds"); err != nil || got != 1 {
		t.Errorf("duration series = %d, %v; want 1", got, err)
	}
}

// BenchmarkRequestMetrics measures what the metrics cost a request:
// "precomputed" is what the middleware does (labels resolved per route when
// the Server is built), "labels per request" the label lookup it replaced,
// and "middleware" the whole route adapter around a handler that writes
// nothing, for scale.
func BenchmarkRequestMetrics(b *testing.B) {
	rt := route{pattern: "GET /secrets/{name}", action: access.SecretsGet, surface: surfaceVault, inHandler: true}
	b.Run("precomputed", func(b *testing.B) {
		rm := newHTTPMetrics(prometheus.NewRegistry()).forRoute(rt)
		b.ReportAllocs()
		for b.Loop() {
			rm.observe(http.MethodGet, http.StatusOK, 300*time.Microsecond)
		}
	})
	b.Run("precomputed parallel", func(b *testing.B) {
		rm := newHTTPMetrics(prometheus.NewRegistry()).forRoute(rt)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rm.observe(http.MethodGet, http.StatusOK, 300*time.Microsecond)
			}
		})
	})
	b.Run("labels per request", func(b *testing.B) {
		m := newHTTPMetrics(prometheus.NewRegistry())
		surface, operation, pattern := routeLabels(rt)
		b.ReportAllocs()
		for b.Loop() {
			m.requests.WithLabelValues(surface, operation, pattern, http.MethodGet, strconv.Itoa(http.StatusOK)).Inc()
			m.duration.WithLabelValues(surface, operation, pattern).Observe((300 * time.Microsecond).Seconds())
		}
	})
	b.Run("middleware", func(b *testing.B) {
		s := New(Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
		h := s.wrap(route{pattern: "GET /bench", action: ActionPublic, handle: func(http.ResponseWriter, *http.Request) error { return nil }})
		req := httptest.NewRequest(http.MethodGet, "https://localhost/bench", nil)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(discardWriter{header: http.Header{}}, req)
		}
	})
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ header http.Header }

func (w discardWriter) Header() http.Header         { return w.header }
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardWriter) WriteHeader(int)             {}
