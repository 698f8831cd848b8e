package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// The kinds of Credential.
const (
	CredentialSecret      = "Secret"
	CredentialCertificate = "Certificate"
	CredentialFederated   = "Federated"
)

// Credential describes one credential of a service principal or managed
// identity. It never carries a secret: a client secret shows only its first
// characters (Hint).
type Credential struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // CredentialSecret, CredentialCertificate or CredentialFederated
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
	// Hint is the first characters of a client secret.
	Hint string `json:"hint,omitempty"`
	// Thumbprint is a certificate's base64url SHA-1 thumbprint (x5t).
	Thumbprint string `json:"thumbprint,omitempty"`
	// Issuer, Subject and Audiences are what a federated credential trusts.
	Issuer    string   `json:"issuer,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
}

// AddCertificateRequest registers a certificate for signed client assertions.
// Certificate is the public certificate in PEM; never send its private key.
type AddCertificateRequest struct {
	Name        string `json:"name,omitempty"`
	Certificate string `json:"certificate"`
}

// FederatedCredential trusts tokens from an external OIDC issuer (a Kubernetes
// cluster, a CI system) whose subject matches Subject, so the workload holding
// them gets Latchkey tokens without a secret. Subject may hold globs: * matches
// any run of characters other than ':' and '/', ** any run. Give the issuer's
// keys by JWKSURI (https) or inline in JWKS. Audiences default to
// api://AzureADTokenExchange.
type FederatedCredential struct {
	Name        string          `json:"name"`
	Issuer      string          `json:"issuer"`
	Subject     string          `json:"subject"`
	Audiences   []string        `json:"audiences"`
	JWKSURI     string          `json:"jwksUri,omitempty"`
	JWKS        json.RawMessage `json:"jwks,omitempty"`
	Description string          `json:"description,omitempty"`
}

// AddCertificate registers a certificate for client assertions of the service
// principal with client id appID.
func (c *Client) AddCertificate(ctx context.Context, appID string, req AddCertificateRequest) (Credential, error) {
	var out Credential
	err := c.do(ctx, http.MethodPost, servicePrincipalsPath+"/"+seg(appID)+"/certificates", req, &out, http.StatusCreated)
	return out, err
}

// AddFederatedCredential lets tokens of an external issuer act as the service
// principal with client id appID.
func (c *Client) AddFederatedCredential(ctx context.Context, appID string, fc FederatedCredential) (Credential, error) {
	var out Credential
	err := c.do(ctx, http.MethodPost, servicePrincipalsPath+"/"+seg(appID)+"/federatedCredentials", fc, &out, http.StatusCreated)
	return out, err
}

// Credentials lists the credentials of the service principal with client id appID.
func (c *Client) Credentials(ctx context.Context, appID string) ([]Credential, error) {
	return listAll[Credential](ctx, c, servicePrincipalsPath+"/"+seg(appID)+"/credentials")
}

// DeleteCredential deletes one credential of a service principal.
func (c *Client) DeleteCredential(ctx context.Context, appID, id string) error {
	return c.do(ctx, http.MethodDelete, servicePrincipalsPath+"/"+seg(appID)+"/credentials/"+seg(id), nil, nil, http.StatusNoContent)
}

// AddIdentityFederatedCredential lets tokens of an external issuer act as the
// managed identity named name.
func (c *Client) AddIdentityFederatedCredential(ctx context.Context, name string, fc FederatedCredential) (Credential, error) {
	var out Credential
	err := c.do(ctx, http.MethodPost, identitiesPath+"/"+seg(name)+"/federatedCredentials", fc, &out, http.StatusCreated)
	return out, err
}

// IdentityCredentials lists the credentials of the managed identity named name.
func (c *Client) IdentityCredentials(ctx context.Context, name string) ([]Credential, error) {
	return listAll[Credential](ctx, c, identitiesPath+"/"+seg(name)+"/credentials")
}

// DeleteIdentityCredential deletes one credential of a managed identity.
func (c *Client) DeleteIdentityCredential(ctx context.Context, name, id string) error {
	return c.do(ctx, http.MethodDelete, identitiesPath+"/"+seg(name)+"/credentials/"+seg(id), nil, nil, http.StatusNoContent)
}
