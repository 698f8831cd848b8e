package auditsink

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"99999999999", maxRetryAfter},
		{"Mon, 23 Nov 2026 12:00:30 GMT", 30 * time.Second},
		{"Mon, 23 Nov 2026 11:59:00 GMT", 0},
		{"Tue, 24 Nov 2026 12:00:00 GMT", maxRetryAfter},
		{"soon", 0},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		scope, ancestor string
		want            bool
	}{
		{"", "/", true},
		{"", "/hubs/h", false},
		{"/hubs/h", "/hubs/h", true},
		{"/hubs/H", "/hubs/h", true},
		{"/hubs/h/vaults/v", "/hubs/h", true},
		{"/hubs/h2", "/hubs/h", false},
		{"/hubs", "/hubs/h", false},
		{"/hubs/h", "/hubs/h/vaults/v", false},
	}
	for _, tc := range cases {
		if got := within(tc.scope, tc.ancestor); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.scope, tc.ancestor, got, tc.want)
		}
	}
}
