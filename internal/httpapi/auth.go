package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/identity"
)

// Authorizer decides whether caller may perform action on scope. It returns nil
// to allow, or an error of Kind Forbidden saying why not.
type Authorizer func(ctx context.Context, caller *identity.Claims, action Action, scope string) error

const callerKey ctxKey = iota + 100

// caller returns the authenticated caller of the request in ctx, or nil.
func caller(ctx context.Context) *identity.Claims {
	c, _ := ctx.Value(callerKey).(*identity.Claims)
	return c
}

// bearerToken returns the token of an "Authorization: Bearer" header, or "".
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticate verifies the request's bearer token for the management API.
func (s *Server) authenticate(r *http.Request) (*identity.Claims, error) {
	token := bearerToken(r)
	if token == "" {
		return nil, errs.E(errs.Unauthenticated, "httpapi.authenticate",
			"this endpoint needs an access token: send Authorization: Bearer <token> for scope "+client.ManagementScope+" (latchkey login)", nil)
	}
	return s.identity.Verify(r.Context(), token, client.ManagementAudience)
}

// authorize authenticates the caller and asks the Authorizer about the route's
// action on the request's scope. Deny by default: with no Authorizer, every
// non-public route is forbidden.
func (s *Server) authorize(r *http.Request, rt route) (*http.Request, error) {
	if rt.surface == surfaceVault {
		r, err := s.authenticateVault(r)
		if err != nil {
			return r, err
		}
		return r, checkAPIVersion(r)
	}
	if rt.surface == surfaceAccount {
		return s.authenticateAccount(r, rt)
	}
	c, err := s.authenticate(r)
	if err != nil {
		return r, err
	}
	// The caller is known from here on, allowed or not: a denial's audit
	// event names who was denied.
	r = r.WithContext(context.WithValue(r.Context(), callerKey, c))
	if rt.action == ActionAuthenticated || rt.inHandler { // no scope to check here
		return r, nil
	}
	scope := "/"
	if rt.scope != nil {
		scope = rt.scope(r)
	}
	if s.authorizer == nil {
		return r, errs.E(errs.Forbidden, "httpapi.authorize", "no authorization policy is configured: every action is denied", nil)
	}
	if err := s.authorizer(r.Context(), c, rt.action, scope); err != nil {
		return r, err
	}
	return r, nil
}
