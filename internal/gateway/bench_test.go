package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The benchmarks put the gateway between a client and an OpenAI-compatible
// upstream, all real HTTPS servers on loopback in this process, and compare
// each call with the same call made directly to the upstream, and through a
// bare httputil.ReverseProxy (the cost of the hop alone):
//
//	client ──TLS──▶ upstream                                (direct)
//	client ──TLS──▶ ReverseProxy ──TLS──▶ upstream          (proxy)
//	client ──TLS──▶ front + Gateway ──TLS──▶ upstream       (gateway)
//
// The front mounts the gateway as httpapi does (minus authentication, which
// here is one header compare) with limits set but never reached, so the
// limiter and the meter run. docs/benchmarks.md records the figures.

// benchAnswer is a chat completion of typical size with its usage.
var benchAnswer = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},` +
	`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18,` +
	`"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_bench"}`)

// benchStream is a short streamed chat completion: 8 content chunks, the usage
// chunk and [DONE], each event written and flushed on its own.
var benchStream = func() [][]byte {
	var events [][]byte
	for _, w := range []string{"Hello", "!", " How", " can", " I", " help", " you", " today?"} {
		events = append(events, fmt.Appendf(nil, `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,`+
			`"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}],"usage":null}`+"\n\n", w))
	}
	events = append(events, []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,`+
		`"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":8,"total_tokens":17}}`+"\n\n"),
		[]byte("data: [DONE]\n\n"))
	return events
}()

const (
	benchChatBody   = `{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}`
	benchStreamBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}`
)

func benchUpstream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
		http.Error(w, "wrong key", http.StatusUnauthorized)
		return
	}
	if !bytes.Contains(body, []byte(`"stream":true`)) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(benchAnswer)))
		_, _ = w.Write(benchAnswer)
		return
	}
	// X-Bench-Pace spaces the events, as a model's tokens are; without it
	// they go out back to back.
	pace, _ := time.ParseDuration(r.Header.Get("X-Bench-Pace"))
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i, e := range benchStream {
		if i > 0 && pace > 0 {
			time.Sleep(pace)
		}
		_, _ = w.Write(e)
		_ = rc.Flush()
	}
}

// benchPath is one way to the upstream: its name, URL and the credential
// header its callers send.
type benchPath struct {
	name, url         string
	authName, authVal string
}

// benchRig is the servers of a benchmark and the three ways to call: direct,
// through a bare httputil.ReverseProxy (the yardstick: the cost of any Go
// proxy hop), and through the gateway.
type benchRig struct {
	direct, proxy, gateway benchPath
	roots                  *x509.CertPool
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	up := httptest.NewUnstartedServer(http.HandlerFunc(benchUpstream))
	up.StartTLS()
	b.Cleanup(up.Close)
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate()) // every httptest server has this certificate
	base, _ := url.Parse(up.URL + "/v1")
	inject := func(h http.Header) { h.Set("Authorization", "Bearer "+upstreamKey) }

	transport := NewTransport(&tls.Config{RootCAs: roots})
	b.Cleanup(transport.CloseIdleConnections)
	g := New(Options{Transport: transport})
	upstream := Upstream{BaseURL: base, Inject: inject}
	limits := Limits{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts/{account}/v1/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Api-Key") != callerSecret1 {
			http.Error(w, "unknown caller", http.StatusUnauthorized)
			return
		}
		if err := g.ServeOpenAI(w, r, upstream, Caller{Account: r.PathValue("account"), Key: "key1"}, limits, "/"+r.PathValue("rest")); err != nil {
			writeTestError(w, err)
		}
	})
	front := httptest.NewUnstartedServer(mux)
	front.StartTLS()
	b.Cleanup(front.Close)

	bareTransport := NewTransport(&tls.Config{RootCAs: roots})
	b.Cleanup(bareTransport.CloseIdleConnections)
	bare := &httputil.ReverseProxy{Transport: bareTransport, BufferPool: &bufferPool{}, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(base)
		pr.Out.URL.Path = "/v1/chat/completions"
		inject(pr.Out.Header)
	}}
	bareFront := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first, as the gateway does (see call.body): a
		// proxy that streams it races with the server (golang/go#40747).
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		bare.ServeHTTP(w, r)
	}))
	bareFront.StartTLS()
	b.Cleanup(bareFront.Close)

	return &benchRig{
		direct:  benchPath{"direct", up.URL + "/v1/chat/completions", "Authorization", "Bearer " + upstreamKey},
		proxy:   benchPath{"proxy", bareFront.URL + "/chat/completions", "Api-Key", callerSecret1},
		gateway: benchPath{"gateway", front.URL + "/accounts/bench/v1/chat/completions", "Api-Key", callerSecret1},
		roots:   roots,
	}
}

// client returns an HTTP/1.1 keep-alive client that trusts the rig's servers
// and keeps up to conns connections per server.
func (rig *benchRig) client(b *testing.B, conns int) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: rig.roots},
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// benchCall makes one call on path, asking a stream's events to be pace
// apart, reads the whole answer and checks it. It returns when the first
// byte of the body arrived.
func benchCall(c *http.Client, path benchPath, body string, pace time.Duration) (time.Time, error) {
	req, err := http.NewRequest(http.MethodPost, path.url, strings.NewReader(body))
	if err != nil {
		return time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(path.authName, path.authVal)
	if pace > 0 {
		req.Header.Set("X-Bench-Pace", pace.String())
	}
	resp, err := c.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, 1))
	first := time.Now()
	if err == nil && n == 1 {
		_, err = buf.ReadFrom(resp.Body)
	}
	if err != nil {
		return time.Time{}, err
	}
	if got := buf.Bytes(); resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(`"prompt_tokens":9`)) {
		return time.Time{}, fmt.Errorf("%s: status %d, %d bytes: %.200s", path.name, resp.StatusCode, len(got), got)
	}
	return first, nil
}

