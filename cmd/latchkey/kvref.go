package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/client"
)

// This file is Key Vault references, which `latchkey run` resolves into its
// child's environment variables as the run's identity, and watches.

// kvRef is a Key Vault reference: a secret of a vault, at a version or
// (Version "") its current one. SecretURI is set for the SecretUri form.
type kvRef struct {
	SecretURI            string // https://{vault}.vault.{domain}[:port], the origin only
	Vault, Name, Version string
}

// kvRefPrefix opens a Key Vault reference, as App Service writes it.
const kvRefPrefix = "@microsoft.keyvault("

// isKeyVaultReference reports whether s is meant as a reference (it may still
// be malformed).
func isKeyVaultReference(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= len(kvRefPrefix) && strings.EqualFold(s[:len(kvRefPrefix)], kvRefPrefix)
}

// parseKeyVaultReference parses
// @Microsoft.KeyVault(SecretUri=https://V.vault.DOMAIN[:port]/secrets/NAME[/VERSION][/]) and
// @Microsoft.KeyVault(VaultName=V;SecretName=NAME[;SecretVersion=VERSION]),
// with keys in any case and spaces around parts, as App Service accepts them.
// Errors say what is wrong and never quote the whole reference.
func parseKeyVaultReference(s string) (kvRef, error) {
	s = strings.TrimSpace(s)
	if !isKeyVaultReference(s) {
		return kvRef{}, errors.New("not a Key Vault reference: it must start with @Microsoft.KeyVault(")
	}
	body, ok := strings.CutSuffix(s[len(kvRefPrefix):], ")")
	if !ok {
		return kvRef{}, errors.New("the Key Vault reference does not end with )")
	}
	parts := map[string]string{}
	for _, part := range strings.Split(body, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch {
		case !ok:
			return kvRef{}, fmt.Errorf("the Key Vault reference has a part without '=': give SecretUri=... or VaultName=...;SecretName=...")
		case k != "secreturi" && k != "vaultname" && k != "secretname" && k != "secretversion":
			return kvRef{}, fmt.Errorf("the Key Vault reference has an unknown key %.40q: use SecretUri, or VaultName, SecretName and SecretVersion", k)
		case parts[k] != "":
			return kvRef{}, fmt.Errorf("the Key Vault reference gives %s twice", k)
		case v == "":
			return kvRef{}, fmt.Errorf("the Key Vault reference's %s is empty", k)
		}
		parts[k] = v
	}
	if uri, ok := parts["secreturi"]; ok {
		if len(parts) > 1 {
			return kvRef{}, errors.New("the Key Vault reference gives SecretUri with VaultName, SecretName or SecretVersion: give one form")
		}
		return parseSecretURI(uri)
	}
	ref := kvRef{Vault: parts["vaultname"], Name: parts["secretname"], Version: parts["secretversion"]}
	if ref.Vault == "" || ref.Name == "" {
		return kvRef{}, errors.New("the Key Vault reference needs SecretUri=..., or VaultName=...;SecretName=...")
	}
	if err := ref.check(); err != nil {
		return kvRef{}, err
	}
	return ref, nil
}

// parseSecretURI reads https://V.vault.DOMAIN[:port]/secrets/NAME[/VERSION][/].
func parseSecretURI(uri string) (kvRef, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return kvRef{}, errors.New("the Key Vault reference's SecretUri must be https://VAULT.vault.DOMAIN/secrets/NAME[/VERSION]")
	}
	host := strings.ToLower(u.Host)
	if !isVaultHost(u.Hostname()) {
		return kvRef{}, fmt.Errorf("the Key Vault reference's SecretUri names the host %.80s, which is not a vault's (VAULT.vault.DOMAIN)", host)
	}
	segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(u.EscapedPath(), "/"), "/"), "/")
	if len(segs) < 2 || len(segs) > 3 || !strings.EqualFold(segs[0], "secrets") {
		return kvRef{}, errors.New("the Key Vault reference's SecretUri path must be /secrets/NAME or /secrets/NAME/VERSION")
	}
	ref := kvRef{SecretURI: "https://" + host, Name: segs[1]}
	ref.Vault, _, _ = strings.Cut(host, ".")
	if len(segs) == 3 {
		ref.Version = segs[2]
	}
	if err := ref.check(); err != nil {
		return kvRef{}, err
	}
	return ref, nil
}

// check validates the vault's and secret's names and the version.
func (r kvRef) check() error {
	switch {
	case !isLabel(r.Vault):
		return errors.New("the Key Vault reference's vault name must be letters, digits and '-'")
	case !isName(r.Name, 127, true):
		return errors.New("the Key Vault reference's secret name must be 1 to 127 letters, digits and '-'")
	case r.Version != "" && !isName(r.Version, 64, false):
		return errors.New("the Key Vault reference's secret version must be letters and digits")
	}
	return nil
}

// String formats r as a reference that parses back to r.
func (r kvRef) String() string {
	if r.SecretURI != "" {
		s := "@Microsoft.KeyVault(SecretUri=" + r.SecretURI + "/secrets/" + r.Name
		if r.Version != "" {
			s += "/" + r.Version
		}
		return s + ")"
	}
	s := "@Microsoft.KeyVault(VaultName=" + r.Vault + ";SecretName=" + r.Name
	if r.Version != "" {
		s += ";SecretVersion=" + r.Version
	}
	return s + ")"
}

// envRef is an environment variable whose value is a Key Vault reference.
type envRef struct {
	index   int // in the environment
	name    string
	ref     kvRef
	version string // the version resolved last
}

