// Package connection owns the connections of hubs and projects: what a
// connection points at (a category and a target, with non-secret metadata),
// how it authenticates there (an auth type and its credentials), who sees it
// (a hub's connections are shared with its projects; a project's are its
// own), the hub's one Key Vault connection, the YAML files of
// `az ml connection create --file`, and the credentials' resolution.
//
// A connection's credentials are secrets in the vault of its hub's Key Vault
// connection, written and read through internal/vault as that connection's
// identity; the connection's record holds only their names. Listing and
// showing never return credentials; reading them (listsecrets) is a data
// action of its own, and every secret read leaves an audit record naming the
// connection and the vault secret.
//
// connection imports internal/errs, internal/store, internal/audit,
// internal/access and internal/vault; never net/http, database/sql or an
// adapter.
package connection

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

// Category is what a connection points at, in Azure's words.
type Category string

// The categories Latchkey knows.
const (
	CategoryAPIKey            Category = "ApiKey"            // any API called with a key
	CategoryCustomKeys        Category = "CustomKeys"        // any API with named secrets
	CategoryAIServices        Category = "AIServices"        // a Latchkey AI services account
	CategoryAzureOpenAI       Category = "AzureOpenAI"       // an Azure OpenAI endpoint
	CategoryAzureBlob         Category = "AzureBlob"         // a blob container
	CategoryAzureDataLakeGen2 Category = "AzureDataLakeGen2" // an ADLS Gen2 file system
	CategoryAzureOneLake      Category = "AzureOneLake"      // a Fabric OneLake artifact
	CategoryKeyVault          Category = "KeyVault"          // the hub's vault for connection secrets
)

// Categories lists every category, in the order the docs give them.
var Categories = []Category{CategoryAPIKey, CategoryCustomKeys, CategoryAIServices, CategoryAzureOpenAI,
	CategoryAzureBlob, CategoryAzureDataLakeGen2, CategoryAzureOneLake, CategoryKeyVault}

// AuthType is how a connection authenticates at its target, in Azure's words.
type AuthType string

// The auth types Latchkey knows.
const (
	AuthAPIKey           AuthType = "ApiKey"           // credentials: key
	AuthCustomKeys       AuthType = "CustomKeys"       // credentials: keys.{name}
	AuthAccountKey       AuthType = "AccountKey"       // credentials: key
	AuthSAS              AuthType = "SAS"              // credentials: sas
	AuthServicePrincipal AuthType = "ServicePrincipal" // credentials: clientId, clientSecret, tenantId
	AuthManagedIdentity  AuthType = "ManagedIdentity"  // identity-based access; credentials: clientId, resourceId (both optional)
	AuthNone             AuthType = "None"             // no credentials (or the caller's own Entra identity)
)

// AuthTypes lists every auth type.
var AuthTypes = []AuthType{AuthAPIKey, AuthCustomKeys, AuthAccountKey, AuthSAS, AuthServicePrincipal, AuthManagedIdentity, AuthNone}

// authTypesOf lists, for each category, the auth types it accepts; the first
// is the default when credentials are given, AuthNone (if listed) when not.
var authTypesOf = map[Category][]AuthType{
	CategoryAPIKey:            {AuthAPIKey},
	CategoryCustomKeys:        {AuthCustomKeys},
	CategoryAIServices:        {AuthAPIKey, AuthManagedIdentity, AuthNone},
	CategoryAzureOpenAI:       {AuthAPIKey, AuthManagedIdentity, AuthNone},
	CategoryAzureBlob:         {AuthAccountKey, AuthSAS, AuthServicePrincipal, AuthManagedIdentity, AuthNone},
	CategoryAzureDataLakeGen2: {AuthAccountKey, AuthSAS, AuthServicePrincipal, AuthManagedIdentity, AuthNone},
	CategoryAzureOneLake:      {AuthAccountKey, AuthSAS, AuthServicePrincipal, AuthManagedIdentity, AuthNone},
	CategoryKeyVault:          {AuthManagedIdentity},
}

// credentialFields lists, for each auth type, its credential fields and
// whether each is required. CustomKeys has "keys.{name}" fields instead.
var credentialFields = map[AuthType][]credentialField{
	AuthAPIKey:           {{"key", true}},
	AuthAccountKey:       {{"key", true}},
	AuthSAS:              {{"sas", true}},
	AuthServicePrincipal: {{"clientId", true}, {"clientSecret", true}, {"tenantId", true}},
	AuthManagedIdentity:  {{"clientId", false}, {"resourceId", false}},
}

