package client

import (
	"context"
	"net/http"
	"time"
)

// The management API's collections.
const (
	servicePrincipalsPath = "/api/v1/servicePrincipals"
	identitiesPath        = "/api/v1/identities"
	usersPath             = "/api/v1/users"
)

// ServicePrincipal is an application identity that signs in with a client
// secret, a certificate or a federated token.
type ServicePrincipal struct {
	ID          string    `json:"id"`    // object id: the oid of its tokens
	AppID       string    `json:"appId"` // client id
	DisplayName string    `json:"displayName"`
	Enabled     bool      `json:"enabled"`
	Created     time.Time `json:"created"`
}

// CreateServicePrincipalRequest asks for a new service principal with a first
// client secret valid for SecretLifetimeDays (0: the server's default, a year).
type CreateServicePrincipalRequest struct {
	DisplayName        string `json:"displayName"`
	SecretLifetimeDays int    `json:"secretLifetimeDays,omitempty"`
}

// CreatedServicePrincipal is a new service principal and its first client
// secret, shaped as `az ad sp create-for-rbac` prints it. Password is shown
// once and never again.
type CreatedServicePrincipal struct {
	AppID           string    `json:"appId"`
	DisplayName     string    `json:"displayName"`
	Password        string    `json:"password"`
	Tenant          string    `json:"tenant"`
	ID              string    `json:"id"`
	PasswordExpires time.Time `json:"passwordExpires"`
}

// ResetCredentialRequest asks for a new client secret that replaces every
// existing one; SecretLifetimeDays 0 takes the server's default.
type ResetCredentialRequest struct {
	SecretLifetimeDays int `json:"secretLifetimeDays,omitempty"`
}

// ResetCredentialResult is the new client secret of a service principal, shaped
// as `az ad sp credential reset` prints it. Password is shown once.
type ResetCredentialResult struct {
	AppID           string    `json:"appId"`
	Password        string    `json:"password"`
	Tenant          string    `json:"tenant"`
	PasswordExpires time.Time `json:"passwordExpires"`
}

// ManagedIdentity is a user-assigned managed identity at /identities/{name}.
// Workloads act as it through federated credentials or `latchkey run`, never
// with a secret.
type ManagedIdentity struct {
	ID          string    `json:"id"` // object id
	Name        string    `json:"name"`
	ClientID    string    `json:"clientId"`    // its appId, the client id of its tokens
	PrincipalID string    `json:"principalId"` // the object id again, as Azure names it
	Scope       string    `json:"scope"`       // /identities/{name}
	Enabled     bool      `json:"enabled"`
	Created     time.Time `json:"created"`
}

// CreateIdentityRequest asks for a new managed identity.
type CreateIdentityRequest struct {
	Name string `json:"name"`
}

// User is a person who signs in with a user name and password.
type User struct {
	ID      string    `json:"id"` // object id
	Name    string    `json:"name"`
	Enabled bool      `json:"enabled"`
	Created time.Time `json:"created"`
}

// CreateUserRequest asks for a new user. The password needs at least 12
// characters.
type CreateUserRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Caller is who the management API sees making a request (GET /api/v1/me).
type Caller struct {
	ID       string `json:"id"`              // object id
	Kind     string `json:"kind"`            // User, ServicePrincipal or ManagedIdentity
	Name     string `json:"name"`            // user name, display name or identity name
	AppID    string `json:"appId,omitempty"` // client id of a service principal or identity
	TenantID string `json:"tenantId"`
}

// CreateServicePrincipal creates a service principal and its first client
// secret, which the answer holds and nothing will show again.
func (c *Client) CreateServicePrincipal(ctx context.Context, req CreateServicePrincipalRequest) (CreatedServicePrincipal, error) {
	var out CreatedServicePrincipal
	err := c.do(ctx, http.MethodPost, servicePrincipalsPath, req, &out, http.StatusCreated)
	return out, err
}

// ServicePrincipals lists every service principal, following all pages.
func (c *Client) ServicePrincipals(ctx context.Context) ([]ServicePrincipal, error) {
	return listAll[ServicePrincipal](ctx, c, servicePrincipalsPath)
}

// ServicePrincipal returns the service principal with client id appID.
func (c *Client) ServicePrincipal(ctx context.Context, appID string) (ServicePrincipal, error) {
	var out ServicePrincipal
	err := c.do(ctx, http.MethodGet, servicePrincipalsPath+"/"+seg(appID), nil, &out, http.StatusOK)
	return out, err
}

// DeleteServicePrincipal deletes a service principal and its credentials; its
// tokens are refused from then on.
func (c *Client) DeleteServicePrincipal(ctx context.Context, appID string) error {
	return c.do(ctx, http.MethodDelete, servicePrincipalsPath+"/"+seg(appID), nil, nil, http.StatusNoContent)
}

// ResetServicePrincipalCredential replaces every client secret of a service
// principal by a new one, which the answer holds.
func (c *Client) ResetServicePrincipalCredential(ctx context.Context, appID string, req ResetCredentialRequest) (ResetCredentialResult, error) {
	var out ResetCredentialResult
	err := c.do(ctx, http.MethodPost, servicePrincipalsPath+"/"+seg(appID)+"/resetCredential", req, &out, http.StatusOK)
	return out, err
}

// CreateIdentity creates the managed identity /identities/{name}.
func (c *Client) CreateIdentity(ctx context.Context, name string) (ManagedIdentity, error) {
	var out ManagedIdentity
	err := c.do(ctx, http.MethodPost, identitiesPath, CreateIdentityRequest{Name: name}, &out, http.StatusCreated)
	return out, err
}

// Identities lists every user-assigned managed identity, following all pages.
func (c *Client) Identities(ctx context.Context) ([]ManagedIdentity, error) {
	return listAll[ManagedIdentity](ctx, c, identitiesPath)
}

// Identity returns the managed identity named name.
func (c *Client) Identity(ctx context.Context, name string) (ManagedIdentity, error) {
	var out ManagedIdentity
	err := c.do(ctx, http.MethodGet, identitiesPath+"/"+seg(name), nil, &out, http.StatusOK)
	return out, err
}

// DeleteIdentity deletes a managed identity and its federated credentials.
func (c *Client) DeleteIdentity(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, identitiesPath+"/"+seg(name), nil, nil, http.StatusNoContent)
}

// CreateUser creates a user who signs in with a password.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, usersPath, req, &out, http.StatusCreated)
	return out, err
}

// Users lists every user, following all pages.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	return listAll[User](ctx, c, usersPath)
}

// DeleteUser deletes the user named name.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, usersPath+"/"+seg(name), nil, nil, http.StatusNoContent)
}

// Me returns who the server sees behind the client's token.
func (c *Client) Me(ctx context.Context) (Caller, error) {
	var out Caller
	err := c.do(ctx, http.MethodGet, "/api/v1/me", nil, &out, http.StatusOK)
	return out, err
}
