package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's counters. Labels are bounded: the upstream's
// status code, the kind of token, the kind of limit. Never an account, a key
// or a path: those grow with use, and metrics live forever. A nil *metrics
// counts nothing.
type metrics struct {
	responses      *prometheus.CounterVec
	upstreamErrors prometheus.Counter
	tokensCount    *prometheus.CounterVec
	throttledCount *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_gateway_upstream_responses_total",
			Help: "Answers the gateway received from upstreams, by status code.",
		}, []string{"code"}),
		upstreamErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_gateway_upstream_errors_total",
			Help: "Calls that got no answer from their upstream (unreachable, timed out, cancelled).",
		}),
		tokensCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_gateway_tokens_total",
			Help: "Tokens upstreams reported in the usage of their answers, by kind (prompt, completion).",
		}, []string{"kind"}),
		throttledCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_gateway_throttled_total",
			Help: "Calls refused with 429 by the gateway's own limits, by limit (requests, tokens).",
		}, []string{"limit"}),
	}
	reg.MustRegister(m.responses, m.upstreamErrors, m.tokensCount, m.throttledCount)
	return m
}

func (m *metrics) response(code int) {
	if m == nil {
		return
	}
	if code < 100 || code > 999 {
		code = 0
	}
	m.responses.WithLabelValues(strconv.Itoa(code)).Inc()
}

func (m *metrics) upstreamError() {
	if m != nil {
		m.upstreamErrors.Inc()
	}
}

func (m *metrics) tokens(u tokenUsage) {
	if m == nil {
		return
	}
	m.tokensCount.WithLabelValues("prompt").Add(float64(u.prompt))
	m.tokensCount.WithLabelValues("completion").Add(float64(u.completion))
}

func (m *metrics) throttled(k limitKind) {
	if m != nil {
		m.throttledCount.WithLabelValues(k.String()).Inc()
	}
}
