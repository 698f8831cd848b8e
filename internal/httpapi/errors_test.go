package httpapi

import (
	"bytes"
	"errors"
	"github.com/latchkey/latchkey/client"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey/internal/errs"
)

// TestErrorMapping checks the one table from Kind to status and body, and that an
// internal cause never reaches the caller.
func TestErrorMapping(t *testing.T) {
	cause := errors.New("pq: password=hunter2 rejected")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantRetry  string
		want       client.ErrorDetail
	}{
		{"unclassified", cause, 500, "", client.ErrorDetail{Code: "InternalServerError", Message: defaultMessage[errs.Internal]}},
		{"internal with message", errs.E(errs.Internal, "op", "secret detail", cause), 500, "", client.ErrorDetail{Code: "InternalServerError", Message: defaultMessage[errs.Internal]}},
		{"invalid names the field", errs.Invalidf("vault.Set", "value", "value is 30000 bytes, the limit is 25600"), 400, "", client.ErrorDetail{Code: "BadRequest", Message: "value is 30000 bytes, the limit is 25600", Target: "value"}},
		{"unauthenticated", errs.E(errs.Unauthenticated, "op", "", nil), 401, "", client.ErrorDetail{Code: "Unauthorized", Message: defaultMessage[errs.Unauthenticated]}},
		{"forbidden", errs.E(errs.Forbidden, "op", "no", nil), 403, "", client.ErrorDetail{Code: "Forbidden", Message: "no"}},
		{"not found wrapped", errors.Join(errs.E(errs.NotFound, "op", "secret db not found", cause)), 404, "", client.ErrorDetail{Code: "NotFound", Message: "secret db not found"}},
		{"conflict", errs.E(errs.Conflict, "op", "exists", nil), 409, "", client.ErrorDetail{Code: "Conflict", Message: "exists"}},
		{"throttled", &errs.Error{Kind: errs.Throttled, Msg: "slow down", RetryAfter: 1500 * time.Millisecond}, 429, "2", client.ErrorDetail{Code: "TooManyRequests", Message: "slow down"}},
		{"unavailable", errs.E(errs.Unavailable, "op", "", cause), 503, "", client.ErrorDetail{Code: "ServiceUnavailable", Message: defaultMessage[errs.Unavailable]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := newTestServer(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			h := s.wrap(route{pattern: "GET /fail", action: ActionPublic, handle: func(http.ResponseWriter, *http.Request) error { return tc.err }})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/fail", nil))

			if rec.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetry)
			}
			got := decodeError(t, rec.Body.Bytes())
			if got.RequestID == "" || got.RequestID != rec.Header().Get("X-Request-Id") {
				t.Errorf("requestId %q does not match X-Request-Id %q", got.RequestID, rec.Header().Get("X-Request-Id"))
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(client.ErrorDetail{}, "RequestID")); diff != "" {
				t.Errorf("error body mismatch (-want +got):\n%s", diff)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Errorf("the cause reached the caller: %s", rec.Body.String())
			}
			if tc.wantStatus == 500 && !strings.Contains(logs.String(), got.RequestID) {
				t.Errorf("internal error not logged with its request id; log: %s", logs.String())
			}
		})
	}
}

func TestPanicBecomes500(t *testing.T) {
	var logs bytes.Buffer
	s := newTestServer(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := s.wrap(route{pattern: "GET /boom", action: ActionPublic, handle: func(http.ResponseWriter, *http.Request) error { panic("boom") }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if !strings.Contains(logs.String(), "panic: boom") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the panic and its stack were not logged: %s", logs.String())
	}
}
