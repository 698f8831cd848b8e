package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/vault"
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

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	k := errs.KindOf(err)
	if int(k) >= len(statusOf) {
		return http.StatusInternalServerError
	}
	return statusOf[k]
}

// writeError writes err in the error shape of the route's surface and logs it
// once: Internal errors at Error with their cause, others at Debug.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, sf surface, err error) {
	kind := errs.KindOf(err)
	if int(kind) >= len(statusOf) {
		kind = errs.Internal
	}
	id := requestID(r.Context())
	if kind == errs.Internal {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", id, "method", r.Method, "route", r.Pattern, "err", err)
	} else {
		s.log.DebugContext(r.Context(), "request refused", "request_id", id, "kind", kind.String(), "err", err)
	}
	var e *errs.Error
	if kind != errs.Internal && errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	switch sf {
	case surfaceOAuth:
		s.writeOAuthError(w, kind, id, err)
	case surfaceVault:
		s.writeKVError(w, r, kind, err)
	case surfaceAccount:
		writeAccountError(w, kind, id, err)
	default:
		writeManagementError(w, kind, id, err)
	}
}

// writeManagementError writes Latchkey's own error document.
func writeManagementError(w http.ResponseWriter, kind errs.Kind, id string, err error) {
	body := client.ErrorBody{Error: client.ErrorDetail{Code: codeOf[kind], RequestID: id}}
	var e *errs.Error
	if kind != errs.Internal && errors.As(err, &e) {
		body.Error.Message, body.Error.Target = e.Msg, e.Field
	}
	if body.Error.Message == "" {
		body.Error.Message = defaultMessage[kind]
	}
	_ = writeJSON(w, statusOf[kind], body)
}

// oauthStatus maps OAuth2 error codes to the statuses Entra answers with.
var oauthStatus = map[string]int{
	identity.CodeInvalidClient:      http.StatusUnauthorized,
	identity.CodeTemporarilyUnavail: http.StatusTooManyRequests,
	"server_error":                  http.StatusInternalServerError,
}

// writeOAuthError writes the token service's error document: OAuth2's error
// and error_description with Entra's error_codes, timestamp and ids.
func (s *Server) writeOAuthError(w http.ResponseWriter, kind errs.Kind, id string, err error) {
	oe := identity.OAuthErrorOf(err)
	status, ok := oauthStatus[oe.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	if kind == errs.NotFound || kind == errs.Unavailable {
		status = statusOf[kind]
	}
	desc := oe.Description
	if desc == "" {
		desc = defaultMessage[kind]
	}
	body := oauthErrorBody{
		Error:            oe.Code,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", oe.AADSTS, desc, id, id, s.now().UTC().Format("2006-01-02 15:04:05Z")),
		ErrorCodes:       []int{oe.AADSTS},
		Timestamp:        s.now().UTC().Format("2006-01-02 15:04:05Z"),
		TraceID:          id,
		CorrelationID:    id,
	}
	w.Header().Set("Cache-Control", "no-store")
	_ = writeJSON(w, status, body)
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

// kvCodeOf maps each Kind to Key Vault's error code.
var kvCodeOf = [...]string{
	errs.Internal:        "InternalServerError",
	errs.Invalid:         "BadParameter",
	errs.Unauthenticated: "Unauthorized",
	errs.Forbidden:       "Forbidden",
	errs.NotFound:        "NotFound",
	errs.Conflict:        "Conflict",
	errs.Throttled:       "Throttled",
	errs.Unavailable:     "ServiceUnavailable",
}

// writeKVError writes Key Vault's error object. Every 401 carries the bearer
// challenge that tells the SDKs where to get a token (tenant) and for what
// (resource): without it they give up.
func (s *Server) writeKVError(w http.ResponseWriter, r *http.Request, kind errs.Kind, err error) {
	body := kvErrorBody{Error: kvErrorDetail{Code: kvCodeOf[kind], Message: defaultMessage[kind]}}
	var e *errs.Error
	if kind != errs.Internal && errors.As(err, &e) && e.Msg != "" {
		body.Error.Message = e.Msg
	}
	var code *vault.Code
	switch {
	case errors.As(err, &code):
		body.Error.Code = code.Code
		if code.Inner != "" {
			body.Error.InnerError = &kvInnerCode{Code: code.Inner}
		}
	case kind == errs.Forbidden:
		body.Error.InnerError = &kvInnerCode{Code: "ForbiddenByRbac"}
	}
	if kind == errs.Unauthenticated {
		_, resourceHost, _ := s.vaultOfHost(r.Host)
		authority := "https://" + strings.TrimPrefix(resourceHost, "vault.") + "/" + s.identity.TenantID()
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s", resource="https://%s"`, authority, resourceHost))
	}
	w.Header().Set("x-ms-error-code", body.Error.Code)
	_ = writeJSON(w, statusOf[kind], body)
}

// accountCodeOf maps each Kind to the code of Azure AI services' error
// object, as Azure OpenAI answers (401 and 429 are numbers there).
var accountCodeOf = [...]string{
	errs.Internal:        "InternalServerError",
	errs.Invalid:         "BadRequest",
	errs.Unauthenticated: "401",
	errs.Forbidden:       "PermissionDenied",
	errs.NotFound:        "NotFound",
	errs.Conflict:        "Conflict",
	errs.Throttled:       "429",
	errs.Unavailable:     "ServiceUnavailable",
}

// writeAccountError writes Azure AI services' error object,
// {"error":{"code","message"}}, which OpenAI's clients read as well, with the
// request id also in apim-request-id, as Azure sends it.
func writeAccountError(w http.ResponseWriter, kind errs.Kind, id string, err error) {
	body := accountErrorBody{Error: accountErrorDetail{Code: accountCodeOf[kind], Message: defaultMessage[kind]}}
	if errors.Is(err, account.ErrLocalAuthDisabled) {
		body.Error.Code = "AuthenticationTypeDisabled" // Azure's code for a key refused under disableLocalAuth
	}
	if m := errs.Message(err); kind != errs.Internal && m != "" {
		body.Error.Message = m
	}
	w.Header().Set("apim-request-id", id)
	_ = writeJSON(w, statusOf[kind], body)
}

// accountErrorBody is Azure AI services' error object.
type accountErrorBody struct {
	Error accountErrorDetail `json:"error"`
}

type accountErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
