package gateway

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
)

var allModes = []upstreamMode{modeHTTP, modeHTTPS, modeH2}

// TestCredentialsReplaced: whatever credential headers the caller sends, the
// upstream receives only its own credential; cookies and the headers that
// steer billing are gone, and X-Forwarded-* are not invented.
func TestCredentialsReplaced(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, harnessConfig{mode: mode})
			resp, body := h.post(h.openAIURL("acct", "/chat/completions"), `{"model":"gpt-4o","messages":[]}`, map[string]string{
				"Authorization":             "Bearer " + callerSecret1,
				"Api-Key":                   callerSecret2,
				"Ocp-Apim-Subscription-Key": callerSecret2,
				"Cookie":                    "session=" + callerSecret1,
				"OpenAI-Organization":       "org-caller",
				"OpenAI-Project":            "proj-caller",
				"X-Forwarded-For":           "203.0.113.9",
				"X-Custom-Trace":            "kept",
			})
			mustStatus(t, resp, body, http.StatusOK)
			got := h.up.last()
			if v := got.Header.Get("Authorization"); v != "Bearer "+upstreamKey {
				t.Errorf("upstream Authorization = %q, want the upstream's key", v)
			}
			for _, name := range []string{"Api-Key", "Ocp-Apim-Subscription-Key", "Cookie", "OpenAI-Organization", "OpenAI-Project", "X-Forwarded-For"} {
				if v, ok := got.Header[name]; ok {
					t.Errorf("upstream received %s: %q; it must be removed", name, v)
				}
			}
			if v := got.Header.Get("X-Custom-Trace"); v != "kept" {
				t.Errorf("upstream X-Custom-Trace = %q, want other headers passed through", v)
			}
			wantProto := 1
			if mode == modeH2 {
				wantProto = 2
			}
			if got.Proto != wantProto {
				t.Errorf("upstream saw HTTP/%d, want HTTP/%d", got.Proto, wantProto)
			}
		})
	}
}

// TestInjectHeaderName: Inject decides the header, e.g. an Azure upstream's
// api-key; the caller's api-key is not the one that arrives.
func TestInjectHeaderName(t *testing.T) {
	h := newHarness(t, harnessConfig{inject: func(hd http.Header) { hd.Set("Api-Key", upstreamKey) }})
	h.up.authHeader, h.up.authValue = "Api-Key", upstreamKey
	resp, body := h.post(h.openAIURL("acct", "/embeddings"), `{"model":"text-embedding-3-small","input":"x"}`,
		map[string]string{"Api-Key": callerSecret1})
	mustStatus(t, resp, body, http.StatusOK)
	got := h.up.last()
	if v := got.Header.Values("Api-Key"); len(v) != 1 || v[0] != upstreamKey {
		t.Errorf("upstream api-key = %q, want only the upstream's key", v)
	}
	if v := got.Header.Get("Authorization"); v != "" {
		t.Errorf("upstream Authorization = %q, want none", v)
	}
}

// TestUpstreamErrorsPassThrough: an upstream's error status, body and
// Retry-After reach the caller unchanged, with Latchkey's request id in
// X-Request-Id and apim-request-id, the upstream's own id kept apart, and its
// cookies dropped.
func TestUpstreamErrorsPassThrough(t *testing.T) {
	cases := []struct {
		model      string
		status     int
		body       string
		retryAfter string
	}{
		{"fail-400", 400, upstreamErrorBody("context_length_exceeded", "This model's maximum context length is 8192 tokens."), ""},
		{"fail-401", 401, upstreamErrorBody("invalid_api_key", "Incorrect API key provided."), ""},
		{"fail-500", 500, upstreamErrorBody("server_error", "The server had an error while processing your request."), ""},
		{"fail-429", 429, upstreamErrorBody("rate_limit_exceeded", "Rate limit reached for requests."), "7"},
	}
	h := newHarness(t, harnessConfig{})
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			refusalsBefore := strings.Count(h.logs(), "the upstream refused the call")
			resp, body := h.post(h.openAIURL("acct", "/chat/completions"), `{"model":"`+tc.model+`"}`,
				map[string]string{"Api-Key": callerSecret1})
			if resp.StatusCode != tc.status || body != tc.body {
				t.Errorf("got %d %s\nwant %d %s", resp.StatusCode, body, tc.status, tc.body)
			}
			id := resp.Header.Values("X-Request-Id")
			if len(id) != 1 || !strings.HasPrefix(id[0], "lk-") {
				t.Errorf("X-Request-Id = %q, want Latchkey's id alone", id)
			}
			if apim := resp.Header.Get("Apim-Request-Id"); len(id) == 1 && apim != id[0] {
				t.Errorf("apim-request-id = %q, want %q", apim, id[0])
			}
			if up := resp.Header.Get("X-Upstream-Request-Id"); up != "req_upstream_42" {
				t.Errorf("X-Upstream-Request-Id = %q, want the upstream's id", up)
			}
			if c := resp.Header.Get("Set-Cookie"); c != "" {
				t.Errorf("Set-Cookie = %q, want the upstream's cookies dropped", c)
			}
			if ra := resp.Header.Get("Retry-After"); ra != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", ra, tc.retryAfter)
			}
			if err := h.err(); err != nil {
				t.Errorf("Serve returned %v after the response started; want nil", err)
			}
			refusals := strings.Count(h.logs(), "the upstream refused the call")
			if logged := refusals > refusalsBefore; logged != (tc.status == 401) {
				t.Errorf("logged an upstream refusal: %v, want %v; log:\n%s", logged, tc.status == 401, h.logs())
			}
		})
	}
}

