package client

import (
	"context"
	"net/http"
	"time"
)

// IdentityTokenRequest asks for an access token of a managed identity for
// Resource, an absolute URI such as https://vault.azure.net (no "/.default").
type IdentityTokenRequest struct {
	Resource string `json:"resource"`
}

// IdentityToken is an access token issued to a managed identity on behalf of
// an operator allowed to assign it (`latchkey run`).
type IdentityToken struct {
	AccessToken string `json:"accessToken"`
	// ExpiresOn is the token's expiry in unix seconds, as the managed identity
	// protocols carry it; Expires gives it as a time.
	ExpiresOn int64  `json:"expiresOn"`
	Resource  string `json:"resource"`
	ClientID  string `json:"clientId"`
	TokenType string `json:"tokenType"` // Bearer
}

// Expires returns ExpiresOn as a time.
func (t IdentityToken) Expires() time.Time { return time.Unix(t.ExpiresOn, 0) }

// IdentityToken gets an access token of the managed identity named name for
// resource (an absolute URI such as https://vault.azure.net). The caller needs
// the assign action on the identity.
func (c *Client) IdentityToken(ctx context.Context, name, resource string) (IdentityToken, error) {
	var out IdentityToken
	err := c.do(ctx, http.MethodPost, identitiesPath+"/"+seg(name)+"/token", IdentityTokenRequest{Resource: resource}, &out, http.StatusOK)
	return out, err
}
