package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// This file is what the keyvault commands add beside scope_cmd.go's: the
// hook that joins them, `latchkey keyvault update` (a vault's settings), and
// how the CLI reaches a vault's Key Vault endpoint: its URL, a token for its
// audience, and a dialer for vault hosts that DNS does not know.

// withKeyVaultData adds `secret` (keyvault_secret.go) and `update` to the
// keyvault command and returns it, so that the command tree stays one
// `keyvault`.
func withKeyVaultData(e *env, kv *cobra.Command) *cobra.Command {
	kv.Long += `
  latchkey keyvault update --name V [--retention-days N] [--enable-purge-protection] [--network-allow CIDR,...]
  latchkey keyvault secret --help     secrets: set, show, list, delete, recover, purge, backup, restore`
	kv.AddCommand(newKeyVaultSecretCommand(e), newKeyVaultUpdateCommand(e))
	return kv
}

func newKeyVaultUpdateCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update --name V",
		Short: "Change a vault's settings: retention, purge protection, network allow-list",
		Long: `Change a vault's settings (az keyvault update); with no setting, show them.

  --retention-days N           days (7 to 90) a deleted secret stays recoverable
  --enable-purge-protection    deleted secrets are purged only when due; cannot be turned off
  --network-allow CIDR,...     client ranges allowed to reach the vault's Key Vault endpoint,
                               replacing the list; --network-allow "" allows every address`,
		Args: cobra.NoArgs,
	}
	f := addServerFlags(cmd)
	name := requiredFlag(cmd, "name", "the vault's name")
	days := cmd.Flags().Int("retention-days", 0, "days (7 to 90) a deleted secret stays recoverable")
	purge := cmd.Flags().Bool("enable-purge-protection", false, "turn purge protection on (it cannot be turned off)")
	nets := cmd.Flags().StringSlice("network-allow", nil, "client address ranges (CIDR) allowed to reach the data plane")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		var u client.VaultUpdate
		if cmd.Flags().Changed("retention-days") {
			u.RetentionDays = days
		}
		if cmd.Flags().Changed("enable-purge-protection") {
			u.PurgeProtection = purge
		}
		if cmd.Flags().Changed("network-allow") {
			list := []string{}
			for _, n := range *nets {
				if n = strings.TrimSpace(n); n != "" {
					list = append(list, n)
				}
			}
			u.NetworkAllow = &list
		}
		var st client.VaultSettings
		var err error
		if u == (client.VaultUpdate{}) {
			st, err = c.VaultSettings(cmd.Context(), *name)
		} else {
			st, err = c.UpdateVault(cmd.Context(), *name, u)
		}
		if err != nil {
			return err
		}
		tab := table{header: []string{"Name", "RetentionDays", "PurgeProtection", "NetworkAllow"},
			rows: [][]string{{*name, strconv.Itoa(st.RetentionDays), yesNo(st.PurgeProtection), strings.Join(st.NetworkAllow, ",")}}}
		return render(e.stdout, *out, vaultSettingsView{Name: *name, VaultSettings: st}, tab)
	})
	return cmd
}

// vaultSettingsView is what keyvault update prints: the vault's name and its
// settings.
type vaultSettingsView struct {
	Name string `json:"name"`
	client.VaultSettings
}

// connectVault returns a client of the data plane of the vault named name,
// signed in as connect is, with tokens for the vault's audience.
func (f *serverFlags) connectVault(ctx context.Context, e *env, name string) (*client.VaultClient, error) {
	cl, t, err := f.connectTarget(e)
	if err != nil {
		return nil, err
	}
	vaultURL, err := vaultURLOf(ctx, cl, t, name)
	if err != nil {
		return nil, err
	}
	hc, err := vaultHTTPClient(t)
	if err != nil {
		return nil, err
	}
	tokens, err := vaultTokens(t, vaultURL, hc)
	if err != nil {
		return nil, err
	}
	return client.NewVaultClient(vaultURL, hc, tokens), nil
}

// vaultTokens returns the caller's credentials asking for the audience of the
// vault at vaultURL: a service principal's login, or a dev server's admin.
func vaultTokens(t target, vaultURL string, hc *http.Client) (client.TokenSource, error) {
	scope, err := client.VaultScope(vaultURL)
	if err != nil {
		return nil, err
	}
	cache, err := loadAuth()
	if err != nil {
		return nil, err
	}
	cc := &client.ClientCredentials{TokenURL: client.TokenURL(t.authorityHost, t.tenantID), Scope: scope, HTTPClient: hc}
	switch {
	case cache != nil && sameServer(cache.Server, t.url) && cache.ServicePrincipal != nil:
		cc.ClientID, cc.Secret = cache.ServicePrincipal.ClientID, cache.ServicePrincipal.ClientSecret
	case cache != nil && sameServer(cache.Server, t.url):
		return nil, fmt.Errorf("vault commands need a token for %s, and a user's login holds a management token only: "+
			"log in as a service principal (latchkey login --service-principal), or, on a dev server, latchkey logout to act as its admin", scope)
	case t.dev != nil && t.dev.Admin != nil:
		cc.ClientID, cc.Secret = t.dev.Admin.ClientID, t.dev.Admin.ClientSecret
	default:
		return nil, fmt.Errorf("not signed in to %s: run latchkey login --service-principal --server %s", t.url, t.url)
	}
	return cc, nil
}

// vaultURLOf returns the data-plane URL of the vault named name, from the
// management API. A caller with a data role only may not read the vault's
// record; on a dev server its URL then follows from the default vault's.
func vaultURLOf(ctx context.Context, cl *client.Client, t target, name string) (string, error) {
	r, err := cl.Vault(ctx, name)
	if err == nil && r.VaultURI == "" {
		return "", fmt.Errorf("the server %s serves no Key Vault endpoint: start it with a vault domain", t.url)
	}
	if err == nil {
		return r.VaultURI, nil
	}
	var ce *client.Error
	if errors.As(err, &ce) && ce.StatusCode == http.StatusForbidden && t.dev != nil && t.dev.VaultURL != "" && isLabel(name) {
		if _, rest, ok := strings.Cut(t.dev.VaultURL, "."); ok {
			return "https://" + strings.ToLower(name) + "." + rest, nil
		}
	}
	return "", fmt.Errorf("vault %s: %w", name, err)
}

// vaultHTTPClient is httpClient that, for a dev server or a server named by
// its address, dials that server for every host under a vault domain
// ({vault}.vault.{domain}:PORT), since DNS may not know them. TLS still
// verifies the vault's own host name.
func vaultHTTPClient(t target) (*http.Client, error) {
	hc, err := httpClient(t.caCert)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(t.url)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", t.url, err)
	}
	server := u.Hostname()
	if t.dev == nil && net.ParseIP(server) == nil {
		return hc, nil
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := hc.Transport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && isVaultHost(host) {
			addr = net.JoinHostPort(server, port)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return hc, nil
}

// isVaultHost reports a host of the form {vault}.vault.{domain}.
func isVaultHost(host string) bool {
	label, rest, ok := strings.Cut(strings.ToLower(host), ".")
	return ok && label != "" && strings.HasPrefix(rest, "vault.") && len(rest) > len("vault.")
}

// isName reports 1 to max ASCII letters, digits and, if dash, '-'.
func isName(s string, max int, dash bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || dash && c == '-') {
			return false
		}
	}
	return true
}

// isLabel reports a DNS label: 1 to 63 letters, digits and '-'.
func isLabel(s string) bool { return isName(s, 63, true) }
