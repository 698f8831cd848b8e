package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// This file is mode secret: GETs of one secret from the dev server's default
// vault, as the Azure SDK sends them. Each vault is its own host,
// https://{vault}.vault.localhost:PORT; lkload does not rely on DNS for it:
// its dialer sends every host under the vault domain to the server's own
// address, while the URL's host still drives SNI and certificate checks.

// Key Vault names of what mode secret reads.
const (
	secretName = "bench"
	apiVersion = "7.5"
)

// secretValue is the bench secret: 100 bytes of plain ASCII, so that it
// appears verbatim in the JSON answer. It is test data, not a secret.
const secretValue = "lkload-bench-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefgh"

// secretTarget reads DIR/dev.json, gets a token for the vault data plane with
// the administrator's client credentials, sets the secret once, and aims at
// GETs of its latest version.
func secretTarget(ctx context.Context, dir string) (target, error) {
	info, err := readDevInfo(dir)
	if err != nil {
		return target{}, err
	}
	if info.VaultURL == "" {
		return target{}, fmt.Errorf("%s/dev.json has no vaultUrl: restart the dev server to rewrite it", dir)
	}
	v, err := url.Parse(info.VaultURL)
	if err != nil || v.Scheme != "https" || v.Hostname() == "" {
		return target{}, fmt.Errorf("dev.json: vaultUrl %q is not an https URL", info.VaultURL)
	}
	// default.vault.localhost:PORT: the domain is vault.localhost, and the
	// token's audience (the bearer challenge's resource) https://vault.localhost:PORT.
	_, domain, ok := strings.Cut(v.Hostname(), ".")
	if !ok || domain == "" {
		return target{}, fmt.Errorf("dev.json: vaultUrl %q has no vault domain under its first label", info.VaultURL)
	}
	resource := "https://" + domain
	if p := v.Port(); p != "" {
		resource += ":" + p
	}
	server, err := url.Parse(info.URL)
	if err != nil || server.Host == "" {
		return target{}, fmt.Errorf("dev.json: url %q is not a server URL", info.URL)
	}
	roots, err := loadRoots(info.CACert)
	if err != nil {
		return target{}, err
	}
	t := target{
		method:   http.MethodGet,
		url:      strings.TrimSuffix(info.VaultURL, "/") + "/secrets/" + secretName + "?api-version=" + apiVersion,
		want:     []byte(`"value":"` + secretValue + `"`),
		wantName: "the secret's value",
		roots:    roots,
		dial:     vaultDialer(domain, server.Host),
	}
	c := newClientFunc(t.roots, t.dial)()
	defer c.CloseIdleConnections()
	if t.bearer, err = fetchToken(ctx, c, info, resource+"/.default"); err != nil {
		return target{}, err
	}
	if err := setSecret(ctx, c, t); err != nil {
		return target{}, err
	}
	return t, nil
}

// vaultDialer returns a dialer that sends hosts under domain to addr (the
// server's host:port) and everything else where it names.
func vaultDialer(domain, addr string) dialFunc {
	var d net.Dialer
	return func(ctx context.Context, network, hostport string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(hostport); err == nil && strings.HasSuffix(strings.ToLower(host), "."+domain) {
			hostport = addr
		}
		return d.DialContext(ctx, network, hostport)
	}
}

// fetchToken asks the dev server's token endpoint for an access token for
// scope with the administrator's client credentials.
func fetchToken(ctx context.Context, c *http.Client, info devInfo, scope string) (string, error) {
	tokenURL, err := info.tokenURL()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(tokenForm(info.Admin.ClientID, info.Admin.ClientSecret, scope)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := doJSON(c, req, &tok); err != nil {
		return "", fmt.Errorf("token for %s: %w", scope, err)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("token for %s: the answer has no access_token", scope)
	}
	return tok.AccessToken, nil
}

// setSecret sets the bench secret with a PUT to the secret's URL, as t
// names it, with t's token.
func setSecret(ctx context.Context, c *http.Client, t target) error {
	body, err := json.Marshal(map[string]string{"value": secretValue})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.url, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.bearer)
	if err := doJSON(c, req, &struct{}{}); err != nil {
		return fmt.Errorf("set secret %s: %w", secretName, err)
	}
	return nil
}

// doJSON sends req and decodes a 200 answer into dst; any other status is an
// error that carries the start of the answer.
func doJSON(c *http.Client, req *http.Request, dst any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %.300s", statusError(resp.StatusCode), b)
	}
	return json.Unmarshal(b, dst)
}
