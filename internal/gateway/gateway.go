// Package gateway forwards calls of AI services accounts to their upstream
// providers: OpenAI-path calls (/accounts/{account}/v1/...) and Azure OpenAI
// calls (/accounts/{account}/openai/deployments/{d}/...), whose deployment
// becomes the request body's "model". On the way it removes the caller's
// credential and injects the upstream's (Upstream.Inject), passes server-sent
// event streams through as they arrive, meters usage (requests, prompt and
// completion tokens from the responses' usage fields) per account and per
// caller, and enforces requests- and tokens-per-minute limits per caller key.
//
// gateway is an adapter: it uses net/http and imports no domain package. It
// does not authenticate or authorize: internal/httpapi does that, then hands
// the call, the upstream and the caller to a Gateway. Errors it returns are
// internal/errs values, which httpapi's error writer maps to a status and a
// body; once a response has started it returns nil.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/errs"
)

// Upstream is where a call goes and how it is authenticated there.
type Upstream struct {
	// BaseURL is the upstream's OpenAI-compatible base, e.g. http://127.0.0.1:9000/v1
	// or https://api.openai.com/v1. Paths are appended: BaseURL + "/chat/completions".
	BaseURL *url.URL
	// Inject sets the upstream credential on the outgoing request headers
	// (e.g. Authorization: Bearer sk-..., or api-key: ...). Nil sends none.
	// It runs after the caller's credential headers were removed.
	Inject func(h http.Header)
	// Deployments maps an Azure OpenAI deployment name to the upstream model;
	// a deployment not in the map is sent as the model name unchanged.
	Deployments map[string]string
}

// Caller is who is calling, for metering and rate limits. Key is the limit
// key: "key1"/"key2" (subscription key or STS token minted from it) or
// "principal:<oid>". It names the caller; it is never the credential itself.
type Caller struct {
	Account   string // account name (metering per account)
	Key       string // limit and metering key (per caller)
	Principal string // principal object id when authenticated by Entra token, else ""
}

// Limits are per-minute limits of one caller key within an account; 0 means
// unlimited.
type Limits struct {
	RequestsPerMinute int
	TokensPerMinute   int
}

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 32 << 20

// Options configure a Gateway. The zero value works.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of the rate limits and of LastUsed; nil means time.Now.
	Now func() time.Time
	// Transport carries calls to the upstreams; nil means NewTransport(nil):
	// keep-alive, HTTP/2 where the upstream offers it.
	Transport http.RoundTripper
	// Registerer, when set, receives the gateway's metrics. Their labels are
	// bounded (status codes, token kinds, limit kinds): never an account or key.
	Registerer prometheus.Registerer
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxCallDuration bounds how long the answer to one call may take to
	// write, streams included, replacing the server's WriteTimeout for
	// gateway calls; 0 means DefaultMaxCallDuration.
	MaxCallDuration time.Duration
}

// DefaultMaxCallDuration bounds a call when Options.MaxCallDuration is 0:
// long enough for a reasoning model's longest answers.
const DefaultMaxCallDuration = 30 * time.Minute

// Gateway forwards calls to upstreams, meters them and enforces limits. It is
// safe for concurrent use.
type Gateway struct {
	log     *slog.Logger
	now     func() time.Time
	maxBody int64
	maxCall time.Duration
	proxy   *httputil.ReverseProxy
	meter   *meter
	metrics *metrics // nil without a Registerer
}

// New returns a Gateway configured by opts.
func New(opts Options) *Gateway {
	g := &Gateway{
		log:     opts.Logger,
		now:     opts.Now,
		maxBody: opts.MaxBodyBytes,
		maxCall: opts.MaxCallDuration,
		meter:   newMeter(),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	if g.maxCall <= 0 {
		g.maxCall = DefaultMaxCallDuration
	}
	if opts.Registerer != nil {
		g.metrics = newMetrics(opts.Registerer)
	}
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport(nil)
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		// Responses of unknown length and text/event-stream are flushed on
		// every write (ReverseProxy does that by itself, as if FlushInterval
		// were -1 for them); bodies of known length are written as read.
		ErrorLog:   slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BufferPool: &bufferPool{},
	}
	return g
}

// The headers that carry a caller's credential or steer the upstream account
// it is billed to. They are removed before a call is forwarded; the upstream's
// own credential (and organization, if any) comes from Upstream.Inject.
var callerHeaders = []string{
	"Authorization",
	"Api-Key",
	"Ocp-Apim-Subscription-Key",
	"Cookie",
	"OpenAI-Organization",
	"OpenAI-Project",
}

