package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

func newUserCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage users: people who sign in with a password",
		Long: `Manage users, the people who sign in with latchkey login (az ad user).

  latchkey user create NAME --password PASSWORD    at least 12 characters
  latchkey user list
  latchkey user delete NAME`,
	}
	f := addServerFlags(cmd)
	cmd.AddCommand(newUserCreateCommand(e, f), newUserListCommand(e, f), newUserDeleteCommand(e, f))
	return cmd
}

func newUserCreateCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "create NAME --password PASSWORD", Short: "Create a user", Args: cobra.ExactArgs(1)}
	password := cmd.Flags().String("password", "", "the user's first password, at least 12 characters")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		if *password == "" {
			return errors.New("give the user's password with --password (at least 12 characters)")
		}
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		u, err := c.CreateUser(cmd.Context(), client.CreateUserRequest{Name: args[0], Password: *password})
		if err != nil {
			return err
		}
		return render(e.stdout, *out, u, userTable(u))
	})
	return cmd
}

func newUserListCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs}
	out := addOutputFlag(cmd, "table")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := f.connect(e)
		if err != nil {
			return err
		}
		us, err := c.Users(cmd.Context())
		if err != nil {
			return err
		}
		return render(e.stdout, *out, us, userTable(us...))
	})
	return cmd
}

func newUserDeleteCommand(e *env, f *serverFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := f.connect(e)
			if err != nil {
				return err
			}
			return c.DeleteUser(cmd.Context(), args[0])
		}),
	}
}

func userTable(us ...client.User) table {
	t := table{header: []string{"Name", "Id", "Enabled", "Created"}}
	for _, u := range us {
		t.rows = append(t.rows, []string{u.Name, u.ID, yesNo(u.Enabled), when(u.Created)})
	}
	return t
}
