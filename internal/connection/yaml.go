package connection

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file reads and writes connections in the YAML of
// `az ml connection create --file` (reference/azure-compat.md §6.5), with
// credentials written as ${env:NAME} or @path/to/file, and the --set
// overrides of the command line.

// MaxYAMLBytes bounds a connection file.
const MaxYAMLBytes = 1 << 20

// Spec is a connection as a file describes it.
type Spec struct {
	Name   string
	Shared *bool // is_shared, when the file says
	Definition
}

// Resolver reads the references a credential may be written as:
// ${env:NAME}, an environment variable, and @path, a file (its content,
// without one final line break). Relative paths are read from Dir.
type Resolver struct {
	Getenv   func(name string) (string, bool)
	ReadFile func(path string) ([]byte, error)
	Dir      string
}

// Warning is something a file may hold but should not; it names the field,
// never its value.
type Warning struct {
	Field   string
	Message string
}

func (w Warning) String() string { return w.Message }

// yamlTypes maps the file's type to a category. key_vault is Latchkey's:
// the hub's Key Vault connection.
var yamlTypes = map[string]Category{
	"api_key":              CategoryAPIKey,
	"custom":               CategoryCustomKeys,
	"azure_ai_services":    CategoryAIServices,
	"azure_open_ai":        CategoryAzureOpenAI,
	"azure_blob":           CategoryAzureBlob,
	"azure_data_lake_gen2": CategoryAzureDataLakeGen2,
	"azure_one_lake":       CategoryAzureOneLake,
	"key_vault":            CategoryKeyVault,
}

// yamlAuthTypes maps credentials.type to an auth type.
var yamlAuthTypes = map[string]AuthType{
	"api_key":           AuthAPIKey,
	"custom_keys":       AuthCustomKeys,
	"account_key":       AuthAccountKey,
	"sas":               AuthSAS,
	"service_principal": AuthServicePrincipal,
	"managed_identity":  AuthManagedIdentity,
	"none":              AuthNone,
}

// yamlCredentialKeys maps the keys of a credentials block to fields.
var yamlCredentialKeys = map[string]string{
	"key": "key", "account_key": "key", "api_key": "key",
	"sas_token": "sas", "sas": "sas",
	"client_id": "clientId", "client_secret": "clientSecret", "tenant_id": "tenantId", "resource_id": "resourceId",
}

// commonKeys are accepted in every file; typeKeys for a type only.
var (
	commonKeys = []string{"$schema", "name", "type", "description", "tags", "is_shared", "target", "metadata", "credentials"}
	typeKeys   = map[Category][]string{
		CategoryAPIKey:            {"api_base", "api_key", "proxy"},
		CategoryCustomKeys:        {"configs", "secrets", "proxy"},
		CategoryAzureOpenAI:       {"endpoint", "api_key", "open_ai_resource_id", "api_version", "deployments"},
		CategoryAIServices:        {"endpoint", "api_key", "ai_services_resource_id", "account", "api_version"},
		CategoryAzureBlob:         {"url", "account_name", "container_name"},
		CategoryAzureDataLakeGen2: {"url", "account_name", "file_system", "path"},
		CategoryAzureOneLake:      {"endpoint", "one_lake_workspace_name", "artifact", "path"},
		CategoryKeyVault:          {"vault", "identity", "readers_read_datastore_credentials"},
	}
)

var envRef = regexp.MustCompile(`^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$`)

// ParseYAML reads a connection file named file (for messages). Errors are of
// Kind Invalid and say where and what is wrong; neither they nor the
// warnings quote a credential. A credential written literally is accepted
// with a warning that recommends the alternatives.
func ParseYAML(file string, data []byte, r Resolver) (Spec, []Warning, error) {
	p := &parser{file: file, res: r}
	spec, err := p.parse(data)
	return spec, p.warnings, err
}

type parser struct {
	file     string
	res      Resolver
	warnings []Warning
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) error {
	where := p.file
	if n != nil && n.Line > 0 {
		where += " line " + strconv.Itoa(n.Line)
	}
	return errs.Invalidf("connection.ParseYAML", field, "%s: %s", where, fmt.Sprintf(format, args...))
}

