package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file holds the one fake of the gateway's tests: a small
// OpenAI-compatible upstream, standing in for a provider that lives outside
// the machine. It answers chat completions (JSON, or a server-sent event
// stream), completions and embeddings with usage, fails on request, counts
// its connections, and checks every call it receives: its own credential
// present, no credential of the caller anywhere in the headers.

// upstreamKey is the fake upstream's own credential.
const upstreamKey = "sk-upstream-0123456789abcdef"

// The usage the fake upstream reports for every answer.
const (
	fakePromptTokens     = 7
	fakeCompletionTokens = 5
	fakeEmbeddingTokens  = 3
)

type upstreamMode string

const (
	modeHTTP  upstreamMode = "http"
	modeHTTPS upstreamMode = "https"  // TLS, HTTP/1.1 only
	modeH2    upstreamMode = "https2" // TLS with HTTP/2 offered
)

// seenCall is what the fake upstream received.
type seenCall struct {
	Method, Path, RawQuery string
	Proto                  int // major version
	Header                 http.Header
	Body                   []byte
	Model                  string
}

type fakeUpstream struct {
	t   *testing.T
	srv *httptest.Server
	// authHeader and authValue are the credential the upstream demands.
	authHeader, authValue string
	// secrets must never reach the upstream, in any header.
	secrets []string
	// release, when not nil, holds a stream after its first chunk until it
	// is closed.
	release chan struct{}
	// firstChunkSent is closed once the first chunk of a stream is flushed.
	firstChunkSent chan struct{}
	chunks         []string // the contents of a stream's chunks

	conns atomic.Int64 // connections accepted

	mu    sync.Mutex // guards calls
	calls []seenCall
}

// newFakeUpstream starts a fake upstream served over mode; its base URL is
// srv.URL + "/v1". It demands "Authorization: Bearer upstreamKey".
func newFakeUpstream(t *testing.T, mode upstreamMode, secrets ...string) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{
		t:              t,
		authHeader:     "Authorization",
		authValue:      "Bearer " + upstreamKey,
		secrets:        secrets,
		firstChunkSent: make(chan struct{}),
		chunks:         []string{"Hel", "lo"},
	}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	switch mode {
	case modeHTTP:
		u.srv.Start()
	case modeHTTPS:
		u.srv.StartTLS()
	case modeH2:
		u.srv.EnableHTTP2 = true
		u.srv.StartTLS()
	default:
		t.Fatalf("unknown upstream mode %q", mode)
	}
	t.Cleanup(u.srv.Close)
	return u
}

func (u *fakeUpstream) seen() []seenCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenCall(nil), u.calls...)
}

func (u *fakeUpstream) last() seenCall {
	u.t.Helper()
	calls := u.seen()
	if len(calls) == 0 {
		u.t.Fatal("the upstream received no call")
	}
	return calls[len(calls)-1]
}

type fakeRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (u *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req fakeRequest
	_ = json.Unmarshal(body, &req) // a body that is not JSON is the test's business
	u.mu.Lock()
	u.calls = append(u.calls, seenCall{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Proto: r.ProtoMajor, Header: r.Header.Clone(), Body: body, Model: req.Model})
	u.mu.Unlock()

	if got := r.Header.Get(u.authHeader); got != u.authValue {
		u.t.Errorf("upstream: %s = %q, want the upstream's own credential", u.authHeader, got)
		writeUpstreamError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided")
		return
	}
	for name, values := range r.Header {
		for _, v := range values {
			for _, s := range u.secrets {
				if strings.Contains(v, s) {
					u.t.Errorf("upstream: header %s carries a caller's credential", name)
				}
			}
		}
	}
	w.Header().Set("X-Request-Id", "req_upstream_42")
	w.Header().Set("Set-Cookie", "__cf_bm=upstream-session; Path=/")

	switch {
	case req.Model == "fail-400":
		writeUpstreamError(w, http.StatusBadRequest, "context_length_exceeded", "This model's maximum context length is 8192 tokens.")
	case req.Model == "fail-500":
		writeUpstreamError(w, http.StatusInternalServerError, "server_error", "The server had an error while processing your request.")
	case req.Model == "fail-401": // as when the upstream's own key was revoked
		writeUpstreamError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided.")
	case req.Model == "fail-429":
		w.Header().Set("Retry-After", "7")
		writeUpstreamError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit reached for requests.")
	case r.Method != http.MethodPost:
		writeUpstreamError(w, http.StatusNotFound, "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path)
	case r.URL.Path == "/v1/chat/completions" && req.Stream:
		u.stream(w, r, req)
	case r.URL.Path == "/v1/chat/completions":
		writeJSON(w, fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":%q,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			req.Model, fakePromptTokens, fakeCompletionTokens, fakePromptTokens+fakeCompletionTokens))
	case r.URL.Path == "/v1/completions":
		writeJSON(w, fmt.Sprintf(`{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":%q,`+
			`"choices":[{"index":0,"text":"Hello","finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			req.Model, fakePromptTokens, fakeCompletionTokens, fakePromptTokens+fakeCompletionTokens))
	case r.URL.Path == "/v1/embeddings":
		writeJSON(w, fmt.Sprintf(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],`+
			`"model":%q,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, req.Model, fakeEmbeddingTokens, fakeEmbeddingTokens))
	default:
		writeUpstreamError(w, http.StatusNotFound, "unknown_url", "Unknown request URL: POST "+r.URL.Path)
	}
}

// stream answers a streaming chat completion: one chunk per u.chunks, each
// flushed at once; after the first, it waits for u.release (when set). The
// usage chunk follows when the request asked for it.
func (u *fakeUpstream) stream(w http.ResponseWriter, r *http.Request, req fakeRequest) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	chunk := func(delta string) string {
		return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
			`"choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}],"usage":null}`, req.Model, delta)
	}
	for i, c := range u.chunks {
		fmt.Fprintf(w, "data: %s\n\n", chunk(c))
		if err := rc.Flush(); err != nil {
			u.t.Errorf("upstream: flush: %v", err)
			return
		}
		if i == 0 {
			select {
			case <-u.firstChunkSent:
			default:
				close(u.firstChunkSent)
			}
			if u.release != nil {
				select {
				case <-u.release:
				case <-r.Context().Done():
					return
				case <-time.After(30 * time.Second):
					u.t.Errorf("upstream: the stream was never released")
					return
				}
			}
		}
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,"+
			"\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
			req.Model, fakePromptTokens, fakeCompletionTokens, fakePromptTokens+fakeCompletionTokens)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// upstreamErrorBody is the body the fake upstream answers with status.
func upstreamErrorBody(code, message string) string {
	return fmt.Sprintf(`{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":%q}}`, message, code)
}

func writeUpstreamError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, upstreamErrorBody(code, message))
}