var benchKinds = []struct{ name, body string }{{"json", benchChatBody}, {"stream", benchStreamBody}}

// BenchmarkProxy: calls per second from parallel clients (one keep-alive
// connection each), directly to the upstream and through the gateway.
func BenchmarkProxy(b *testing.B) {
	rig := newBenchRig(b)
	for _, kind := range benchKinds {
		for _, path := range []benchPath{rig.direct, rig.gateway} {
			b.Run(kind.name+"/"+path.name, func(b *testing.B) {
				c := rig.client(b, 256)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := benchCall(c, path, kind.body, 0); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkAddedLatency: one connection per path, no other load: each
// iteration makes one call directly, one through the bare proxy and one
// through the gateway, timed one by one, in an order that turns round. The metrics are the p50 and p99 of
// each, to the whole answer and to its first byte (for a stream, its first
// event), and what the gateway and the bare proxy add to the direct call at
// p50 and p99 (the differences of the percentiles). Streams come as a model
// sends them, an event every millisecond, so each event is relayed on its own.
func BenchmarkAddedLatency(b *testing.B) {
	rig := newBenchRig(b)
	paths := []benchPath{rig.direct, rig.proxy, rig.gateway}
	for _, kind := range benchKinds {
		b.Run(kind.name, func(b *testing.B) {
			pace := time.Duration(0)
			if kind.name == "stream" {
				pace = time.Millisecond
			}
			clients := make([]*http.Client, len(paths))
			whole := make([][]time.Duration, len(paths))
			first := make([][]time.Duration, len(paths))
			for i, p := range paths {
				clients[i] = rig.client(b, 1)
				for range 20 { // connect and warm up
					if _, err := benchCall(clients[i], p, kind.body, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			// The order turns round every iteration: a call starts while
			// the one before it is still being cleaned up after (its
			// connections put back, the server's reader stopped), and no
			// path should always follow the same one.
			turn := 0
			for b.Loop() {
				turn++
				for j := range paths {
					i := (turn + j) % len(paths)
					p := paths[i]
					t0 := time.Now()
					f, err := benchCall(clients[i], p, kind.body, pace)
					if err != nil {
						b.Fatal(err)
					}
					whole[i], first[i] = append(whole[i], time.Since(t0)), append(first[i], f.Sub(t0))
				}
			}
			for _, series := range []struct {
				name string
				d    [][]time.Duration
			}{{"", whole}, {"first-", first}} {
				for _, d := range series.d {
					slices.Sort(d)
				}
				for _, q := range []struct {
					name string
					q    float64
				}{{"p50", 0.50}, {"p99", 0.99}} {
					direct := percentile(series.d[0], q.q)
					b.ReportMetric(us(direct), "direct-"+series.name+q.name+"-µs")
					b.ReportMetric(us(percentile(series.d[1], q.q)-direct), "proxy-added-"+series.name+q.name+"-µs")
					b.ReportMetric(us(percentile(series.d[2], q.q)-direct), "gateway-added-"+series.name+q.name+"-µs")
				}
			}
		})
	}
}

// BenchmarkThroughput32: 32 concurrent connections per path, closed loop.
// Each iteration runs a round of 32×8 calls on each path, the order turning
// round every iteration; the metrics are each path's calls per second over
// all rounds and the gateway's and bare proxy's share of the direct rate.
func BenchmarkThroughput32(b *testing.B) {
	const conns, perConn = 32, 8
	rig := newBenchRig(b)
	paths := []benchPath{rig.direct, rig.proxy, rig.gateway}
	for _, kind := range benchKinds {
		b.Run(kind.name, func(b *testing.B) {
			clients := make([]*http.Client, len(paths))
			for i := range paths {
				clients[i] = rig.client(b, conns)
			}
			round := func(i int) time.Duration {
				var wg sync.WaitGroup
				t0 := time.Now()
				for range conns {
					wg.Go(func() {
						for range perConn {
							if _, err := benchCall(clients[i], paths[i], kind.body, 0); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return time.Since(t0)
			}
			for i := range paths {
				round(i) // connect and warm up
			}
			spent := make([]time.Duration, len(paths))
			rounds := 0
			for b.Loop() {
				for k := range paths {
					i := (k + rounds) % len(paths)
					spent[i] += round(i)
				}
				rounds++
			}
			calls := float64(rounds * conns * perConn)
			for i, p := range paths {
				b.ReportMetric(calls/spent[i].Seconds(), p.name+"-calls/s")
			}
			b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "proxy/direct")
			b.ReportMetric(spent[0].Seconds()/spent[2].Seconds(), "gateway/direct")
		})
	}
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkScanJSON and BenchmarkScanSSE: the usage scanners alone, over the
// answers above.
func BenchmarkScanJSON(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchAnswer)))
	var s jsonUsage
	for b.Loop() {
		s.reset()
		s.write(benchAnswer)
		if _, ok := s.result(); !ok {
			b.Fatal("no usage")
		}
	}
}

func BenchmarkScanSSE(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(bytes.Join(benchStream, nil))))
	var s sseUsage
	for b.Loop() {
		s.reset()
		for _, e := range benchStream {
			s.write(e)
		}
		if _, ok := s.result(); !ok {
			b.Fatal("no usage")
		}
	}
}
