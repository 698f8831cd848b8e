package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/account"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/identity"
)

// This file is the data plane of AI services accounts, at
// https://HOST/accounts/{account}: the STS token exchange and the calls the
// gateway forwards to the account's upstream. A caller proves its right with
// one of the account's keys (Ocp-Apim-Subscription-Key or api-key), an STS
// token minted from one, or an Entra token of a principal allowed the
// account's data action, for Azure's audience (what the official clients ask
// for by default) or Latchkey's own. Errors are Azure AI services' error
// object (errors.go).

// stsPattern is the route of the STS token exchange.
const stsPattern = "POST /accounts/{account}/sts/v1.0/issueToken"

// accountAudiences are the token audiences the accounts' data plane accepts.
var accountAudiences = []string{"https://cognitiveservices.azure.com", client.AccountsAudience}

const accountCallKey ctxKey = iota + 400

// accountCall is who called an account's data plane: by a key or an STS
// token minted from one (key), or by an Entra token (claims).
type accountCall struct {
	account account.Account
	key     *account.Caller
	claims  *identity.Claims
}

// callOf returns the data-plane call the request is, or nil.
func callOf(ctx context.Context) *accountCall {
	c, _ := ctx.Value(accountCallKey).(*accountCall)
	return c
}

// authenticateAccount finds the account (404 before anything else: account
// names are no secret, as DNS names are not) and authenticates the caller.
func (s *Server) authenticateAccount(r *http.Request, rt route) (*http.Request, error) {
	const o = "accounts.authenticate"
	svc, err := s.accountService()
	if err != nil {
		return r, err
	}
	ctx := r.Context()
	a, err := svc.Endpoint(ctx, r.PathValue("account"))
	if err != nil {
		return r, err
	}
	note := noteAudit(ctx)
	note.scope = a.Scope
	call := &accountCall{account: a}
	key := r.Header.Get("Ocp-Apim-Subscription-Key")
	if key == "" {
		key = r.Header.Get("api-key")
	}
	switch token := bearerToken(r); {
	case key != "":
		c, err := svc.AuthenticateKey(ctx, a.Name, key, s.clientIP(r))
		if err != nil {
			return r, err
		}
		call.key = &c
		note.principalType, note.principalName, note.authMethod = "AccountKey", c.Key, "subscription_key"
	case rt.pattern == stsPattern:
		return r, errs.E(errs.Unauthenticated, o, "the token exchange takes one of the account's keys: send it in Ocp-Apim-Subscription-Key", nil)
	case token == "":
		return r, errs.E(errs.Unauthenticated, o, "Access denied due to missing subscription key or token: send one of the account's keys in api-key or Ocp-Apim-Subscription-Key, "+
			"or Authorization: Bearer with an STS token or an Entra token for https://cognitiveservices.azure.com", nil)
	case account.IsToken(token):
		c, err := svc.AuthenticateToken(ctx, a.Name, token, s.clientIP(r))
		if err != nil {
			return r, err
		}
		call.key = &c
		note.principalType, note.principalName, note.authMethod = "AccountKey", c.Key, "sts_token"
	default:
		claims, err := s.identity.Verify(ctx, token, accountAudiences...)
		if err != nil {
			return r, err
		}
		if s.authorizer == nil {
			return r, errs.E(errs.Forbidden, o, "no authorization policy is configured: every action is denied", nil)
		}
		if err := s.authorizer(ctx, claims, rt.action, a.Scope); err != nil {
			return r, err
		}
		call.claims = claims
		ctx = context.WithValue(ctx, callerKey, claims)
	}
	return r.WithContext(context.WithValue(ctx, accountCallKey, call)), nil
}

// issueToken is the STS exchange: a subscription key in, a 10-minute token
// out, as plain text.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<10)) // clients send an empty form
	tok, _, err := s.accounts.IssueToken(*callOf(r.Context()).key)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(w, tok)
	return err
}

// Gateway forwards an authenticated call of an account's data plane to the
// account's upstream, with the upstream's credential in place of the
// caller's, and meters it: internal/gateway's *Gateway, which cmd/latchkey
// adapts to these terms (adapters do not import each other).
type Gateway interface {
	Forward(w http.ResponseWriter, r *http.Request, call GatewayCall) error
	// Usage returns what the account's callers used through this process.
	Usage(account string) client.AccountUsage
}

// GatewayCall is one call for the Gateway: which surface, where it goes and
// how it is authenticated there, who makes it and within what limits, and
// the path after /openai or /v1.
type GatewayCall struct {
	// Azure says the call came on the Azure OpenAI paths (/openai/...),
	// whose deployment becomes the body's model; else the OpenAI paths (/v1/...).
	Azure       bool
	BaseURL     *url.URL
	Inject      func(h http.Header) // sets the upstream's credential; nil sends none
	Deployments map[string]string
	Account     string
	// CallerKey names the caller for metering and limits: key1 or key2 (a
	// key or an STS token minted from it), or principal:<oid>.
	CallerKey string
	Principal string // the principal's object id for an Entra token, else ""

	RequestsPerMinute, TokensPerMinute int // 0: unlimited
	Rest                               string
}

func (s *Server) azureOpenAI(w http.ResponseWriter, r *http.Request) error {
	return s.forward(w, r, true)
}

func (s *Server) openAI(w http.ResponseWriter, r *http.Request) error {
	return s.forward(w, r, false)
}

// forward hands the request's call to the gateway: the account's upstream
// with its credential, and the caller (a key's name, or the principal of an
// Entra token) with its limits.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, azure bool) error {
	const o = "accounts.forward"
	if s.gateway == nil {
		return errs.E(errs.Unavailable, o, "this server forwards no model calls", nil)
	}
	c := callOf(r.Context())
	a := c.account
	if a.Upstream.URL == "" {
		return errs.E(errs.Unavailable, o, "account "+a.Name+" has no upstream: its administrator sets one with latchkey cognitiveservices account update --name "+a.Name+" --upstream URL", nil)
	}
	base, err := url.Parse(a.Upstream.URL)
	if err != nil {
		return errs.E(errs.Internal, o, "", err)
	}
	cred, err := s.accounts.Credential(r.Context(), a, publicHost(r))
	if err != nil {
		return err
	}
	call := GatewayCall{Azure: azure, BaseURL: base, Deployments: a.Deployments, Account: a.Name, Rest: "/" + r.PathValue("rest"),
		RequestsPerMinute: a.Limits.RequestsPerMinute, TokensPerMinute: a.Limits.TokensPerMinute}
	if cred.Header != "" {
		call.Inject = func(h http.Header) { h.Set(cred.Header, cred.Value.Reveal()) }
	}
	switch {
	case c.key != nil:
		call.CallerKey = c.key.Key
	case c.claims != nil:
		call.CallerKey, call.Principal = "principal:"+c.claims.ObjectID, c.claims.ObjectID
	}
	return s.gateway.Forward(w, r, call)
}
