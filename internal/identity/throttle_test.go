package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
)

// TestThrottle drives the token buckets with a fake clock.
func TestThrottle(t *testing.T) {
	type call struct {
		client, user, addr string
		advance            time.Duration // before the call
		want               time.Duration // 0: allowed; else the wanted RetryAfter
	}
	tests := []struct {
		name  string
		opts  ThrottleOptions
		calls []call
	}{
		{"per client: burst then refill", ThrottleOptions{PerClient: 1, ClientBurst: 2, PerAddress: -1}, []call{
			{client: "a"}, {client: "a"}, {client: "a", want: time.Second},
			{client: "a", advance: 500 * time.Millisecond, want: 500 * time.Millisecond},
			{client: "a", advance: 500 * time.Millisecond},
			{client: "b"}, {client: "b"}, // another client has its own bucket
		}},
		{"a refused request takes no token", ThrottleOptions{PerClient: 1, ClientBurst: 1, PerAddress: -1}, []call{
			{client: "a"}, {client: "a", want: time.Second}, {client: "a", want: time.Second}, {client: "a", advance: time.Second},
		}},
		{"user names are their own clients", ThrottleOptions{PerClient: 1, ClientBurst: 1, PerAddress: -1}, []call{
			{client: "cli", user: "alice"}, {client: "cli", user: "bob"}, {client: "cli", user: "alice", want: time.Second},
		}},
		{"per address", ThrottleOptions{PerClient: -1, PerAddress: 2, AddressBurst: 1}, []call{
			{client: "a", addr: "192.0.2.1"}, {client: "b", addr: "192.0.2.1", want: 500 * time.Millisecond}, {client: "c", addr: "192.0.2.2"},
		}},
		{"both limits: the longer wait wins", ThrottleOptions{PerClient: 1, ClientBurst: 1, PerAddress: 4, AddressBurst: 1}, []call{
			{client: "a", addr: "192.0.2.1"}, {client: "a", addr: "192.0.2.1", want: time.Second},
		}},
		{"negative rates disable", ThrottleOptions{PerClient: -1, PerAddress: -1}, []call{
			{client: "a", addr: "x"}, {client: "a", addr: "x"}, {client: "a", addr: "x"}, {client: "a", addr: "x"},
		}},
		{"a zero burst takes the default", ThrottleOptions{PerClient: 1, PerAddress: -1}, []call{
			{client: "a"}, {client: "a"}, {client: "a"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			th := newThrottle(tc.opts, clk.Now)
			for i, c := range tc.calls {
				clk.Advance(c.advance)
				err := th.allow(c.client, c.user, c.addr)
				if c.want == 0 {
					if err != nil {
						t.Fatalf("call %d: allow = %v, want allowed", i, err)
					}
					continue
				}
				var e *errs.Error
				if !errors.As(err, &e) || e.Kind != errs.Throttled {
					t.Fatalf("call %d: allow = %v, want Throttled", i, err)
				}
				if e.RetryAfter != c.want {
					t.Errorf("call %d: RetryAfter = %v, want %v", i, e.RetryAfter, c.want)
				}
				if oe := OAuthErrorOf(err); oe.Code != CodeTemporarilyUnavail {
					t.Errorf("call %d: OAuth code = %s, want %s", i, oe.Code, CodeTemporarilyUnavail)
				}
			}
		})
	}
}

// TestThrottleForgetsFullBuckets: with MaxTrackedKeys reached, buckets that
// have refilled are dropped, so memory stays bounded under many client ids.
func TestThrottleForgetsFullBuckets(t *testing.T) {
	clk := newFakeClock()
	th := newThrottle(ThrottleOptions{PerClient: 1, ClientBurst: 1, PerAddress: -1, MaxTrackedKeys: 10}, clk.Now)
	for i := range 10 {
		_ = th.allow(string(rune('a'+i)), "", "")
	}
	clk.Advance(time.Second)
	_ = th.allow("new", "", "")
	if n := len(th.buckets); n != 1 {
		t.Errorf("buckets after refill and one new client = %d, want 1", n)
	}
}

// TestTokenThrottled: the throttle sits in front of authentication.
func TestTokenThrottled(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, func(o *Options) { o.Throttle = ThrottleOptions{PerClient: 1, ClientBurst: 2, PerAddress: -1} })
	sp := e.newSP(t, "busy")
	req := secretRequest(sp.Principal.AppID, sp.Secret, vaultAudience+"/.default")
	for i := range 2 {
		if _, err := e.s.Token(ctx, req); err != nil {
			t.Fatalf("request %d: Token = %v", i+1, err)
		}
	}
	if _, err := e.s.Token(ctx, req); errs.KindOf(err) != errs.Throttled {
		t.Errorf("third request: Token = %v, want Throttled", err)
	}
}