// The correlation headers: Latchkey's request id goes out in both; an
// upstream's own id is kept under upstreamRequestID.
const (
	requestIDHeader   = "X-Request-Id"
	apimRequestID     = "Apim-Request-Id"
	upstreamRequestID = "X-Upstream-Request-Id"
)

// call is what the proxy's hooks need to know about one forwarded request. It
// travels in the request's context.
type call struct {
	g     *Gateway
	up    *Upstream
	path  string // the upstream path: BaseURL's path + the mapped rest
	query string // the upstream query, already encoded
	// body is the request body, read whole before the call is forwarded:
	// so the transport may send it again on a fresh connection when a
	// kept-alive one turns out dead, and no read of the caller's body can
	// race with the answer (net/http's HTTP/1 server closes a request body
	// once the response starts; golang/go#40747).
	body    []byte
	op      string // the Serve method, for errors
	account string
	// requestID is Latchkey's id of the request, for logs.
	requestID string
	caller    *callerState
	err       error // set by proxyError: the call failed before a response started
}

type callKey struct{}

// ServeOpenAI forwards an OpenAI-path call: rest is the path after
// "/accounts/{account}/v1", e.g. "/chat/completions"; the body and the query
// pass unchanged. It returns Invalid for a bad path or an oversized body,
// Throttled (with RetryAfter) when c is over lim, and Unavailable when the
// upstream cannot be reached; nil once a response has started.
func (g *Gateway) ServeOpenAI(w http.ResponseWriter, r *http.Request, up Upstream, c Caller, lim Limits, rest string) error {
	const op = "gateway.ServeOpenAI"
	rest, err := cleanRest(op, rest)
	if err != nil {
		return err
	}
	body, err := readBody(op, http.MaxBytesReader(w, r.Body, g.maxBody), g.maxBody)
	if err != nil {
		return err
	}
	cl := &call{g: g, up: &up, body: body, query: r.URL.RawQuery}
	cl.path = joinPath(up.BaseURL, rest)
	return g.forward(op, w, r, cl, c, lim)
}

// ServeAzureOpenAI forwards an Azure OpenAI call: rest is the path after
// "/accounts/{account}/openai", e.g. "/deployments/gpt/chat/completions"; the
// api-version query is dropped; the deployment, mapped by up.Deployments,
// becomes the body's "model". It returns Invalid for a body that is not a JSON
// object (naming what was wrong) or is too large, NotFound for an operation
// the gateway does not serve, Throttled (with RetryAfter) when c is over lim,
// and Unavailable when the upstream cannot be reached; nil once a response has
// started.
func (g *Gateway) ServeAzureOpenAI(w http.ResponseWriter, r *http.Request, up Upstream, c Caller, lim Limits, rest string) error {
	const op = "gateway.ServeAzureOpenAI"
	deployment, operation, err := azurePath(op, r.Method, rest)
	if err != nil {
		return err
	}
	model := deployment
	if m, ok := up.Deployments[deployment]; ok {
		model = m
	}
	body, err := rewriteModel(op, http.MaxBytesReader(w, r.Body, g.maxBody), g.maxBody, model)
	if err != nil {
		return err
	}
	cl := &call{g: g, up: &up, body: body, query: dropAPIVersion(r.URL.RawQuery)}
	cl.path = joinPath(up.BaseURL, operation)
	return g.forward(op, w, r, cl, c, lim)
}

// forward admits the call under c's limits and proxies it.
func (g *Gateway) forward(op string, w http.ResponseWriter, r *http.Request, cl *call, c Caller, lim Limits) error {
	if cl.up.BaseURL == nil {
		return errs.E(errs.Internal, op, "", errors.New("gateway: the upstream has no BaseURL"))
	}
	key := c.Key
	if key == "" && c.Principal != "" {
		key = "principal:" + c.Principal
	}
	if c.Account == "" || key == "" {
		return errs.E(errs.Internal, op, "", errors.New("gateway: the caller has no account or key"))
	}
	id := w.Header().Get(requestIDHeader)
	if id == "" {
		id = newRequestID()
		w.Header().Set(requestIDHeader, id)
	}
	w.Header().Set(apimRequestID, id)

	cl.op, cl.account, cl.requestID = op, c.Account, id
	cl.caller = g.meter.caller(c.Account, key)
	if over := cl.caller.admit(g.now(), lim); over != nil {
		g.metrics.throttled(over.limit)
		e := errs.E(errs.Throttled, op, over.message(c.Account, key), nil)
		e.RetryAfter = over.retryAfter
		return e
	}
	rc := http.NewResponseController(w)
	// The server's WriteTimeout suits API calls, not a model's stream: give
	// the answer maxCall from now. A socket deadline is wall-clock time, not
	// the limits' clock. Writers that cannot (tests' recorders) need not.
	_ = rc.SetWriteDeadline(time.Now().Add(g.maxCall))
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, cl)))
	return cl.err
}

