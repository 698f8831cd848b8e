package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file holds Latchkey's Prometheus metrics (docs/operations.md lists
// them): the request metrics every route records, and the collector that
// exports the domain services' Stats snapshots, which know nothing of
// Prometheus. Every label value comes from a bounded set fixed in code (route
// patterns, actions, surfaces, known methods, status codes, the services'
// own names); none comes from a request.

// tokenOperation is the operation of the token endpoint, which declares no
// action of its own (it is public: the request authenticates itself).
const tokenOperation = "Latchkey.Identity/token/action"

// surfaceNames are the surfaces as the metrics name them.
var surfaceNames = [...]string{
	surfaceManagement: "management",
	surfaceOAuth:      "oauth",
	surfaceVault:      "vault",
	surfaceAccount:    "account",
}

// String names the surface, for metric labels. A surface missing from
// surfaceNames is named by its number (TestRouteMetricLabels fails on it).
func (s surface) String() string {
	if int(s) < len(surfaceNames) && surfaceNames[s] != "" {
		return surfaceNames[s]
	}
	return "surface" + strconv.Itoa(int(s))
}

// probePatterns are the routes of the operations surface: probes and
// metrics, which answer errors as the management API does.
var probePatterns = []string{"GET /healthz", "GET /readyz", "GET /metrics"}

// routeLabels returns the surface, operation and route labels of rt.
func routeLabels(rt route) (surface, operation, pattern string) {
	surface, operation = rt.surface.String(), string(rt.action)
	if rt.surface == surfaceManagement && rt.action == ActionPublic && slices.Contains(probePatterns, rt.pattern) {
		surface = "operations"
	}
	if rt.pattern == tokenPattern && rt.surface == surfaceOAuth {
		operation = tokenOperation
	}
	return surface, operation, rt.pattern
}

// methods are the request methods the metrics name; others count as OTHER,
// since a client may send any token as a method and each label value costs
// memory for good.
var methods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, "OTHER",
}

// methodIndex returns the index of m in methods.
func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	}
	return len(methods) - 1
}

