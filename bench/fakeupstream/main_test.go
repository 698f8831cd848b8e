package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, ts *httptest.Server, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestHandler: a chat completion with the key is answered with usage, as JSON
// or as a stream ending in [DONE]; without the key, or elsewhere, it is not.
func TestHandler(t *testing.T) {
	ts := httptest.NewTLSServer(handler("k", 0))
	t.Cleanup(ts.Close)

	resp, body := post(t, ts, "/v1/chat/completions", `{"model":"gpt-4o"}`, "Authorization", "Bearer k")
	var got struct {
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Usage.PromptTokens != 9 {
		t.Errorf("JSON answer: %d %s", resp.StatusCode, body)
	}

	resp, body = post(t, ts, "/v1/chat/completions", `{"model":"gpt-4o","stream":true}`, "Api-Key", "k")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		strings.Count(body, "data: ") != 10 || !strings.Contains(body, `"prompt_tokens":9`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("stream: %d %q", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		path   string
		header []string
		status int
	}{
		{"/v1/chat/completions", []string{"Authorization", "Bearer other"}, http.StatusUnauthorized},
		{"/v1/chat/completions", nil, http.StatusUnauthorized},
		{"/v1/embeddings", []string{"Api-Key", "k"}, http.StatusNotFound},
	} {
		if resp, body := post(t, ts, tc.path, `{}`, tc.header...); resp.StatusCode != tc.status {
			t.Errorf("POST %s with %q: %d %s, want %d", tc.path, tc.header, resp.StatusCode, body, tc.status)
		}
	}
}
