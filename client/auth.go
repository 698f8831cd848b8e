package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// CLIClientID is the public client id of Latchkey's CLI, sent with the password
// grant. It is the same value as the server's identity.CLIClientID.
const CLIClientID = "5e5f0a7e-1a7c-4b7b-9d6b-6c61746368b1"

// TokenURL returns the token endpoint of tenantID under authorityHost (such as
// https://127.0.0.1:8443/, with or without the trailing slash).
func TokenURL(authorityHost, tenantID string) string {
	return strings.TrimRight(authorityHost, "/") + "/" + tenantID + "/oauth2/v2.0/token"
}

// Token is an access token and when it expires. It prints without the token.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
}

func (t Token) String() string   { return "access token expiring " + t.ExpiresOn.Format(time.RFC3339) }
func (t Token) GoString() string { return t.String() }

// OAuthError is a refusal from the token endpoint, in OAuth2's terms.
type OAuthError struct {
	StatusCode  int
	Code        string // invalid_client, invalid_grant, ...
	Description string // Entra style: "AADSTS7000215: ...", without the trace suffix
}

func (e *OAuthError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("the token endpoint answered HTTP %d: %s", e.StatusCode, e.Description)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Description, e.StatusCode)
}

// earlyRenewal is how long before expiry a cached token is replaced.
const earlyRenewal = 5 * time.Minute

// ClientCredentials gets management API tokens for a service principal with
// its client secret (the OAuth2 client credentials grant) and caches each
// token until five minutes before it expires. It is safe for concurrent use;
// use it through a pointer.
type ClientCredentials struct {
	TokenURL   string // {authorityHost}{tenant}/oauth2/v2.0/token; see TokenURL
	ClientID   string // the service principal's appId
	Secret     string
	Scope      string       // "" means ManagementScope
	HTTPClient *http.Client // nil means http.DefaultClient

	mu     sync.Mutex // guards cached
	cached Token
}

func (c *ClientCredentials) String() string {
	return "client credentials of " + c.ClientID + " (secret redacted)"
}
func (c *ClientCredentials) GoString() string { return c.String() }

// Token returns a cached token or gets a new one. Concurrent callers that find
// the cache stale may each ask the endpoint; no lock is held while they do.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	t := c.cached
	c.mu.Unlock()
	if t.AccessToken != "" && time.Until(t.ExpiresOn) > earlyRenewal {
		return t.AccessToken, nil
	}
	scope := c.Scope
	if scope == "" {
		scope = ManagementScope
	}
	t, err := requestToken(ctx, c.HTTPClient, c.TokenURL, url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.ClientID},
		"client_secret": {c.Secret},
		"scope":         {scope},
	})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.cached = t
	c.mu.Unlock()
	return t.AccessToken, nil
}

// PasswordLogin signs a user in with the password grant as Latchkey's CLI and
// returns a management API token.
func PasswordLogin(ctx context.Context, hc *http.Client, tokenURL, username, password string) (Token, error) {
	return requestToken(ctx, hc, tokenURL, url.Values{
		"grant_type": {"password"},
		"client_id":  {CLIClientID},
		"username":   {username},
		"password":   {password},
		"scope":      {ManagementScope},
	})
}

// tokenAnswer is the token endpoint's answer, success or error.
type tokenAnswer struct {
	AccessToken      string      `json:"access_token"`
	ExpiresIn        json.Number `json:"expires_in"` // Entra sends a number, some servers a string
	Error            string      `json:"error"`
	ErrorDescription string      `json:"error_description"`
}

// requestToken posts a token request. Neither the form nor the answer's token
// ever reaches an error.
func requestToken(ctx context.Context, hc *http.Client, tokenURL string, form url.Values) (Token, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("token endpoint %q: %w", tokenURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return Token{}, fmt.Errorf("token endpoint %s: read the answer: %w", tokenURL, err)
	}
	var a tokenAnswer
	jsonErr := json.Unmarshal(b, &a)
	if resp.StatusCode != http.StatusOK || a.AccessToken == "" {
		oe := &OAuthError{StatusCode: resp.StatusCode, Code: a.Error, Description: trimTrace(a.ErrorDescription)}
		if jsonErr != nil || oe.Description == "" {
			oe.Description = "the answer is not an OAuth2 token response (" + resp.Status + "): check the token URL " + tokenURL
		}
		return Token{}, oe
	}
	secs, err := a.ExpiresIn.Int64()
	if err != nil || secs <= 0 {
		return Token{}, fmt.Errorf("token endpoint %s: expires_in %q is not a positive number of seconds", tokenURL, a.ExpiresIn)
	}
	// Count from before the request, so the cache never outlives the token.
	return Token{AccessToken: a.AccessToken, ExpiresOn: start.Add(time.Duration(secs) * time.Second)}, nil
}

// trimTrace drops the " Trace ID: ... Timestamp: ..." tail Entra appends to
// error descriptions: it helps a support ticket, not a person at a terminal.
func trimTrace(desc string) string {
	if i := strings.Index(desc, " Trace ID: "); i >= 0 {
		return desc[:i]
	}
	return desc
}
