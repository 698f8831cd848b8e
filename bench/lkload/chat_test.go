package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestChatMode: lkload chat POSTs chat completions with the key in the asked
// header, asks for a stream with --stream, and reads the answer to its end.
func TestChatMode(t *testing.T) {
	var mu sync.Mutex // guards seen
	seen := map[string]int{}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		stream := bytes.Contains(body, []byte(`"stream":true`))
		mu.Lock()
		seen[r.Method+" "+r.URL.RequestURI()+" api-key="+r.Header.Get("Api-Key")+" auth="+r.Header.Get("Authorization")+" "+r.Header.Get("Content-Type")+" stream="+map[bool]string{true: "yes", false: "no"}[stream]]++
		mu.Unlock()
		if stream {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"choices\":[]}\n\n")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n")
			return
		}
		io.WriteString(w, `{"usage":{"prompt_tokens":1}}`)
	}))
	t.Cleanup(ts.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--connections", "1", "--duration", "50ms", "--warmup", "0s", "--ca", ca}
	for _, args := range [][]string{
		{"chat", "--url", ts.URL + "/accounts/a/openai/deployments/d/chat/completions?api-version=2024-10-21", "--key", "k1"},
		{"chat", "--url", ts.URL + "/v1/chat/completions", "--key", "k2", "--header", "authorization", "--stream"},
	} {
		var out bytes.Buffer
		if err := run(t.Context(), append(args, common...), &out); err != nil {
			t.Fatalf("run %q = %v\n%s", args, err, out.String())
		}
		if !strings.Contains(out.String(), " errors=0 ") || strings.Contains(out.String(), " ok=0 ") {
			t.Errorf("output %q, want good answers and no errors", out.String())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"POST /accounts/a/openai/deployments/d/chat/completions?api-version=2024-10-21 api-key=k1 auth= application/json stream=no",
		"POST /v1/chat/completions api-key= auth=Bearer k2 application/json stream=yes",
	}
	if len(seen) != len(want) || seen[want[0]] == 0 || seen[want[1]] == 0 {
		t.Errorf("requests %v, want only %q", seen, want)
	}
}

// TestChatModeFlags: a missing key or an unknown header is refused with a
// message naming the flag.
func TestChatModeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chat", "--url", "https://127.0.0.1:1/v1/chat/completions", "--ca", "x.pem"}, "--key is missing"},
		{[]string{"chat", "--url", "https://127.0.0.1:1/", "--ca", "x.pem", "--key", "k", "--header", "cookie"}, "--header \"cookie\""},
		{[]string{"chat", "--url", "http://127.0.0.1:1/", "--ca", "x.pem", "--key", "k"}, "is not an https URL"},
	} {
		err := run(t.Context(), tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %q = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
