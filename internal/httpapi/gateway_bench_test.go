package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/gateway"
)

// BenchmarkAccountGateway measures a model call through the whole server:
// a chat completion on an account's Azure OpenAI path over HTTPS, with the
// account's key1, through key authentication, the middleware, the audit
// event (the production writer on SQLite), metrics and the gateway, to a
// loopback upstream that answers at once. 16 parallel clients on keep-alive
// connections, in one process with the server and the upstream: the
// metrics are calls/s and the process's CPU time per call (clients,
// server and upstream together), to compare with internal/gateway's
// BenchmarkProxy, which leaves the server out.
//
//	go test ./internal/httpapi -run XXX -bench AccountGateway -benchtime 5s -count 3
func BenchmarkAccountGateway(b *testing.B) {
	answer := []byte(`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`)
	events := []string{
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"lo"}}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`,
		`[DONE]`,
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer sk-bench-upstream" {
			http.Error(w, "wrong key", http.StatusUnauthorized)
			return
		}
		if !bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "data: %s\n\n", e)
			_ = http.NewResponseController(w).Flush()
		}
	}))
	b.Cleanup(up.Close)
	e := &kvEnv{env: newEnv(b, envOptions{editIdentity: unthrottled, keyVault: true, auditDefaults: true, gateway: gateway.New(gateway.Options{})})}
	e.setUp()
	e.createAccount("bench", up.URL+"/v1", "sk-bench-upstream")
	ks, err := e.managementClient(e.admin).ListKeys(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	tr := e.wire.next.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	url := e.accountURL("bench") + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	for _, kind := range []struct{ name, body string }{
		{"json", `{"messages":[{"role":"user","content":"Say hello"}]}`},
		{"stream", `{"messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}`},
	} {
		b.Run(kind.name, func(b *testing.B) {
			call := func() error {
				req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(kind.body))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("api-key", ks.Key1)
				resp, err := hc.Do(req)
				if err != nil {
					return err
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(`"prompt_tokens":9`)) {
					return fmt.Errorf("status %d: %.200s", resp.StatusCode, got)
				}
				return nil
			}
			if err := call(); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(8) // 16 clients on 2 cores
			cpu0, start := processCPU(b), time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
		})
	}
}