// TestUpstreamUnreachable: when nothing answers at the upstream, Serve
// returns Unavailable before any response, for httpapi to write.
func TestUpstreamUnreachable(t *testing.T) {
	h := newHarness(t, harnessConfig{mode: modeHTTP})
	h.up.srv.Close()
	resp, body := h.post(h.openAIURL("acct", "/chat/completions"), `{"model":"gpt-4o"}`, map[string]string{"Api-Key": callerSecret1})
	mustStatus(t, resp, body, http.StatusServiceUnavailable)
	if k := errs.KindOf(h.err()); k != errs.Unavailable {
		t.Errorf("Serve returned %v (kind %v), want Unavailable", h.err(), k)
	}
	if !strings.Contains(body, "upstream could not be reached") {
		t.Errorf("body %s does not say the upstream could not be reached", body)
	}
	if strings.Contains(body, h.up.srv.Listener.Addr().String()) {
		t.Errorf("body %s names the upstream's address", body)
	}
}

// TestOpenAIPaths: the rest of an OpenAI path and its query go to the
// upstream below its base path; paths that would climb out are refused.
func TestOpenAIPaths(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	resp, body := h.post(h.openAIURL("acct", "/completions?user=u1&x=%2F"), `{"model":"gpt-3.5-turbo-instruct","prompt":"Hi"}`,
		map[string]string{"Api-Key": callerSecret1})
	mustStatus(t, resp, body, http.StatusOK)
	if got := h.up.last(); got.Path != "/v1/completions" || got.RawQuery != "user=u1&x=%2F" {
		t.Errorf("upstream got %s?%s, want /v1/completions?user=u1&x=%%2F", got.Path, got.RawQuery)
	}

	for _, rest := range []string{"/../admin", "/chat/./completions", "/a/..", "/x\x00y"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/accounts/acct/v1/x", strings.NewReader("{}"))
		err := h.g.ServeOpenAI(w, r, h.upstream, Caller{Account: "acct", Key: "key1"}, Limits{}, rest)
		if errs.KindOf(err) != errs.Invalid {
			t.Errorf("ServeOpenAI(rest %q) = %v, want Invalid", rest, err)
		}
	}
	if n := len(h.up.seen()); n != 1 {
		t.Errorf("the upstream received %d calls, want 1 (refused paths must not be forwarded)", n)
	}
}

// TestOpenAIBodyTooLarge: a body over MaxBodyBytes is refused with Invalid.
func TestOpenAIBodyTooLarge(t *testing.T) {
	h := newHarness(t, harnessConfig{maxBody: 64})
	resp, body := h.post(h.openAIURL("acct", "/chat/completions"), `{"model":"gpt-4o","messages":[{"role":"user","content":"`+strings.Repeat("x", 200)+`"}]}`,
		map[string]string{"Api-Key": callerSecret1})
	mustStatus(t, resp, body, http.StatusBadRequest)
	if !strings.Contains(body, "larger than 64 bytes") {
		t.Errorf("body %s does not say the limit", body)
	}
}

