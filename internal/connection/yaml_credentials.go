package connection

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/latchkey/latchkey/internal/vault"
)

// This file reads the credentials of a connection file: literal values (with
// a warning), ${env:NAME} and @path references.

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