type credentialField struct {
	name     string
	required bool
}

// CustomKeyPrefix begins the credential field of each named secret of a
// CustomKeys connection: "keys.api_token".
const CustomKeyPrefix = "keys."

// Limits of what a connection holds.
const (
	MaxTargetBytes       = 2048
	MaxMetadata          = 50
	MaxMetadataKeyBytes  = 128
	MaxMetadataValueByte = 4096
	MaxDescriptionBytes  = 1024
	MaxCustomKeys        = 20
	MaxCustomKeyName     = 100
	MaxPrefixBytes       = 64
)

// Credentials are a connection's secret values by field: "key", "sas",
// "clientId", "clientSecret", "tenantId", "resourceId", or "keys.{name}" for
// each named secret of a CustomKeys connection. Values print as [REDACTED].
type Credentials map[string]vault.Value

// Fields returns the credential fields, sorted.
func (c Credentials) Fields() []string { return slices.Sorted(maps.Keys(c)) }

// Plain returns the credentials' values by field, revealed: for the one
// answer that hands them out (listsecrets) and for the CLI's own output of
// what it read from a file.
func (c Credentials) Plain() map[string]string {
	out := make(map[string]string, len(c))
	for f, v := range c {
		out[f] = string(v.Reveal())
	}
	return out
}

// ProxyHeader says how the connection proxy hands the credential to the
// target: Header (default Authorization) set to Prefix (default "Bearer "
// for Authorization, "" for any other header) followed by the credential:
// the key of an ApiKey connection, or the named secret Key of a CustomKeys
// connection (which may be left out when it has one secret). The limits are
// the gateway's, per caller and minute; nil or 0 is unlimited.
type ProxyHeader struct {
	Header string
	Prefix *string
	Key    string

	RequestsPerMinute *int
	TokensPerMinute   *int
}

// MaxPerMinute bounds the proxy's limits.
const MaxPerMinute = 100_000_000

// Definition is what a caller writes: everything of a connection but its
// place and its record-keeping.
type Definition struct {
	Category    Category
	AuthType    AuthType // "" for the category's default
	Target      string   // the URL or resource the connection points at
	Description string
	Metadata    map[string]string // non-secret properties: ApiVersion, deployments, container, path, ...
	Tags        map[string]string
	Credentials Credentials
	Proxy       *ProxyHeader // ApiKey and CustomKeys only

	// Account names the Latchkey AI services account an AIServices
	// connection points at. With ApiKey authentication and no key of its
	// own, the connection hands out the account's active key (ListSecrets).
	Account string

	// Vault and Identity are the Key Vault connection's: the vault of the
	// hub that holds its connections' secrets, and the user-assigned managed
	// identity through whose role assignments they are written and read.
	Vault, Identity string
	// ReadersReadDatastoreCredentials is the hub's setting, kept on its Key
	// Vault connection: whether a caller who may read a credential-based
	// datastore connection (AzureBlob, AzureDataLakeGen2, AzureOneLake with
	// AccountKey, SAS or ServicePrincipal) may also read its credentials, as
	// Reader may in Azure. Nil means true.
	ReadersReadDatastoreCredentials *bool
}

// Ref names a connection: a hub's shared connection when Project is "", a
// project's own otherwise.
type Ref struct {
	Hub, Project, Name string
}

// Scope returns the connection's scope (names as given; see check).
func (r Ref) Scope() string {
	if r.Project == "" {
		return access.HubScope(r.Hub) + "/connections/" + strings.ToLower(r.Name)
	}
	return access.ProjectScope(r.Hub, r.Project) + "/connections/" + strings.ToLower(r.Name)
}

// parent returns the scope the connection lives in: its hub or project.
func (r Ref) parent() string {
	if r.Project == "" {
		return access.HubScope(r.Hub)
	}
	return access.ProjectScope(r.Hub, r.Project)
}

