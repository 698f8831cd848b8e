package main

import (
	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

func newIdentityCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Manage user-assigned managed identities",
		Long: `Manage user-assigned managed identities, which live at /identities/NAME (az identity).
Workloads act as one through federated credentials or latchkey run, never with a secret.

  latchkey identity create NAME
  latchkey identity list
  latchkey identity show NAME
  latchkey identity delete NAME`,
	}
	f := addServerFlags(cmd)
	cmd.AddCommand(newIdentityCreateCommand(e, f), newIdentityListCommand(e, f),
		newIdentityShowCommand(e, f), newIdentityDeleteCommand(e, f))
	return cmd
}

func newIdentityCreateCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "create NAME", Short: "Create a managed identity", Args: cobra.ExactArgs(1)}
	out := addOutputFlag(cmd, "json")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		mi, err := c.CreateIdentity(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return render(e.stdout, *out, mi, identityTable(mi))
	})
	return cmd
}

func newIdentityListCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List managed identities", Args: cobra.NoArgs}
	out := addOutputFlag(cmd, "table")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		mis, err := c.Identities(cmd.Context())
		if err != nil {
			return err
		}
		return render(e.stdout, *out, mis, identityTable(mis...))
	})
	return cmd
}

func newIdentityShowCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show a managed identity", Args: cobra.ExactArgs(1)}
	out := addOutputFlag(cmd, "json")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		mi, err := c.Identity(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return render(e.stdout, *out, mi, identityTable(mi))
	})
	return cmd
}

func newIdentityDeleteCommand(e *env, f *serverFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a managed identity and its federated credentials",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := f.connect(e)
			if err != nil {
				return err
			}
			return c.DeleteIdentity(cmd.Context(), args[0])
		}),
	}
}

func identityTable(mis ...client.ManagedIdentity) table {
	t := table{header: []string{"Name", "ClientId", "PrincipalId", "Enabled", "Created"}}
	for _, mi := range mis {
		t.rows = append(t.rows, []string{mi.Name, mi.ClientID, mi.PrincipalID, yesNo(mi.Enabled), when(mi.Created)})
	}
	return t
}
