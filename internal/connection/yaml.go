package connection

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/latchkey/latchkey/internal/errs"
)

// This file reads connections in the YAML of `az ml connection create --file`
// (reference/azure-compat.md §6.5). Their credentials, written literally or as
// ${env:NAME} or @path/to/file, are read in yaml_credentials.go; the --set
// overrides of the command line are in set.go; yaml_format.go writes YAML.

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
