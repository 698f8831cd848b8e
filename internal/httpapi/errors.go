package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
)

// This file is the only place where an error's Kind becomes an HTTP status and a
// body. Each surface gets its writer here; all share statusOf.

// statusOf maps each Kind to its HTTP status.
var statusOf = [...]int{
	errs.Internal:        http.StatusInternalServerError,
	errs.Invalid:         http.StatusBadRequest,
	errs.Unauthenticated: http.StatusUnauthorized,
	errs.Forbidden:       http.StatusForbidden,
	errs.NotFound:        http.StatusNotFound,
	errs.Conflict:        http.StatusConflict,
	errs.Throttled:       http.StatusTooManyRequests,
	errs.Unavailable:     http.StatusServiceUnavailable,
}

// codeOf maps each Kind to the management API's error code, in Azure's style.
var codeOf = [...]string{
	errs.Internal:        "InternalServerError",
	errs.Invalid:         "BadRequest",
	errs.Unauthenticated: "Unauthorized",
	errs.Forbidden:       "Forbidden",
	errs.NotFound:        "NotFound",
	errs.Conflict:        "Conflict",
	errs.Throttled:       "TooManyRequests",
	errs.Unavailable:     "ServiceUnavailable",
}

// defaultMessage is shown when an error carries no caller-safe message.
var defaultMessage = [...]string{
	errs.Internal:        "internal error: the server logged the cause under this request id",
	errs.Invalid:         "the request is not valid",
	errs.Unauthenticated: "authentication is required",
	errs.Forbidden:       "the caller is not allowed to do this",
	errs.NotFound:        "not found",
	errs.Conflict:        "the request conflicts with the current state",
	errs.Throttled:       "too many requests: retry later",
	errs.Unavailable:     "the service is unavailable: retry later",
}

// ErrorBody is the management API's error document:
// {"error":{"code","message","target","requestId"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Target    string `json:"target,omitempty"` // the input field at fault, for BadRequest
	RequestID string `json:"requestId"`
}

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	k := errs.KindOf(err)
	if int(k) >= len(statusOf) {
		return http.StatusInternalServerError
	}
	return statusOf[k]
}

// writeError writes err as the management API's error document and logs it once:
// Internal errors at Error with their cause, others at Debug.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	kind := errs.KindOf(err)
	if int(kind) >= len(statusOf) {
		kind = errs.Internal
	}
	id := requestID(r.Context())
	body := ErrorBody{Error: ErrorDetail{Code: codeOf[kind], RequestID: id}}
	var e *errs.Error
	if kind != errs.Internal && errors.As(err, &e) {
		body.Error.Message, body.Error.Target = e.Msg, e.Field
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
	}
	if body.Error.Message == "" {
		body.Error.Message = defaultMessage[kind]
	}
	if kind == errs.Internal {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", id, "method", r.Method, "route", r.Pattern, "err", err)
	} else {
		s.log.DebugContext(r.Context(), "request refused", "request_id", id, "kind", kind.String(), "err", err)
	}
	_ = writeJSON(w, statusOf[kind], body)
}

// writeJSON encodes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// logAttrs are the request facts logged for every request: never bodies, headers
// or query strings, which may carry credentials.
func logAttrs(r *http.Request, status int, d time.Duration) []slog.Attr {
	return []slog.Attr{
		slog.String("request_id", requestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", status),
		slog.Duration("duration", d),
	}
}
