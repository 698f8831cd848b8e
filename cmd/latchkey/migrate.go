package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema migrations and exit",
		Long: `Apply the embedded schema migrations to the database and exit. Servers apply them at
start too; run this first when you upgrade several replicas at once.`,
		Args: cobra.NoArgs,
	}
	addFlags(cmd.Flags(), serveDefaults(), "data", "database")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		c, err := loadConfig(serveDefaults(), cmd.Flags(), e.getenv)
		if err != nil {
			return err
		}
		if c.Database == "" && c.Data == "" {
			return fmt.Errorf("no database: give --database postgres://... or --data DIR")
		}
		st, err := openStore(cmd.Context(), c)
		if err != nil {
			return err
		}
		defer st.Close()
		applied, err := st.Migrate(cmd.Context())
		if err != nil {
			return fmt.Errorf("migrate the database: %w", err)
		}
		if len(applied) == 0 {
			fmt.Fprintln(e.stdout, "The database schema is up to date.")
			return nil
		}
		for _, m := range applied {
			fmt.Fprintf(e.stdout, "applied %s\n", m)
		}
		return nil
	})
	return cmd
}
