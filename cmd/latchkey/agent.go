package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newAgentCommand(e *env) *cobra.Command {
	var name, listen, envFile string
	cmd := &cobra.Command{
		Use:   "agent --identity NAME",
		Short: "Serve a managed identity endpoint for one host until stopped",
		Long: `Serve the App Service managed identity protocol on loopback for a managed identity,
as a long-running service for one host, so that processes started with its
IDENTITY_ENDPOINT and IDENTITY_HEADER get tokens as the identity and never hold a
credential. It prints the two variables (or writes them to --env-file, mode 0600).
IDENTITY_HEADER is a secret: give it only to the processes that may act as the identity.`,
		Args: cobra.NoArgs,
	}
	f := addServerFlags(cmd)
	cmd.Flags().StringVar(&name, "identity", "", "name of the managed identity to serve (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "loopback address to listen on")
	cmd.Flags().StringVar(&envFile, "env-file", "", "write IDENTITY_ENDPOINT, IDENTITY_HEADER and AZURE_CLIENT_ID here instead of printing them")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return errors.New("name the identity to serve: latchkey agent --identity NAME")
		}
		if !strings.HasPrefix(listen, "127.") && !strings.HasPrefix(listen, "[::1]") && !strings.HasPrefix(listen, "localhost:") {
			return fmt.Errorf("--listen %s: the agent serves loopback only (127.0.0.1:PORT), since anyone who reaches it can act as the identity", listen)
		}
		endpoint, _, err := startIdentityEndpoint(cmd.Context(), e, f, name, listen)
		if err != nil {
			return err
		}
		defer endpoint.Close()
		vars := append(endpoint.Env(), "AZURE_CLIENT_ID="+endpoint.ClientID())
		if envFile != "" {
			if err := os.WriteFile(envFile, []byte(strings.Join(vars, "\n")+"\n"), 0o600); err != nil {
				return fmt.Errorf("write %s: %w", envFile, err)
			}
			fmt.Fprintf(e.stderr, "latchkey agent: serving identity %s at %s; variables in %s\n", name, endpoint.Endpoint(), envFile)
		} else {
			for _, v := range vars {
				fmt.Fprintf(e.stdout, "export %s\n", v)
			}
		}
		<-cmd.Context().Done()
		return nil
	})
	return cmd
}
