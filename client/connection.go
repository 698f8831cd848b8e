package client

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// ConnectionType is the type of every connection resource, as in Azure
// (Microsoft.MachineLearningServices/workspaces/connections).
const ConnectionType = "Latchkey.MachineLearningServices/workspaces/connections"

// Connection is a connection of a hub (shared with its projects) or of a
// project, in the shape of Azure's workspace connection resource. Its
// Properties.Credentials are filled only in the answer of ListConnectionSecrets.
type Connection struct {
	ID         string               `json:"id"` // its scope, such as /hubs/h/projects/p/connections/n
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Hub        string               `json:"hub"`
	Project    string               `json:"project,omitempty"` // "" for a hub's shared connection
	Properties ConnectionProperties `json:"properties"`
}

// ConnectionDefinition is what a caller writes of a connection: the
// properties of PUT and of the connection file.
type ConnectionDefinition struct {
	// Category: ApiKey, CustomKeys, AIServices, AzureOpenAI, AzureBlob,
	// AzureDataLakeGen2, AzureOneLake or KeyVault.
	Category string `json:"category"`
	// AuthType: ApiKey, CustomKeys, AccountKey, SAS, ServicePrincipal,
	// ManagedIdentity or None; "" for the category's default.
	AuthType    string            `json:"authType,omitempty"`
	Target      string            `json:"target,omitempty"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Credentials are write-only: shown by ListConnectionSecrets alone.
	Credentials *ConnectionCredentials `json:"credentials,omitempty"`
	// Proxy says how the connection proxy sends the credential (ApiKey and
	// CustomKeys connections).
	Proxy *ConnectionProxy `json:"proxy,omitempty"`
	// Account names the Latchkey AI services account of an AIServices
	// connection.
	Account string `json:"account,omitempty"`
	// Vault, Identity and ReadersReadDatastoreCredentials belong to the
	// hub's Key Vault connection: the vault of the hub that holds connection
	// secrets, the user-assigned managed identity that writes and reads
	// them, and whether readers may read datastore credentials (default
	// true).
	Vault                           string `json:"vault,omitempty"`
	Identity                        string `json:"identity,omitempty"`
	ReadersReadDatastoreCredentials *bool  `json:"readersReadDatastoreCredentials,omitempty"`
}

// ConnectionProperties are a connection's properties as the server shows
// them.
type ConnectionProperties struct {
	ConnectionDefinition
	IsSharedToAll bool               `json:"isSharedToAll"` // a hub's connection, seen by its projects
	Secrets       []ConnectionSecret `json:"secrets,omitempty"`
	CreatedBy     string             `json:"createdBy,omitempty"`
	Created       time.Time          `json:"created"`
	Updated       time.Time          `json:"updated"`
}

// ConnectionSecret is where one credential field of a connection is kept.
type ConnectionSecret struct {
	Field string `json:"field"` // key, sas, clientSecret, keys.NAME, ...
	Vault string `json:"vault"`
	Name  string `json:"name"` // the secret's name in the vault
}

// ConnectionCredentials are a connection's credentials, in Azure's shape
// for each auth type: ApiKey and AccountKey {key}, SAS {sas}, CustomKeys
// {keys}, ServicePrincipal {clientId, clientSecret, tenantId},
// ManagedIdentity {clientId, resourceId}.
type ConnectionCredentials struct {
	Key          string            `json:"key,omitempty"`
	Keys         map[string]string `json:"keys,omitempty"`
	SAS          string            `json:"sas,omitempty"`
	ClientID     string            `json:"clientId,omitempty"`
	ClientSecret string            `json:"clientSecret,omitempty"`
	TenantID     string            `json:"tenantId,omitempty"`
	ResourceID   string            `json:"resourceId,omitempty"`
}

// NewConnectionCredentials builds the wire form of credentials from their
// fields by name: key, sas, clientId, clientSecret, tenantId, resourceId,
// and keys.NAME for each key of a CustomKeys connection. Other names are
// left out. It returns nil when fields is empty.
func NewConnectionCredentials(fields map[string]string) *ConnectionCredentials {
	if len(fields) == 0 {
		return nil
	}
	out := &ConnectionCredentials{}
	for f, v := range fields {
		switch f {
		case "key":
			out.Key = v
		case "sas":
			out.SAS = v
		case "clientId":
			out.ClientID = v
		case "clientSecret":
			out.ClientSecret = v
		case "tenantId":
			out.TenantID = v
		case "resourceId":
			out.ResourceID = v
		default:
			if name, ok := strings.CutPrefix(f, "keys."); ok {
				if out.Keys == nil {
					out.Keys = map[string]string{}
				}
				out.Keys[name] = v
			}
		}
	}
	return out
}

// ConnectionProxy says how the connection proxy sends the credential: in
// Header (default Authorization), after Prefix (default "Bearer " for
// Authorization, "" otherwise); Key names the secret of a CustomKeys
// connection to send. The limits are the gateway's, per caller and minute
// (0 or absent: unlimited).
type ConnectionProxy struct {
	Header            string  `json:"header,omitempty"`
	Prefix            *string `json:"prefix,omitempty"`
	Key               string  `json:"key,omitempty"`
	RequestsPerMinute *int    `json:"requestsPerMinute,omitempty"`
	TokensPerMinute   *int    `json:"tokensPerMinute,omitempty"`
}

// PutConnectionRequest is the body of PUT: the connection's definition.
type PutConnectionRequest struct {
	Properties ConnectionDefinition `json:"properties"`
}

// ConnectionUpdate is the body of PATCH: nil fields stay; metadata and tags
// are merged (an empty value removes the key); credentials are merged field
// by field, unless the auth type changes.
type ConnectionUpdate struct {
	Properties ConnectionChanges `json:"properties"`
}

// ConnectionChanges are the fields of a ConnectionUpdate.
type ConnectionChanges struct {
	AuthType                        *string                `json:"authType,omitempty"`
	Target                          *string                `json:"target,omitempty"`
	Description                     *string                `json:"description,omitempty"`
	Metadata                        map[string]string      `json:"metadata,omitempty"`
	Tags                            map[string]string      `json:"tags,omitempty"`
	Credentials                     *ConnectionCredentials `json:"credentials,omitempty"`
	Proxy                           *ConnectionProxy       `json:"proxy,omitempty"`
	Account                         *string                `json:"account,omitempty"`
	Identity                        *string                `json:"identity,omitempty"`
	ReadersReadDatastoreCredentials *bool                  `json:"readersReadDatastoreCredentials,omitempty"`
}

// connectionsPath is the collection of a hub's shared connections, or of a
// project's own when project is not "".
func connectionsPath(hub, project string) string {
	if project == "" {
		return hubPath(hub) + "/connections"
	}
	return projectPath(hub, project) + "/connections"
}

func connectionPath(hub, project, name string) string {
	return connectionsPath(hub, project) + "/" + seg(name)
}

// PutConnection creates the connection, or replaces its definition, and
// reports whether it created it. Credentials omitted on a replace that keeps
// the auth type stay as they are.
func (c *Client) PutConnection(ctx context.Context, hub, project, name string, def ConnectionDefinition) (Connection, bool, error) {
	var out Connection
	status := 0
	err := sendJSON(ctx, c.hc, c.tokens, http.MethodPut, c.base+connectionPath(hub, project, name), PutConnectionRequest{Properties: def}, &out,
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
				return responseError(resp)
			}
			status = resp.StatusCode
			return nil
		})
	return out, status == http.StatusCreated, err
}

// UpdateConnection changes some of a connection's definition.
func (c *Client) UpdateConnection(ctx context.Context, hub, project, name string, u ConnectionUpdate) (Connection, error) {
	var out Connection
	err := c.do(ctx, http.MethodPatch, connectionPath(hub, project, name), u, &out, http.StatusOK)
	return out, err
}

// Connection returns a connection without its credentials. Through a
// project, it is the project's own or else its hub's shared connection.
func (c *Client) Connection(ctx context.Context, hub, project, name string) (Connection, error) {
	var out Connection
	err := c.do(ctx, http.MethodGet, connectionPath(hub, project, name), nil, &out, http.StatusOK)
	return out, err
}

// Connections lists the connections the caller may read: a hub's shared ones
// (project ""), or a project's own and its hub's shared ones.
func (c *Client) Connections(ctx context.Context, hub, project string) ([]Connection, error) {
	return listAll[Connection](ctx, c, connectionsPath(hub, project))
}

// DeleteConnection deletes a connection and its secrets (recoverable in their
// vault for its retention).
func (c *Client) DeleteConnection(ctx context.Context, hub, project, name string) error {
	return c.do(ctx, http.MethodDelete, connectionPath(hub, project, name), nil, nil, http.StatusNoContent)
}

// ListConnectionSecrets returns a connection with its credentials, as
// Azure's listsecrets does.
func (c *Client) ListConnectionSecrets(ctx context.Context, hub, project, name string) (Connection, error) {
	var out Connection
	err := c.do(ctx, http.MethodPost, connectionPath(hub, project, name)+"/listsecrets", struct{}{}, &out, http.StatusOK)
	return out, err
}

// ConnectionUsage is what the callers of a connection's proxy used through
// the answering server's gateway since it started: requests, and the tokens
// the target reported when it answers as an OpenAI-compatible API does.
type ConnectionUsage struct {
	Connection       string        `json:"connection"` // the connection's scope
	Requests         int64         `json:"requests"`
	PromptTokens     int64         `json:"promptTokens"`
	CompletionTokens int64         `json:"completionTokens"`
	Callers          []CallerUsage `json:"callers"` // each caller, as principal:<object id>
}

// ConnectionUsage returns what the callers of a connection's proxy used, as
// the answering server metered it. It needs what reading the connection
// needs.
func (c *Client) ConnectionUsage(ctx context.Context, hub, project, name string) (ConnectionUsage, error) {
	var out ConnectionUsage
	err := c.do(ctx, http.MethodGet, connectionPath(hub, project, name)+"/usage", nil, &out, http.StatusOK)
	return out, err
}

// ConnectionProxyURL returns the base URL of the connection proxy for a
// connection: a call to it plus the target's path reaches the connection's
// target with its credential, sent with the caller's own token.
func (c *Client) ConnectionProxyURL(hub, project, name string) string {
	if project == "" {
		project = "_"
	}
	return c.base + "/connections/" + seg(hub) + "/" + seg(project) + "/" + seg(name) + "/proxy"
}
