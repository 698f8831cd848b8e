package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchkey/latchkey/internal/errs"
)

// chatAs posts a chat completion to account as the caller of header, and
// returns the status, Retry-After and body.
func (h *harness) chatAs(account string, header map[string]string) (int, string, string) {
	h.t.Helper()
	resp, body := h.post(h.openAIURL(account, "/chat/completions"), `{"model":"gpt-4o","messages":[]}`, header)
	return resp.StatusCode, resp.Header.Get("Retry-After"), body
}

var (
	asKey1      = map[string]string{"Api-Key": callerSecret1}
	asKey2      = map[string]string{"Ocp-Apim-Subscription-Key": callerSecret2}
	asPrincipal = map[string]string{"Authorization": "Bearer " + entraTokenPrefix + "00000000-0000-0000-0000-0000000000aa"}
)

// TestRequestsPerMinute: the third call in a minute with a limit of 2 is
// refused with 429 and the Retry-After at which the sliding window admits
// again; other keys of the account have their own budget; the caller
// recovers when told.
func TestRequestsPerMinute(t *testing.T) {
	h := newHarness(t, harnessConfig{limits: Limits{RequestsPerMinute: 2}})
	start := h.clock.Now() // 10:00:00
	for i := range 2 {
		if status, _, body := h.chatAs("acct", asKey1); status != http.StatusOK {
			t.Fatalf("call %d: status %d, body %s", i+1, status, body)
		}
	}
	h.clock.Advance(20 * time.Second)
	status, retry, body := h.chatAs("acct", asKey1)
	if status != http.StatusTooManyRequests || retry != "70" {
		t.Fatalf("third call: status %d Retry-After %q, want 429 and 70 (the window admits at 10:01:30)", status, retry)
	}
	if !strings.Contains(body, `"code":"429"`) || !strings.Contains(body, "the caller key1 of account acct is over its limit of 2 requests per minute: retry after 70 seconds") {
		t.Errorf("429 body %s", body)
	}
	if errs.KindOf(h.err()) != errs.Throttled {
		t.Errorf("Serve returned %v, want Throttled", h.err())
	}
	for _, caller := range []map[string]string{asKey2, asPrincipal} {
		if status, _, body := h.chatAs("acct", caller); status != http.StatusOK {
			t.Errorf("another caller of the account: status %d, body %s", status, body)
		}
	}

	h.clock.Set(start.Add(89 * time.Second)) // the previous minute's 2 weigh 2*(31/60) > 1
	if status, retry, _ := h.chatAs("acct", asKey1); status != http.StatusTooManyRequests || retry != "1" {
		t.Errorf("at 10:01:29: status %d Retry-After %q, want 429 and 1", status, retry)
	}
	h.clock.Set(start.Add(90 * time.Second))
	if status, _, body := h.chatAs("acct", asKey1); status != http.StatusOK {
		t.Errorf("at 10:01:30: status %d body %s, want 200", status, body)
	}
	if got := testutil.ToFloat64(h.g.metrics.throttledCount.WithLabelValues("requests")); got != 2 {
		t.Errorf("throttled{limit=requests} = %v, want 2", got)
	}
	if u := h.usage("acct"); u.Requests != 5 {
		t.Errorf("Usage counted %d requests, want the 5 admitted", u.Requests)
	}
}