// check validates the names of r (ASCII letters, digits and '-', so that
// no other character folds into one of them) and returns it lower-cased.
func (r Ref) check(op string) (Ref, error) {
	if !validLabel(r.Hub) || r.Project != "" && !validLabel(r.Project) || !validLabel(r.Name) {
		return r, errs.Invalidf(op, "name", "hub %q, project %q and connection %q: each must be 1 to 63 letters, digits or '-' (the project may be left out)",
			clip(r.Hub), clip(r.Project), clip(r.Name))
	}
	r.Hub, r.Project, r.Name = strings.ToLower(r.Hub), strings.ToLower(r.Project), strings.ToLower(r.Name)
	return r, nil
}

// SecretRef is where one credential field of a connection is kept: a secret
// of a vault (the hub's Key Vault connection's when it was written).
type SecretRef struct {
	Field string `json:"field"`
	Vault string `json:"vault"`
	Name  string `json:"name"`
}

// Connection is a connection as it is stored and shown: never with its
// credentials, which Secrets reference.
type Connection struct {
	Ref
	Scope string
	Kind  string // "Connection", or "KeyVaultConnection" for the hub's Key Vault connection
	Definition
	Secrets   []SecretRef // sorted by Field
	CreatedBy string
	Created   time.Time
	Updated   time.Time
	// uid tells apart connections that had the same name at different times,
	// so that a connection created again never writes the secrets of the one
	// deleted before it (still recoverable in the vault).
	uid string
	// identityID is the object id of the Key Vault connection's identity.
	identityID string
}

// Shared reports whether the connection is its hub's, seen by every project.
func (c *Connection) Shared() bool { return c.Project == "" }

// IsDatastoreCredential reports whether c is a credential-based datastore
// connection, whose credentials readers may read unless the hub says not.
func (c *Connection) IsDatastoreCredential() bool {
	switch c.Category {
	case CategoryAzureBlob, CategoryAzureDataLakeGen2, CategoryAzureOneLake:
		return c.AuthType == AuthAccountKey || c.AuthType == AuthSAS || c.AuthType == AuthServicePrincipal
	}
	return false
}

// proxiable reports whether the connection proxy may call c's target.
func (c *Connection) proxiable() bool {
	return (c.Category == CategoryAPIKey || c.Category == CategoryCustomKeys) && c.Target != ""
}

// check validates d and fills in the defaults (auth type, proxy header); op
// names the operation in errors, which name the field at fault and never a
// credential's value. kept lists the credential fields stored already that
// the write keeps: they count as given.
func (d *Definition) check(op string, kept []string) error {
	cat, ok := lookupCategory(d.Category)
	if !ok {
		return errs.Invalidf(op, "category", "category %q is not one Latchkey knows: use one of %s", clip(string(d.Category)), joinNames(Categories))
	}
	d.Category = cat
	fields := append(d.Credentials.Fields(), kept...)
	slices.Sort(fields)
	fields = slices.Compact(fields)
	if err := d.checkAuthType(op, len(fields) > 0); err != nil {
		return err
	}
	if err := d.checkCredentials(op, fields); err != nil {
		return err
	}
	if err := d.checkTarget(op); err != nil {
		return err
	}
	if len(d.Description) > MaxDescriptionBytes {
		return errs.Invalidf(op, "description", "the description is longer than %d bytes", MaxDescriptionBytes)
	}
	if err := checkStringMap(op, "metadata", d.Metadata, MaxMetadata, MaxMetadataKeyBytes, MaxMetadataValueByte); err != nil {
		return err
	}
	if err := checkStringMap(op, "tags", d.Tags, vault.MaxTags, vault.MaxTagLength, vault.MaxTagLength); err != nil {
		return err
	}
	if err := d.checkProxy(op, fields); err != nil {
		return err
	}
	return d.checkReferences(op)
}

func (d *Definition) checkAuthType(op string, credentials bool) error {
	allowed := authTypesOf[d.Category]
	if d.AuthType == "" {
		d.AuthType = allowed[0]
		if !credentials && slices.Contains(allowed, AuthNone) {
			d.AuthType = AuthNone
		}
		return nil
	}
	for _, a := range allowed {
		if strings.EqualFold(string(a), string(d.AuthType)) {
			d.AuthType = a
			return nil
		}
	}
	return errs.Invalidf(op, "authType", "a %s connection authenticates with %s, not %q", d.Category, joinNames(allowed), clip(string(d.AuthType)))
}

