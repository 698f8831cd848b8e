package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// maxSecretYears bounds --years, as the server bounds secret lifetimes.
const maxSecretYears = 10

func newSPCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sp",
		Short: "Manage service principals: application identities with client secrets",
		Long: `Manage service principals, the identities applications sign in as (az ad sp).

  latchkey sp create NAME [--years N]     create one; prints its appId and password once
  latchkey sp list                        list them
  latchkey sp show --id APPID             show one
  latchkey sp delete --id APPID           delete one and its credentials
  latchkey sp credential reset --id APPID replace its secrets by a new one`,
	}
	f := addServerFlags(cmd)
	cmd.AddCommand(newSPCreateCommand(e, f), newSPListCommand(e, f), newSPShowCommand(e, f),
		newSPDeleteCommand(e, f), newSPCredentialCommand(e, f))
	return cmd
}

// secretDays turns --years into the API's secretLifetimeDays.
func secretDays(years int) (int, error) {
	if years < 1 || years > maxSecretYears {
		return 0, fmt.Errorf("--years %d: give 1 to %d", years, maxSecretYears)
	}
	return years * 365, nil
}

func newSPCreateCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a service principal and print its secret, once",
		Args:  cobra.ExactArgs(1),
	}
	years := cmd.Flags().Int("years", 1, "years the client secret stays valid")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		days, err := secretDays(*years)
		if err != nil {
			return err
		}
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		sp, err := c.CreateServicePrincipal(cmd.Context(), client.CreateServicePrincipalRequest{DisplayName: args[0], SecretLifetimeDays: days})
		if err != nil {
			return err
		}
		return render(e.stdout, *out, sp, table{
			header: []string{"AppId", "DisplayName", "Password", "Tenant", "PasswordExpires"},
			rows:   [][]string{{sp.AppID, sp.DisplayName, sp.Password, sp.Tenant, when(sp.PasswordExpires)}},
		})
	})
	return cmd
}

func newSPListCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List service principals", Args: cobra.NoArgs}
	out := addOutputFlag(cmd, "table")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		sps, err := c.ServicePrincipals(cmd.Context())
		if err != nil {
			return err
		}
		return render(e.stdout, *out, sps, spTable(sps...))
	})
	return cmd
}

func newSPShowCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show --id APPID", Short: "Show a service principal", Args: cobra.NoArgs}
	id := appIDFlag(cmd)
	out := addOutputFlag(cmd, "json")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		sp, err := c.ServicePrincipal(cmd.Context(), *id)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, sp, spTable(sp))
	})
	return cmd
}

func newSPDeleteCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "delete --id APPID", Short: "Delete a service principal and its credentials", Args: cobra.NoArgs}
	id := appIDFlag(cmd)
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		return c.DeleteServicePrincipal(cmd.Context(), *id)
	})
	return cmd
}

func newSPCredentialCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "credential", Short: "Manage a service principal's credentials"}
	reset := &cobra.Command{
		Use:   "reset --id APPID",
		Short: "Replace every client secret of a service principal by a new one, printed once",
		Args:  cobra.NoArgs,
	}
	id := appIDFlag(reset)
	years := reset.Flags().Int("years", 1, "years the new client secret stays valid")
	out := addOutputFlag(reset, "json")
	reset.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		days, err := secretDays(*years)
		if err != nil {
			return err
		}
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		r, err := c.ResetServicePrincipalCredential(cmd.Context(), *id, client.ResetCredentialRequest{SecretLifetimeDays: days})
		if err != nil {
			return err
		}
		return render(e.stdout, *out, r, table{
			header: []string{"AppId", "Password", "Tenant", "PasswordExpires"},
			rows:   [][]string{{r.AppID, r.Password, r.Tenant, when(r.PasswordExpires)}},
		})
	})
	cmd.AddCommand(reset)
	return cmd
}

// appIDFlag registers the required --id APPID.
func appIDFlag(cmd *cobra.Command) *string {
	id := cmd.Flags().String("id", "", "the service principal's appId (client id)")
	_ = cmd.MarkFlagRequired("id")
	return id
}

func spTable(sps ...client.ServicePrincipal) table {
	t := table{header: []string{"DisplayName", "AppId", "Id", "Enabled", "Created"}}
	for _, sp := range sps {
		t.rows = append(t.rows, []string{sp.DisplayName, sp.AppID, sp.ID, yesNo(sp.Enabled), when(sp.Created)})
	}
	return t
}