// TestTokensPerMinute: tokens are charged when the answer's usage arrives
// (12 a call here); a call is refused once the minute's tokens reach the
// limit, streams count as well, and the caller recovers.
func TestTokensPerMinute(t *testing.T) {
	h := newHarness(t, harnessConfig{limits: Limits{TokensPerMinute: 20}})
	start := h.clock.Now()
	if status, _, body := h.chatAs("acct", asKey1); status != http.StatusOK { // 12 tokens
		t.Fatalf("first call: %d %s", status, body)
	}
	resp, body := h.post(h.openAIURL("acct", "/chat/completions"), // 24 tokens: still admitted at 12
		`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`, asKey1)
	mustStatus(t, resp, body, http.StatusOK)

	status, retry, body := h.chatAs("acct", asKey1)
	// 24 tokens: the estimate 24*(1-f) drops below 20 just after f = 1/6 of
	// the next minute, 10:01:10.
	if status != http.StatusTooManyRequests || retry != "71" {
		t.Fatalf("third call: status %d Retry-After %q, want 429 and 71", status, retry)
	}
	if !strings.Contains(body, "over its limit of 20 tokens per minute") {
		t.Errorf("429 body %s", body)
	}
	if status, _, _ := h.chatAs("acct", asKey2); status != http.StatusOK {
		t.Errorf("key2: status %d, want its own budget", status)
	}
	h.clock.Set(start.Add(70 * time.Second))
	if status, retry, _ := h.chatAs("acct", asKey1); status != http.StatusTooManyRequests || retry != "1" {
		t.Errorf("at 10:01:10: status %d Retry-After %q, want 429 and 1 (the estimate is exactly 20)", status, retry)
	}
	h.clock.Set(start.Add(71 * time.Second))
	if status, _, body := h.chatAs("acct", asKey1); status != http.StatusOK {
		t.Errorf("at 10:01:11: status %d body %s, want 200", status, body)
	}
	if got := testutil.ToFloat64(h.g.metrics.throttledCount.WithLabelValues("tokens")); got != 2 {
		t.Errorf("throttled{limit=tokens} = %v, want 2", got)
	}
}

// TestWindow checks the sliding window's arithmetic at exact instants.
func TestWindow(t *testing.T) {
	m := time.Minute
	cases := []struct {
		name      string
		prev      int64
		curr      int64
		at        time.Duration // into the current minute
		threshold int64
		strict    bool
		ok        bool
		wait      time.Duration
	}{
		{"empty", 0, 0, 0, 0, false, true, 0},
		{"under", 0, 5, 10 * time.Second, 9, false, true, 0},
		{"at the limit, inclusive", 0, 9, 0, 9, false, true, 0},
		{"at the limit, strict", 0, 9, 0, 9, true, false, m + time.Millisecond},
		{"strict, previous minute at the limit", 60, 0, 30 * time.Second, 30, true, false, time.Millisecond},
		{"previous minute weighs", 60, 0, 30 * time.Second, 29, false, false, time.Second},
		{"previous minute slid out enough", 60, 0, 31 * time.Second, 29, false, true, 0},
		{"current alone over", 10, 30, 15 * time.Second, 19, false, false, m - 15*time.Second + 22*time.Second},
		{"limit of 1", 0, 1, 0, 0, false, false, 2 * m},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			w := window{start: base.UnixMilli(), prev: tc.prev, curr: tc.curr}
			wait, ok := w.admits(base.Add(tc.at).UnixNano(), tc.threshold, tc.strict)
			if ok != tc.ok || (!ok && wait != tc.wait) {
				t.Errorf("admits = %v, %v; want %v, %v", wait, ok, tc.wait, tc.ok)
			}
		})
	}
}

// TestWindowRoll: minutes roll over, a gap clears both counts, and a clock
// that goes back changes nothing.
func TestWindowRoll(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := window{}
	w.roll(base.Add(10 * time.Second).UnixNano())
	w.curr = 5
	w.roll(base.Add(70 * time.Second).UnixNano())
	if w.prev != 5 || w.curr != 0 || w.start != base.UnixMilli()+minuteMs {
		t.Errorf("after one minute: %+v", w)
	}
	w.curr = 3
	w.roll(base.Add(30 * time.Second).UnixNano())
	if w.prev != 5 || w.curr != 3 {
		t.Errorf("after the clock went back: %+v", w)
	}
	w.roll(base.Add(200 * time.Second).UnixNano())
	if w.prev != 0 || w.curr != 0 || w.start != base.UnixMilli()+3*minuteMs {
		t.Errorf("after a gap: %+v", w)
	}
}
