package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/devmode"
	"github.com/latchkey/latchkey/internal/identity"
)

func devDefaults() Config {
	return Config{
		Addr:            "127.0.0.1:8443",
		Data:            ".latchkey",
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: 5 * time.Second,
		VaultDomain:     "localhost",
	}
}

func newDevCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a development server with everything it needs, in ./.latchkey",
		Long: `Start Latchkey in development mode. On first start it creates, in the data folder
(./.latchkey unless --data): a development CA and a server certificate for 127.0.0.1, ::1,
localhost and *.vault.localhost; a master key; a SQLite database; and the tenant. It writes
dev.json there for tools and tests. Later starts reuse all of it.

Dev mode keeps its master key and CA key on disk beside the data: never use it for real secrets.`,
		Args: cobra.NoArgs,
	}
	addFlags(cmd.Flags(), devDefaults())
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := loadConfig(devDefaults(), cmd.Flags(), e.getenv)
		if err != nil {
			return err
		}
		if err := c.validate(); err != nil {
			return err
		}
		dir, err := devmode.EnsureDir(c.Data)
		if err != nil {
			return err
		}
		c.Data = dir
		caPath := c.TLSCert // with --tls-cert, clients trust that certificate itself
		if c.TLSCert == "" {
			certs, err := devmode.EnsureCerts(dir, time.Now())
			if err != nil {
				return err
			}
			c.TLSCert, c.TLSKey, caPath = certs.Cert, certs.Key, certs.CA
		}
		if c.MasterKey == "" && c.MasterKeyFile == "" {
			path, created, err := devmode.EnsureMasterKey(dir)
			if err != nil {
				return err
			}
			c.MasterKeyFile = path
			if created {
				fmt.Fprintf(e.stderr, "WARNING: generated a development master key in %s.\nWARNING: dev keys sit beside the data they protect: they are NOT for production secrets.\n", path)
			}
		}
		return runServer(cmd.Context(), c, e, func(ctx context.Context, addr net.Addr, a *app) error {
			return announceDev(ctx, e, dir, caPath, c.VaultDomain, addr, a)
		})
	})
	return cmd
}

// announceDev makes sure the dev admin exists, writes dev.json and tells the
// person at the terminal where things are.
func announceDev(ctx context.Context, e *env, dir, caPath, vaultDomain string, addr net.Addr, a *app) error {
	base := "https://" + dialable(addr)
	info := devmode.Info{URL: base, CACert: caPath, TenantID: a.inst.TenantID, AuthorityHost: base + "/"}
	var known identity.Secret
	if old, err := devmode.ReadInfo(dir); err == nil && old.Admin != nil {
		known = identity.NewSecret(old.Admin.ClientSecret)
	}
	admin, secret, _, err := a.identity.BootstrapAdmin(ctx, a.store, known)
	if err != nil {
		return err
	}
	if err := seedDev(ctx, a, admin.ID); err != nil {
		return err
	}
	info.Admin = &devmode.Admin{ClientID: admin.AppID, ClientSecret: secret.Reveal()}
	if vaultDomain != "" {
		info.VaultURL = vaultURL(vaultDomain, addr)("default")
	}
	path, err := devmode.WriteInfo(dir, info)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, `
Latchkey dev server is running.

  URL       %s
  Tenant    %s
  Admin     %s (its secret is in dev.json)
  Vault     %s
            %s
  dev.json  %s
  CA        %s
            curl --cacert %s %s/healthz
            Go and most tools: export SSL_CERT_FILE=%s

Dev mode is for development only. Press Ctrl+C to stop.
`, info.URL, info.TenantID, admin.AppID, info.VaultURL, vaultDNSNote(ctx, info.VaultURL, addr), path, info.CACert, info.CACert, info.URL, info.CACert)
	return nil
}

// vaultDNSNote says whether the vault's host resolves to the server on this
// machine (the Azure SDKs need it to; the latchkey CLI does not) and, if not,
// the hosts-file line that makes it.
func vaultDNSNote(ctx context.Context, vaultURL string, addr net.Addr) string {
	u, err := url.Parse(vaultURL)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	ip, _, _ := net.SplitHostPort(dialable(addr))
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	switch {
	case err == nil && slices.Contains(addrs, ip):
		return host + " resolves to this server on this machine."
	case err == nil:
		return fmt.Sprintf("%s resolves to %s, not to this server: put this line in /etc/hosts instead:\n            %s %s",
			host, strings.Join(addrs, ", "), ip, host)
	}
	return fmt.Sprintf("%s does not resolve on this machine; the Azure SDKs need it to. Add this line to\n"+
		"            /etc/hosts (Windows: C:\\Windows\\System32\\drivers\\etc\\hosts):\n            %s %s", host, ip, host)
}

// dialable turns a listener address into one a client can dial: a wildcard host
// becomes the loopback address.
func dialable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// seedDev makes the dev admin Owner, Key Vault Administrator and Azure AI
// Developer at the tenant, and creates hub, project and vault "default",
// unless they exist.
func seedDev(ctx context.Context, a *app, adminID string) error {
	if err := grantAdmin(ctx, a.access, adminID); err != nil {
		return err
	}
	for _, scope := range []string{access.HubScope("default"), access.ProjectScope("default", "default"), access.VaultScope("default", "default")} {
		if _, err := a.access.Resource(ctx, scope); err == nil {
			continue
		}
		if _, err := a.access.CreateResource(ctx, adminID, scope); err != nil {
			return err
		}
	}
	return nil
}

// grantAdmin makes the bootstrap administrator Owner, Key Vault
// Administrator and Azure AI Developer at the tenant (keeping assignments it
// has already): the data roles let it read secrets and connections'
// credentials, and grant them (the escalation guard asks that it holds them).
func grantAdmin(ctx context.Context, acc *access.Service, adminID string) error {
	for _, role := range []string{access.OwnerID, access.KeyVaultAdministratorID, access.AzureAIDeveloperID} {
		if err := acc.Bootstrap(ctx, adminID, role, "/"); err != nil {
			return err
		}
	}
	return nil
}
