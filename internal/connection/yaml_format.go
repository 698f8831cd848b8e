package connection

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/latchkey/latchkey/internal/errs"
)

// This file writes connections back as YAML, for --output yaml.

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
