package httpapi_test

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/identity"
)

// scrape is one reading of /metrics, parsed with Prometheus's own parser.
type scrape struct {
	text     string
	families map[string]*dto.MetricFamily
}

// scrape reads /metrics over HTTPS, as Prometheus would.
func (e *kvEnv) scrape(t *testing.T) scrape {
	t.Helper()
	resp, err := e.hc.Get(e.authorityHost() + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	return scrape{text: string(body), families: fams}
}

// value returns the sum, over the series of family name whose labels include
// labels, of their values (a histogram's: its count); 0 when there are none.
func (s scrape) value(name string, labels map[string]string) float64 {
	var sum float64
	for _, m := range s.families[name].GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// L is a label set.
type L = map[string]string

// TestMetricsEndToEnd drives a real server over HTTPS through a scripted set
// of requests (tokens issued and refused, a management read allowed and one
// denied, a secret set and read, a read denied), then reads /metrics with
// Prometheus's text parser and checks that every family moved by exactly
// what the script did.
func TestMetricsEndToEnd(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	stranger := e.principal("stranger")
	const canary = "metrics-canary-value-5e1d"
	before := e.scrape(t)

	// The script. Tokens: four issued, one refused.
	adminVault := e.token(e.admin, e.resource())
	adminAPI := e.token(e.admin, client.ManagementAudience)
	strangerVault := e.token(stranger, e.resource())
	strangerAPI := e.token(stranger, client.ManagementAudience)
	bad := url.Values{"grant_type": {identity.GrantClientCredentials}, "client_id": {e.admin.AppID},
		"client_secret": {"not-the-secret"}, "scope": {e.resource() + "/.default"}}
	resp, err := e.hc.PostForm(e.authorityHost()+e.tenant+"/oauth2/v2.0/token", bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token with a wrong secret = %d, want 401", resp.StatusCode)
	}
	// The management API: a read allowed, the same read denied.
	api := e.authorityHost() + "api/v1/vaults/default"
	if a := e.do(http.MethodGet, api, adminAPI, ""); a.status != http.StatusOK {
		t.Fatalf("admin GET %s = %d %s", api, a.status, a.body)
	}
	if a := e.do(http.MethodGet, api, strangerAPI, ""); a.status != http.StatusForbidden {
		t.Fatalf("stranger GET %s = %d %s", api, a.status, a.body)
	}
	// The data plane: a set, three reads, a read denied.
	secret := e.vaultURL("default") + "/secrets/db?" + apiVersion
	if a := e.do(http.MethodPut, secret, adminVault, `{"value":"`+canary+`"}`); a.status != http.StatusOK {
		t.Fatalf("set = %d %s", a.status, a.body)
	}
	for range 3 {
		if a := e.do(http.MethodGet, secret, adminVault, ""); a.status != http.StatusOK {
			t.Fatalf("get = %d %s", a.status, a.body)
		}
	}
	if a := e.do(http.MethodGet, secret, strangerVault, ""); a.status != http.StatusForbidden {
		t.Fatalf("stranger's get = %d %s", a.status, a.body)
	}
	const audited = 5 + 2 + 1 + 3 + 1 // token requests, management, set, gets, denied get

	// Reads' events are stored a moment later: wait until all are.
	var after scrape
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		after = e.scrape(t)
		written := after.value("latchkey_audit_events_written_total", nil) - before.value("latchkey_audit_events_written_total", nil)
		if written >= audited || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range []string{
		"latchkey_http_requests_total", "latchkey_http_request_duration_seconds",
		"latchkey_tokens_issued_total", "latchkey_tokens_refused_total", "latchkey_access_decisions_total",
		"latchkey_cache_lookups_total", "latchkey_cache_entries",
		"latchkey_audit_queue_depth", "latchkey_audit_queue_capacity", "latchkey_audit_events_accepted_total",
		"latchkey_audit_events_dropped_total", "latchkey_audit_events_invalid_total", "latchkey_audit_events_written_total",
		"latchkey_audit_events_lost_total", "latchkey_audit_append_conflicts_total", "latchkey_audit_append_failures_total",
		"latchkey_audit_batch_size_events",
	} {
		if _, ok := after.families[name]; !ok {
			t.Errorf("/metrics has no family %s", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	delta := func(name string, labels L) float64 {
		t.Helper()
		return after.value(name, labels) - before.value(name, labels)
	}
	vaultSurface := func(op, route string) L { return L{"surface": "vault", "operation": op, "route": route} }
	mgmt := L{"surface": "management", "operation": access.VaultsRead, "route": "GET /api/v1/vaults/{vault}", "method": "GET"}
	token := L{"surface": "oauth", "operation": "Latchkey.Identity/token/action", "route": "POST /{tenant}/oauth2/v2.0/token", "method": "POST"}
	with := func(l L, k, v string) L {
		m := map[string]string{k: v}
		for k, v := range l {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		labels L
		want   float64
	}{
		{"latchkey_http_requests_total", with(token, "code", "200"), 4},
		{"latchkey_http_requests_total", with(token, "code", "401"), 1},
		{"latchkey_http_requests_total", with(mgmt, "code", "200"), 1},
		{"latchkey_http_requests_total", with(mgmt, "code", "403"), 1},
		{"latchkey_http_requests_total", with(with(vaultSurface(access.SecretsSet, "PUT /secrets/{name}"), "method", "PUT"), "code", "200"), 1},
		{"latchkey_http_requests_total", with(with(vaultSurface(access.SecretsGet, "GET /secrets/{name}"), "method", "GET"), "code", "200"), 3},
		{"latchkey_http_requests_total", with(with(vaultSurface(access.SecretsGet, "GET /secrets/{name}"), "method", "GET"), "code", "403"), 1},
		{"latchkey_http_request_duration_seconds", vaultSurface(access.SecretsGet, "GET /secrets/{name}"), 4},
		{"latchkey_http_request_duration_seconds", L{"surface": "management", "operation": access.VaultsRead}, 2},
		{"latchkey_http_request_duration_seconds", L{"surface": "oauth"}, 5},
		{"latchkey_tokens_issued_total", L{"auth_method": "client_secret"}, 4},
		{"latchkey_tokens_refused_total", L{"auth_method": "client_secret"}, 1},
		{"latchkey_tokens_issued_total", L{"auth_method": "password"}, 0},
		{"latchkey_access_decisions_total", L{"plane": "control", "result": "denied"}, 1},
		{"latchkey_access_decisions_total", L{"plane": "data", "result": "allowed"}, 4},
		{"latchkey_access_decisions_total", L{"plane": "data", "result": "denied"}, 1},
		{"latchkey_access_decisions_total", L{"plane": "unknown"}, 0},
		// Seven authenticated requests with four distinct tokens.
		{"latchkey_cache_lookups_total", L{"cache": "verified_tokens", "result": "miss"}, 4},
		{"latchkey_cache_lookups_total", L{"cache": "verified_tokens", "result": "hit"}, 3},
		// Three reads of one version (the denied read stops before the cache).
		{"latchkey_cache_lookups_total", L{"cache": "secrets"}, 3},
		{"latchkey_audit_events_accepted_total", nil, audited},
		{"latchkey_audit_events_written_total", nil, audited},
		{"latchkey_audit_events_dropped_total", nil, 0},
		{"latchkey_audit_events_invalid_total", nil, 0},
		{"latchkey_audit_events_lost_total", nil, 0},
	} {
		if got := delta(tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v went up by %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// At least one read was served from the cache: the change feed's echo of
	// the set may empty the cache once, never twice.
	if hits := delta("latchkey_cache_lookups_total", L{"cache": "secrets", "result": "hit"}); hits < 1 {
		t.Errorf("secrets cache hits went up by %v, want at least 1", hits)
	}
	if got := delta("latchkey_access_decisions_total", L{"plane": "control", "result": "allowed"}); got < 1 {
		t.Errorf("control-plane decisions allowed went up by %v, want at least 1", got)
	}
	if n := after.value("latchkey_cache_entries", L{"cache": "verified_tokens"}); n < 4 {
		t.Errorf("verified tokens cached: %v, want at least 4", n)
	}
	if n := after.value("latchkey_cache_entries", L{"cache": "secrets"}); n != 1 {
		t.Errorf("secrets cached: %v, want 1", n)
	}
	if got, want := after.value("latchkey_audit_queue_capacity", nil), 8192.0; got != want {
		t.Errorf("audit queue capacity %v, want %v", got, want)
	}

	// The batch-size histogram: its count is the batches stored, its sum
	// the events written, and its buckets grow with their bound.
	h := after.families["latchkey_audit_batch_size_events"].GetMetric()[0].GetHistogram()
	if h.GetSampleSum() != after.value("latchkey_audit_events_written_total", nil) || h.GetSampleCount() < 1 {
		t.Errorf("batch sizes: %d batches, sum %v; want the events written as the sum", h.GetSampleCount(), h.GetSampleSum())
	}
	var last uint64
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() < last || b.GetCumulativeCount() > h.GetSampleCount() {
			t.Errorf("batch size bucket le=%v holds %d after %d, of %d", b.GetUpperBound(), b.GetCumulativeCount(), last, h.GetSampleCount())
		}
		last = b.GetCumulativeCount()
	}
	if strings.Contains(after.text, canary) {
		t.Error("/metrics shows a secret's value")
	}

	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsLabelsAreBounded sends requests whose paths, hosts and methods
// carry a random name, then checks that the name appears nowhere in
// /metrics and that every label value belongs to its bounded set.
func TestMetricsLabelsAreBounded(t *testing.T) {
	e := newKVEnv(t, newFakeClock())
	var b [8]byte
	_, _ = rand.Read(b[:])
	random := "zq" + hex.EncodeToString(b[:])
	adminVault := e.token(e.admin, e.resource())
	adminAPI := e.token(e.admin, client.ManagementAudience)
	for _, rq := range []struct{ method, target, token string }{
		{http.MethodGet, e.authorityHost() + random, ""},
		{http.MethodGet, e.authorityHost() + "api/v1/vaults/" + random, adminAPI},
		{http.MethodGet, e.authorityHost() + "api/v1/hubs/" + random + "/vaults", adminAPI},
		{http.MethodPut, e.authorityHost() + "api/v1/hubs/" + random, adminAPI},
		{http.MethodGet, e.authorityHost() + random + "/v2.0/.well-known/openid-configuration", ""},
		{http.MethodPost, e.authorityHost() + random + "/oauth2/v2.0/token", ""},
		{http.MethodGet, e.vaultURL("default") + "/secrets/" + random + "?" + apiVersion, adminVault},
		{http.MethodGet, e.vaultURL("default") + "/" + random + "?" + apiVersion, adminVault},
		{http.MethodGet, e.vaultURL(random) + "/secrets/x?" + apiVersion, adminVault},
		{strings.ToUpper(random), e.vaultURL("default") + "/secrets/x?" + apiVersion, adminVault},
		{strings.ToUpper(random), e.authorityHost() + "healthz", ""},
	} {
		e.do(rq.method, rq.target, rq.token, "")
	}
	s := e.scrape(t)
	if strings.Contains(strings.ToLower(s.text), random) {
		for _, line := range strings.Split(s.text, "\n") {
			if strings.Contains(strings.ToLower(line), random) {
				t.Errorf("/metrics shows a name taken from a request: %s", line)
			}
		}
	}

	code := regexp.MustCompile(`^[1-9][0-9][0-9]$`)
	bounded := map[string]func(string) bool{
		"surface": in("management", "oauth", "vault", "operations"),
		"method":  in("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"),
		"code":    code.MatchString,
		"operation": func(v string) bool {
			_, known := access.Lookup(v)
			return known || slices.Contains([]string{"latchkey/public", "latchkey/authenticated", "Latchkey.Identity/token/action"}, v)
		},
		"route":       routePattern.MatchString,
		"auth_method": in("client_secret", "client_assertion", "password", "managed_identity"),
		"plane":       in("control", "data", "unknown"),
		"result":      in("allowed", "denied", "hit", "miss"),
		"cache":       in("verified_tokens", "secrets", "vaults"),
	}
	for name, f := range s.families {
		if !strings.HasPrefix(name, "latchkey_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				ok, known := bounded[lp.GetName()]
				if !known {
					t.Errorf("%s has a label %q outside the documented ones", name, lp.GetName())
					continue
				}
				if !ok(lp.GetValue()) {
					t.Errorf("%s{%s=%q}: not in the label's bounded set", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	if got := s.value("latchkey_http_requests_total", L{"method": "OTHER"}); got != 2 {
		t.Errorf("requests with an unknown method: %v, want 2 counted as OTHER", got)
	}
}

// routePattern is the shape of a route table's pattern: an optional method,
// then a path of literal segments and {wildcards}.
var routePattern = regexp.MustCompile(`^([A-Z]+ )?/([A-Za-z0-9.\-]+/|\{[a-zA-Z$]+\}/?|[A-Za-z0-9.\-]+$)*$`)

// in returns whether a value is one of vals.
func in(vals ...string) func(string) bool {
	return func(v string) bool { return slices.Contains(vals, v) }
}