// httpMetrics are the request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total",
			Help: "HTTP requests served, by surface, operation (the route's action), route pattern, method and status code.",
		}, []string{"surface", "operation", "route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by surface, operation (the route's action) and route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"surface", "operation", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// routeMetrics are one route's request metrics with the labels that are
// fixed for the route resolved once, when the Server is built, so that a
// request hashes no label strings: it finds its counter by method and
// status code in a short list, and its histogram is at hand once made. Both
// are made on a route's first request, so that routes nobody calls export
// no series.
type routeMetrics struct {
	labels    prometheus.Labels        // surface, operation and route
	requests  *prometheus.CounterVec   // curried with labels
	durations *prometheus.HistogramVec // not curried: With(labels) gives the route's

	duration atomic.Pointer[prometheus.Observer] // nil until the first request
	mu       sync.Mutex                          // serialises additions to counters
	counters atomic.Pointer[[]requestCounter]    // never modified in place
}

// requestCounter is the request counter of one method and status code.
type requestCounter struct {
	key     uint32 // methodIndex<<16 | status
	counter prometheus.Counter
}

// forRoute returns the metrics of rt.
func (m *httpMetrics) forRoute(rt route) *routeMetrics {
	surface, operation, pattern := routeLabels(rt)
	labels := prometheus.Labels{"surface": surface, "operation": operation, "route": pattern}
	rm := &routeMetrics{labels: labels, requests: m.requests.MustCurryWith(labels), durations: m.duration}
	rm.counters.Store(&[]requestCounter{})
	return rm
}

// observe records a request of the route.
func (m *routeMetrics) observe(method string, status int, d time.Duration) {
	m.observer().Observe(d.Seconds())
	m.counter(methodIndex(method), status).Inc()
}

// observer returns the route's latency histogram, making it on first use.
// Two first requests may both make it: With returns the same one.
func (m *routeMetrics) observer() prometheus.Observer {
	if o := m.duration.Load(); o != nil {
		return *o
	}
	o := m.durations.With(m.labels)
	m.duration.Store(&o)
	return o
}

// counter returns the request counter of method (an index of methods) and
// status, making it on first use.
func (m *routeMetrics) counter(method, status int) prometheus.Counter {
	key := uint32(method)<<16 | uint32(status)&0xffff
	for _, c := range *m.counters.Load() {
		if c.key == key {
			return c.counter
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := *m.counters.Load()
	for _, c := range cs {
		if c.key == key {
			return c.counter
		}
	}
	c := m.requests.WithLabelValues(methods[method], strconv.Itoa(status))
	next := append(slices.Clip(cs), requestCounter{key: key, counter: c})
	m.counters.Store(&next)
	return c
}

// MetricSources are the services whose counters /metrics exports, from their
// Stats snapshots. A nil field exports nothing of that service.
type MetricSources struct {
	Identity *identity.Service
	Access   *access.Service
	Vault    *vault.Service
	Audit    *audit.Writer
}

// RegisterMetrics registers with reg a collector of the sources' Stats, read
// once per scrape. Call it once per registry (the one given to New).
func RegisterMetrics(reg prometheus.Registerer, src MetricSources) error {
	return reg.Register(newStatsCollector(src))
}

// The families of the statsCollector.
var (
	tokensIssuedDesc = prometheus.NewDesc("latchkey_tokens_issued_total",
		"Access tokens issued, by how the request authenticated: client_secret, client_assertion (certificate or federated credential), password, managed_identity (for an operator allowed to assign the identity).",
		[]string{"auth_method"}, nil)
	tokensRefusedDesc = prometheus.NewDesc("latchkey_tokens_refused_total",
		"Token requests refused by the token service (bad credentials, throttled, unavailable), by auth_method as for latchkey_tokens_issued_total.",
		[]string{"auth_method"}, nil)
	decisionsDesc = prometheus.NewDesc("latchkey_access_decisions_total",
		"Authorization decisions, by plane (control, data, or unknown for an action not in the catalog) and result (allowed, denied).",
		[]string{"plane", "result"}, nil)
	cacheLookupsDesc = prometheus.NewDesc("latchkey_cache_lookups_total",
		"Lookups in a per-process cache, by cache (verified_tokens, secrets, vaults) and result (hit, miss).",
		[]string{"cache", "result"}, nil)
	cacheEntriesDesc = prometheus.NewDesc("latchkey_cache_entries",
		"Entries a per-process cache holds now, by cache (verified_tokens, secrets, vaults).",
		[]string{"cache"}, nil)
	auditQueueDepthDesc = prometheus.NewDesc("latchkey_audit_queue_depth",
		"Audit events waiting in the writer's queue to be stored.", nil, nil)
	auditQueueCapacityDesc = prometheus.NewDesc("latchkey_audit_queue_capacity",
		"The most audit events the writer's queue holds; past it, reads' events are dropped and writes wait.", nil, nil)
	auditAcceptedDesc = prometheus.NewDesc("latchkey_audit_events_accepted_total",
		"Audit events taken into the writer's queue.", nil, nil)
	auditDroppedDesc = prometheus.NewDesc("latchkey_audit_events_dropped_total",
		"Audit events of reads dropped because the queue was full or the writer closed.", nil, nil)
	auditInvalidDesc = prometheus.NewDesc("latchkey_audit_events_invalid_total",
		"Audit events refused as malformed (a bug in Latchkey).", nil, nil)
	auditWrittenDesc = prometheus.NewDesc("latchkey_audit_events_written_total",
		"Audit events stored in the trail.", nil, nil)
	auditLostDesc = prometheus.NewDesc("latchkey_audit_events_lost_total",
		"Accepted audit events that could not be stored before the writer closed.", nil, nil)
	auditConflictsDesc = prometheus.NewDesc("latchkey_audit_append_conflicts_total",
		"Audit appends relinked and retried because another replica's writer extended the chain first.", nil, nil)
	auditFailuresDesc = prometheus.NewDesc("latchkey_audit_append_failures_total",
		"Audit appends that failed (the store refused them) and were retried after a wait.", nil, nil)
	auditBatchSizeDesc = prometheus.NewDesc("latchkey_audit_batch_size_events",
		"Events per stored audit batch (one transaction each).", nil, nil)
)

// statsCollector exports the Stats of the MetricSources. It reads each
// source once per scrape, so the families of one source agree.
type statsCollector struct {
	src MetricSources
}

func newStatsCollector(src MetricSources) *statsCollector { return &statsCollector{src: src} }

// Describe sends the families of the sources that are set.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.src.Identity != nil {
		ch <- tokensIssuedDesc
		ch <- tokensRefusedDesc
	}
	if c.src.Access != nil {
		ch <- decisionsDesc
	}
	if c.src.Identity != nil || c.src.Vault != nil {
		ch <- cacheLookupsDesc
		ch <- cacheEntriesDesc
	}
	if c.src.Audit != nil {
		for _, d := range []*prometheus.Desc{auditQueueDepthDesc, auditQueueCapacityDesc, auditAcceptedDesc, auditDroppedDesc,
			auditInvalidDesc, auditWrittenDesc, auditLostDesc, auditConflictsDesc, auditFailuresDesc, auditBatchSizeDesc} {
			ch <- d
		}
	}
}

// Collect reads each source's Stats and sends its metrics.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	if c.src.Identity != nil {
		st := c.src.Identity.Stats()
		for _, ts := range st.Tokens {
			e.counter(tokensIssuedDesc, ts.Issued, ts.Method)
			e.counter(tokensRefusedDesc, ts.Refused, ts.Method)
		}
		e.cache("verified_tokens", st.VerifyCacheHits, st.VerifyCacheMisses, st.VerifyCacheEntries)
	}
	if c.src.Access != nil {
		st := c.src.Access.Stats()
		e.counter(decisionsDesc, st.Control.Allowed, "control", "allowed")
		e.counter(decisionsDesc, st.Control.Denied, "control", "denied")
		e.counter(decisionsDesc, st.Data.Allowed, "data", "allowed")
		e.counter(decisionsDesc, st.Data.Denied, "data", "denied")
		e.counter(decisionsDesc, st.UnknownAction, "unknown", "denied")
	}
	if c.src.Vault != nil {
		st := c.src.Vault.Stats()
		e.cache("secrets", st.SecretCacheHits, st.SecretCacheMisses, st.CachedSecrets)
		e.cache("vaults", st.VaultCacheHits, st.VaultCacheMisses, st.CachedVaults)
	}
	if c.src.Audit != nil {
		e.audit(c.src.Audit.Stats())
	}
}

