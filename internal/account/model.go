package account

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Kinds of account. Only OpenAI-compatible upstreams are served so far.
const (
	KindOpenAI = "OpenAI"
)

// Ways an account authenticates to its upstream.
const (
	AuthNone     = "none"     // no credential
	AuthKey      = "key"      // a key kept in one of the hub's vaults
	AuthIdentity = "identity" // a token of the account's managed identity
)

// Headers that carry an upstream key.
const (
	HeaderAuthorization = "authorization" // Authorization: Bearer KEY (OpenAI and compatible)
	HeaderAPIKey        = "api-key"       // api-key: KEY (Azure OpenAI)
)

// DefaultUpstreamAudience is the audience of identity-based upstream tokens
// unless the account names another: what Azure AI services accept.
const DefaultUpstreamAudience = "https://cognitiveservices.azure.com"

// Upstream is where an account forwards calls, and how it authenticates
// there. It holds no secret: a key lives in a vault, named by Vault and
// Secret.
type Upstream struct {
	URL       string `json:"url,omitempty"`       // the OpenAI-compatible base, such as https://api.openai.com/v1
	Auth      string `json:"auth,omitempty"`      // AuthNone, AuthKey or AuthIdentity
	KeyHeader string `json:"keyHeader,omitempty"` // AuthKey: HeaderAuthorization or HeaderAPIKey
	Vault     string `json:"vault,omitempty"`     // AuthKey: the vault that holds the key
	Secret    string `json:"secret,omitempty"`    // AuthKey: the key's secret in that vault
	Audience  string `json:"audience,omitempty"`  // AuthIdentity: the token's audience
}

// Limits are per-minute limits of each caller of an account (a key, or a
// principal); 0 means unlimited.
type Limits struct {
	RequestsPerMinute int `json:"requestsPerMinute,omitempty"`
	TokensPerMinute   int `json:"tokensPerMinute,omitempty"`
}

// Identity is an account's system-assigned managed identity.
type Identity struct {
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
}

// Rotation is the state of a key rotation under way.
type Rotation struct {
	// Step is the next step: 2 (regenerate key1), 3 (move consumers back
	// to key1) or 4 (regenerate key2). Step 1 is taken when the rotation
	// starts.
	Step        int       `json:"step"`
	Started     time.Time `json:"started"`
	StepStarted time.Time `json:"stepStarted"`
	// Checked is the last time the rotation looked for uses of the old key.
	Checked time.Time `json:"checked,omitzero"`
}

// Account is an AI services account. It holds no secret.
type Account struct {
	Name, Hub, Scope string
	properties
	Created, Updated time.Time
}

// properties are an account's settings as its resource record keeps them.
type properties struct {
	Kind        string            `json:"kind"`
	Upstream    Upstream          `json:"upstream"`
	Deployments map[string]string `json:"deployments,omitempty"`
	Limits      Limits            `json:"limits"`
	Identity    Identity          `json:"identity"`
	// ActiveKey is the key consumers should use: the rotation moves it, and
	// the consumers Latchkey controls follow it.
	ActiveKey   string    `json:"activeKey"`
	Rotation    *Rotation `json:"rotation,omitempty"`
	LastRotated time.Time `json:"lastRotated,omitzero"`
	// DisableLocalAuth refuses the account's keys, and the STS tokens
	// minted from them, on the data plane: only Entra tokens are taken.
	// The keys still exist, and can be listed and regenerated.
	DisableLocalAuth bool `json:"disableLocalAuth,omitempty"`
}

// accountOf reads an account from its resource record.
func accountOf(r store.Resource) (*Account, error) {
	a := &Account{Name: r.Name, Scope: r.Scope, Created: r.Created, Updated: r.Updated}
	if parts := strings.Split(r.Scope, "/"); len(parts) > 2 {
		a.Hub = parts[2]
	}
	if len(r.Properties) > 0 {
		if err := json.Unmarshal(r.Properties, &a.properties); err != nil {
			return nil, fmt.Errorf("properties of account %s: %w", r.Name, err)
		}
	}
	if a.Kind == "" {
		a.Kind = KindOpenAI
	}
	if a.Upstream.Auth == "" {
		a.Upstream.Auth = AuthNone
	}
	if a.ActiveKey == "" {
		a.ActiveKey = store.Key1
	}
	return a, nil
}

// encode returns the record's properties.
func (p *properties) encode() []byte {
	b, _ := json.Marshal(p) // plain fields: cannot fail
	return b
}

// Spec is what a caller sets of an account, on creation or update. Nil
// fields stay as they are (or take their defaults on creation).
type Spec struct {
	Kind *string
	// UpstreamURL is the OpenAI-compatible base URL of the upstream; ""
	// removes the upstream.
	UpstreamURL *string
	// UpstreamAuth is AuthNone, AuthKey or AuthIdentity; with nil, it is
	// AuthKey when UpstreamKey is given, and otherwise stays (AuthNone on
	// creation).
	UpstreamAuth *string
	// UpstreamKey is the upstream's key; it is stored in Vault (AuthKey).
	UpstreamKey *Key
	KeyHeader   *string
	// Vault names the hub's vault that keeps UpstreamKey; "" means the
	// vault the account uses already, else the hub's only vault.
	Vault       string
	Audience    *string
	Deployments *map[string]string
	Limits      *Limits
	// DisableLocalAuth, when true, refuses keys and STS tokens on the data
	// plane (Azure's disableLocalAuth).
	DisableLocalAuth *bool
}