// kvReferences are the Key Vault references of a child's environment, read
// as the run's managed identity. Not safe for concurrent use: once resolved,
// only watch uses it.
type kvReferences struct {
	env      []string // the environment, every reference resolved
	refs     []envRef
	identity string
	cl       *client.Client // the management API, as the run's own credential
	t        target
	hc       *http.Client
	vaults   map[string]*client.VaultClient // by vault name
}

// envUpdate is an environment with new values for the variables changed.
type envUpdate struct {
	env     []string
	changed []string
}

// resolveReferences replaces each Key Vault reference in env by the secret's
// value, read with tokens of the managed identity named identity. A reference
// that cannot be resolved is an error naming the variable and why; no
// reference is ever passed through.
func resolveReferences(ctx context.Context, e *env, f *serverFlags, identity string, env []string) (*kvReferences, error) {
	r := &kvReferences{env: slices.Clone(env), identity: identity, vaults: map[string]*client.VaultClient{}}
	for i, kv := range r.env {
		name, value, _ := strings.Cut(kv, "=")
		if !isKeyVaultReference(value) {
			continue
		}
		ref, err := parseKeyVaultReference(value)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", name, err)
		}
		r.refs = append(r.refs, envRef{index: i, name: name, ref: ref})
	}
	if len(r.refs) == 0 {
		return r, nil
	}
	var err error
	if r.cl, r.t, err = f.connectTarget(e); err != nil {
		return nil, err
	}
	if r.hc, err = vaultHTTPClient(r.t); err != nil {
		return nil, err
	}
	for i := range r.refs {
		ref := &r.refs[i]
		value, version, err := r.resolve(ctx, ref.ref)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", ref.name, err)
		}
		r.env[ref.index], ref.version = ref.name+"="+value, version
	}
	return r, nil
}

// resolve reads the secret ref names and returns its value and version.
func (r *kvReferences) resolve(ctx context.Context, ref kvRef) (value, version string, err error) {
	vc, err := r.vault(ctx, ref)
	if err != nil {
		return "", "", err
	}
	b, err := vc.GetSecret(ctx, ref.Name, ref.Version)
	if err != nil {
		return "", "", fmt.Errorf("secret %s of vault %s, read as identity %s: %w", ref.Name, ref.Vault, r.identity, err)
	}
	if b.Value == nil {
		return "", "", fmt.Errorf("secret %s of vault %s: the vault answered without a value", ref.Name, ref.Vault)
	}
	return *b.Value, b.Version(), nil
}

// vault returns a client of ref's vault with the identity's tokens. A
// SecretUri must name the vault's own URL on this server: the identity's
// token never goes anywhere else.
func (r *kvReferences) vault(ctx context.Context, ref kvRef) (*client.VaultClient, error) {
	key := strings.ToLower(ref.Vault)
	vc, ok := r.vaults[key]
	if !ok {
		vaultURL, err := vaultURLOf(ctx, r.cl, r.t, ref.Vault)
		if err != nil {
			return nil, err
		}
		resource, err := client.VaultResource(vaultURL)
		if err != nil {
			return nil, err
		}
		vc = client.NewVaultClient(vaultURL, r.hc, &identityTokens{cl: r.cl, identity: r.identity, resource: resource})
		r.vaults[key] = vc
	}
	if ref.SecretURI != "" && !strings.EqualFold(ref.SecretURI, vc.URL()) {
		return nil, fmt.Errorf("the SecretUri names %s, but vault %s of %s is %s: references reach this server's vaults only", ref.SecretURI, ref.Vault, r.t.url, vc.URL())
	}
	return vc, nil
}

// watch checks the references without a version every interval and sends
// the environment with new values whenever a secret got a new current
// version. Failures are told on warn, once each, and the value is kept.
func (r *kvReferences) watch(ctx context.Context, interval time.Duration, updates chan<- envUpdate, warn io.Writer) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	told := map[string]string{} // the failure last told, by variable
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		env := slices.Clone(r.env)
		var changed []string
		for i := range r.refs {
			ref := &r.refs[i]
			if ref.ref.Version != "" {
				continue // pinned: it never changes
			}
			value, version, err := r.resolve(ctx, ref.ref)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				if told[ref.name] != err.Error() {
					fmt.Fprintf(warn, "latchkey run: environment variable %s: %v; keeping its value\n", ref.name, oneLine(err))
					told[ref.name] = err.Error()
				}
				continue
			}
			delete(told, ref.name)
			if version != ref.version {
				env[ref.index], ref.version = ref.name+"="+value, version
				changed = append(changed, ref.name)
			}
		}
		if len(changed) == 0 {
			continue
		}
		r.env = env
		select {
		case updates <- envUpdate{env: env, changed: changed}:
		case <-ctx.Done():
			return
		}
	}
}

// watched reports whether any reference follows its secret's current version.
func (r *kvReferences) watched() bool {
	return slices.ContainsFunc(r.refs, func(ref envRef) bool { return ref.ref.Version == "" })
}

// identityTokens gets a managed identity's tokens for one resource through
// the management API, as the run's endpoint does, and caches each until five
// minutes before it expires. It is safe for concurrent use.
type identityTokens struct {
	cl                 *client.Client
	identity, resource string

	mu  sync.Mutex // guards tok
	tok client.IdentityToken
}

func (it *identityTokens) Token(ctx context.Context) (string, error) {
	it.mu.Lock()
	tok := it.tok
	it.mu.Unlock()
	if tok.AccessToken != "" && time.Until(tok.Expires()) > 5*time.Minute {
		return tok.AccessToken, nil
	}
	tok, err := it.cl.IdentityToken(ctx, it.identity, it.resource)
	if err != nil {
		return "", fmt.Errorf("a token of identity %s for %s: %w", it.identity, it.resource, err)
	}
	it.mu.Lock()
	it.tok = tok
	it.mu.Unlock()
	return tok.AccessToken, nil
}
