package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/identity"
)

// This file is the Entra-compatible OAuth2/OIDC surface: discovery, JWKS and the
// token endpoint, at the root of the host as MSAL requires.

// maxTokenRequest bounds a token request body.
const maxTokenRequest = 64 << 10

// discoveryDoc is the OpenID Provider metadata MSAL and OIDC libraries read.
type discoveryDoc struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	TenantRegionScope                 *string  `json:"tenant_region_scope"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
}

// tokenBody is the token endpoint's success answer, in Entra's shape.
type tokenBody struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// checkTenant refuses a path naming another tenant, as Entra does.
func (s *Server) checkTenant(r *http.Request) error {
	if t := r.PathValue("tenant"); t != s.identity.TenantID() {
		return &errs.Error{Kind: errs.NotFound, Op: "httpapi.tenant", Msg: "tenant " + quoteShort(t) + " not found: this server's tenant is " + s.identity.TenantID(),
			Err: &identity.OAuthError{Code: identity.CodeInvalidRequest, AADSTS: 90002, Description: "tenant " + quoteShort(t) + " not found"}}
	}
	return nil
}

// publicHost is the host the client reached us by, for issuer and endpoint URLs.
func publicHost(r *http.Request) string {
	if h := r.Host; h != "" && !strings.ContainsAny(h, "/\\ @") {
		return h
	}
	return "localhost"
}

func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkTenant(r); err != nil {
		return err
	}
	base := "https://" + publicHost(r) + "/" + s.identity.TenantID()
	w.Header().Set("Cache-Control", "max-age=3600")
	return writeJSON(w, http.StatusOK, discoveryDoc{
		Issuer:                            s.identity.IssuerFor(publicHost(r)),
		AuthorizationEndpoint:             base + "/oauth2/v2.0/authorize",
		TokenEndpoint:                     base + "/oauth2/v2.0/token",
		JWKSURI:                           base + "/discovery/v2.0/keys",
		ResponseTypesSupported:            []string{"token"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"ES256"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt"},
		GrantTypesSupported:               []string{identity.GrantClientCredentials, identity.GrantPassword},
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
		ClaimsSupported:                   []string{"iss", "aud", "sub", "oid", "tid", "appid", "azp", "idtyp", "iat", "nbf", "exp"},
		CloudInstanceName:                 "latchkey",
	})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkTenant(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	_, err := w.Write(s.identity.JWKS())
	return err
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkTenant(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		return &errs.Error{Kind: errs.Invalid, Op: "httpapi.token", Msg: "the body must be application/x-www-form-urlencoded, at most 64 KiB",
			Err: &identity.OAuthError{Code: identity.CodeInvalidRequest, AADSTS: 900144, Description: "the body must be application/x-www-form-urlencoded, at most 64 KiB"}}
	}
	req, err := identity.ParseTokenRequest(r.PostForm)
	if err != nil {
		return err
	}
	req.Host = publicHost(r)
	req.RemoteAddr = s.clientIP(r)
	note := noteAudit(r.Context())
	note.principalName, note.authMethod = firstNonEmpty(req.ClientID, req.Username), req.Method()
	resp, err := s.identity.Token(r.Context(), req)
	if err != nil {
		return err
	}
	note.principalID = resp.Claims.ObjectID
	note.principalType = principalType(resp.Claims.IDType, resp.Claims.ManagedIdentity)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	expiresIn := resp.Claims.Expiry - resp.Claims.IssuedAt
	return writeJSON(w, http.StatusOK, tokenBody{TokenType: "Bearer", ExpiresIn: expiresIn, ExtExpiresIn: expiresIn, AccessToken: resp.AccessToken})
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// oauthErrorBody is the token endpoint's error document, as Entra sends it.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
