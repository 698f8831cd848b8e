package connection

import (
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

// This file holds the --set overrides of the command line.

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