// mapping is a YAML mapping's entries by key, in the order written.
type mapping struct {
	keys   []string
	values map[string]*yaml.Node
	keyOf  map[string]*yaml.Node
}

func (p *parser) mapping(n *yaml.Node, field string) (*mapping, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, field, "%s must be a mapping of keys to values", orDocument(field))
	}
	m := &mapping{values: map[string]*yaml.Node{}, keyOf: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errorf(k, field, "the keys of %s must be plain names", orDocument(field))
		}
		if _, dup := m.values[k.Value]; dup {
			return nil, p.errorf(k, join(field, k.Value), "%s is given twice", join(field, k.Value))
		}
		m.keys = append(m.keys, k.Value)
		m.values[k.Value], m.keyOf[k.Value] = v, k
	}
	return m, nil
}

func orDocument(field string) string {
	if field == "" {
		return "the document"
	}
	return field
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// checkNodes refuses anchors, aliases and tags other than the plain ones,
// so that a file cannot expand into more than it shows.
func (p *parser) checkNodes(n *yaml.Node, depth int) error {
	if depth > 10 {
		return p.errorf(n, "", "the document nests deeper than a connection does")
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return p.errorf(n, "", "anchors and aliases (& and *) are not accepted in a connection file")
	}
	switch n.Tag {
	case "", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!map", "!!seq":
	default:
		return p.errorf(n, "", "tags such as !name or !!binary are not accepted in a connection file")
	}
	for _, c := range n.Content {
		if err := p.checkNodes(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) parse(data []byte) (Spec, error) {
	var spec Spec
	if len(data) > MaxYAMLBytes {
		return spec, p.errorf(nil, "", "the file is larger than %d bytes", MaxYAMLBytes)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return spec, p.errorf(nil, "", "not a YAML document: %s", yamlError(err))
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return spec, p.errorf(&extra, "", "the file holds more than one YAML document: give one connection per file")
	}
	if err := p.checkNodes(&doc, 0); err != nil {
		return spec, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return spec, p.errorf(nil, "", "the file holds no connection: give name and type")
	}
	m, err := p.mapping(doc.Content[0], "")
	if err != nil {
		return spec, err
	}
	typ, err := p.scalar(m, "", "type")
	if err != nil {
		return spec, err
	}
	cat, ok := yamlTypes[typ]
	if !ok {
		return spec, p.errorf(m.values["type"], "type", "type %q is not one Latchkey knows: use one of %s", clip(typ), strings.Join(slices.Sorted(maps.Keys(yamlTypes)), ", "))
	}
	spec.Category = cat
	allowed := append(slices.Clone(commonKeys), typeKeys[cat]...)
	for _, k := range m.keys {
		if !slices.Contains(allowed, k) {
			return spec, p.errorf(m.keyOf[k], k, "%s is not a key of a %s connection: use %s", clip(k), typ, strings.Join(allowed, ", "))
		}
	}
	if spec.Name, err = p.scalar(m, "", "name"); err != nil {
		return spec, err
	}
	if spec.Name == "" {
		return spec, p.errorf(nil, "name", "the connection needs a name")
	}
	if err := p.common(m, &spec); err != nil {
		return spec, err
	}
	if err := p.typed(m, &spec); err != nil {
		return spec, err
	}
	if err := p.credentials(m, &spec); err != nil {
		return spec, err
	}
	return spec, nil
}

// yamlError returns the parser's message, which says what and where; a
// message that would quote the file (which may hold a credential) is
// replaced by a plain one.
func yamlError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.ContainsAny(msg, "`\"'\n") || len(msg) > 200 {
		return "it does not parse"
	}
	return msg
}

// scalar returns the text of key in m ("" when absent or null).
func (p *parser) scalar(m *mapping, field, key string) (string, error) {
	n, ok := m.values[key]
	if !ok || n.Tag == "!!null" {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", p.errorf(n, join(field, key), "%s must be a single value", join(field, key))
	}
	return n.Value, nil
}

func (p *parser) boolean(m *mapping, field, key string) (*bool, error) {
	n, ok := m.values[key]
	if !ok || n.Tag == "!!null" {
		return nil, nil
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return nil, p.errorf(n, join(field, key), "%s must be true or false", join(field, key))
	}
	return &b, nil
}

// strings returns the string map at key (nil when absent or empty).
func (p *parser) stringMap(m *mapping, field, key string) (map[string]string, error) {
	n, ok := m.values[key]
	if !ok || n.Tag == "!!null" {
		return nil, nil
	}
	sub, err := p.mapping(n, join(field, key))
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, k := range sub.keys {
		v, err := p.scalar(sub, join(field, key), k)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

// common reads the keys every type has.
func (p *parser) common(m *mapping, spec *Spec) error {
	var err error
	if spec.Description, err = p.scalar(m, "", "description"); err != nil {
		return err
	}
	if spec.Target, err = p.scalar(m, "", "target"); err != nil {
		return err
	}
	if spec.Shared, err = p.boolean(m, "", "is_shared"); err != nil {
		return err
	}
	if spec.Tags, err = p.stringMap(m, "", "tags"); err != nil {
		return err
	}
	if spec.Metadata, err = p.stringMap(m, "", "metadata"); err != nil {
		return err
	}
	return p.proxy(m, spec)
}

func (p *parser) proxy(m *mapping, spec *Spec) error {
	n, ok := m.values["proxy"]
	if !ok || n.Tag == "!!null" {
		return nil
	}
	sub, err := p.mapping(n, "proxy")
	if err != nil {
		return err
	}
	px := &ProxyHeader{}
	for _, k := range sub.keys {
		v, err := p.scalar(sub, "proxy", k)
		if err != nil {
			return err
		}
		switch k {
		case "header":
			px.Header = v
		case "prefix":
			px.Prefix = &v
		case "key":
			px.Key = v
		case "requests_per_minute", "tokens_per_minute":
			n, err := strconv.Atoi(v)
			if err != nil {
				return p.errorf(sub.values[k], "proxy."+k, "proxy.%s must be a whole number (0: unlimited)", k)
			}
			if k == "requests_per_minute" {
				px.RequestsPerMinute = &n
			} else {
				px.TokensPerMinute = &n
			}
		default:
			return p.errorf(sub.keyOf[k], "proxy."+clip(k), "proxy has header, prefix, key, requests_per_minute and tokens_per_minute, not %s", clip(k))
		}
	}
	spec.Proxy = px
	return nil
}

// alias sets *dst from key, which names what another key may also give:
// giving both is refused.
func (p *parser) alias(m *mapping, dst *string, dstField, key string) error {
	v, err := p.scalar(m, "", key)
	if err != nil || v == "" {
		return err
	}
	if *dst != "" && *dst != v {
		return p.errorf(m.values[key], key, "%s and %s say different things: give one", key, dstField)
	}
	*dst = v
	return nil
}

// meta sets metadata name from key.
func (p *parser) meta(m *mapping, spec *Spec, key, name string) error {
	v, err := p.scalar(m, "", key)
	if err != nil || v == "" {
		return err
	}
	return p.putMeta(m.values[key], spec, key, name, v)
}

// putMeta sets metadata name to v, which key of node n gave.
func (p *parser) putMeta(n *yaml.Node, spec *Spec, key, name, v string) error {
	if old, ok := spec.Metadata[name]; ok && old != v {
		return p.errorf(n, key, "%s and metadata.%s say different things: give one", key, name)
	}
	if spec.Metadata == nil {
		spec.Metadata = map[string]string{}
	}
	spec.Metadata[name] = v
	return nil
}

// typed reads the keys of the file's type.
func (p *parser) typed(m *mapping, spec *Spec) error {
	steps := []error{
		p.alias(m, &spec.Target, "target", "api_base"),
		p.alias(m, &spec.Target, "target", "endpoint"),
		p.alias(m, &spec.Target, "target", "url"),
		p.meta(m, spec, "open_ai_resource_id", "ResourceId"),
		p.meta(m, spec, "api_version", "ApiVersion"),
		p.meta(m, spec, "account_name", "AccountName"),
		p.meta(m, spec, "container_name", "ContainerName"),
		p.meta(m, spec, "file_system", "FileSystem"),
		p.meta(m, spec, "path", "Path"),
		p.meta(m, spec, "one_lake_workspace_name", "WorkspaceName"),
		p.alias(m, &spec.Account, "account", "account"),
		p.alias(m, &spec.Vault, "vault", "vault"),
		p.alias(m, &spec.Identity, "identity", "identity"),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	if id, err := p.scalar(m, "", "ai_services_resource_id"); err != nil {
		return err
	} else if id != "" {
		name := id[strings.LastIndexByte(id, '/')+1:]
		if spec.Account != "" && !strings.EqualFold(spec.Account, name) {
			return p.errorf(m.values["ai_services_resource_id"], "ai_services_resource_id", "ai_services_resource_id and account name different accounts: give one")
		}
		spec.Account = name
	}
	var err error
	if spec.ReadersReadDatastoreCredentials, err = p.boolean(m, "", "readers_read_datastore_credentials"); err != nil {
		return err
	}
	if err := p.deployments(m, spec); err != nil {
		return err
	}
	if err := p.artifact(m, spec); err != nil {
		return err
	}
	configs, err := p.stringMap(m, "", "configs")
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if old, ok := spec.Metadata[k]; ok && old != configs[k] {
			return p.errorf(m.values["configs"], "configs."+clip(k), "configs.%s and metadata.%s say different things: give one", clip(k), clip(k))
		}
		if spec.Metadata == nil {
			spec.Metadata = map[string]string{}
		}
		spec.Metadata[k] = configs[k]
	}
	return nil
}

// deployments reads an Azure OpenAI connection's deployments (name: model)
// into metadata Deployments, "name=model,..." sorted by name.
func (p *parser) deployments(m *mapping, spec *Spec) error {
	d, err := p.stringMap(m, "", "deployments")
	if err != nil || len(d) == 0 {
		return err
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(d)) {
		if strings.ContainsAny(name+d[name], "=,") {
			return p.errorf(m.values["deployments"], "deployments."+clip(name), "deployment names and models may not hold '=' or ','")
		}
		parts = append(parts, name+"="+d[name])
	}
	return p.putMeta(m.values["deployments"], spec, "deployments", "Deployments", strings.Join(parts, ","))
}

// artifact reads a OneLake connection's artifact {name, type}.
func (p *parser) artifact(m *mapping, spec *Spec) error {
	a, err := p.stringMap(m, "", "artifact")
	if err != nil || a == nil {
		return err
	}
	for k, v := range a {
		name := map[string]string{"name": "ArtifactName", "type": "ArtifactType"}[k]
		if name == "" {
			return p.errorf(m.values["artifact"], "artifact."+clip(k), "artifact has name and type, not %s", clip(k))
		}
		if spec.Metadata == nil {
			spec.Metadata = map[string]string{}
		}
		spec.Metadata[name] = v
	}
	return nil
}

// credentials reads the credentials: the type's own keys (api_key, secrets)
// and the credentials block.
func (p *parser) credentials(m *mapping, spec *Spec) error {
	if n, ok := m.values["api_key"]; ok && n.Tag != "!!null" {
		if err := p.credential(spec, "api_key", "credentials.key", "key", n); err != nil {
			return err
		}
	}
	if n, ok := m.values["secrets"]; ok && n.Tag != "!!null" {
		sub, err := p.mapping(n, "secrets")
		if err != nil {
			return err
		}
		for _, k := range sub.keys {
			if err := p.credential(spec, "secrets."+k, "credentials.keys."+k, CustomKeyPrefix+k, sub.values[k]); err != nil {
				return err
			}
		}
		spec.AuthType = AuthCustomKeys
	}
	n, ok := m.values["credentials"]
	if !ok || n.Tag == "!!null" {
		spec.AuthType = inferAuthType(spec)
		return nil
	}
	sub, err := p.mapping(n, "credentials")
	if err != nil {
		return err
	}
	for _, k := range sub.keys {
		v := sub.values[k]
		switch {
		case k == "type":
			t, err := p.scalar(sub, "credentials", "type")
			if err != nil {
				return err
			}
			a, ok := yamlAuthTypes[t]
			if !ok {
				return p.errorf(v, "credentials.type", "credentials.type %q is not one Latchkey knows: use one of %s", clip(t), strings.Join(slices.Sorted(maps.Keys(yamlAuthTypes)), ", "))
			}
			if spec.AuthType != "" && spec.AuthType != a {
				return p.errorf(v, "credentials.type", "credentials.type says %s but the file's other keys say %s", a, spec.AuthType)
			}
			spec.AuthType = a
		case k == "keys":
			keys, err := p.mapping(v, "credentials.keys")
			if err != nil {
				return err
			}
			for _, name := range keys.keys {
				if err := p.credential(spec, "credentials.keys."+name, "credentials.keys."+name, CustomKeyPrefix+name, keys.values[name]); err != nil {
					return err
				}
			}
		case yamlCredentialKeys[k] != "":
			if err := p.credential(spec, "credentials."+k, "credentials."+yamlCredentialKeys[k], yamlCredentialKeys[k], v); err != nil {
				return err
			}
		default:
			return p.errorf(sub.keyOf[k], "credentials."+clip(k), "credentials have type, %s and keys, not %s",
				strings.Join(slices.Sorted(maps.Keys(yamlCredentialKeys)), ", "), clip(k))
		}
	}
	spec.AuthType = inferAuthType(spec)
	return nil
}

// inferAuthType returns the auth type of spec, when the file does not say,
// from the credential fields it gives: "" when it gives none.
func inferAuthType(spec *Spec) AuthType {
	if spec.AuthType != "" || len(spec.Credentials) == 0 {
		return spec.AuthType
	}
	has := func(f string) bool { _, ok := spec.Credentials[f]; return ok }
	fields := spec.Credentials.Fields()
	switch {
	case strings.HasPrefix(fields[0], CustomKeyPrefix) || strings.HasPrefix(fields[len(fields)-1], CustomKeyPrefix):
		return AuthCustomKeys
	case has("sas"):
		return AuthSAS
	case has("clientSecret") || has("tenantId"):
		return AuthServicePrincipal
	case has("key"):
		if a := authTypesOf[spec.Category]; len(a) > 0 {
			return a[0]
		}
		return AuthAPIKey
	}
	return AuthManagedIdentity
}

// secretFields are the credential fields that hold secrets: written
// literally in a file, they draw a warning. (Client, tenant and resource ids
// are identifiers.)
func secretField(field string) bool {
	return field == "key" || field == "sas" || field == "clientSecret" || strings.HasPrefix(field, CustomKeyPrefix)
}

// credential reads one credential at yamlPath into field, resolving a
// reference; setPath is its --set path, for the warning.
func (p *parser) credential(spec *Spec, yamlPath, setPath, field string, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return p.errorf(n, yamlPath, "%s must be a single value", yamlPath)
	}
	if _, dup := spec.Credentials[field]; dup {
		return p.errorf(n, yamlPath, "%s gives a credential the file gives already (%s)", yamlPath, setPath)
	}
	v, literal, err := p.res.resolve(n.Value)
	if err != nil {
		return p.errorf(n, yamlPath, "%s %s", yamlPath, err)
	}
	if literal && secretField(field) && v != "" {
		p.warnings = append(p.warnings, Warning{Field: yamlPath, Message: fmt.Sprintf(
			"%s: %s holds a credential written in the file: write it as ${env:NAME} or @path/to/file, or give it with --set %s=...",
			p.file, yamlPath, setPath)})
	}
	if v == "" {
		return nil
	}
	if spec.Credentials == nil {
		spec.Credentials = Credentials{}
	}
	spec.Credentials[field] = vault.NewValue([]byte(v))
	return nil
}

// resolve returns a credential's value: the variable of ${env:NAME}, the
// content of @path, or v itself (literal). Errors never hold a value.
func (r Resolver) resolve(v string) (string, bool, error) {
	if m := envRef.FindStringSubmatch(v); m != nil {
		if r.Getenv == nil {
			return "", false, fmt.Errorf("refers to environment variable %s, which cannot be read here", m[1])
		}
		val, ok := r.Getenv(m[1])
		if !ok || val == "" {
			return "", false, fmt.Errorf("refers to environment variable %s, which is not set (or empty)", m[1])
		}
		return val, false, nil
	}
	if strings.HasPrefix(v, "${") {
		return "", false, fmt.Errorf("holds a reference that is not ${env:NAME}: write the variable's name in letters, digits and '_'")
	}
	if path, ok := strings.CutPrefix(v, "@"); ok {
		if path == "" || r.ReadFile == nil {
			return "", false, fmt.Errorf("refers to a file: write @path/to/file")
		}
		if !filepath.IsAbs(path) && r.Dir != "" {
			path = filepath.Join(r.Dir, path)
		}
		b, err := r.ReadFile(path)
		if err != nil {
			return "", false, fmt.Errorf("refers to file %s, which cannot be read: %v", path, err)
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s == "" {
			return "", false, fmt.Errorf("refers to file %s, which is empty", path)
		}
		return s, false, nil
	}
	return v, true, nil
}

// Set applies one override of the command line, PATH=VALUE (--set), to the
// definition; see Patch.Set for the paths.
func (s *Spec) Set(path, value string, r Resolver) error {
	var p Patch
	if err := p.Set(path, value, r); err != nil {
		return err
	}
	s.Definition.apply(p)
	return nil
}

// SetPaths lists what --set may change.
const SetPaths = "target, description, authType, account, vault, identity, readersReadDatastoreCredentials, metadata.KEY, tags.KEY, " +
	"proxy.header, proxy.prefix, proxy.key, proxy.requestsPerMinute, proxy.tokensPerMinute, credentials.key, credentials.sas, credentials.clientId, credentials.clientSecret, " +
	"credentials.tenantId, credentials.resourceId, credentials.keys.NAME"

// Set adds one override, PATH=VALUE, to p. A credential may be written as
// ${env:NAME} or @path. Errors (Kind Invalid) never quote a value.
func (p *Patch) Set(path, value string, r Resolver) error {
	const o = "connection.Set"
	str := func(dst **string) error { *dst = &value; return nil }
	switch {
	case path == "target":
		return str(&p.Target)
	case path == "description":
		return str(&p.Description)
	case path == "account":
		return str(&p.Account)
	case path == "identity":
		return str(&p.Identity)
	case path == "vault":
		return errs.Invalidf(o, path, "the vault of a Key Vault connection is set in its file; it cannot be overridden")
	case path == "authType":
		a := AuthType(value)
		p.AuthType = &a
		return nil
	case path == "readersReadDatastoreCredentials":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return errs.Invalidf(o, path, "--set %s takes true or false", path)
		}
		p.ReadersReadDatastoreCredentials = &b
		return nil
	case strings.HasPrefix(path, "metadata.") && len(path) > len("metadata."):
		p.Metadata = withEntry(p.Metadata, path[len("metadata."):], value)
		return nil
	case strings.HasPrefix(path, "tags.") && len(path) > len("tags."):
		p.Tags = withEntry(p.Tags, path[len("tags."):], value)
		return nil
	case path == "proxy.requestsPerMinute", path == "proxy.tokensPerMinute":
		n, err := strconv.Atoi(value)
		if err != nil {
			return errs.Invalidf(o, path, "--set %s takes a whole number (0: unlimited)", path)
		}
		if p.Proxy == nil {
			p.Proxy = &ProxyHeader{}
		}
		if path == "proxy.requestsPerMinute" {
			p.Proxy.RequestsPerMinute = &n
		} else {
			p.Proxy.TokensPerMinute = &n
		}
		return nil
	case path == "proxy.header", path == "proxy.prefix", path == "proxy.key":
		if p.Proxy == nil {
			p.Proxy = &ProxyHeader{}
		}
		switch path {
		case "proxy.header":
			p.Proxy.Header = value
		case "proxy.prefix":
			p.Proxy.Prefix = &value
		default:
			p.Proxy.Key = value
		}
		return nil
	case strings.HasPrefix(path, "credentials."):
		field := path[len("credentials."):]
		if !strings.HasPrefix(field, CustomKeyPrefix) && !slices.Contains([]string{"key", "sas", "clientId", "clientSecret", "tenantId", "resourceId"}, field) {
			return errs.Invalidf(o, path, "--set %s: credentials are key, sas, clientId, clientSecret, tenantId, resourceId or keys.NAME", clip(path))
		}
		v, _, err := r.resolve(value)
		if err != nil {
			return errs.Invalidf(o, path, "--set %s %s", path, err)
		}
		if p.Credentials == nil {
			p.Credentials = Credentials{}
		}
		p.Credentials[field] = vault.NewValue([]byte(v))
		return nil
	}
	return errs.Invalidf(o, path, "--set %s: what may be set is %s", clip(path), SetPaths)
}

func withEntry(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// FormatYAML writes spec as a connection file that ParseYAML reads back into
// the same Spec: the generic form, with type, target, metadata and a
// credentials block, credentials written literally (so keep the result out
// of version control). A credential that would read as a reference
// (${...} or @...) cannot be written literally, and is refused.
func FormatYAML(spec Spec) ([]byte, error) {
	typ := ""
	for t, c := range yamlTypes {
		if c == spec.Category {
			typ = t
		}
	}
	if typ == "" {
		return nil, errs.Invalidf("connection.FormatYAML", "category", "category %q has no file type", clip(string(spec.Category)))
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(m *yaml.Node, k string, v *yaml.Node) { m.Content = append(m.Content, str(k), v) }
	addStr := func(m *yaml.Node, k, v string) {
		if v != "" {
			add(m, k, str(v))
		}
	}
	addStr(root, "name", spec.Name)
	addStr(root, "type", typ)
	addStr(root, "description", spec.Description)
	if spec.Shared != nil {
		add(root, "is_shared", boolNode(*spec.Shared))
	}
	addStr(root, "target", spec.Target)
	addMap(root, "tags", spec.Tags)
	addMap(root, "metadata", spec.Metadata)
	addStr(root, "account", spec.Account)
	addStr(root, "vault", spec.Vault)
	addStr(root, "identity", spec.Identity)
	if spec.ReadersReadDatastoreCredentials != nil {
		add(root, "readers_read_datastore_credentials", boolNode(*spec.ReadersReadDatastoreCredentials))
	}
	if px := spec.Proxy; px != nil {
		m := &yaml.Node{Kind: yaml.MappingNode}
		addStr(m, "header", px.Header)
		if px.Prefix != nil {
			add(m, "prefix", str(*px.Prefix))
		}
		addStr(m, "key", px.Key)
		if px.RequestsPerMinute != nil {
			add(m, "requests_per_minute", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(*px.RequestsPerMinute)})
		}
		if px.TokensPerMinute != nil {
			add(m, "tokens_per_minute", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(*px.TokensPerMinute)})
		}
		add(root, "proxy", m)
	}
	if spec.AuthType != "" || len(spec.Credentials) > 0 {
		m := &yaml.Node{Kind: yaml.MappingNode}
		for t, a := range yamlAuthTypes {
			if a == spec.AuthType {
				add(m, "type", str(t))
			}
		}
		if spec.AuthType != "" && len(m.Content) == 0 {
			return nil, errs.Invalidf("connection.FormatYAML", "authType", "auth type %q has no file form", clip(string(spec.AuthType)))
		}
		keys := &yaml.Node{Kind: yaml.MappingNode}
		fileKey := map[string]string{"key": "key", "sas": "sas_token", "clientId": "client_id", "clientSecret": "client_secret", "tenantId": "tenant_id", "resourceId": "resource_id"}
		for _, f := range spec.Credentials.Fields() {
			v := string(spec.Credentials[f].Reveal())
			if strings.HasPrefix(v, "@") || strings.HasPrefix(v, "${") {
				return nil, errs.Invalidf("connection.FormatYAML", "credentials."+f, "credentials.%s would read as a reference (it begins with @ or ${)", f)
			}
			if name, ok := strings.CutPrefix(f, CustomKeyPrefix); ok {
				add(keys, name, str(v))
			} else if k := fileKey[f]; k != "" {
				add(m, k, str(v))
			} else {
				return nil, errs.Invalidf("connection.FormatYAML", "credentials."+f, "credentials.%s has no file form", clip(f))
			}
		}
		if len(keys.Content) > 0 {
			add(m, "keys", keys)
		}
		add(root, "credentials", m)
	}
	return yaml.Marshal(root)
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func addMap(parent *yaml.Node, key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		n.Content = append(n.Content, str(k), str(m[k]))
	}
	parent.Content = append(parent.Content, str(key), n)
}