// rewrite builds the outgoing request: the upstream's URL, the caller's
// credential removed and the upstream's injected, the rewritten body if any.
// ReverseProxy has already removed hop-by-hop and X-Forwarded-* headers.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	cl := pr.In.Context().Value(callKey{}).(*call)
	out := pr.Out
	base := cl.up.BaseURL
	out.URL = &url.URL{Scheme: base.Scheme, Host: base.Host, Path: cl.path, RawQuery: cl.query}
	out.Host = ""
	for _, h := range callerHeaders {
		out.Header.Del(h)
	}
	// Let the transport ask for gzip and decompress it, so the usage scanner
	// reads plain JSON; the answer to the caller is not compressed.
	out.Header.Del("Accept-Encoding")
	// The body is at hand: no need to wait for a 100 Continue.
	out.Header.Del("Expect")
	out.Header.Del("Content-Length")
	out.Header.Del("Transfer-Encoding")
	if body := cl.body; len(body) == 0 {
		out.Body, out.ContentLength, out.GetBody = nil, 0, nil
	} else {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if cl.up.Inject != nil {
		cl.up.Inject(out.Header)
	}
}

// modifyResponse keeps the upstream's request id apart from Latchkey's, drops
// the upstream's cookies and starts metering the body.
func (g *Gateway) modifyResponse(res *http.Response) error {
	cl := res.Request.Context().Value(callKey{}).(*call)
	h := res.Header
	upID := h.Get(requestIDHeader)
	if upID == "" {
		upID = h.Get(apimRequestID)
	}
	h.Del(requestIDHeader)
	h.Del(apimRequestID)
	if upID != "" {
		h.Set(upstreamRequestID, upID)
	}
	h.Del("Set-Cookie")
	g.metrics.response(res.StatusCode)
	if scan := scannerFor(h.Get("Content-Type")); scan != nil {
		res.Body = &meteredBody{rc: res.Body, scan: scan, cl: cl}
	}
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		// The upstream refused Latchkey's credential, or the account's: the
		// caller cannot fix that, an operator can.
		g.log.Warn("the upstream refused the call", "account", cl.account, "status", res.StatusCode,
			"request_id", cl.requestID, "upstream_host", cl.up.BaseURL.Host)
	}
	return nil
}

// charge counts the tokens an answer reported against the call's caller.
func (cl *call) charge(u tokenUsage) {
	cl.caller.charge(cl.g.now(), u)
	cl.g.metrics.tokens(u)
}

// proxyError records why the upstream could not be called; no response has
// started, so forward returns it for httpapi to write.
func (g *Gateway) proxyError(_ http.ResponseWriter, r *http.Request, err error) {
	cl := r.Context().Value(callKey{}).(*call)
	g.metrics.upstreamError()
	switch {
	case r.Context().Err() != nil:
		cl.err = errs.E(errs.Unavailable, cl.op, "the request was cancelled before the upstream answered", err)
	default:
		cl.err = errs.E(errs.Unavailable, cl.op, "the upstream could not be reached or did not answer: retry later", err)
	}
}

// cleanRest checks an OpenAI path's rest: it must be a path below the base, so
// it may not climb out of it with "." or ".." segments.
func cleanRest(op, rest string) (string, error) {
	if !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	for seg := range strings.SplitSeq(rest[1:], "/") {
		if seg == "." || seg == ".." {
			return "", errs.Invalidf(op, "path", "the path %q has a %q segment: give the operation's path below /v1, e.g. /chat/completions", rest, seg)
		}
	}
	if strings.ContainsAny(rest, "?#") || strings.ContainsFunc(rest, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", errs.Invalidf(op, "path", "the path %q holds a character that cannot be forwarded", rest)
	}
	return rest, nil
}

// joinPath appends rest (starting with "/") to base's path.
func joinPath(base *url.URL, rest string) string {
	if base == nil {
		return rest
	}
	return strings.TrimSuffix(base.Path, "/") + rest
}

// dropAPIVersion removes api-version from an encoded query, keeping the rest
// as the caller wrote it.
func dropAPIVersion(raw string) string {
	if raw == "" {
		return ""
	}
	var kept []string
	for part := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil && n == "api-version" {
			continue
		}
		if part != "" {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "&")
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// bufferPool recycles ReverseProxy's copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