// TestConnectionReuse: sequential calls, JSON and streams, share one
// connection to the upstream (keep-alive on HTTP/1.1, one HTTP/2 connection).
func TestConnectionReuse(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, harnessConfig{mode: mode})
			for i := range 10 {
				body := `{"model":"gpt-4o","messages":[]}`
				if i%2 == 1 {
					body = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`
				}
				resp, got := h.post(h.openAIURL("acct", "/chat/completions"), body, map[string]string{"Api-Key": callerSecret1})
				mustStatus(t, resp, got, http.StatusOK)
			}
			if n := h.up.conns.Load(); n != 1 {
				t.Errorf("10 sequential calls opened %d connections to the upstream, want 1", n)
			}
		})
	}
}

// TestStreamFlushedPerEvent: with a plain HTTP client, the first event of a
// stream reaches the caller while the upstream still holds the second.
func TestStreamFlushedPerEvent(t *testing.T) {
	h := newHarness(t, harnessConfig{mode: modeH2})
	h.up.release = make(chan struct{})
	req, err := http.NewRequestWithContext(callContext(t), http.MethodPost, h.openAIURL("acct", "/chat/completions"),
		strings.NewReader(`{"model":"gpt-4o","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Api-Key", callerSecret1)
	resp, err := h.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() {
		t.Fatalf("no first event before the upstream's second: %v", lines.Err())
	}
	if first := lines.Text(); !strings.Contains(first, `"content":"Hel"`) {
		t.Fatalf("first line %q, want the first chunk", first)
	}
	close(h.up.release) // only now may the upstream send the rest
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if !strings.Contains(rest.String(), `"content":"lo"`) || !strings.HasSuffix(rest.String(), "data: [DONE]\n\n") {
		t.Errorf("the rest of the stream is %q", rest.String())
	}
}

// TestMissingCaller: a caller without an account or key is the wiring's
// mistake, an Internal error, and nothing is forwarded.
func TestMissingCaller(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	base, _ := url.Parse(h.up.srv.URL)
	for _, c := range []Caller{{Key: "key1"}, {Account: "acct"}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
		if err := h.g.ServeOpenAI(w, r, Upstream{BaseURL: base}, c, Limits{}, "/chat/completions"); errs.KindOf(err) != errs.Internal || err == nil {
			t.Errorf("ServeOpenAI(caller %+v) = %v, want an Internal error", c, err)
		}
	}
	if n := len(h.up.seen()); n != 0 {
		t.Errorf("the upstream received %d calls, want 0", n)
	}
}

// TestUpstreamAnswersBeforeReadingBody: an upstream may answer, and stream,
// before it has read the whole request body (net/http's HTTP/1 server
// closes a request body once the response starts, golang/go#40747, so a
// proxy that still reads the caller's body then cuts it short). Here the
// upstream sends its first event after reading 1 KiB of a 1 MiB body, then
// reads the rest; it must get all of it, and the caller the whole stream.
func TestUpstreamAnswersBeforeReadingBody(t *testing.T) {
	const size = 1 << 20
	var got atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var head [1024]byte
		if _, err := io.ReadFull(r.Body, head[:]); err != nil {
			t.Errorf("upstream: read the first KiB: %v", err)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"n\":1}\n\n")
		_ = http.NewResponseController(w).Flush()
		n, err := io.Copy(io.Discard, r.Body)
		got.Store(int64(len(head)) + n)
		if err != nil {
			t.Errorf("upstream: read the rest of the body: %v", err)
		}
		fmt.Fprintf(w, "data: {\"usage\":{\"prompt_tokens\":%d}}\n\n", got.Load())
	}))
	up.EnableHTTP2 = false
	up.StartTLS()
	t.Cleanup(up.Close)
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())
	base, _ := url.Parse(up.URL + "/v1")
	transport := NewTransport(&tls.Config{RootCAs: roots})
	t.Cleanup(transport.CloseIdleConnections)
	g := New(Options{Transport: transport})
	var inflight sync.WaitGroup // see harness.inflight
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Done()
		if err := g.ServeOpenAI(w, r, Upstream{BaseURL: base}, Caller{Account: "acct", Key: "key1"}, Limits{}, "/chat/completions"); err != nil {
			writeTestError(w, err)
		}
	}))
	front.StartTLS()
	t.Cleanup(front.Close)

	req, err := http.NewRequestWithContext(callContext(t), http.MethodPost, front.URL, strings.NewReader(strings.Repeat("x", size)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the stream: %v (got %q)", err, body)
	}
	if got.Load() != size || !strings.Contains(string(body), fmt.Sprintf(`"prompt_tokens":%d`, size)) {
		t.Errorf("the upstream read %d of %d bytes; the caller got %q", got.Load(), size, body)
	}
	inflight.Wait()
	if u := g.Usage("acct"); u.PromptTokens != size {
		t.Errorf("metered %d prompt tokens, want %d", u.PromptTokens, size)
	}
}

// TestStreamOutlivesWriteTimeout: a stream may last longer than the server's
// WriteTimeout (latchkey serve sets 2 minutes; here 100 ms): the gateway
// gives its answer MaxCallDuration instead.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	h := newHarness(t, harnessConfig{writeTimeout: 100 * time.Millisecond})
	h.up.release = make(chan struct{})
	go func() {
		<-h.up.firstChunkSent
		time.Sleep(300 * time.Millisecond) // past the server's WriteTimeout
		close(h.up.release)
	}()
	resp, body := h.post(h.openAIURL("acct", "/chat/completions"), `{"model":"gpt-4o","stream":true}`, asKey1)
	mustStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(body, `"content":"lo"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("the stream was cut: %q", body)
	}
}
