package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// This file is mode chat: OpenAI chat completions, as the OpenAI and Azure
// OpenAI SDKs send them, to any HTTPS URL: Latchkey's gateway
// (/accounts/{account}/openai/deployments/{d}/chat/completions?api-version=...
// or /accounts/{account}/v1/chat/completions) or, for the yardstick, the
// upstream behind it (bench/fakeupstream) directly. With --stream the answer
// is a stream of server-sent events, read to its end.

// chatBody is a small chat completion request; chatStreamBody asks for a
// stream with the usage chunk, as a metering client does.
const (
	chatBody       = `{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}`
	chatStreamBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}`
)

// usageMarker appears in every good answer: the JSON's usage, or the stream's
// usage chunk.
var usageMarker = []byte(`"prompt_tokens"`)

// chatTarget aims at rawURL with chat completions carrying key in header
// (api-key, or authorization as a bearer token).
func chatTarget(rawURL, caFile, header, key string, stream bool) (target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return target{}, fmt.Errorf("--url %q is not an https URL: give one like https://127.0.0.1:18446/accounts/bench/v1/chat/completions", rawURL)
	}
	if caFile == "" {
		return target{}, fmt.Errorf("--ca is missing: give the PEM file of the CA that signed %s's certificate", u.Host)
	}
	if key == "" {
		return target{}, fmt.Errorf("--key is missing: give the key the server expects")
	}
	t := target{method: http.MethodPost, url: u.String(), json: chatBody, want: usageMarker, wantName: "a usage"}
	if stream {
		t.json = chatStreamBody
	}
	switch strings.ToLower(header) {
	case "api-key":
		t.header, t.headerValue = "Api-Key", key
	case "authorization":
		t.bearer = key
	default:
		return target{}, fmt.Errorf("--header %q: give api-key or authorization", header)
	}
	if t.roots, err = loadRoots(caFile); err != nil {
		return target{}, err
	}
	return t, nil
}