// empty reports whether s changes nothing.
func (s Spec) empty() bool {
	return s.Kind == nil && s.UpstreamURL == nil && s.UpstreamAuth == nil && s.UpstreamKey == nil && s.KeyHeader == nil &&
		s.Vault == "" && s.Audience == nil && s.Deployments == nil && s.Limits == nil && s.DisableLocalAuth == nil
}

// apply returns p with s applied and checked; keyGiven says an upstream key
// comes with s. Kinds: Invalid.
func (s Spec) apply(op string, p properties) (properties, error) {
	if s.Kind != nil {
		if *s.Kind != KindOpenAI {
			return p, errs.Invalidf(op, "kind", "kind %q is not served: Latchkey serves OpenAI-compatible accounts (kind %s)", clip(*s.Kind), KindOpenAI)
		}
		p.Kind = *s.Kind
	}
	if s.UpstreamURL != nil {
		u, err := checkUpstreamURL(op, *s.UpstreamURL)
		if err != nil {
			return p, err
		}
		p.Upstream.URL = u
	}
	switch {
	case s.UpstreamAuth != nil:
		p.Upstream.Auth = *s.UpstreamAuth
	case s.UpstreamKey != nil:
		p.Upstream.Auth = AuthKey
	}
	if s.KeyHeader != nil {
		p.Upstream.KeyHeader = strings.ToLower(*s.KeyHeader)
	}
	if s.Audience != nil {
		p.Upstream.Audience = *s.Audience
	}
	switch p.Upstream.Auth {
	case AuthNone:
		if s.UpstreamKey != nil {
			return p, errs.Invalidf(op, "upstream.auth", "an upstream key was given with upstream auth %q: use auth %q, or give no key", AuthNone, AuthKey)
		}
		p.Upstream.Vault, p.Upstream.Secret, p.Upstream.KeyHeader, p.Upstream.Audience = "", "", "", ""
	case AuthKey:
		if p.Upstream.KeyHeader == "" {
			p.Upstream.KeyHeader = HeaderAuthorization
		}
		if p.Upstream.KeyHeader != HeaderAuthorization && p.Upstream.KeyHeader != HeaderAPIKey {
			return p, errs.Invalidf(op, "upstream.keyHeader", "the upstream key header must be %q (Authorization: Bearer KEY) or %q, not %q",
				HeaderAuthorization, HeaderAPIKey, clip(p.Upstream.KeyHeader))
		}
		if s.UpstreamKey != nil && s.UpstreamKey.IsZero() {
			return p, errs.Invalidf(op, "upstream.key", "the upstream key is empty: give the key the upstream expects")
		}
		if s.UpstreamKey == nil && p.Upstream.Secret == "" {
			return p, errs.Invalidf(op, "upstream.key", "upstream auth %q needs the upstream's key: give it (latchkey: --upstream-key-file)", AuthKey)
		}
		p.Upstream.Audience = ""
	case AuthIdentity:
		if s.UpstreamKey != nil {
			return p, errs.Invalidf(op, "upstream.auth", "an upstream key was given with upstream auth %q: the account's identity needs none", AuthIdentity)
		}
		if p.Upstream.Audience == "" {
			p.Upstream.Audience = DefaultUpstreamAudience
		}
		p.Upstream.Vault, p.Upstream.Secret, p.Upstream.KeyHeader = "", "", ""
	default:
		return p, errs.Invalidf(op, "upstream.auth", "upstream auth %q is not one of %q, %q, %q", clip(p.Upstream.Auth), AuthNone, AuthKey, AuthIdentity)
	}
	if p.Upstream.URL == "" && p.Upstream.Auth != AuthNone {
		return p, errs.Invalidf(op, "upstream.url", "upstream auth %q needs an upstream URL: give the OpenAI-compatible base, such as https://api.openai.com/v1", p.Upstream.Auth)
	}
	if s.Deployments != nil {
		if err := checkDeployments(op, *s.Deployments); err != nil {
			return p, err
		}
		p.Deployments = *s.Deployments
		if len(p.Deployments) == 0 {
			p.Deployments = nil
		}
	}
	if s.Limits != nil {
		if s.Limits.RequestsPerMinute < 0 || s.Limits.TokensPerMinute < 0 {
			return p, errs.Invalidf(op, "limits", "limits are counts per minute: 0 (unlimited) or more")
		}
		p.Limits = *s.Limits
	}
	if s.DisableLocalAuth != nil {
		p.DisableLocalAuth = *s.DisableLocalAuth
	}
	return p, nil
}

// checkUpstreamURL checks an upstream base URL: absolute http or https,
// without credentials, query or fragment. It returns it without a trailing
// slash.
func checkUpstreamURL(op, raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errs.Invalidf(op, "upstream.url", "the upstream URL %q is not an absolute http or https URL, such as https://api.openai.com/v1", clip(raw))
	}
	if u.User != nil {
		return "", errs.Invalidf(op, "upstream.url", "the upstream URL must not hold credentials: give the key as the upstream key, which Latchkey keeps in a vault")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errs.Invalidf(op, "upstream.url", "the upstream URL must have no query or fragment: give the base, such as https://api.openai.com/v1")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// checkDeployments checks a map of deployment names to upstream models.
func checkDeployments(op string, m map[string]string) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, d := range names {
		if d == "" || len(d) > 64 || strings.ContainsAny(d, "/?#% ") {
			return errs.Invalidf(op, "deployments", "deployment name %q must be 1 to 64 characters without '/', '?', '#', '%%' or spaces", clip(d))
		}
		if m[d] == "" || len(m[d]) > 256 {
			return errs.Invalidf(op, "deployments", "deployment %q needs the upstream's model name (1 to 256 characters)", clip(d))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}
