package gateway

import (
	"errors"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
)

// These tests drive the gateway with the official OpenAI Go client, the
// client users run, over HTTPS to the test's front.

// openAIClient is an OpenAI client of account's /v1 path, sending apiKey as
// its bearer.
func (h *harness) openAIClient(account, apiKey string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(h.front.URL+"/accounts/"+account+"/v1/"),
		option.WithAPIKey(apiKey),
		option.WithHTTPClient(h.front.Client()),
		option.WithMaxRetries(0),
	)
}

// azureClient is an Azure OpenAI client of account, sending apiKey as api-key.
func (h *harness) azureClient(account, apiKey string) openai.Client {
	return openai.NewClient(
		azure.WithEndpoint(h.front.URL+"/accounts/"+account, "2024-10-21"),
		azure.WithAPIKey(apiKey),
		option.WithHTTPClient(h.front.Client()),
		option.WithMaxRetries(0),
	)
}

func chatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
	}
}

// TestOpenAIClientChat: a chat completion through the gateway, over each
// kind of upstream connection, answers as the upstream did and is metered.
func TestOpenAIClientChat(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, harnessConfig{mode: mode})
			c := h.openAIClient("acct", callerSecret1)
			res, err := c.Chat.Completions.New(callContext(t), chatParams("gpt-4o"))
			if err != nil {
				t.Fatalf("Chat.Completions.New: %v", err)
			}
			if len(res.Choices) != 1 || res.Choices[0].Message.Content != "Hello" {
				t.Errorf("choices = %+v, want one saying Hello", res.Choices)
			}
			if res.Usage.PromptTokens != fakePromptTokens || res.Usage.CompletionTokens != fakeCompletionTokens {
				t.Errorf("usage = %+v, want the upstream's", res.Usage)
			}
			got := h.up.last()
			if got.Path != "/v1/chat/completions" || got.Model != "gpt-4o" {
				t.Errorf("upstream got %s model %q", got.Path, got.Model)
			}
			u := h.usage("acct")
			if u.Requests != 1 || u.PromptTokens != fakePromptTokens || u.CompletionTokens != fakeCompletionTokens {
				t.Errorf("Usage = %+v, want 1 request, %d+%d tokens", u, fakePromptTokens, fakeCompletionTokens)
			}
		})
	}
}

// TestOpenAIClientStreaming: the client receives the stream's first chunk
// while the upstream still holds the second (nothing is buffered), then the
// rest and the usage chunk; the usage is metered.
func TestOpenAIClientStreaming(t *testing.T) {
	for _, mode := range []upstreamMode{modeHTTPS, modeH2} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, harnessConfig{mode: mode})
			h.up.release = make(chan struct{})
			c := h.openAIClient("acct", callerSecret2)
			p := chatParams("gpt-4o")
			p.StreamOptions.IncludeUsage = openai.Bool(true)
			stream := c.Chat.Completions.NewStreaming(callContext(t), p)
			defer stream.Close()

			if !stream.Next() {
				t.Fatalf("no first chunk while the upstream holds the second: %v", stream.Err())
			}
			first := stream.Current()
			if len(first.Choices) != 1 || first.Choices[0].Delta.Content != "Hel" {
				t.Fatalf("first chunk = %+v, want Hel", first.Choices)
			}
			close(h.up.release)
			var acc openai.ChatCompletionAccumulator
			acc.AddChunk(first)
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if got := acc.Choices[0].Message.Content; got != "Hello" {
				t.Errorf("streamed content %q, want Hello", got)
			}
			if acc.Usage.PromptTokens != fakePromptTokens || acc.Usage.CompletionTokens != fakeCompletionTokens {
				t.Errorf("streamed usage %+v", acc.Usage)
			}
			u := h.usage("acct")
			if len(u.Callers) != 1 || u.Callers[0].Key != "key2" || u.Callers[0].PromptTokens != fakePromptTokens ||
				u.Callers[0].CompletionTokens != fakeCompletionTokens || u.Callers[0].Requests != 1 {
				t.Errorf("Usage = %+v, want key2 with 1 request and the stream's usage", u)
			}
		})
	}
}

// TestAzureClient: the Azure OpenAI flavour of the client sends
// /openai/deployments/{d}/chat/completions?api-version=... with api-key; the
// upstream gets /v1/chat/completions, the mapped model, no api-version.
func TestAzureClient(t *testing.T) {
	h := newHarness(t, harnessConfig{mode: modeH2, deployments: map[string]string{"chat": "gpt-4o-2024-08-06"}})
	c := h.azureClient("acct", callerSecret1)

	res, err := c.Chat.Completions.New(callContext(t), chatParams("chat"))
	if err != nil {
		t.Fatalf("Chat.Completions.New: %v", err)
	}
	if res.Choices[0].Message.Content != "Hello" {
		t.Errorf("content %q", res.Choices[0].Message.Content)
	}
	got := h.up.last()
	if got.Path != "/v1/chat/completions" || got.Model != "gpt-4o-2024-08-06" || got.RawQuery != "" {
		t.Errorf("upstream got %s?%s model %q, want /v1/chat/completions, the mapped model, no query", got.Path, got.RawQuery, got.Model)
	}

	// A streamed call, and a deployment not in the map (sent as the model).
	p := chatParams("unmapped-deployment")
	p.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := c.Chat.Completions.NewStreaming(callContext(t), p)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if acc.Choices[0].Message.Content != "Hello" {
		t.Errorf("streamed content %q", acc.Choices[0].Message.Content)
	}
	if m := h.up.last().Model; m != "unmapped-deployment" {
		t.Errorf("upstream model %q, want the deployment's name", m)
	}

	emb, err := c.Embeddings.New(callContext(t), openai.EmbeddingNewParams{
		Model: "chat",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")},
	})
	if err != nil {
		t.Fatalf("Embeddings.New: %v", err)
	}
	if len(emb.Data) != 1 || h.up.last().Path != "/v1/embeddings" {
		t.Errorf("embeddings: %d vectors, upstream path %s", len(emb.Data), h.up.last().Path)
	}

	u := h.usage("acct")
	wantPrompt := int64(2*fakePromptTokens + fakeEmbeddingTokens)
	if u.Requests != 3 || u.PromptTokens != wantPrompt || u.CompletionTokens != 2*fakeCompletionTokens {
		t.Errorf("Usage = %+v, want 3 requests, %d prompt and %d completion tokens", u, wantPrompt, 2*fakeCompletionTokens)
	}
}

// TestOpenAIClientUpstreamError: the client sees the upstream's error as the
// upstream wrote it, with Latchkey's request id.
func TestOpenAIClientUpstreamError(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c := h.openAIClient("acct", callerSecret1)
	_, err := c.Chat.Completions.New(callContext(t), chatParams("fail-400"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v, want an *openai.Error", err)
	}
	if apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != "context_length_exceeded" {
		t.Errorf("error status %d code %q, want 400 context_length_exceeded", apiErr.StatusCode, apiErr.Code)
	}
	if id := apiErr.Response.Header.Get("X-Request-Id"); id == "" || id == "req_upstream_42" {
		t.Errorf("X-Request-Id = %q, want Latchkey's", id)
	}
}
