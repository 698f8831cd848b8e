package client

import (
	"context"
	"net/http"
	"time"
)

// AccountsAudience is Latchkey's own audience for Entra tokens to AI services
// accounts' data plane; Azure's, https://cognitiveservices.azure.com, which
// the official clients ask for by default, is accepted as well.
const AccountsAudience = "api://latchkey/cognitiveservices"

// Account is an AI services account as the management API shows it. It holds
// no key: listKeys returns them.
type Account struct {
	ID          string            `json:"id"`   // its scope, such as /hubs/default/accounts/aoai
	Kind        string            `json:"kind"` // "Account", as for every resource
	Name        string            `json:"name"`
	Hub         string            `json:"hub"`
	AccountKind string            `json:"accountKind"` // OpenAI: an OpenAI-compatible upstream
	Endpoint    string            `json:"endpoint"`    // https://HOST/accounts/{name}: the data plane
	Upstream    AccountUpstream   `json:"upstream"`
	Deployments map[string]string `json:"deployments,omitempty"` // Azure OpenAI deployment -> upstream model
	Limits      AccountLimits     `json:"limits"`
	Identity    AccountIdentity   `json:"identity"`
	// ActiveKey is the key consumers should use now: key1 or key2. A key
	// rotation moves it; consumers read it with ActiveKey.
	ActiveKey   string           `json:"activeKey"`
	Rotation    *AccountRotation `json:"rotation,omitempty"` // a rotation under way
	LastRotated *time.Time       `json:"lastRotated,omitempty"`
	// DisableLocalAuth: the data plane refuses the account's keys and the
	// STS tokens minted from them, and takes Entra tokens only.
	DisableLocalAuth bool      `json:"disableLocalAuth"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
}

// AccountUpstream says where an account forwards calls and how it
// authenticates there. A key is never shown: only where it is kept.
type AccountUpstream struct {
	URL       string `json:"url,omitempty"`
	Auth      string `json:"auth"`                // none, key or identity
	KeyHeader string `json:"keyHeader,omitempty"` // key: authorization (Bearer) or api-key
	Vault     string `json:"vault,omitempty"`     // key: the vault that keeps it
	Secret    string `json:"secret,omitempty"`    // key: its secret there
	Audience  string `json:"audience,omitempty"`  // identity: the token's audience
}

// AccountLimits are per-minute limits of each caller of an account (a key or
// a principal); 0 means unlimited.
type AccountLimits struct {
	RequestsPerMinute int `json:"requestsPerMinute,omitempty"`
	TokensPerMinute   int `json:"tokensPerMinute,omitempty"`
}

// AccountIdentity is an account's system-assigned managed identity, in
// Azure's shape.
type AccountIdentity struct {
	Type        string `json:"type"` // SystemAssigned
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
	TenantID    string `json:"tenantId"`
}

// AccountRotation is a key rotation under way.
type AccountRotation struct {
	Step        int        `json:"step"` // the next step, 2 to 4
	Started     time.Time  `json:"started"`
	StepStarted time.Time  `json:"stepStarted"`
	Checked     *time.Time `json:"checked,omitempty"`
}

// AccountRequest creates an account (PUT) or changes one (PUT on an existing
// account, PATCH): absent fields stay as they are.
type AccountRequest struct {
	// Name, when given, must be the name in the path (the resource API's
	// PUT sends it).
	Name        string                  `json:"name,omitempty"`
	Kind        *string                 `json:"kind,omitempty"`
	Upstream    *AccountUpstreamRequest `json:"upstream,omitempty"`
	Deployments *map[string]string      `json:"deployments,omitempty"`
	Limits      *AccountLimits          `json:"limits,omitempty"`
	// DisableLocalAuth true refuses keys and STS tokens on the data plane;
	// false takes them again.
	DisableLocalAuth *bool `json:"disableLocalAuth,omitempty"`
}

// AccountUpstreamRequest sets an account's upstream.
type AccountUpstreamRequest struct {
	URL  *string `json:"url,omitempty"`  // "" removes the upstream
	Auth *string `json:"auth,omitempty"` // none, key or identity; with a key, key by default
	// Key is the upstream's key. Latchkey stores it as a secret of Vault (or
	// the hub's only vault) and never shows it again.
	Key       *string `json:"key,omitempty"`
	KeyHeader *string `json:"keyHeader,omitempty"` // authorization (default) or api-key
	Vault     string  `json:"vault,omitempty"`
	Audience  *string `json:"audience,omitempty"` // identity: default https://cognitiveservices.azure.com
}

// AccountKeys are an account's two keys, as Azure's listKeys returns them.
type AccountKeys struct {
	Key1 string `json:"key1"`
	Key2 string `json:"key2"`
}

// RegenerateKeyRequest names the key to regenerate: key1 or key2 (Azure
// spells them Key1 and Key2; both are accepted).
type RegenerateKeyRequest struct {
	KeyName string `json:"keyName"`
}

// ActiveKey is the key consumers of an account should use now.
type ActiveKey struct {
	KeyName string `json:"keyName"` // key1 or key2
	Key     string `json:"key"`
}

// RotateKeysRequest asks for the next step of an account's key rotation.
type RotateKeysRequest struct {
	// QuietPeriod is how long the key about to be regenerated must have gone
	// unused, as a Go duration ("15m", "30s"); "" means 15 minutes.
	QuietPeriod string `json:"quietPeriod,omitempty"`
	// Force regenerates without waiting for the quiet period.
	Force bool `json:"force,omitempty"`
}

// RotationStep is what one rotateKeys call did, or why it held back.
type RotationStep struct {
	Step      int    `json:"step"`   // 1 to 4
	Action    string `json:"action"` // such as "regenerate key1"
	Done      bool   `json:"done"`   // false: held back, see Held
	ActiveKey string `json:"activeKey"`
	// Held names the callers that used the key the step would regenerate
	// within the quiet period.
	Held     []KeyUse   `json:"held,omitempty"`
	RetryAt  *time.Time `json:"retryAt,omitempty"` // when a held step may go on
	Finished bool       `json:"finished"`          // both keys are new
}

// KeyUse is the latest use of an account key's current value by one caller.
type KeyUse struct {
	KeyName  string    `json:"keyName"`
	Caller   string    `json:"caller"` // the caller's address
	Via      string    `json:"via"`    // key, or token (an STS token minted from it)
	LastUsed time.Time `json:"lastUsed"`
}

// accountsPath lists every account; accountByName is one account's path
// (account names are unique in the tenant).
const accountsPath = "/api/v1/accounts"

func accountByName(name string) string { return accountsPath + "/" + seg(name) }

// CreateAccount creates the account /hubs/{hub}/accounts/{name} as req says,
// or changes what req sets of it when it exists; created tells which.
func (c *Client) CreateAccount(ctx context.Context, hub, name string, req AccountRequest) (a Account, created bool, err error) {
	err = sendJSON(ctx, c.hc, c.tokens, http.MethodPut, c.base+accountPath(hub, name), req, &a, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			return responseError(resp)
		}
		created = resp.StatusCode == http.StatusCreated
		return nil
	})
	return a, created, err
}

// AccountByName returns the account named name.
func (c *Client) AccountByName(ctx context.Context, name string) (Account, error) {
	var out Account
	err := c.do(ctx, http.MethodGet, accountByName(name), nil, &out, http.StatusOK)
	return out, err
}

// ListAccounts lists the accounts of hub ("" for every hub) the caller may
// read, following all pages.
func (c *Client) ListAccounts(ctx context.Context, hub string) ([]Account, error) {
	if hub == "" {
		return listAll[Account](ctx, c, accountsPath)
	}
	return listAll[Account](ctx, c, hubPath(hub)+"/accounts")
}

// UpdateAccount changes what req sets of the account named name.
func (c *Client) UpdateAccount(ctx context.Context, name string, req AccountRequest) (Account, error) {
	var out Account
	err := c.do(ctx, http.MethodPatch, accountByName(name), req, &out, http.StatusOK)
	return out, err
}

// DeleteAccountByName deletes the account named name, its keys and its
// identity.
func (c *Client) DeleteAccountByName(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, accountByName(name), nil, nil, http.StatusNoContent)
}

// ListKeys returns the account's two keys.
func (c *Client) ListKeys(ctx context.Context, name string) (AccountKeys, error) {
	var out AccountKeys
	err := c.do(ctx, http.MethodPost, accountByName(name)+"/listKeys", nil, &out, http.StatusOK)
	return out, err
}

// RegenerateKey gives key keyName (key1 or key2) a new value and returns both
// keys. The old value, and every token minted from it, stop working at once.
func (c *Client) RegenerateKey(ctx context.Context, name, keyName string) (AccountKeys, error) {
	var out AccountKeys
	err := c.do(ctx, http.MethodPost, accountByName(name)+"/regenerateKey", RegenerateKeyRequest{KeyName: keyName}, &out, http.StatusOK)
	return out, err
}

// ActiveKey returns the key consumers of the account should use now.
func (c *Client) ActiveKey(ctx context.Context, name string) (ActiveKey, error) {
	var out ActiveKey
	err := c.do(ctx, http.MethodPost, accountByName(name)+"/activeKey", nil, &out, http.StatusOK)
	return out, err
}

// RotateKeys takes the next step of the account's key rotation, or says why
// it holds back.
func (c *Client) RotateKeys(ctx context.Context, name string, req RotateKeysRequest) (RotationStep, error) {
	var out RotationStep
	err := c.do(ctx, http.MethodPost, accountByName(name)+"/rotateKeys", req, &out, http.StatusOK)
	return out, err
}

// KeyUses returns the latest use of each of the account's current keys by
// each caller.
func (c *Client) KeyUses(ctx context.Context, name string) ([]KeyUse, error) {
	var out List[KeyUse]
	err := c.do(ctx, http.MethodGet, accountByName(name)+"/keyUsage", nil, &out, http.StatusOK)
	return out.Value, err
}

// AccountUsage is what an account's callers used through the gateway, as
// metered by the server that answers since it started (each replica meters
// the calls it served).
type AccountUsage struct {
	Account          string        `json:"account"`
	Requests         int64         `json:"requests"`
	PromptTokens     int64         `json:"promptTokens"`
	CompletionTokens int64         `json:"completionTokens"`
	Callers          []CallerUsage `json:"callers"`
}

// CallerUsage is what one caller of an account used: a key (key1, key2,
// whether sent itself or as an STS token) or a principal (principal:<oid>).
type CallerUsage struct {
	Key              string     `json:"key"`
	Requests         int64      `json:"requests"`
	PromptTokens     int64      `json:"promptTokens"`
	CompletionTokens int64      `json:"completionTokens"`
	LastUsed         *time.Time `json:"lastUsed,omitempty"`
}

// Usage returns what the account's callers used through the answering
// server's gateway.
func (c *Client) Usage(ctx context.Context, name string) (AccountUsage, error) {
	var out AccountUsage
	err := c.do(ctx, http.MethodGet, accountByName(name)+"/usage", nil, &out, http.StatusOK)
	return out, err
}