// checkCredentials checks the credential fields, given and kept, against
// the auth type, and the values given.
func (d *Definition) checkCredentials(op string, fields []string) error {
	if d.AuthType == AuthCustomKeys {
		if len(fields) == 0 {
			return errs.Invalidf(op, "credentials.keys", "a CustomKeys connection needs at least one named secret (credentials.keys.NAME)")
		}
		if len(fields) > MaxCustomKeys {
			return errs.Invalidf(op, "credentials.keys", "a connection holds at most %d named secrets, not %d", MaxCustomKeys, len(fields))
		}
		for _, f := range fields {
			name, ok := strings.CutPrefix(f, CustomKeyPrefix)
			if !ok || !validKeyName(name) {
				return errs.Invalidf(op, "credentials."+clip(f), "a CustomKeys connection's credentials are named secrets credentials.keys.NAME, with NAME 1 to %d letters, digits, '_', '-' or '.'", MaxCustomKeyName)
			}
		}
		return checkValues(op, d.Credentials)
	}
	known := credentialFields[d.AuthType]
	for _, f := range fields {
		if !slices.ContainsFunc(known, func(k credentialField) bool { return k.name == f }) {
			return errs.Invalidf(op, "credentials."+clip(f), "%s credentials have %s, not %q", d.AuthType, fieldNames(d.AuthType), clip(f))
		}
	}
	// An AIServices connection with no key of its own hands out its Latchkey
	// account's active key (ListSecrets).
	accountKey := d.Category == CategoryAIServices && d.AuthType == AuthAPIKey && len(fields) == 0
	for _, k := range known {
		if k.required && !accountKey && !slices.Contains(fields, k.name) {
			return errs.Invalidf(op, "credentials."+k.name, "%s credentials need %s: give credentials.%s", d.AuthType, k.name, k.name)
		}
	}
	return checkValues(op, d.Credentials)
}

func checkValues(op string, c Credentials) error {
	for _, f := range c.Fields() {
		if n := len(c[f].Reveal()); n == 0 || n > vault.MaxValueBytes {
			return errs.Invalidf(op, "credentials."+f, "credentials.%s must hold 1 to %d bytes, not %d", f, vault.MaxValueBytes, n)
		}
	}
	return nil
}

func fieldNames(a AuthType) string {
	var names []string
	for _, f := range credentialFields[a] {
		names = append(names, f.name)
	}
	if len(names) == 0 {
		return "no fields"
	}
	return strings.Join(names, ", ")
}

func (d *Definition) checkTarget(op string) error {
	if len(d.Target) > MaxTargetBytes {
		return errs.Invalidf(op, "target", "the target is longer than %d bytes", MaxTargetBytes)
	}
	if strings.ContainsAny(d.Target, "\r\n\x00") {
		return errs.Invalidf(op, "target", "the target holds a line break or NUL")
	}
	switch d.Category {
	case CategoryAPIKey, CategoryAzureOpenAI, CategoryAzureBlob, CategoryAzureDataLakeGen2, CategoryAzureOneLake:
		if d.Target == "" {
			return errs.Invalidf(op, "target", "a %s connection needs a target: the URL it points at", d.Category)
		}
	}
	if d.Category == CategoryAPIKey || d.Category == CategoryCustomKeys || d.Category == CategoryAzureOpenAI {
		if d.Target != "" {
			u, err := url.Parse(d.Target)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
				return errs.Invalidf(op, "target", "the target of a %s connection must be an http or https URL without user or fragment, such as https://api.example.com/v1", d.Category)
			}
		}
	}
	return nil
}

