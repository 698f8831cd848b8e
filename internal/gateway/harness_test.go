package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/errs"
)

// The test's front is a small HTTPS server that mounts the gateway the way
// internal/httpapi does: it gives each request an id, authenticates the
// caller from the credential it sends (a fixed table here), and hands the
// call to ServeOpenAI or ServeAzureOpenAI, writing a returned error with the
// Azure OpenAI error shape.

// The callers' credentials, and the caller key each stands for.
const (
	callerSecret1 = "caller-key1-secret-abcdef"
	callerSecret2 = "caller-key2-secret-ghijkl"
	// entraTokenPrefix + an object id is an "Entra token" of that principal.
	entraTokenPrefix = "entra-token-for-"
)

var callerKeys = map[string]string{callerSecret1: "key1", callerSecret2: "key2"}

// allCallerSecrets lists every credential a test caller may send, for the
// upstream to watch for.
var allCallerSecrets = []string{callerSecret1, callerSecret2, entraTokenPrefix}

// testClock is a clock the tests move by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *testClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }

type harnessConfig struct {
	mode        upstreamMode
	limits      Limits
	deployments map[string]string
	maxBody     int64
	inject      func(http.Header) // nil: Authorization: Bearer upstreamKey
	// writeTimeout is the front server's WriteTimeout (0: none).
	writeTimeout time.Duration
}

type harness struct {
	t     *testing.T
	up    *fakeUpstream
	g     *Gateway
	front *httptest.Server
	clock *testClock
	reg   *prometheus.Registry
	cfg   harnessConfig
	// upstream is what the front hands the gateway.
	upstream Upstream
	// logs returns what the gateway logged so far.
	logs func() string
	ids  atomic.Int64

	// inflight counts the calls the front is serving. A caller may have read
	// a whole answer before the gateway has closed the upstream's body, which
	// is when it charges the usage: tests wait for it (settle) before
	// reading usage or making a call that limits depend on.
	inflight sync.WaitGroup

	mu      sync.Mutex // guards lastErr
	lastErr error
}

func newHarness(t *testing.T, cfg harnessConfig) *harness {
	t.Helper()
	if cfg.mode == "" {
		cfg.mode = modeHTTPS
	}
	h := &harness{t: t, cfg: cfg, clock: newTestClock(), reg: prometheus.NewRegistry()}
	h.up = newFakeUpstream(t, cfg.mode, allCallerSecrets...)
	base, err := url.Parse(h.up.srv.URL + "/v1")
	if err != nil {
		t.Fatal(err)
	}
	inject := cfg.inject
	if inject == nil {
		inject = func(hd http.Header) { hd.Set("Authorization", "Bearer "+upstreamKey) }
	}
	h.upstream = Upstream{BaseURL: base, Inject: inject, Deployments: cfg.deployments}
	var tlsConf *tls.Config
	if h.up.srv.TLS != nil {
		roots := x509.NewCertPool()
		roots.AddCert(h.up.srv.Certificate())
		tlsConf = &tls.Config{RootCAs: roots}
	}
	transport := NewTransport(tlsConf)
	t.Cleanup(transport.CloseIdleConnections)
	var log *slog.Logger
	log, h.logs = testLogger(t)
	h.g = New(Options{Now: h.clock.Now, Transport: transport, Registerer: h.reg, MaxBodyBytes: cfg.maxBody, Logger: log})

	mux := http.NewServeMux()
	mux.HandleFunc("/accounts/{account}/v1/{rest...}", h.handle(h.g.ServeOpenAI))
	mux.HandleFunc("/accounts/{account}/openai/{rest...}", h.handle(h.g.ServeAzureOpenAI))
	h.front = httptest.NewUnstartedServer(mux)
	h.front.Config.WriteTimeout = cfg.writeTimeout
	h.front.StartTLS()
	t.Cleanup(h.front.Close)
	return h
}

type serveFunc func(http.ResponseWriter, *http.Request, Upstream, Caller, Limits, string) error

func (h *harness) handle(serve serveFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.inflight.Add(1)
		defer h.inflight.Done()
		id := "lk-" + strconv.FormatInt(h.ids.Add(1), 10)
		w.Header().Set("X-Request-Id", id)
		c, ok := authenticate(r)
		if !ok {
			writeTestError(w, errs.E(errs.Unauthenticated, "test", "no known credential", nil))
			return
		}
		c.Account = r.PathValue("account")
		err := serve(w, r, h.upstream, c, h.cfg.limits, "/"+r.PathValue("rest"))
		h.mu.Lock()
		h.lastErr = err
		h.mu.Unlock()
		if err != nil {
			writeTestError(w, err)
		}
	}
}

// settle waits until the front has finished serving every call.
func (h *harness) settle() { h.inflight.Wait() }

// usage is the gateway's usage of account once every call has finished.
func (h *harness) usage(account string) AccountUsage {
	h.settle()
	return h.g.Usage(account)
}

func (h *harness) err() error {
	h.settle()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// authenticate stands in for httpapi: a subscription key (api-key,
// Ocp-Apim-Subscription-Key or a bearer) names key1 or key2; a bearer
// "entra-token-for-<oid>" names a principal.
func authenticate(r *http.Request) (Caller, bool) {
	cred := r.Header.Get("Api-Key")
	if cred == "" {
		cred = r.Header.Get("Ocp-Apim-Subscription-Key")
	}
	if cred == "" {
		cred, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if key, ok := callerKeys[cred]; ok {
		return Caller{Key: key}, true
	}
	if oid, ok := strings.CutPrefix(cred, entraTokenPrefix); ok && oid != "" {
		return Caller{Principal: oid, Key: "principal:" + oid}, true
	}
	return Caller{}, false
}

// testStatus stands in for httpapi's statusOf.
var testStatus = map[errs.Kind]int{
	errs.Internal: 500, errs.Invalid: 400, errs.Unauthenticated: 401, errs.NotFound: 404,
	errs.Throttled: 429, errs.Unavailable: 503,
}

// writeTestError writes err in the Azure OpenAI error shape, as httpapi's
// writer for the AI services surface is to do.
func writeTestError(w http.ResponseWriter, err error) {
	status := testStatus[errs.KindOf(err)]
	var e *errs.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": strconv.Itoa(status), "message": errs.Message(err)}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// openAIURL is the front's URL of an OpenAI-path call of account.
func (h *harness) openAIURL(account, rest string) string {
	return h.front.URL + "/accounts/" + account + "/v1" + rest
}

// post sends a JSON body to the front with the given headers and returns the
// answer with its whole body.
func (h *harness) post(url, body string, header map[string]string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.front.Client().Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("POST %s: read body: %v", url, err)
	}
	h.settle()
	return resp, string(b)
}

// chat posts a non-streaming chat completion as key1 and checks it succeeded.
func (h *harness) chat(account string) {
	h.t.Helper()
	resp, body := h.post(h.openAIURL(account, "/chat/completions"), `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`,
		map[string]string{"Authorization": "Bearer " + callerSecret1})
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("chat: status %d, body %s", resp.StatusCode, body)
	}
}

// testLogger returns a logger into a buffer that, when the test ends, must
// hold no credential of a caller or of the upstream.
func testLogger(t *testing.T) (*slog.Logger, func() string) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range append([]string{upstreamKey}, allCallerSecrets...) {
			if strings.Contains(buf.String(), s) {
				t.Errorf("the gateway's log holds a credential:\n%s", buf.String())
			}
		}
	})
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})), logs
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// callContext returns a context for one client call that fails the test rather than
// hang when the gateway holds data back.
func callContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, want, body)
	}
}
