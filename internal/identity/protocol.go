package identity

import (
	"errors"

	"github.com/latchkey/latchkey/internal/errs"
)

// OAuthError is a token endpoint failure in the OAuth2 vocabulary (RFC 6749
// section 5.2) with Entra's AADSTS code, which MSAL shows to developers. It is
// carried as the cause of an *errs.Error; the HTTP adapter renders it.
type OAuthError struct {
	Code        string // invalid_request, invalid_client, invalid_grant, ...
	AADSTS      int    // Entra's error number, e.g. 7000215
	Description string // safe to show; never holds a credential
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// The OAuth2 error codes Latchkey uses.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidClient        = "invalid_client"
	CodeInvalidGrant         = "invalid_grant"
	CodeUnauthorizedClient   = "unauthorized_client"
	CodeUnsupportedGrantType = "unsupported_grant_type"
	CodeInvalidScope         = "invalid_scope"
	CodeTemporarilyUnavail   = "temporarily_unavailable"
)

// oauthError builds an errs.Error of kind k carrying an OAuthError.
func oauthError(k errs.Kind, code string, aadsts int, description string) error {
	oe := &OAuthError{Code: code, AADSTS: aadsts, Description: description}
	return &errs.Error{Kind: k, Op: "identity.Token", Msg: description, Err: oe}
}

// OAuthErrorOf returns the OAuthError inside err, or one derived from its Kind.
func OAuthErrorOf(err error) *OAuthError {
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe
	}
	switch errs.KindOf(err) {
	case errs.Invalid:
		return &OAuthError{Code: CodeInvalidRequest, AADSTS: 900144, Description: errs.Message(err)}
	case errs.Unauthenticated:
		return &OAuthError{Code: CodeInvalidClient, AADSTS: 7000215, Description: errs.Message(err)}
	case errs.Throttled:
		return &OAuthError{Code: CodeTemporarilyUnavail, AADSTS: 50196, Description: "too many requests: retry later"}
	}
	return &OAuthError{Code: "server_error", AADSTS: 90033, Description: "the token service hit an internal error"}
}

// errNoMatchingCredential means no credential of the principal fits the
// presented proof; callers turn it into the one invalid_client answer.
var errNoMatchingCredential = errors.New("no matching credential")
