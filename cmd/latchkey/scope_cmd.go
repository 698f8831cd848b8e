package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// This file is the commands of the scope tree's records: `latchkey hub`,
// `latchkey project` and `latchkey keyvault`.

// resourceVerbs is how one kind of resource is created, listed, shown and
// deleted. The functions take the client first, as method expressions do;
// hub is the --hub flag's value ("" where the command has none).
type resourceVerbs struct {
	noun   string // hub, project, key vault: for help texts
	create func(c *client.Client, ctx context.Context, hub, name string) (client.Resource, error)
	list   func(c *client.Client, ctx context.Context, hub string) ([]client.Resource, error)
	show   func(c *client.Client, ctx context.Context, hub, name string) (client.Resource, error)
	delete func(c *client.Client, ctx context.Context, hub, name string) error
	// Which commands take --hub: create, list, and show and delete.
	hubToCreate, hubToList, hubToName hubUse
}

// hubUse says whether a command takes --hub.
type hubUse uint8

const (
	noHub       hubUse = iota
	hubRequired        // --hub is required
	hubOptional        // --hub narrows a listing
)

func newHubCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Manage hubs: the top of the scope tree, holding projects and vaults",
		Long: `Manage hubs, which live at /hubs/NAME and hold projects and vaults. A role assigned at a
hub holds for everything in it.

  latchkey hub create --name H
  latchkey hub list
  latchkey hub show --name H
  latchkey hub delete --name H        only once it holds no project or vault`,
	}
	addResourceCommands(e, cmd, resourceVerbs{
		noun: "hub",
		create: func(c *client.Client, ctx context.Context, _, name string) (client.Resource, error) {
			return c.PutHub(ctx, name)
		},
		list: func(c *client.Client, ctx context.Context, _ string) ([]client.Resource, error) { return c.Hubs(ctx) },
		show: func(c *client.Client, ctx context.Context, _, name string) (client.Resource, error) {
			return c.Hub(ctx, name)
		},
		delete: func(c *client.Client, ctx context.Context, _, name string) error { return c.DeleteHub(ctx, name) },
	})
	return cmd
}

func newProjectCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Manage projects: a hub's workspaces",
		Long: `Manage projects, which live at /hubs/HUB/projects/NAME.

  latchkey project create --hub H --name P
  latchkey project list --hub H
  latchkey project show --hub H --name P
  latchkey project delete --hub H --name P`,
	}
	addResourceCommands(e, cmd, resourceVerbs{
		noun: "project", create: (*client.Client).PutProject, list: (*client.Client).Projects,
		show: (*client.Client).Project, delete: (*client.Client).DeleteProject,
		hubToCreate: hubRequired, hubToList: hubRequired, hubToName: hubRequired,
	})
	return cmd
}

func newKeyVaultCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyvault",
		Short: "Manage key vaults",
		Long: `Manage key vaults (az keyvault), which live at /hubs/HUB/vaults/NAME. Vault names are
unique in the tenant, as DNS names are, so show and delete need no hub.

  latchkey keyvault create --hub H --name V
  latchkey keyvault list [--hub H]
  latchkey keyvault show --name V
  latchkey keyvault delete --name V`,
	}
	addResourceCommands(e, cmd, resourceVerbs{
		noun: "key vault", create: (*client.Client).PutVault, list: (*client.Client).Vaults,
		show: func(c *client.Client, ctx context.Context, _, name string) (client.Resource, error) {
			return c.Vault(ctx, name)
		},
		delete:      func(c *client.Client, ctx context.Context, _, name string) error { return c.DeleteVault(ctx, name) },
		hubToCreate: hubRequired, hubToList: hubOptional,
	})
	return cmd
}

// addResourceCommands adds create, list, show and delete for one kind.
func addResourceCommands(e *env, cmd *cobra.Command, v resourceVerbs) {
	f := addServerFlags(cmd)
	// hubFlag registers --hub on sub as use says.
	hubFlag := func(sub *cobra.Command, use hubUse) *string {
		switch use {
		case hubRequired:
			return requiredFlag(sub, "hub", "the hub it is in")
		case hubOptional:
			return sub.Flags().String("hub", "", "only those of this hub")
		}
		return new(string)
	}
	nameFlag := func(sub *cobra.Command) *string { return requiredFlag(sub, "name", "the "+v.noun+"'s name") }

	create := &cobra.Command{Use: "create", Short: "Create a " + v.noun + ", or show it if it exists", Args: cobra.NoArgs}
	createHub, createName := hubFlag(create, v.hubToCreate), nameFlag(create)
	createOut := addOutputFlag(create, "json")
	create.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		r, err := v.create(c, cmd.Context(), *createHub, *createName)
		if err != nil {
			return err
		}
		return render(e.stdout, *createOut, r, resourceTable(r))
	})

	list := &cobra.Command{Use: "list", Short: "List " + v.noun + "s", Args: cobra.NoArgs}
	listHub := hubFlag(list, v.hubToList)
	listOut := addOutputFlag(list, "table")
	list.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		rs, err := v.list(c, cmd.Context(), *listHub)
		if err != nil {
			return err
		}
		return render(e.stdout, *listOut, rs, resourceTable(rs...))
	})

	show := &cobra.Command{Use: "show", Short: "Show a " + v.noun, Args: cobra.NoArgs}
	showHub, showName := hubFlag(show, v.hubToName), nameFlag(show)
	showOut := addOutputFlag(show, "json")
	show.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		r, err := v.show(c, cmd.Context(), *showHub, *showName)
		if err != nil {
			return err
		}
		return render(e.stdout, *showOut, r, resourceTable(r))
	})

	del := &cobra.Command{Use: "delete", Short: "Delete a " + v.noun + " and the role assignments on it", Args: cobra.NoArgs}
	delHub, delName := hubFlag(del, v.hubToName), nameFlag(del)
	del.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		return v.delete(c, cmd.Context(), *delHub, *delName)
	})
	cmd.AddCommand(create, list, show, del)
}

func resourceTable(rs ...client.Resource) table {
	t := table{header: []string{"Name", "Hub", "Id", "VaultUri", "Created"}}
	for _, r := range rs {
		t.rows = append(t.rows, []string{r.Name, r.Hub, r.ID, r.VaultURI, when(r.Created)})
	}
	return t
}

// withClient adapts work that needs a client of the server to cobra's RunE.
func withClient(e *env, f *serverFlags, work func(cmd *cobra.Command, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return runE(func(cmd *cobra.Command, args []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		return work(cmd, c, args)
	})
}

// requiredFlag registers a required string flag.
func requiredFlag(cmd *cobra.Command, name, usage string) *string {
	v := cmd.Flags().String(name, "", usage)
	_ = cmd.MarkFlagRequired(name)
	return v
}

// minutes turns a duration flag into whole minutes.
func minutes(flag string, d time.Duration) (int, error) {
	if d < 0 || d%time.Minute != 0 {
		return 0, fmt.Errorf("--%s %s: give whole minutes, such as 30m or 8h", flag, d)
	}
	return int(d / time.Minute), nil
}