// emitter sends constant metrics to a scrape.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) counter(d *prometheus.Desc, v uint64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func (e emitter) gauge(d *prometheus.Desc, v int, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}

// cache sends the lookups and entries of the cache called name.
func (e emitter) cache(name string, hits, misses uint64, entries int) {
	e.counter(cacheLookupsDesc, hits, name, "hit")
	e.counter(cacheLookupsDesc, misses, name, "miss")
	e.gauge(cacheEntriesDesc, entries, name)
}

// audit sends the audit writer's metrics, its batch sizes as a histogram:
// Stats.BatchSizes are its cumulative buckets, Batches its count and Written
// its sum.
func (e emitter) audit(st audit.Stats) {
	e.gauge(auditQueueDepthDesc, st.QueueDepth)
	e.gauge(auditQueueCapacityDesc, st.QueueSize)
	e.counter(auditAcceptedDesc, st.Accepted)
	e.counter(auditDroppedDesc, st.Dropped)
	e.counter(auditInvalidDesc, st.Invalid)
	e.counter(auditWrittenDesc, st.Written)
	e.counter(auditLostDesc, st.Lost)
	e.counter(auditConflictsDesc, st.Conflicts)
	e.counter(auditFailuresDesc, st.Failures)
	buckets := make(map[float64]uint64, len(st.BatchSizes))
	count := st.Batches
	for _, b := range st.BatchSizes {
		buckets[float64(b.UpTo)] = b.Batches
		// The counters are read one at a time while batches are stored: a
		// bucket read after a batch landed may exceed the count read before.
		count = max(count, b.Batches)
	}
	e.ch <- prometheus.MustNewConstHistogram(auditBatchSizeDesc, count, float64(st.Written), buckets)
}