func (d *Definition) checkProxy(op string, fields []string) error {
	if d.Proxy == nil {
		return nil
	}
	if d.Category != CategoryAPIKey && d.Category != CategoryCustomKeys {
		return errs.Invalidf(op, "proxy", "only ApiKey and CustomKeys connections are called through the connection proxy, not %s", d.Category)
	}
	p := *d.Proxy
	if p.Header == "" {
		p.Header = "Authorization"
	}
	if !validHeaderName(p.Header) || forbiddenHeader(p.Header) {
		return errs.Invalidf(op, "proxy.header", "proxy.header %q must be an HTTP header name other than Host, Content-Length, Cookie and the hop-by-hop headers", clip(p.Header))
	}
	if p.Prefix == nil {
		prefix := ""
		if strings.EqualFold(p.Header, "Authorization") {
			prefix = "Bearer "
		}
		p.Prefix = &prefix
	}
	if len(*p.Prefix) > MaxPrefixBytes || !validHeaderValue(*p.Prefix) {
		return errs.Invalidf(op, "proxy.prefix", "proxy.prefix must be at most %d printable characters", MaxPrefixBytes)
	}
	for _, l := range []struct {
		field string
		v     *int
	}{{"proxy.requestsPerMinute", p.RequestsPerMinute}, {"proxy.tokensPerMinute", p.TokensPerMinute}} {
		if l.v != nil && (*l.v < 0 || *l.v > MaxPerMinute) {
			return errs.Invalidf(op, l.field, "%s must be 0 (unlimited) to %d, not %d", l.field, MaxPerMinute, *l.v)
		}
	}
	if p.Key != "" {
		if d.Category != CategoryCustomKeys {
			return errs.Invalidf(op, "proxy.key", "proxy.key names the secret of a CustomKeys connection to send; an ApiKey connection sends its key")
		}
		if !slices.Contains(fields, CustomKeyPrefix+p.Key) {
			return errs.Invalidf(op, "proxy.key", "proxy.key %q names no secret of the connection (credentials.keys.%s)", clip(p.Key), clip(p.Key))
		}
	}
	d.Proxy = &p
	return nil
}

// checkReferences checks the fields that name other things: the account of
// an AIServices connection, the vault and identity of a Key Vault
// connection, which belong to these categories only.
func (d *Definition) checkReferences(op string) error {
	if d.Category == CategoryAIServices {
		if !validLabel(d.Account) {
			return errs.Invalidf(op, "account", "an AIServices connection names the Latchkey account it points at: give account, 1 to 63 letters, digits or '-'")
		}
	} else if d.Account != "" {
		return errs.Invalidf(op, "account", "only an AIServices connection names an account")
	}
	if d.Category == CategoryKeyVault {
		if !validLabel(d.Vault) {
			return errs.Invalidf(op, "vault", "a Key Vault connection names the hub's vault that holds connection secrets: give vault")
		}
		if d.Identity == "" || len(d.Identity) > 128 {
			return errs.Invalidf(op, "identity", "a Key Vault connection names the user-assigned managed identity that writes and reads its secrets: give identity")
		}
		d.Vault = strings.ToLower(d.Vault)
		if d.Target == "" {
			d.Target = d.Vault
		}
		return nil
	}
	switch {
	case d.Vault != "":
		return errs.Invalidf(op, "vault", "only a Key Vault connection names a vault")
	case d.Identity != "":
		return errs.Invalidf(op, "identity", "only a Key Vault connection names an identity")
	case d.ReadersReadDatastoreCredentials != nil:
		return errs.Invalidf(op, "readersReadDatastoreCredentials", "readersReadDatastoreCredentials is a setting of the hub's Key Vault connection")
	}
	return nil
}

// readersReadDatastore reports the hub setting, true unless turned off.
func (d *Definition) readersReadDatastore() bool {
	return d.ReadersReadDatastoreCredentials == nil || *d.ReadersReadDatastoreCredentials
}

func lookupCategory(c Category) (Category, bool) {
	if strings.EqualFold(string(c), "ADLSGen2") {
		return CategoryAzureDataLakeGen2, true
	}
	for _, k := range Categories {
		if strings.EqualFold(string(k), string(c)) {
			return k, true
		}
	}
	return "", false
}

func checkStringMap(op, field string, m map[string]string, maxItems, maxKey, maxValue int) error {
	if len(m) > maxItems {
		return errs.Invalidf(op, field, "%s hold at most %d entries, not %d", field, maxItems, len(m))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "" || len(k) > maxKey || len(m[k]) > maxValue || strings.ContainsRune(k, 0) || strings.ContainsRune(m[k], 0) {
			return errs.Invalidf(op, field+"."+clip(k), "%s names are 1 to %d bytes and values at most %d, without NUL", field, maxKey, maxValue)
		}
	}
	return nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validKeyName(s string) bool {
	if s == "" || len(s) > MaxCustomKeyName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s may go into a header value: printable
// ASCII and tabs.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && (c < ' ' || c > '~') {
			return false
		}
	}
	return true
}

// forbiddenHeader names the headers the proxy must not let a connection set.
func forbiddenHeader(h string) bool {
	switch strings.ToLower(h) {
	case "host", "content-length", "cookie", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
		"te", "trailer", "transfer-encoding", "upgrade", "x-request-id":
		return true
	}
	return false
}

func joinNames[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
