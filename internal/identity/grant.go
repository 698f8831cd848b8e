package identity

import (
	"context"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	// AssertionTypeJWTBearer is the client_assertion_type of signed assertions,
	// for certificates and federated tokens alike.
	AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// CLIClientID is the public client id of Latchkey's CLI, used with the password
// grant when a request names no client.
const CLIClientID = "5e5f0a7e-1a7c-4b7b-9d6b-6c61746368b1"

// maxFormValue bounds each token request field; assertions are the longest.
const maxFormValue = 16 << 10

// TokenRequest is a parsed request to the token endpoint.
type TokenRequest struct {
	GrantType           string
	ClientID            string
	ClientSecret        Secret
	ClientAssertion     string
	ClientAssertionType string
	Scope               string
	Username            string
	Password            Secret
	// Host is the host the client reached the server by; it names the issuer.
	Host string
	// RemoteAddr is the client's address (IP), for throttling.
	RemoteAddr string
}

// ParseTokenRequest reads a token request from its form fields. It checks
// shape only; Token authenticates.
func ParseTokenRequest(form url.Values) (TokenRequest, error) {
	for k, v := range form {
		if len(v) > 1 {
			return TokenRequest{}, oauthError(errs.Invalid, CodeInvalidRequest, 90014, "the field "+quote(k)+" appears more than once")
		}
		if len(v) == 1 && len(v[0]) > maxFormValue {
			return TokenRequest{}, oauthError(errs.Invalid, CodeInvalidRequest, 90014, "the field "+quote(k)+" is too long")
		}
	}
	r := TokenRequest{
		GrantType:           form.Get("grant_type"),
		ClientID:            form.Get("client_id"),
		ClientSecret:        Secret{form.Get("client_secret")},
		ClientAssertion:     form.Get("client_assertion"),
		ClientAssertionType: form.Get("client_assertion_type"),
		Scope:               form.Get("scope"),
		Username:            form.Get("username"),
		Password:            Secret{form.Get("password")},
	}
	switch r.GrantType {
	case "":
		return r, oauthError(errs.Invalid, CodeInvalidRequest, 900144, "the request body must include grant_type")
	case GrantClientCredentials:
		if r.ClientID == "" {
			return r, oauthError(errs.Invalid, CodeInvalidRequest, 900144, "the request body must include client_id")
		}
		hasSecret, hasAssertion := r.ClientSecret.s != "", r.ClientAssertion != ""
		if hasSecret == hasAssertion {
			return r, oauthError(errs.Invalid, CodeInvalidRequest, 7000218, "give exactly one of client_secret or client_assertion")
		}
		if hasAssertion && r.ClientAssertionType != AssertionTypeJWTBearer {
			return r, oauthError(errs.Invalid, CodeInvalidRequest, 50027, "client_assertion_type must be "+AssertionTypeJWTBearer)
		}
	case GrantPassword:
		if r.Username == "" || r.Password.s == "" {
			return r, oauthError(errs.Invalid, CodeInvalidRequest, 900144, "the password grant needs username and password")
		}
	default:
		return r, oauthError(errs.Invalid, CodeUnsupportedGrantType, 70003, "grant_type "+quote(r.GrantType)+" is not supported: use client_credentials or password")
	}
	if _, err := audienceOf(r.Scope); err != nil {
		return r, err
	}
	return r, nil
}

// oidcScopes are the scopes MSAL adds to every request; they say nothing of the
// resource and are ignored.
var oidcScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true, "email": true}

// audienceOf derives the token's audience from scope: exactly one RESOURCE/.default.
func audienceOf(scope string) (string, error) {
	var resource string
	for _, sc := range strings.Fields(scope) {
		if oidcScopes[sc] {
			continue
		}
		r, ok := strings.CutSuffix(sc, "/.default")
		if !ok || r == "" {
			return "", oauthError(errs.Invalid, CodeInvalidScope, 1002012, "scope "+quote(sc)+" is not of the form RESOURCE/.default, such as https://vault.azure.net/.default")
		}
		if resource != "" && resource != r {
			return "", oauthError(errs.Invalid, CodeInvalidScope, 28000, "ask for one resource per token: the scope names both "+quote(resource)+" and "+quote(r))
		}
		resource = r
	}
	if resource == "" {
		return "", oauthError(errs.Invalid, CodeInvalidScope, 90014, "the request must include a scope RESOURCE/.default, such as https://vault.azure.net/.default")
	}
	return resource, nil
}

