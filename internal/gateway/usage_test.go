package gateway

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestUsage: requests and the tokens the upstream reported are metered per
// account and per caller key, with the time of each caller's last call.
func TestUsage(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	t0 := h.clock.Now()
	principal := "principal:00000000-0000-0000-0000-0000000000aa"
	call := func(account, rest, body string, as map[string]string) {
		t.Helper()
		resp, got := h.post(h.openAIURL(account, rest), body, as)
		mustStatus(t, resp, got, http.StatusOK)
		h.clock.Advance(time.Second)
	}
	chat := `{"model":"gpt-4o","messages":[]}`
	call("a", "/chat/completions", chat, asKey1)                                                                            // t0: 7+5
	call("a", "/embeddings", `{"model":"e","input":"x"}`, asKey2)                                                           // t0+1s: 3+0
	call("a", "/chat/completions", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`, asPrincipal) // t0+2s: 7+5
	call("a", "/chat/completions", `{"model":"gpt-4o","stream":true}`, asPrincipal)                                         // t0+3s: no usage reported
	call("b", "/chat/completions", chat, asKey1)                                                                            // t0+4s, another account
	call("a", "/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"x"}`, asKey1)                                    // t0+5s: 7+5
	resp, body := h.post(h.openAIURL("a", "/chat/completions"), `{"model":"fail-500"}`, asKey2)                             // t0+6s: an error, no tokens
	mustStatus(t, resp, body, http.StatusInternalServerError)

	want := AccountUsage{
		Account: "a", Requests: 6, PromptTokens: 24, CompletionTokens: 15,
		Callers: []CallerUsage{
			{Key: "key1", Requests: 2, PromptTokens: 14, CompletionTokens: 10, LastUsed: t0.Add(5 * time.Second)},
			{Key: "key2", Requests: 2, PromptTokens: 3, CompletionTokens: 0, LastUsed: t0.Add(6 * time.Second)},
			{Key: principal, Requests: 2, PromptTokens: 7, CompletionTokens: 5, LastUsed: t0.Add(3 * time.Second)},
		},
	}
	if diff := cmp.Diff(want, h.usage("a")); diff != "" {
		t.Errorf("Usage(a) (-want +got):\n%s", diff)
	}
	wantB := AccountUsage{Account: "b", Requests: 1, PromptTokens: 7, CompletionTokens: 5,
		Callers: []CallerUsage{{Key: "key1", Requests: 1, PromptTokens: 7, CompletionTokens: 5, LastUsed: t0.Add(4 * time.Second)}}}
	if diff := cmp.Diff(wantB, h.usage("b")); diff != "" {
		t.Errorf("Usage(b) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(AccountUsage{Account: "none"}, h.usage("none")); diff != "" {
		t.Errorf("Usage(none) (-want +got):\n%s", diff)
	}
}

// TestMeterConcurrent: concurrent callers, admissions, charges and reads of
// the same and different keys lose no count (run with -race).
func TestMeterConcurrent(t *testing.T) {
	m := newMeter()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	keys := []string{"key1", "key2", "principal:x"}
	const perGoroutine = 500
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for range perGoroutine {
				c := m.caller("acct", keys[g%len(keys)])
				if over := c.admit(now, Limits{}); over != nil {
					t.Errorf("admit without limits refused: %+v", over)
					return
				}
				c.charge(now, tokenUsage{prompt: 2, completion: 1})
			}
		})
		wg.Go(func() {
			for range 50 {
				_ = m.callersOf("acct")
			}
		})
	}
	wg.Wait()
	var requests, prompt, completion int64
	for _, c := range m.callersOf("acct") {
		requests += c.requests.Load()
		prompt += c.prompt.Load()
		completion += c.completion.Load()
	}
	if want := int64(12 * perGoroutine); requests != want || prompt != 2*want || completion != want {
		t.Errorf("counted %d requests, %d+%d tokens; want %d, %d+%d", requests, prompt, completion, want, 2*want, want)
	}
	if n := len(m.callersOf("acct")); n != len(keys) {
		t.Errorf("%d caller states, want %d", n, len(keys))
	}
}
