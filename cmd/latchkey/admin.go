package main

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/install"
)

func newAdminCommand(e *env) *cobra.Command {
	admin := &cobra.Command{Use: "admin", Short: "Operate an installation directly on its database"}
	bootstrap := &cobra.Command{
		Use:   "bootstrap",
		Short: "Create (or re-key) the installation's first administrator and print its credentials",
		Long: `Create the bootstrap administrator, the service principal latchkey-admin, on first use,
make it Owner, Key Vault Administrator and Azure AI Developer at /, and print its
credentials once, in the
shape of az ad sp create-for-rbac: {"appId", "displayName", "password", "tenant"}.
Run it again to replace the secret (the old one stops getting tokens). It works on the
database directly, with the server's database and master key settings, whether or not
servers are running: use it once after the first latchkey serve of an installation, then
latchkey login --service-principal with what it printed. (latchkey dev does this itself.)`,
		Args: cobra.NoArgs,
	}
	addFlags(bootstrap.Flags(), serveDefaults(), "data", "database", "master_key_file")
	bootstrap.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		c, err := loadConfig(serveDefaults(), cmd.Flags(), e.getenv)
		if err != nil {
			return err
		}
		if c.Database == "" && c.Data == "" {
			return fmt.Errorf("no database: give --database postgres://... or --data DIR, as for latchkey serve")
		}
		keys, err := loadKeyring(c)
		if err != nil {
			return err
		}
		st, err := openStore(ctx, c)
		if err != nil {
			return err
		}
		defer st.Close()
		if _, err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate the database: %w", err)
		}
		inst, err := install.Init(ctx, st, keys)
		if err != nil {
			return err
		}
		ids, err := identity.New(ctx, identity.Options{Store: st, Keys: keys, TenantID: inst.TenantID})
		if err != nil {
			return err
		}
		// The grants are recorded in the audit trail like any other.
		trail, err := audit.NewWriter(audit.Options{Store: st})
		if err != nil {
			return err
		}
		go func() { _ = trail.Run(ctx) }()
		defer trail.Close()
		logger := slog.New(slog.NewTextHandler(e.stderr, nil))
		acc, err := access.New(ctx, access.Options{Store: st, Audit: accessAudit(trail, logger)})
		if err != nil {
			return err
		}
		p, secret, _, err := ids.BootstrapAdmin(ctx, st, identity.Secret{})
		if err != nil {
			return err
		}
		if err := grantAdmin(ctx, acc, p.ID); err != nil {
			return err
		}
		out, _ := json.MarshalIndent(map[string]string{
			"appId": p.AppID, "displayName": p.Name, "password": secret.Reveal(), "tenant": inst.TenantID,
		}, "", "  ")
		fmt.Fprintln(e.stdout, string(out))
		return nil
	})
	admin.AddCommand(bootstrap)
	return admin
}