// TokenResponse is a successful token endpoint answer.
type TokenResponse struct {
	AccessToken string
	Claims      Claims
}

// Token authenticates a token request and issues an access token. Every failed
// authentication gives the same invalid_client (or invalid_grant for users)
// answer, whether or not the client or user exists.
func (s *Service) Token(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	resp, err := s.token(ctx, r)
	s.tokens.count(r.method(), err)
	return resp, err
}

func (s *Service) token(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	aud, err := audienceOf(r.Scope)
	if err != nil {
		return TokenResponse{}, err
	}
	if err := s.throttle.allow(r.ClientID, r.Username, r.RemoteAddr); err != nil {
		return TokenResponse{}, err
	}
	if err := s.feed.Fresh(ctx); err != nil {
		return TokenResponse{}, errs.E(errs.Unavailable, "identity.Token", "", err)
	}
	var (
		p      *store.Principal
		method string
		client = r.ClientID
	)
	switch r.GrantType {
	case GrantPassword:
		p, err = s.authenticateUser(r)
		method = authPublic
		if client == "" {
			client = CLIClientID
		}
	default:
		p, method, err = s.authenticateClient(ctx, r)
	}
	if err != nil {
		return TokenResponse{}, err
	}
	tok, claims, err := s.issue(ctx, *p, client, method, aud, s.IssuerFor(r.Host))
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: tok, Claims: claims}, nil
}

var errBadClient = oauthError(errs.Unauthenticated, CodeInvalidClient, 7000215,
	"invalid client credentials: check the client id, the secret or certificate, and that it has not expired")

func (s *Service) authenticateClient(ctx context.Context, r TokenRequest) (*store.Principal, string, error) {
	dir := s.dir.Load()
	p, ok := dir.byAppID[strings.ToLower(r.ClientID)] // GUIDs compare case-insensitively, as in Entra
	var creds []credential
	if ok {
		creds = dir.creds[p.ID]
	}
	if r.ClientSecret.s != "" {
		// Compare even for an unknown client, so timing does not tell.
		matched := matchSecret(creds, r.ClientSecret.s, s.now())
		if !ok || !matched || !p.Enabled {
			return nil, "", errBadClient
		}
		return p, authSecret, nil
	}
	parsed, err := jwt.ParseSigned(r.ClientAssertion, assertionAlgorithms)
	if err != nil {
		return nil, "", oauthError(errs.Invalid, CodeInvalidClient, 50027, "client_assertion is not a well-formed signed JWT")
	}
	var unverified assertionClaims
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, "", oauthError(errs.Invalid, CodeInvalidClient, 50027, "client_assertion has unreadable claims")
	}
	if !ok || !p.Enabled {
		return nil, "", errBadClient
	}
	if unverified.Issuer == r.ClientID {
		err = s.verifyCertificateAssertion(parsed, unverified, creds, r.ClientID)
	} else {
		err = s.verifyFederatedAssertion(ctx, parsed, unverified, creds)
	}
	switch {
	case errs.KindOf(err) == errs.Unavailable:
		// A trusted issuer's keys cannot be fetched: the workload should
		// retry, not give up on its credentials.
		return nil, "", err
	case err != nil:
		// One answer for every refusal, so that nobody learns which clients
		// exist or which issuers they trust; the reason goes to the log.
		s.log.InfoContext(ctx, "client assertion refused", "client_id", r.ClientID, "reason", errs.Message(err))
		return nil, "", errBadClient
	}
	return p, authCertificate, nil
}

var errBadUser = oauthError(errs.Unauthenticated, CodeInvalidGrant, 50126,
	"invalid user name or password")

func (s *Service) authenticateUser(r TokenRequest) (*store.Principal, error) {
	p, ok := s.dir.Load().byName[nameKey{store.User, r.Username}]
	hash := dummyPHC
	if ok {
		hash = p.PasswordHash
	}
	matched := checkPassword(hash, r.Password.s)
	if !ok || !matched || !p.Enabled {
		return nil, errBadUser
	}
	return p, nil
}
